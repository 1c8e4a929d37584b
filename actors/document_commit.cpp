// Group commit of the document actor and what follows it: queued ops go to
// the store as one batch per round trip; a durable batch is acked to its
// senders and broadcast to every other subscriber, then appended to the
// Redis replay log (docs/DESIGN.md, contract 1: durable before visible). A
// failed batch rolls head back; a fenced one stops the actor; a rejected
// one is committed again one op at a time. Snapshots of the durable text
// are written from here too (save_snapshot: the one place that asks).
//
// Thread-safety: runs inside the document actor's handlers only.
#include <algorithm>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/core/log_escape.hpp"
#include "actors/document_state.hpp"
#include "actors/metrics.hpp"
#include "persistence/store_error.hpp"

namespace collab::doc_actor {
namespace {

void deliver(self_ptr self, subscriber& sub, const shared_op& op) {
  if (sub.catching_up)
    sub.buffered.push_back(op);
  else
    self->send(sub.conn, op_event{op});
}

// One quiet timer at most: when it fires early it re-arms for the rest.
void arm_quiet_timer(self_ptr self) {
  auto& st = self->state;
  if (st.quiet_timer_armed)
    return;
  st.quiet_timer_armed = true;
  self->delayed_send(self, st.opts.snapshot_quiet, quiet_atom_v);
}

// The ack to the sender and every resubmission, the op to everyone else;
// batched sessions hear it in the next batch instead, their own op in it
// standing for the ack (document_batch.cpp).
void announce(self_ptr self, const pending_op& p) {
  auto& st = self->state;
  shared_op shared{p.op};
  ack_event ack{st.doc, p.op.seq, p.op.rev};
  auto batched = [&](const std::string& session) {
    auto i = st.subs.find(session);
    return i != st.subs.end() && i->second.batched;
  };
  if (!batched(p.session))
    self->send(p.sender, ack);
  for (auto& extra : p.also_ack) // resubmissions while it was pending
    if (!batched(extra.second))
      self->send(extra.first, ack);
  auto acked = [&](const std::string& session) {
    if (session == p.session)
      return true;
    for (auto& extra : p.also_ack)
      if (extra.second == session)
        return true;
    return false;
  };
  for (auto& [session, sub] : st.subs) {
    if (sub.batched) {
      if (sub.catching_up)
        sub.buffered.push_back(shared);
    } else if (!acked(session)) {
      deliver(self, sub, shared);
    }
  }
  if (st.batched_subs > 0)
    st.batch.push_back(p.op);
}

// The store made the in-flight batch durable: tell everyone.
void on_durable(self_ptr self) {
  auto& st = self->state;
  auto batch = std::move(st.in_flight);
  st.in_flight.clear();
  for (auto& p : batch) {
    st.order->mark_durable(p.op, p.text_after);
    announce(self, p);
  }
  st.isolate -= std::min(st.isolate, batch.size());
  node_metrics().ops_committed.fetch_add(batch.size(),
                                         std::memory_order_relaxed);
  st.ops_rate.add(self->clock().now(), batch.size());
  if (st.opts.op_log) {
    // The replay log (asynchronous: a lagging Redis never blocks editing).
    std::vector<committed_op> ops;
    ops.reserve(batch.size());
    for (auto& p : batch)
      ops.push_back(std::move(p.op));
    self->send(st.opts.op_log, stream_append_atom_v, std::move(ops));
  }
  st.last_commit = self->clock().now();
  schedule_batch(self);
  flush(self);
  if (stop_if_released(self))
    return;
  maybe_snapshot(self, false);
  arm_quiet_timer(self);
  arm_idle_timer(self);
}

// Nothing pending is durable: head goes back to durable.
void roll_back(self_ptr self) {
  auto& st = self->state;
  st.order->roll_back();
  st.in_flight.clear();
  st.queued.clear();
  st.isolate = 0;
  if (stop_if_released(self))
    return;
  arm_idle_timer(self);
}

// Answers a pending op and every resubmission of it.
void fail_pending(self_ptr self, const pending_op& p, errc code,
                  const std::string& message) {
  send_error_event(self, p.sender, code, message, &p.op.seq);
  for (auto& extra : p.also_ack)
    send_error_event(self, extra.first, code, message, &p.op.seq);
}

void fail_queued(self_ptr self) {
  for (auto& p : self->state.queued)
    fail_pending(self, p, errc::unavailable,
                 "storage cannot commit now; retry with the same seq");
}

// The store refused the data of the in-flight batch (docs/DESIGN.md, contract
// 6): retrying it would fail again. Which op it refused is unknown when the
// batch has several, so they are committed again one at a time; the op it
// refuses alone is answered `internal` (the ops after it were transformed
// over it: `unavailable`, their retry goes without it).
void on_commit_rejected(self_ptr self, const caf::error& err) {
  auto& st = self->state;
  if (st.in_flight.size() > 1) {
    spdlog::warn("doc={} event=commit_rejected ops={} action=one_at_a_time "
                 "error={}",
                 st.doc, st.in_flight.size(),
                 log_escape(self->system().render(err)));
    st.isolate = st.in_flight.size();
    st.queued.insert(st.queued.begin(),
                     std::make_move_iterator(st.in_flight.begin()),
                     std::make_move_iterator(st.in_flight.end()));
    st.in_flight.clear();
    flush(self);
    return;
  }
  auto& p = st.in_flight.front();
  auto id = new_correlation_id();
  spdlog::error("doc={} event=commit_rejected correlation={} rev={} client={} "
                "seq={} error={}",
                st.doc, id, p.op.rev, p.op.client, p.op.seq,
                log_escape(self->system().render(err)));
  fail_pending(self, p, errc::internal,
               "the store refused this op; it was not applied (correlation id "
                 + id + ")");
  fail_queued(self);
  roll_back(self);
}

// The store failed: nothing pending is durable. Roll head back.
void on_commit_failed(self_ptr self, const caf::error& err) {
  auto& st = self->state;
  if (is(err, store_errc::fenced)) {
    // Another owner took the document (a move, or a split view of the
    // members): stop without answering. The senders' connections see us go
    // down, resolve the new owner and resubmit with the same seq, so their
    // clients see a late ack, not an error (docs/DESIGN.md, contract 2).
    spdlog::warn("doc={} event=fenced epoch={} pending={}", st.doc, st.epoch,
                 st.in_flight.size() + st.queued.size());
    deliver_batch(self);
    self->quit(); // a normal end: subscribers resolve again at once
    return;
  }
  if (is(err, store_errc::rejected)) {
    on_commit_rejected(self, err);
    return;
  }
  spdlog::warn("doc={} event=commit_failed error={} pending={}", st.doc,
               log_escape(self->system().render(err)),
               st.in_flight.size() + st.queued.size());
  for (auto& p : st.in_flight)
    fail_pending(self, p, errc::unavailable,
                 "storage cannot commit now; retry with the same seq");
  fail_queued(self);
  roll_back(self);
}

} // namespace

// Sends the queued ops to the store unless a commit is in flight: ops that
// arrive meanwhile form the next batch (group commit per document), except
// while ops of a rejected batch are being committed one at a time.
void flush(self_ptr self) {
  auto& st = self->state;
  if (!st.in_flight.empty() || st.queued.empty())
    return;
  auto n = st.isolate > 0 ? size_t{1} : st.queued.size();
  std::vector<committed_op> batch;
  batch.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    batch.push_back(st.queued.front().op);
    st.in_flight.push_back(std::move(st.queued.front()));
    st.queued.pop_front();
  }
  node_metrics().commit_batches.fetch_add(1, std::memory_order_relaxed);
  node_metrics().commit_batch.observe(static_cast<double>(batch.size()));
  auto started = std::chrono::steady_clock::now();
  self
    ->request(st.store, st.opts.store_timeout, commit_atom_v, st.doc, st.epoch,
              std::move(batch))
    .then(
      [=](uint64_t durable) {
        node_metrics().commit_latency.observe(seconds_since(started));
        if (durable != self->state.in_flight.back().op.rev) {
          on_commit_failed(self, caf::make_error(caf::sec::invalid_argument,
                                                 "store answered a wrong rev"));
          return;
        }
        on_durable(self);
      },
      [=](caf::error& err) { on_commit_failed(self, err); });
}

