// The connection actor's behaviour: a list of short handlers over the parts
// in net/connection_*.cpp (see net/connection_state.hpp), plus the output to
// the socket, the operators' messages (inspect, kick, revoke) and the count
// of connection actors in memory.
//
// Thread-safety: an actor; spawn_connection and connection_actors_in_memory
// may be called from any thread.
#include "net/connection_actor.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/core/log_escape.hpp"
#include "actors/metrics.hpp"
#include "net/connection_state.hpp"

namespace collab::net {
namespace {

// Connection actors constructed and not yet destroyed (closed ones
// included until their memory is released): collab_connection_actors.
std::atomic<int64_t> actors_in_memory{0};

} // namespace

namespace conn {

counted_connection::counted_connection(caf::actor_config& cfg)
    : connection_actor::stateful_base<connection_state>(cfg) {
  actors_in_memory.fetch_add(1, std::memory_order_relaxed);
}

counted_connection::~counted_connection() {
  actors_in_memory.fetch_sub(1, std::memory_order_relaxed);
}

void send_shared_frame(self_ptr self,
                       std::shared_ptr<const std::string> frame) {
  node_metrics().frames_out.fetch_add(1, std::memory_order_relaxed);
  ++self->state.messages_out;
  self->state.sink->send(std::move(frame));
}

void send_frame(self_ptr self, std::string frame) {
  send_shared_frame(self,
                    std::make_shared<const std::string>(std::move(frame)));
}

std::chrono::milliseconds jittered(std::chrono::milliseconds base) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> d{base.count() / 2,
                                           base.count() * 3 / 2};
  return std::chrono::milliseconds{d(rng)};
}

std::optional<uint64_t> retry_hint(errc code) {
  if (code != errc::unavailable && code != errc::overloaded)
    return std::nullopt;
  return uint64_t(jittered(retry_after_default).count());
}

void send_error(self_ptr self, errc code, std::string_view message,
                std::string_view doc, std::optional<uint64_t> seq,
                std::optional<uint64_t> retry_after_ms) {
  node_metrics().count_error(code);
  send_frame(self,
             encode_error(code, message, doc, seq,
                          retry_after_ms ? retry_after_ms : retry_hint(code)));
}

void close_socket(self_ptr self, uint16_t code, std::string reason) {
  self->state.closing = true;
  self->state.sink->close(code, std::move(reason));
}

namespace {

void init(self_ptr self, server_context* ctx,
          std::shared_ptr<session_sink> sink, token_claims claims,
          std::string session_id) {
  auto& st = self->state;
  st.ctx = ctx;
  st.sink = std::move(sink);
  st.session = std::move(session_id);
  st.claims = std::move(claims);
  auto& cfg = st.ctx->cfg;
  st.messages = token_bucket(cfg.rate_limit, cfg.rate_burst);
  self->set_down_handler([=](caf::down_msg& dm) { on_doc_down(self, dm); });
  arm_expiry(self);
}

void on_closed(self_ptr self) {
  // Document actors must not keep a monitor (a reference) to this actor.
  for (auto& [addr, doc] : self->state.doc_of)
    self->demonitor(addr);
  self->quit();
}

conn_status inspect(self_ptr self) {
  auto& st = self->state;
  conn_status out;
  out.node = st.ctx->cfg.node_id;
  out.session = st.session;
  out.user = st.claims.sub;
  out.client = st.client;
  out.remote = st.sink->remote();
  for (auto& [doc, link] : st.docs)
    out.docs.push_back(doc);
  std::sort(out.docs.begin(), out.docs.end());
  out.send_queue_bytes = st.sink->queued_bytes();
  out.messages_in = st.messages_in;
  out.messages_out = st.messages_out;
  out.connected_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       clock::now() - st.opened)
                       .count();
  return out;
}

void on_kick(self_ptr self) {
  spdlog::info("session={} user=\"{}\" event=kicked", self->state.session,
               log_escape(self->state.claims.sub));
  close_socket(self, 1008, "closed by an operator");
}

// A revocation arrived: cut this socket off if it is ours.
bool on_revoke(self_ptr self) {
  auto& st = self->state;
  if (st.closing || !st.ctx->revocations.revoked(st.claims))
    return false;
  spdlog::info("session={} user=\"{}\" event=revoked", st.session,
               log_escape(st.claims.sub));
  node_metrics().revoked_closes.fetch_add(1, std::memory_order_relaxed);
  close_socket(self, 1008, "token revoked");
  return true;
}

connection_actor::behavior_type connection(self_ptr self, server_context* ctx,
                                           std::shared_ptr<session_sink> sink,
                                           token_claims claims,
                                           std::string session_id) {
  init(self, ctx, std::move(sink), std::move(claims), std::move(session_id));
  return {
    [=](frame_atom, std::string& text) {
      auto bytes = text.size();
      on_frame(self, text);
      self->state.sink->consumed(bytes); // input backpressure (ws_session)
    },
    [=](closed_atom) { on_closed(self); },
    [=](expire_atom) -> caf::result<bool> { return on_expire_request(self); },
    [=](inspect_atom) { return inspect(self); },
    [=](kick_atom) { on_kick(self); },
    [=](revoke_atom) -> bool { return on_revoke(self); },
    [=](resolve_atom, const std::string& doc) { on_resolve_retry(self, doc); },
    [=](joined_event& ev) { on_joined(self, ev); },
    [=](op_event& ev) { on_op_event(self, ev); },
    [=](ack_event& ev) { on_ack(self, ev); },
    [=](presence_event& ev) { on_presence_event(self, ev); },
    [=](error_event& ev) { on_error_event(self, ev); },
    [=](ops_event& ev) { on_ops_event(self, ev); },
    [=](presences_event& ev) { on_presences_event(self, ev); },
  };
}

} // namespace
} // namespace conn

connection_actor spawn_connection(server_context& ctx,
                                  std::shared_ptr<session_sink> sink,
                                  token_claims claims, std::string session_id) {
  return ctx.sys.spawn(conn::connection, &ctx, std::move(sink),
                       std::move(claims), std::move(session_id));
}

int64_t connection_actors_in_memory() {
  return actors_in_memory.load(std::memory_order_relaxed);
}

} // namespace collab::net
