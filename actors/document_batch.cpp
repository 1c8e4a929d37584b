// Batched delivery (docs/PROTOCOL.md, hello `batch`): a session that asked
// for it hears a document's durable ops as one `ops_event` per tick, encoded
// once for every batched receiver, its own ops in it standing for its acks.
// A batch goes out at once when the last one went out a tick ago or more,
// else at the end of the tick. The tick grows with the batched subscribers
// (batched / batch_frames_per_s seconds, at most batch_tick_max), so that a
// document of a thousand subscribers costs a bounded number of frames per
// second, while a document of a few hears each commit at once.
//
// Catching-up subscribers get their ops in `buffered` instead (replay
// order), and a connection drops the revisions it already has, so a batch
// that overlaps a join or a replay is safe.
//
// Thread-safety: runs inside the document actor's handlers only.
#include <algorithm>

#include <caf/all.hpp>

#include "actors/document_state.hpp"

namespace collab::doc_actor {
namespace {

caf::actor_clock::duration_type batch_tick(const document_state& st) {
  using namespace std::chrono;
  auto per_s = std::max<uint64_t>(st.opts.batch_frames_per_s, 1);
  auto tick = duration_cast<caf::actor_clock::duration_type>(
    microseconds(st.batched_subs * 1'000'000 / per_s));
  return std::min<caf::actor_clock::duration_type>(tick,
                                                   st.opts.batch_tick_max);
}

} // namespace

void schedule_batch(self_ptr self) {
  auto& st = self->state;
  if (st.batch.empty() || st.batch_timer_armed)
    return;
  auto now = self->clock().now();
  auto due = st.last_batch + batch_tick(st);
  if (now >= due) {
    deliver_batch(self);
    return;
  }
  st.batch_timer_armed = true;
  self->delayed_send(self, due - now, deliver_atom_v);
}

void deliver_batch(self_ptr self) {
  auto& st = self->state;
  if (st.batch.empty())
    return;
  shared_ops shared{op_batch{st.doc, std::move(st.batch)}};
  st.batch.clear();
  st.last_batch = self->clock().now();
  for (auto& [session, sub] : st.subs)
    if (sub.batched && !sub.catching_up)
      self->send(sub.conn, ops_event{shared});
}

void on_batch_tick(self_ptr self) {
  self->state.batch_timer_armed = false;
  deliver_batch(self);
}

} // namespace collab::doc_actor
