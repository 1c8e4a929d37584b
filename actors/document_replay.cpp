// Resume (docs/PROTOCOL.md, `join` with a revision): the session gets exactly
// the durable ops after its revision, in order, then `joined`, then the live
// ops that committed meanwhile; no gap and no repeat at the seam
// (docs/DESIGN.md, contract 4). Ops still in memory are sent at once. Older
// ones are read a page (`resume_page_ops`) at a time, from the Redis stream
// while it holds the page, else from the store, and each page is sent on before
// the next is read, so that a deep resume holds one page, not the whole range.
// Live ops wait in the subscriber's `buffered` list until the replay is done.
//
// Thread-safety: runs inside the document actor's handlers only.
#include <algorithm>

#include <caf/all.hpp>

#include "actors/document_state.hpp"
#include "actors/metrics.hpp"
#include "persistence/store_error.hpp"

namespace collab::doc_actor {
namespace {

// The session's subscriber while the catch-up `join_id` is still wanted
// (not left, not joined again since).
subscriber* catching_up(self_ptr self, const std::string& session,
                        uint64_t join_id) {
  auto i = self->state.subs.find(session);
  if (i == self->state.subs.end() || !i->second.catching_up
      || i->second.join_id != join_id)
    return nullptr;
  return &i->second;
}

// `joined` at upto, then the live ops held back meanwhile (all after upto).
void finish(self_ptr self, const std::string& session, subscriber& sub,
            uint64_t upto) {
  self->send(sub.conn, joined_event{self->state.doc, upto, false, {}});
  sub.catching_up = false;
  for (auto& op : sub.buffered)
    self->send(sub.conn, op_event{op});
  sub.buffered.clear();
  send_presences(self, sub.conn, session);
}

// A catch-up nobody can serve (compacted before anything was sent): a join
// with the text, as docs/PROTOCOL.md says; the held-back ops are in that text.
void finish_with_text(self_ptr self, const std::string& session,
                      subscriber& sub) {
  auto& st = self->state;
  sub.catching_up = false;
  sub.buffered.clear();
  self->send(sub.conn, joined_event{st.doc, st.order->durable_rev(), true,
                                    st.order->durable_text()});
  send_presences(self, sub.conn, session);
}

// Resume is exact or nothing: a text instead of the missed ops would leave a
// client with an unacked op unable to rebase it. The pages sent so far were
// exact, so the client joins again from where they left it.
void abandon(self_ptr self, const std::string& session, subscriber& sub) {
  auto conn = sub.conn;
  remove_subscriber(self, session);
  send_error(self, conn, errc::unavailable,
             "the history cannot be read now; join again");
}

void next_page(self_ptr self, const std::string& session, uint64_t join_id,
               uint64_t from, uint64_t upto, bool first);

// Sends a page on and reads the next one, or ends the replay.
void page_read(self_ptr self, const std::string& session, uint64_t join_id,
               std::vector<committed_op>& ops, uint64_t from, uint64_t upto) {
  auto sub = catching_up(self, session, join_id);
  if (!sub)
    return;
  for (auto& op : ops)
    self->send(sub->conn, op_event{shared_op{std::move(op)}});
  auto next = from + ops.size();
  if (next == upto)
    finish(self, session, *sub, upto);
  else
    next_page(self, session, join_id, next, upto, false);
}

uint64_t page_size(self_ptr self, uint64_t from, uint64_t upto) {
  return std::min(std::max<uint64_t>(self->state.opts.resume_page_ops, 1),
                  upto - from);
}

// One page from+1..from+n from the store (PostgreSQL).
void store_page(self_ptr self, const std::string& session, uint64_t join_id,
                uint64_t from, uint64_t upto, bool first) {
  auto& st = self->state;
  auto n = page_size(self, from, upto);
  auto started = std::chrono::steady_clock::now();
  self
    ->request(st.store, st.opts.store_timeout, read_ops_atom_v, st.doc, from, n)
    .then(
      [=](std::vector<committed_op>& ops) {
        node_metrics().store_read_latency.observe(seconds_since(started));
        auto sub = catching_up(self, session, join_id);
        if (!sub)
          return;
        if (ops.size() == n)
          page_read(self, session, join_id, ops, from, upto);
        else if (first)
          finish_with_text(self, session, *sub);
        else
          abandon(self, session, *sub);
      },
      [=](caf::error& err) {
        auto sub = catching_up(self, session, join_id);
        if (!sub)
          return;
        if (first && is(err, store_errc::compacted))
          finish_with_text(self, session, *sub);
        else
          abandon(self, session, *sub);
      });
}

// One page from the Redis stream when it holds exactly that range, else
// from the store.
void next_page(self_ptr self, const std::string& session, uint64_t join_id,
               uint64_t from, uint64_t upto, bool first) {
  auto& st = self->state;
  if (!st.opts.op_log) {
    store_page(self, session, join_id, from, upto, first);
    return;
  }
  auto n = page_size(self, from, upto);
  auto started = std::chrono::steady_clock::now();
  self
    ->request(st.opts.op_log, st.opts.op_log_timeout, stream_read_atom_v,
              st.doc, from, from + n)
    .then(
      [=](std::vector<committed_op>& ops) {
        node_metrics().stream_read_latency.observe(seconds_since(started));
        if (ops.size() == n)
          page_read(self, session, join_id, ops, from, upto);
        else
          store_page(self, session, join_id, from, upto, first);
      },
      [=](caf::error&) {
        store_page(self, session, join_id, from, upto, first);
      });
}

} // namespace

void replay(self_ptr self, const std::string& session, uint64_t rev) {
  auto& st = self->state;
  auto& sub = st.subs[session];
  auto& order = *st.order;
  if (rev >= order.oldest_rev()) {
    for (auto i = order.history().after(rev);
         i != order.history().end() && i->rev <= order.durable_rev(); ++i)
      self->send(sub.conn, op_event{shared_op{*i}});
    self->send(sub.conn, joined_event{st.doc, order.durable_rev(), false, {}});
    send_presences(self, sub.conn, session);
    return;
  }
  sub.catching_up = true;
  sub.join_id = ++st.next_join_id;
  next_page(self, session, sub.join_id, rev, order.durable_rev(), true);
}

} // namespace collab::doc_actor
