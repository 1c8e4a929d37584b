// Joins and submissions of the document actor: the messaging around the
// sequencing rules of document_sequencer.hpp (which decides) — re-acking
// duplicates from memory or the store, checking whether a revision ahead of
// ours means this actor is stale, queueing accepted ops for commit.
//
// Thread-safety: runs inside the document actor's handlers only.
#include <optional>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/document_state.hpp"
#include "actors/mailbox_depth.hpp"
#include "actors/metrics.hpp"

namespace collab::doc_actor {
namespace {

constexpr const char* not_yours
  = "the client id belongs to another user; choose another one";

// The user joined with `client` in a session other than `session` (empty:
// none): owns the client id while it has made no op here.
std::string joined_user(const document_state& st, const std::string& client,
                        const std::string& session) {
  for (auto& [s, sub] : st.subs)
    if (s != session && sub.client == client)
      return sub.user;
  return {};
}

// Pending: acked together with the original once it is durable.
bool join_pending(const document_subscriber& conn, const submit_request& req,
                  std::deque<pending_op>& queued,
                  std::vector<pending_op>& in_flight) {
  auto join = [&](auto& list) {
    for (auto& p : list)
      if (p.op.client == req.client && p.op.seq == req.seq) {
        p.also_ack.emplace_back(conn, req.session);
        return true;
      }
    return false;
  };
  return join(in_flight) || join(queued);
}

// An op too old for the history: the store knows its revision.
void reack_from_store(self_ptr self, const document_subscriber& conn,
                      const submit_request& req) {
  auto& st = self->state;
  self
    ->request(st.store, st.opts.store_timeout, find_seq_atom_v, st.doc,
              req.client, req.seq)
    .then(
      [=](const std::vector<committed_op>& found) {
        if (found.empty())
          send_error(self, conn, errc::internal,
                     "duplicate seq without a committed op", &req.seq);
        else if (!found[0].user.empty() && found[0].user != req.user)
          send_error(self, conn, errc::forbidden, not_yours, &req.seq);
        else
          self->send(conn, ack_event{self->state.doc, req.seq, found[0].rev});
      },
      [=](caf::error&) {
        send_error(self, conn, errc::unavailable,
                   "storage cannot answer now; retry with the same seq",
                   &req.seq);
      });
}

// A duplicate (client, seq) is re-acked with its original revision.
void reack_duplicate(self_ptr self, const document_subscriber& conn,
                     const submit_request& req, const sequenced& verdict) {
  auto& st = self->state;
  node_metrics().duplicate_ops.fetch_add(1, std::memory_order_relaxed);
  using outcome = sequenced::outcome;
  if (verdict.what == outcome::duplicate_pending
      && join_pending(conn, req, st.queued, st.in_flight))
    return;
  if (verdict.what == outcome::duplicate_durable) {
    self->send(conn, ack_event{st.doc, req.seq, verdict.rev});
    return;
  }
  reack_from_store(self, conn, req);
}

// A revision ahead of ours is either the client's mistake (rev_ahead) or a
// sign that we are stale: another owner committed after we loaded (a split
// view of the members during a move). The op log tells which; a stale actor
// stops, and its subscribers resolve the document again.
void refuse_ahead(self_ptr self, const document_subscriber& conn,
                  std::string message, std::optional<uint64_t> seq) {
  auto& st = self->state;
  // Awaited: nothing else is handled until we know. A stale actor must not
  // answer what the same client sends next (e.g. the op it resubmits after
  // this join): it stops, and the client's connection repeats both at the
  // document's real owner.
  self
    ->request(st.store, st.opts.store_timeout, read_ops_atom_v, st.doc,
              st.order->durable_rev(), uint64_t{1})
    .await(
      [=](const std::vector<committed_op>& newer) {
        if (!newer.empty() && self->state.phase != doc_phase::releasing) {
          spdlog::warn("doc={} event=stale rev={} newer={}", self->state.doc,
                       self->state.order->durable_rev(), newer.front().rev);
          self->quit(); // normal end: everyone resolves again at once
          return;
        }
        send_error(self, conn, errc::rev_ahead, message, seq ? &*seq : nullptr);
      },
      [=](caf::error&) {
        send_error(self, conn, errc::rev_ahead, message, seq ? &*seq : nullptr);
      });
}

} // namespace

void on_submit(self_ptr self, submit_request& req) {
  auto& st = self->state;
  auto conn = caf::actor_cast<document_subscriber>(self->current_sender());
  node_metrics().mailbox_depth.observe(
    static_cast<double>(mailbox_depth(self)));
  if (st.subs.count(req.session) == 0) {
    send_error(self, conn, errc::not_joined, "join the document first",
               &req.seq);
    return;
  }
  auto verdict = st.order->submit(submission{req.client, req.user, req.seq,
                                             req.base_rev, std::move(req.op)},
                                  joined_user(st, req.client, req.session));
  using outcome = sequenced::outcome;
  switch (verdict.what) {
    case outcome::accepted:
      st.queued.push_back(pending_op{std::move(verdict.op),
                                     std::move(verdict.text_after),
                                     conn,
                                     req.session,
                                     {}});
      flush(self);
      return;
    case outcome::duplicate_pending:
    case outcome::duplicate_durable:
    case outcome::duplicate_unknown:
      reack_duplicate(self, conn, req, verdict);
      return;
    case outcome::ahead:
      refuse_ahead(self, conn, std::move(verdict.message), req.seq);
      return;
    case outcome::refused:
      send_error(self, conn, verdict.code, std::move(verdict.message),
                 &req.seq);
      return;
  }
}

void on_join(self_ptr self, join_request& req) {
  auto& st = self->state;
  auto conn = req.conn;
  if (st.order->owned_by_other(req.client, req.user,
                               joined_user(st, req.client, req.session))) {
    send_error(self, conn, errc::forbidden, not_yours);
    return;
  }
  if (req.resume && req.rev > st.order->durable_rev()) {
    refuse_ahead(self, conn,
                 "revision " + std::to_string(req.rev)
                   + " is ahead of the document (at "
                   + std::to_string(st.order->durable_rev()) + ")",
                 std::nullopt);
    return;
  }
  if (st.subs.count(req.session) == 0) {
    node_metrics().joined_sessions.fetch_add(1, std::memory_order_relaxed);
    self->monitor(conn);
  }
  auto& sub = st.subs[req.session];
  remove_batched(st, sub); // a join again starts afresh
  sub = subscriber{};
  sub.batched = req.batch;
  sub.relay = req.relay;
  add_batched(st, sub);
  sub.conn = conn;
  sub.client = req.client;
  sub.user = req.user;
  sub.node = req.node;
  st.last_active = self->clock().now();
  st.session_of[conn.address()] = req.session;
  if (req.resume) {
    replay(self, req.session, req.rev);
    return;
  }
  self->send(conn, joined_event{st.doc, st.order->durable_rev(), true,
                                st.order->durable_text()});
  send_presences(self, conn, req.session);
}

void remove_subscriber(self_ptr self, const std::string& session) {
  auto& st = self->state;
  auto i = st.subs.find(session);
  if (i == st.subs.end())
    return;
  auto sub = std::move(i->second);
  st.subs.erase(i);
  remove_batched(st, sub);
  st.session_of.erase(sub.conn.address());
  node_metrics().joined_sessions.fetch_sub(1, std::memory_order_relaxed);
  presence_left(self, session, sub);
  arm_idle_timer(self);
}

} // namespace collab::doc_actor