// A released document stops once nothing it ordered is waiting for the
// store; its subscribers then resolve it again at its new owner.
bool stop_if_released(self_ptr self) {
  auto& st = self->state;
  if (st.phase != doc_phase::releasing || has_pending(st))
    return false;
  spdlog::info("doc={} event=handed_off rev={}", st.doc,
               st.order->durable_rev());
  node_metrics().hand_offs.fetch_add(1, std::memory_order_relaxed);
  deliver_batch(self);
  self->quit();
  return true;
}

void save_snapshot(self_ptr self, snapshot_wait wait,
                   std::function<void(const caf::error&)> done) {
  auto& st = self->state;
  auto rev = st.order->durable_rev();
  auto saved = [=](bool) {
    self->state.snapshot_rev = std::max(self->state.snapshot_rev, rev);
    done(caf::error{});
  };
  auto failed = [=](caf::error& err) {
    done(err);
  };
  auto handle = self->request(st.store, st.opts.store_timeout,
                              save_snapshot_atom_v, st.doc, st.epoch, rev,
                              st.order->durable_text());
  if (wait == snapshot_wait::awaited)
    handle.await(saved, failed);
  else
    handle.then(saved, failed);
}

// Snapshots only shorten activation: a failed one is logged and retried
// later.
void maybe_snapshot(self_ptr self, bool force) {
  auto& st = self->state;
  auto durable = st.order->durable_rev();
  if (st.snapshot_in_flight || durable == st.snapshot_rev
      || (!force && durable - st.snapshot_rev < st.opts.snapshot_every))
    return;
  st.snapshot_in_flight = true;
  save_snapshot(self, snapshot_wait::concurrent, [=](const caf::error& err) {
    self->state.snapshot_in_flight = false;
    if (err)
      spdlog::warn("doc={} event=snapshot_failed rev={} error={}",
                   self->state.doc, durable,
                   log_escape(self->system().render(err)));
  });
}

void on_quiet(self_ptr self) {
  auto& st = self->state;
  st.quiet_timer_armed = false;
  auto quiet_for = self->clock().now() - st.last_commit;
  if (quiet_for >= st.opts.snapshot_quiet)
    maybe_snapshot(self, true);
  else if (st.order->durable_rev() > st.snapshot_rev)
    arm_quiet_timer(self);
}

} // namespace collab::doc_actor
