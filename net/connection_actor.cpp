#include "net/connection_actor.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <optional>
#include <unordered_map>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/core/log_escape.hpp"
#include "actors/directory.hpp"
#include "actors/cluster_protocol.hpp"
#include "actors/metrics.hpp"
#include "net/codec.hpp"
#include "net/token_bucket.hpp"

namespace collab::net {
namespace {

using clock = std::chrono::steady_clock;
constexpr auto resolve_timeout = std::chrono::seconds(3);
constexpr auto resolve_retry = std::chrono::milliseconds(250);
constexpr int max_resolve_attempts = 40;  // ~10 s of retries, then an error
constexpr int max_join_attempts = 8;      // ~2 s for a client waiting to join
// After a node died, membership needs a moment to drop it from placement.
constexpr auto crash_settle = std::chrono::milliseconds(150);
// The longest the token expiry timer waits before it looks again (so that
// an `exp` of any size is fine).
constexpr int64_t max_expiry_wait_ms = 3600 * 1000;

// Connection actors constructed and not yet destroyed (closed ones
// included until their memory is released): collab_connection_actors.
std::atomic<int64_t> actors_in_memory{0};

struct doc_link {
  enum class phase : uint8_t { resolving, joining, joined };
  phase state = phase::resolving;
  document_actor actor;
  bool can_write = false;
  bool resume = false;        // what the join asked for
  uint64_t rev = 0;           // last revision this session has seen
  std::optional<submit_request> unacked;  // the last op sent, for resubmission
  clock::time_point unacked_since;
  std::vector<uint64_t> awaiting;  // seqs sent and not yet answered
  // Takes `seq` off the awaiting list; false when it was not on it (e.g. a
  // second ack for an op already acked from a replay after a move).
  bool answered(uint64_t seq) {
    auto i = std::find(awaiting.begin(), awaiting.end(), seq);
    if (i == awaiting.end())
      return false;
    awaiting.erase(i);
    if (unacked && unacked->seq == seq)
      unacked.reset();
    return true;
  }
  bool silent_rejoin = false;  // the document moved: the client hears nothing
  int attempts = 0;            // resolves failed in a row
};

struct connection_state {
  // Constant after construction.
  server_context* ctx = nullptr;
  std::shared_ptr<session_sink> sink;
  std::string session;

  token_claims claims;
  // Token expiry: the pending timer (see arm_expiry).
  uint64_t expiry_generation = 0;
  caf::message_id expiry_request;      // its timeout's response id
  caf::typed_response_promise<bool> expiry_timer;  // answering it retires
                                                   // the timer
  std::string client;         // empty until hello
  token_bucket messages{1, 1};  // the message rate (bytes: ws_session)
  std::unordered_map<std::string, doc_link> docs;
  std::unordered_map<caf::actor_addr, std::string> doc_of;
  bool closing = false;

  // For operators (collabctl conns).
  uint64_t messages_in = 0;
  uint64_t messages_out = 0;
  clock::time_point opened = clock::now();

