// Batched delivery (docs/PROTOCOL.md, hello `batch`): a session that asked
// for it hears a document's durable ops as one `ops_event` per tick, encoded
// once for every batched receiver, its own ops in it standing for its acks.
// A batch goes out at once when the last one went out a tick ago or more,
// else at the end of the tick. The tick grows with the batched subscribers
// (batched / batch_frames_per_s seconds, at most batch_tick_max), so that a
// document of a thousand subscribers costs a bounded number of frames per
// second, while a document of a few hears each commit at once.
//
// A batch goes once to the relay of each node with batched subscribers
// (actors/relay.hpp), which hands it to that node's connections: one cluster
// message per node and batch. Catching-up subscribers get their ops in
// `buffered` too (replay order), and a connection drops the revisions it
// has already and a batch that comes before its join is answered, so a
// batch that overlaps a join or a replay is safe.
//
// Thread-safety: runs inside the document actor's handlers only.
#include <algorithm>

#include <caf/all.hpp>

#include "actors/document_state.hpp"
#include "actors/metrics.hpp"

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
  ops_event ev{shared_ops{op_batch{st.doc, std::move(st.batch)}}};
  st.batch.clear();
  st.last_batch = self->clock().now();
  send_batched(self, ev);
}

namespace {

template<class Event>
void send_to_batched(self_ptr self, const Event& ev) {
  auto& st = self->state;
  uint64_t sent = 0;
  uint64_t remote = 0;
  for (auto& [addr, use] : st.relays) {
    self->send(use.relay, ev);
    ++sent;
    remote += use.relay.node() != self->node() ? 1 : 0;
  }
  for (auto& [session, sub] : st.subs)
    if (sub.batched && !sub.relay && !sub.catching_up) {
      self->send(sub.conn, ev);
      ++sent;
      remote += sub.conn.node() != self->node() ? 1 : 0;
    }
  auto& m = node_metrics();
  m.delivery_batches.fetch_add(1, std::memory_order_relaxed);
  m.delivery_messages.fetch_add(sent, std::memory_order_relaxed);
  m.delivery_remote_messages.fetch_add(remote, std::memory_order_relaxed);
}

} // namespace

void send_batched(self_ptr self, const ops_event& ev) {
  send_to_batched(self, ev);
}

void send_batched(self_ptr self, const presences_event& ev) {
  send_to_batched(self, ev);
}

void add_batched(document_state& st, const subscriber& sub) {
  if (!sub.batched)
    return;
  ++st.batched_subs;
  if (sub.relay) {
    auto& use = st.relays[sub.relay.address()];
    use.relay = sub.relay;
    ++use.subs;
  }
}

void remove_batched(document_state& st, const subscriber& sub) {
  if (!sub.batched)
    return;
  --st.batched_subs;
  if (!sub.relay)
    return;
  auto i = st.relays.find(sub.relay.address());
  if (i != st.relays.end() && --i->second.subs == 0)
    st.relays.erase(i);
}

void on_batch_tick(self_ptr self) {
  self->state.batch_timer_armed = false;
  deliver_batch(self);
}

} // namespace collab::doc_actor
