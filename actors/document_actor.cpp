// The document actor's life: its phases as behaviours (loading, running,
// releasing; document_state.hpp draws them), each listing every message the
// actor accepts, so that a typed interface can name them all. What the
// handlers do is in document_submit.cpp (join, submit), document_commit.cpp
// (group commit, snapshots), document_presence.cpp and document_replay.cpp.
//
// Thread-safety: an actor; state is touched only by its own handlers.
#include "actors/document_actor.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/core/log_escape.hpp"
#include "actors/document_state.hpp"
#include "actors/mailbox_depth.hpp"
#include "actors/metrics.hpp"

namespace collab::doc_actor {

void arm_idle_timer(self_ptr self) {
  auto& st = self->state;
  if (!st.subs.empty() || has_pending(st))
    return;
  self->delayed_send(self, st.opts.idle_timeout, idle_atom_v,
                     ++st.idle_generation);
}

namespace {

// ---- inspection (collabctl)

doc_status status_of(self_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  doc_status out;
  out.doc = st.doc;
  out.node = st.opts.node;
  out.rev = st.order->head_rev();
  out.durable_rev = st.order->durable_rev();
  out.snapshot_rev = st.snapshot_rev;
  out.subscribers = st.subs.size();
  out.mailbox = mailbox_depth(self);
  out.ops_per_s = st.ops_rate.rate(now);
  out.idle_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  now - std::max(st.last_commit, st.last_active))
                  .count();
  return out;
}

doc_detail detail_of(self_ptr self, uint64_t recent) {
  auto& st = self->state;
  auto& history = st.order->history();
  doc_detail out;
  out.status = status_of(self);
  out.epoch = st.epoch;
  out.history_from = st.order->oldest_rev();
  out.history_to = st.order->head_rev();
  for (auto& [session, sub] : st.subs)
    out.subscribers.push_back(
      subscriber_info{session, sub.client, sub.user, sub.node, sub.presence});
  auto n = std::min<uint64_t>(recent, history.size());
  for (auto i = history.end() - n; i != history.end(); ++i)
    if (i->rev <= st.order->durable_rev())
      out.recent_ops.push_back(*i);
  return out;
}

// Reads of a live document come from its actor: always current.
caf::result<uint64_t, ot::rope> snapshot_of(self_ptr self) {
  return {self->state.order->durable_rev(), self->state.order->durable_text()};
}

// An operator's snapshot: answered with the snapshot revision once stored.
caf::result<uint64_t> snapshot_now(self_ptr self) {
  auto& st = self->state;
  if (st.order->durable_rev() == st.snapshot_rev)
    return st.snapshot_rev;
  auto rp = self->make_response_promise<uint64_t>();
  save_snapshot(self, snapshot_wait::concurrent,
                [=](const caf::error& err) mutable {
                  if (err)
                    rp.deliver(err);
                  else
                    rp.deliver(self->state.snapshot_rev);
                });
  return rp;
}

// Stops, with a snapshot first (unless the last one is current) so the next
// activation replays few ops. Anything that arrives meanwhile waits (await)
// and then finds us gone; its sender resolves the document again.
void passivate(self_ptr self) {
  auto& st = self->state;
  spdlog::debug("doc={} event=passivate rev={}", st.doc,
                st.order->durable_rev());
  deliver_batch(self);
  if (st.order->durable_rev() == st.snapshot_rev) {
    self->quit();
    return;
  }
  save_snapshot(self, snapshot_wait::awaited,
                [=](const caf::error&) { self->quit(); });
}

void on_idle(self_ptr self, uint64_t generation) {
  auto& st = self->state;
  if (generation != st.idle_generation || !st.subs.empty() || has_pending(st))
    return;
  passivate(self);
}

document_actor::behavior_type releasing(self_ptr self);

// Hand-off (release) or passivation (evict): pending commits finish first.
void begin_release(self_ptr self) {
  self->state.phase = doc_phase::releasing;
  self->become(releasing(self));
}

// Passivate now: like a hand-off, pending commits finish first, and a
// snapshot shortens the next activation. Subscribers resolve again.
uint64_t on_evict(self_ptr self) {
  auto rev = self->state.order->durable_rev();
  if (!has_pending(self->state))
    passivate(self);
  return rev;
}

// ---- the phases

// Loading: everything waits in the mailbox until the store answers `load`.
document_actor::behavior_type loading() {
  return {
    [](join_request&) -> caf::result<void> { return caf::skip; },
    [](submit_request&) -> caf::result<void> { return caf::skip; },
    [](leave_request&) -> caf::result<void> { return caf::skip; },
    [](presence_request&) -> caf::result<void> { return caf::skip; },
    [](presence_atom) -> caf::result<void> { return caf::skip; },
    [](release_atom) -> caf::result<void> { return caf::skip; },
    [](evict_atom) -> caf::result<uint64_t> { return caf::skip; },
    [](snapshot_now_atom) -> caf::result<uint64_t> { return caf::skip; },
    [](snapshot_atom) -> caf::result<uint64_t, ot::rope> { return caf::skip; },
    [](inspect_atom) -> caf::result<doc_status> { return caf::skip; },
    [](inspect_atom, uint64_t) -> caf::result<doc_detail> { return caf::skip; },
    [](quiet_atom) -> caf::result<void> { return caf::skip; },
    [](idle_atom, uint64_t) -> caf::result<void> { return caf::skip; },
    [](deliver_atom) -> caf::result<void> { return caf::skip; },
  };
}

document_actor::behavior_type running(self_ptr self) {
  return {
    [=](join_request& req) { on_join(self, req); },
    [=](submit_request& req) { on_submit(self, req); },
    [=](leave_request& req) { remove_subscriber(self, req.session); },
    [=](presence_request& req) { on_presence(self, req); },
    [=](presence_atom) { on_presence_tick(self); },
    [=](release_atom) {
      begin_release(self);
      stop_if_released(self);
    },
    [=](evict_atom) {
      begin_release(self);
      return on_evict(self);
    },
    [=](snapshot_now_atom) { return snapshot_now(self); },
    [=](snapshot_atom) { return snapshot_of(self); },
    [=](inspect_atom) { return status_of(self); },
    [=](inspect_atom, uint64_t recent) { return detail_of(self, recent); },
    [=](quiet_atom) { on_quiet(self); },
    [=](idle_atom, uint64_t generation) { on_idle(self, generation); },
    [=](deliver_atom) { on_batch_tick(self); },
  };
}

// Releasing: joins and ops are dropped; their senders see this actor go
// down, resolve the document again and repeat them at the new owner.
// Everything else is served as while running.
document_actor::behavior_type releasing(self_ptr self) {
  return {
    [](join_request&) {},
    [](submit_request&) {},
    [=](leave_request& req) { remove_subscriber(self, req.session); },
    [=](presence_request& req) { on_presence(self, req); },
    [=](presence_atom) { on_presence_tick(self); },
    [=](release_atom) { stop_if_released(self); },
    [=](evict_atom) { return on_evict(self); },
    [=](snapshot_now_atom) { return snapshot_now(self); },
    [=](snapshot_atom) { return snapshot_of(self); },
    [=](inspect_atom) { return status_of(self); },
    [=](inspect_atom, uint64_t recent) { return detail_of(self, recent); },
    [=](quiet_atom) { on_quiet(self); },
    [=](idle_atom, uint64_t generation) { on_idle(self, generation); },
    [=](deliver_atom) { on_batch_tick(self); },
  };
}

void on_loaded(self_ptr self, doc_snapshot& snap) {
  auto& st = self->state;
  st.epoch = snap.epoch;
  st.snapshot_rev = snap.snapshot_rev;
  st.order->load(snap.rev, std::move(snap.text), std::move(snap.tail),
                 snap.clients);
  st.last_active = self->clock().now();
  st.last_batch = st.last_active - st.opts.batch_tick_max; // first: at once
  st.loading_slot.release();
  spdlog::debug("doc={} event=activate rev={} epoch={}", st.doc,
                st.order->durable_rev(), st.epoch);
  st.phase = doc_phase::running;
  self->become(running(self));
  arm_idle_timer(self);
}

sequencer_limits limits_of(const document_options& opts) {
  return {opts.history_window, opts.history_bytes, opts.max_doc_bytes,
          opts.max_op_components, opts.max_transform_work};
}

document_actor::behavior_type document(self_ptr self, std::string doc,
                                       document_store_actor store,
                                       document_options opts) {
  auto& st = self->state;
  st.doc = std::move(doc);
  st.store = std::move(store);
  st.opts = opts;
  st.loading_slot = activation_slot{st.opts.activations};
  st.order.emplace(st.doc, limits_of(st.opts));
  st.order->set_budget(st.opts.budget);
  node_metrics().live_documents.fetch_add(1, std::memory_order_relaxed);
  node_metrics().activations.fetch_add(1, std::memory_order_relaxed);
  self->attach_functor([] {
    node_metrics().live_documents.fetch_sub(1, std::memory_order_relaxed);
  });
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto i = st.session_of.find(dm.source);
    if (i != st.session_of.end())
      remove_subscriber(self, std::string{i->second});
  });
  self
    ->request(st.store, st.opts.store_timeout, load_atom_v, st.doc,
              st.opts.node, st.opts.history_window)
    .then([=](doc_snapshot& snap) { on_loaded(self, snap); },
          [=](caf::error& err) {
            spdlog::error("doc={} event=load_failed error={}", self->state.doc,
                          log_escape(self->system().render(err)));
            self->quit(err);
          });
  return loading();
}

} // namespace
} // namespace collab::doc_actor

namespace collab {

document_actor spawn_document(caf::actor_system& sys, std::string doc,
                              document_store_actor store,
                              document_options opts) {
  return sys.spawn(doc_actor::document, std::move(doc), std::move(store),
                   std::move(opts));
}

} // namespace collab