  static inline const char* name = "connection";
};

// The actor type only adds the count of connection actors in memory.
class counted_connection : public connection_actor::stateful_base<connection_state> {
public:
  explicit counted_connection(caf::actor_config& cfg)
    : connection_actor::stateful_base<connection_state>(cfg) {
    actors_in_memory.fetch_add(1, std::memory_order_relaxed);
  }
  ~counted_connection() override {
    actors_in_memory.fetch_sub(1, std::memory_order_relaxed);
  }
};

using self_ptr = counted_connection*;

void send_frame(self_ptr self, std::string frame) {
  node_metrics().frames_out.fetch_add(1, std::memory_order_relaxed);
  ++self->state.messages_out;
  self->state.sink->send(std::make_shared<const std::string>(std::move(frame)));
}

void send_error(self_ptr self, errc code, std::string_view message,
                std::string_view doc = {},
                std::optional<uint64_t> seq = std::nullopt) {
  node_metrics().count_error(code);
  send_frame(self, encode_error(code, message, doc, seq));
}

void close_socket(self_ptr self, uint16_t code, std::string reason) {
  self->state.closing = true;
  self->state.sink->close(code, std::move(reason));
}

// ---- Token expiry (docs/PROTOCOL.md: token_expired, then close 4001)
//
// The timer is a request of this actor to itself that it never answers: its
// timeout is the expiry. CAF cancels the timeouts of an actor that
// terminates, so a closed connection is freed at once (a delayed_send would
// keep the actor in memory until the token expired). One timer is pending
// at a time: arming a new one (auth) answers the old request and cancels its
// timeout. It fires at the expiry or after max_expiry_wait_ms, whichever is
// first, and is armed again when early, so no `exp` can overflow the clock.

// Milliseconds until exp + leeway, saturated (exp is whatever the token says).
int64_t ms_until_expiry(const connection_state& st) {
  constexpr auto max = std::numeric_limits<int64_t>::max();
  constexpr auto min = std::numeric_limits<int64_t>::min();
  int64_t deadline_s = 0;
  if (__builtin_add_overflow(st.claims.exp, st.ctx->cfg.jwt_leeway, &deadline_s))
    deadline_s = st.claims.exp > 0 ? max : min;
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  int64_t deadline_ms = 0;
  if (__builtin_mul_overflow(deadline_s, int64_t{1000}, &deadline_ms))
    deadline_ms = deadline_s > 0 ? max : min;
  int64_t left = 0;
  if (__builtin_sub_overflow(deadline_ms, now_ms, &left))
    left = deadline_ms > 0 ? max : min;
  return left;
}

// Answers the pending timer's request (its response handler goes away).
void retire_expiry_timer(connection_state& st) {
  if (st.expiry_timer.pending())
    st.expiry_timer.deliver(true);
  st.expiry_timer = {};
}

void on_expiry_timer(self_ptr self, uint64_t generation);

// (Re)arms the timer for the current claims.
void arm_expiry(self_ptr self) {
  auto& st = self->state;
  if (st.expiry_request.is_response())  // a timer is pending
    self->clock().cancel_request_timeout(self, st.expiry_request);
  retire_expiry_timer(st);
  auto wait = std::clamp<int64_t>(ms_until_expiry(st), 1, max_expiry_wait_ms);
  auto generation = ++st.expiry_generation;
  auto handle = self->request(caf::actor_cast<caf::actor>(self),
                              std::chrono::milliseconds(wait), expire_atom_v);
  st.expiry_request = handle.id().response_id();
  handle.then([](bool) { /* retired by a newer timer */ },
              [=](caf::error&) { on_expiry_timer(self, generation); });
}

void on_expiry_timer(self_ptr self, uint64_t generation) {
  auto& st = self->state;
  if (generation != st.expiry_generation || st.closing)
    return;
  st.expiry_timer = {};  // its request timed out
  st.expiry_request = caf::message_id{};
  if (ms_until_expiry(st) > 0) {
    arm_expiry(self);  // fired early: max_expiry_wait_ms
    return;
  }
  send_error(self, errc::token_expired, "the token expired");
  close_socket(self, 4001, "token expired");
}

void send_join(self_ptr self, doc_link& link) {
  auto& st = self->state;
  link.state = doc_link::phase::joining;
  join_request req{caf::actor_cast<document_subscriber>(self),
                   st.session, st.client,
                   st.claims.sub, link.resume, link.rev,
                   st.ctx->cfg.node_id};
  self->send(link.actor, std::move(req));
}

// Finds the document's actor (activating it if needed) and joins it.
void resolve(self_ptr self, const std::string& doc) {
  self->request(self->state.ctx->directory, resolve_timeout, resolve_atom_v, doc)
    .then(
      [=](document_actor actor) {
        auto& st = self->state;
        auto i = st.docs.find(doc);
        if (i == st.docs.end())
          return;  // left meanwhile
        auto& link = i->second;
        link.actor = actor;
        self->monitor(actor);
        st.doc_of[actor.address()] = doc;
        send_join(self, link);
        // A resubmission after the document actor went away.
        if (link.unacked)
          self->send(actor, *link.unacked);
      },
      [=](caf::error& err) {
        auto& st = self->state;
        auto i = st.docs.find(doc);
        if (i == st.docs.end())
          return;
        auto& link = i->second;
        // The owner node is full (max_live_docs): retrying now won't help.
        bool full = is(err, directory_errc::full);
        if (!full && ++link.attempts < max_resolve_attempts) {
          // The owner may be moving or dying: try again shortly.
          self->delayed_send(self, resolve_retry, resolve_atom_v, doc);
          return;
        }
        spdlog::warn("session={} doc={} event=resolve_failed error=\"{}\"",
                     st.session, doc, log_escape(self->system().render(err)));
        std::string why = full ? directory_error_text(err)
                               : "document unavailable";
        if (link.unacked)
          send_error(self, errc::unavailable,
                     why + "; retry with the same seq", doc,
                     link.unacked->seq);
        else
          send_error(self, errc::unavailable, why, doc);
        st.docs.erase(i);
      });
}

// Forgets a document of this session: tells its actor (when there is one)
// and stops watching it, so that nothing of the session stays behind there.
void forget_doc(self_ptr self,
                std::unordered_map<std::string, doc_link>::iterator i) {
  auto& st = self->state;
  if (i->second.actor) {
    self->send(i->second.actor, leave_request{st.session});
    self->demonitor(i->second.actor.address());
    st.doc_of.erase(i->second.actor.address());
  }
  st.docs.erase(i);
}

void on_join(self_ptr self, client_message& m) {
  auto& st = self->state;
  auto level = access_for(st.claims, m.doc);
  if (level == access::none) {
    send_error(self, errc::forbidden, "the token does not allow this document",
               m.doc);
    return;
  }
  auto i = st.docs.find(m.doc);
  if (i != st.docs.end() && i->second.state != doc_link::phase::joined) {
    send_error(self, errc::bad_request, "a join is in progress", m.doc);
    return;
  }
  // Nothing is activated for a join over the bound.
  auto limit = st.ctx->cfg.max_docs_per_socket;
  if (i == st.docs.end() && st.docs.size() >= limit) {
    send_error(self, errc::too_many,
               "a socket may join at most " + std::to_string(limit)
                 + " documents; leave one first",
               m.doc);
    return;
  }
  // A join of a joined document re-subscribes (ShareDB does the same): how a
  // client rebases after rev_too_old without a new socket.
  auto& link = st.docs[m.doc];
  link.can_write = level == access::write;
  link.resume = m.rev.has_value();
  link.rev = m.rev.value_or(0);
  link.silent_rejoin = false;
  link.attempts = 0;
  if (link.actor)
    send_join(self, link);
  else
    resolve(self, m.doc);
}

void on_op(self_ptr self, client_message& m) {
  auto& st = self->state;
  auto i = st.docs.find(m.doc);
  // While a moved document is being rejoined the client is still joined as
  // far as it knows: its op waits for the rejoin (see resolve()).
  if (i == st.docs.end()
      || (i->second.state != doc_link::phase::joined
          && !i->second.silent_rejoin)) {
    send_error(self, errc::not_joined, "join the document first", m.doc, m.seq);
    return;
  }
  auto& link = i->second;
  if (!link.can_write || access_for(st.claims, m.doc) != access::write) {
    send_error(self, errc::forbidden, "the token allows reading only", m.doc,
               m.seq);
    return;
  }
  // Normalized once here, so the op log holds only normalized ops.
  submit_request req{st.session, st.client, st.claims.sub, m.seq, *m.rev,
                     ot::normalize(std::move(m.op))};
  link.unacked = req;
  link.unacked_since = clock::now();
  if (std::find(link.awaiting.begin(), link.awaiting.end(), m.seq)
      == link.awaiting.end())
    link.awaiting.push_back(m.seq);
  if (link.actor)  // joined, or the rejoin was sent: the order holds
    self->send(link.actor, std::move(req));
}

// A new token may allow less (an `auth` refresh): the documents it does not
// let the client read any more are left (error forbidden, then left); those
// it allows only reading become read-only.
void recheck_access(self_ptr self) {
  auto& st = self->state;
  std::vector<std::string> lost;
  for (auto& [doc, link] : st.docs) {
    auto level = access_for(st.claims, doc);
    if (level == access::none)
      lost.push_back(doc);
    link.can_write = level == access::write;
  }
  std::sort(lost.begin(), lost.end());
  for (auto& doc : lost) {
    forget_doc(self, st.docs.find(doc));
    send_error(self, errc::forbidden,
               "the new token does not allow this document", doc);
    send_frame(self, encode_left(doc));
  }
}

void on_auth(self_ptr self, client_message& m) {
  auto& st = self->state;
  token_claims claims;
  std::string why;
  if (!st.ctx->accept_token(m.token, claims, why)) {
    send_error(self, errc::forbidden, "token refused: " + why);
    return;
  }
  if (claims.sub != st.claims.sub) {
    send_error(self, errc::forbidden, "the token is for another user");
    return;
  }
  st.claims = std::move(claims);
  recheck_access(self);
  arm_expiry(self);
}

// The answer to a frame over the rate limit: it was not decoded, so the
// error carries only what a bounded look at the frame's head finds.
void refuse_rate_limited(self_ptr self, std::string_view frame) {
  auto head = peek_head(frame);
  send_error(self, errc::rate_limited, "too many messages; not applied",
             head.doc, head.seq);
}

void on_frame(self_ptr self, std::string& text) {
  auto& st = self->state;
  if (st.closing)
    return;
  node_metrics().frames_in.fetch_add(1, std::memory_order_relaxed);
  ++st.messages_in;
  // Checked on the raw frame: a flood costs no decoding.
  if (!st.messages.try_spend(1)) {
    refuse_rate_limited(self, text);
    return;
  }
  client_message m;
  decode_error err;
  decode_limits limits;
  limits.max_op_components = st.ctx->cfg.max_op_components;
  if (!decode(text, m, err, limits)) {
    send_error(self, err.code, err.message, err.doc, err.seq);
    return;
  }
  // docs/PROTOCOL.md: hello must be first (a ping too waits for it).
  if (st.client.empty() && m.type != msg_type::hello) {
    send_error(self, errc::bad_request, "send hello first", m.doc);
    return;
  }
  switch (m.type) {
    case msg_type::hello:
      if (!st.client.empty()) {
        send_error(self, errc::bad_request, "hello was already sent");
        return;
      }
      if (m.v != 1) {
        send_error(self, errc::bad_request, "unsupported protocol version");
        return;
      }
      st.client = std::move(m.client);
      send_frame(self, encode_welcome(st.ctx->cfg.node_id, st.session));
      return;
    case msg_type::join:
      on_join(self, m);
      return;
    case msg_type::op:
      on_op(self, m);
      return;
    case msg_type::presence: {
      auto i = st.docs.find(m.doc);
      if (i != st.docs.end() && i->second.silent_rejoin)
        return;  // ephemeral: the next presence after the rejoin will do
      if (i == st.docs.end() || i->second.state != doc_link::phase::joined) {
        send_error(self, errc::not_joined, "join the document first", m.doc);
        return;
      }
      self->send(i->second.actor, presence_request{st.session, st.client,
                                                   st.claims.sub,
                                                   std::move(m.presence)});
      return;
    }
    case msg_type::leave: {
      auto i = st.docs.find(m.doc);
      if (i == st.docs.end()) {
        send_error(self, errc::not_joined, "not joined", m.doc);
        return;
      }
      forget_doc(self, i);
      send_frame(self, encode_left(m.doc));
      return;
    }
    case msg_type::auth:
      on_auth(self, m);
      return;
    case msg_type::ping:
      send_frame(self, encode_pong());
      return;
  }
}

// A document actor went away (passivated or its node died): resolve again,
// resume from the last revision seen and resubmit the unacked op.
void on_doc_down(self_ptr self, const caf::down_msg& dm) {
  auto& st = self->state;
  auto i = st.doc_of.find(dm.source);
  if (i == st.doc_of.end())
    return;
  auto doc = i->second;
  st.doc_of.erase(i);
  auto j = st.docs.find(doc);
  if (j == st.docs.end())
    return;
  auto& link = j->second;
  if (link.state == doc_link::phase::joined) {
    link.resume = true;  // from link.rev
    link.silent_rejoin = true;
  }
  link.state = doc_link::phase::resolving;
  link.actor = nullptr;
  // A handed-off document ends normally: resolve at once. One that failed
  // (its node died, it could not load) is retried after a pause, a bounded
  // number of times (a client that is joining hears sooner).
  auto limit = link.silent_rejoin ? max_resolve_attempts : max_join_attempts;
  if (dm.reason && ++link.attempts >= limit) {
    send_error(self, errc::unavailable, "document unavailable; join again",
               doc);
    st.docs.erase(j);
    return;
  }
  if (!dm.reason)
    resolve(self, doc);
  else if (dm.reason == caf::exit_reason::remote_link_unreachable)
    self->delayed_send(self, crash_settle, resolve_atom_v, doc);
  else
    self->delayed_send(self, resolve_retry, resolve_atom_v, doc);
}

connection_actor::behavior_type connection(self_ptr self, server_context* ctx,
                         std::shared_ptr<session_sink> sink,
                         token_claims claims, std::string session_id) {
  auto& st = self->state;
  st.ctx = ctx;
  st.sink = std::move(sink);
  st.session = std::move(session_id);
  st.claims = std::move(claims);
  auto& cfg = st.ctx->cfg;
  st.messages = token_bucket(cfg.rate_limit, cfg.rate_burst);
  node_metrics().connections.fetch_add(1, std::memory_order_relaxed);
  self->attach_functor([] {
    node_metrics().connections.fetch_sub(1, std::memory_order_relaxed);
  });
  self->set_down_handler([=](caf::down_msg& dm) { on_doc_down(self, dm); });
  arm_expiry(self);
  return {
    [=](frame_atom, std::string& text) {
      auto bytes = text.size();
      on_frame(self, text);
      self->state.sink->consumed(bytes);  // input backpressure (ws_session)
    },
    [=](closed_atom) {
      // Document actors must not keep a monitor (a reference) to this actor.
      for (auto& [addr, doc] : self->state.doc_of)
        self->demonitor(addr);
      self->quit();
    },
    [=](expire_atom) -> caf::result<bool> {
      // The expiry timer's request (arm_expiry): kept unanswered; an older
      // one still pending is retired.
      auto& st = self->state;
      retire_expiry_timer(st);
      st.expiry_timer = self->make_response_promise<bool>();
      return st.expiry_timer;
    },
    [=](inspect_atom) {
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
    },
    [=](kick_atom) {
      spdlog::info("session={} user=\"{}\" event=kicked", self->state.session,
                   log_escape(self->state.claims.sub));
      close_socket(self, 1008, "closed by an operator");
    },
    [=](revoke_atom) -> bool {
      // A revocation arrived: cut this socket off if it is ours.
      auto& st = self->state;
      if (st.closing || !st.ctx->revocations.revoked(st.claims))
        return false;
      spdlog::info("session={} user=\"{}\" event=revoked", st.session,
                   log_escape(st.claims.sub));
      node_metrics().revoked_closes.fetch_add(1, std::memory_order_relaxed);
      close_socket(self, 1008, "token revoked");
      return true;
    },
    [=](resolve_atom, const std::string& doc) {
      auto i = self->state.docs.find(doc);
      if (i != self->state.docs.end()
          && i->second.state == doc_link::phase::resolving)
        resolve(self, doc);
    },
    [=](joined_event& ev) {
      auto& st = self->state;
      auto i = st.docs.find(ev.doc);
      if (i == st.docs.end())
        return;
      auto& link = i->second;
      auto silent = link.silent_rejoin;
      link.state = doc_link::phase::joined;
      link.rev = ev.rev;
      link.silent_rejoin = false;
      link.attempts = 0;
      // A transparent rejoin after the document actor moved stays silent.
      if (!silent)
        send_frame(self, encode_joined(ev.doc, ev.rev,
                                       ev.has_text ? &ev.text : nullptr));
    },
    [=](op_event& ev) {
      auto& st = self->state;
      auto& op = ev.op.get();
      auto i = st.docs.find(op.doc);
      if (i == st.docs.end())
        return;
      auto& link = i->second;
      // The session sees every revision once, in order. While a rejoin is
      // under way, ops broadcast before the document took the join are
      // covered by its answer (the replay, or the text) and are dropped.
      bool replaying = link.state == doc_link::phase::joining && link.resume;
      if ((link.state != doc_link::phase::joined && !replaying)
          || op.rev != link.rev + 1)
        return;
      link.rev = op.rev;
      // Our own op, committed before a transparent rejoin: it is the ack.
      if (op.client == st.client && link.answered(op.seq)) {
        send_frame(self, encode_ack(op.doc, op.seq, op.rev));
        return;
      }
      ev.op.frame([](const committed_op& c) {
        return encode_op(c.doc, c.rev, c.client, c.seq, c.op);
      });
      node_metrics().frames_out.fetch_add(1, std::memory_order_relaxed);
      ++st.messages_out;
      st.sink->send(ev.op.frame_ptr());
    },
    [=](ack_event& ev) {
      auto& st = self->state;
      auto i = st.docs.find(ev.doc);
      if (i == st.docs.end())
        return;
      auto& link = i->second;
      if (link.unacked && link.unacked->seq == ev.seq)
        node_metrics().ack_latency.observe(
          std::chrono::duration<double>(clock::now() - link.unacked_since)
            .count());
      if (!link.answered(ev.seq))
        return;  // already acked (from the replay of a rejoin)
      link.rev = std::max(link.rev, ev.rev);
      send_frame(self, encode_ack(ev.doc, ev.seq, ev.rev));
    },
    [=](presence_event& ev) {
      auto& st = self->state;
      if (st.docs.count(ev.presence.get().doc) == 0)
        return;
      // Encoded once for every receiver of this update (like ops).
      ev.presence.frame([](const presence_update& p) {
        return encode_presence(p.doc, p.client, p.user, p.data);
      });
      node_metrics().frames_out.fetch_add(1, std::memory_order_relaxed);
      ++st.messages_out;
      st.sink->send(ev.presence.frame_ptr());
    },
    [=](error_event& ev) {
      auto& st = self->state;
      auto i = st.docs.find(ev.doc);
      if (i != st.docs.end()) {
        auto& link = i->second;
        if (ev.has_seq)
          link.answered(ev.seq);
        if (link.state != doc_link::phase::joined && !ev.has_seq) {
          // The join failed: forget the document.
          if (link.actor) {
            self->demonitor(link.actor.address());
            st.doc_of.erase(link.actor.address());
          }
          st.docs.erase(i);
        }
      }
      send_frame(self, encode_error(ev.code, ev.message, ev.doc,
                                    ev.has_seq ? std::optional<uint64_t>{ev.seq}
                                               : std::nullopt));
    },
  };
}

} // namespace

connection_actor spawn_connection(server_context& ctx,
                            std::shared_ptr<session_sink> sink,
                            token_claims claims, std::string session_id) {
  return ctx.sys.spawn(connection, &ctx, std::move(sink), std::move(claims),
                       std::move(session_id));
}

int64_t connection_actors_in_memory() {
  return actors_in_memory.load(std::memory_order_relaxed);
}

} // namespace collab::net
