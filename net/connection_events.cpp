// The documents' events at the connection actor, turned into frames for
// the socket: joined, op (each revision once, in order; our own op after a
// rejoin is its ack), ack, presence and error, and for a batched session
// (hello `batch`) ops and presence in batches. Ops, batches and presence
// updates are encoded once for every receiver.
//
// Thread-safety: runs inside the connection actor's handlers only.
#include <algorithm>
#include <chrono>
#include <optional>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/metrics.hpp"
#include "net/connection_state.hpp"

namespace collab::net::conn {

void on_joined(self_ptr self, joined_event& ev) {
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
    send_frame(self,
               encode_joined(ev.doc, ev.rev, ev.has_text ? &ev.text : nullptr));
}

void on_op_event(self_ptr self, op_event& ev) {
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
  send_shared_frame(self, ev.op.frame_ptr());
}

namespace {

void observe_ack_latency(const doc_link& link, uint64_t seq) {
  if (link.unacked && link.unacked->seq == seq)
    node_metrics().ack_latency.observe(
      std::chrono::duration<double>(clock::now() - link.unacked_since).count());
}

} // namespace

void on_ack(self_ptr self, ack_event& ev) {
  auto& st = self->state;
  auto i = st.docs.find(ev.doc);
  if (i == st.docs.end())
    return;
  auto& link = i->second;
  observe_ack_latency(link, ev.seq);
  if (!link.answered(ev.seq))
    return; // already acked (from the replay of a rejoin)
  // A batched session hears its own ops in the batches, and a re-ack (of a
  // duplicate) may come before the batch holding the op: only the batch
  // moves the revision, else ops before it would be taken as seen.
  if (!st.batch)
    link.rev = std::max(link.rev, ev.rev);
  send_frame(self, encode_ack(ev.doc, ev.seq, ev.rev));
}

// A batch of consecutive revisions: sent as it is when it starts right
// after what the session has seen; the part it has not seen, op by op, when
// it overlaps a join or a replay (rare); dropped when seen already.
void on_ops_event(self_ptr self, ops_event& ev) {
  auto& st = self->state;
  auto& batch = ev.batch.get();
  auto i = st.docs.find(batch.doc);
  if (i == st.docs.end() || batch.ops.empty())
    return;
  auto& link = i->second;
  if (link.state != doc_link::phase::joined)
    return; // the join's answer covers it (as for op_event)
  auto first = batch.ops.front().rev;
  auto last = batch.ops.back().rev;
  if (last <= link.rev)
    return;
  if (first > link.rev + 1) {
    // Never expected (the document and the relay keep order), but a gap
    // must not stay: resume silently from what we have.
    spdlog::warn("session={} doc={} event=batch_gap rev={} first={}",
                 st.session, batch.doc, link.rev, first);
    link.resume = true;
    link.silent_rejoin = true;
    send_join(self, link, batch.doc);
    return;
  }
  if (first <= link.rev) {
    for (auto& c : batch.ops)
      if (c.rev == link.rev + 1) {
        op_event one{shared_op{c}};
        on_op_event(self, one);
      }
    return;
  }
  for (auto& c : batch.ops)
    if (c.client == st.client) {
      observe_ack_latency(link, c.seq);
      link.answered(c.seq); // the op in the batch is the ack
    }
  link.rev = last;
  ev.batch.frame([](const op_batch& b) { return encode_ops(b.doc, b.ops); });
  send_shared_frame(self, ev.batch.frame_ptr());
}

void on_presences_event(self_ptr self, presences_event& ev) {
  auto& batch = ev.batch.get();
  if (self->state.docs.count(batch.doc) == 0)
    return;
  ev.batch.frame([](const presence_batch& b) {
    std::vector<presence_entry> entries;
    entries.reserve(b.updates.size());
    for (auto& u : b.updates)
      entries.push_back({u.client, u.user, u.data});
    return encode_presences(b.doc, entries);
  });
  send_shared_frame(self, ev.batch.frame_ptr());
}

void on_presence_event(self_ptr self, presence_event& ev) {
  if (self->state.docs.count(ev.presence.get().doc) == 0)
    return;
  // Encoded once for every receiver of this update (like ops).
  ev.presence.frame([](const presence_update& p) {
    return encode_presence(p.doc, p.client, p.user, p.data);
  });
  send_shared_frame(self, ev.presence.frame_ptr());
}

void on_error_event(self_ptr self, error_event& ev) {
  auto& st = self->state;
  auto i = st.docs.find(ev.doc);
  if (i != st.docs.end()) {
    auto& link = i->second;
    if (ev.has_seq)
      link.answered(ev.seq);
    if (link.state != doc_link::phase::joined && !ev.has_seq) {
      // The join failed: forget the document.
      unwatch(self, link);
      erase_doc(self, i);
    }
  }
  // Counted by the document that refused it.
  send_frame(self, encode_error(ev.code, ev.message, ev.doc,
                                ev.has_seq ? std::optional<uint64_t>{ev.seq}
                                           : std::nullopt,
                                retry_hint(ev.code)));
}

} // namespace collab::net::conn
