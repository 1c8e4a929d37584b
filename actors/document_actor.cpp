#include "actors/document_actor.hpp"

#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/document_state.hpp"
#include "actors/core/log_escape.hpp"
#include "actors/metrics.hpp"
#include "persistence/store_error.hpp"

namespace collab::doc_actor {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
    .count();
}

std::string new_correlation_id() {
  // Random, so that ids from different nodes and restarts never collide.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string id(16, '0');
  auto bits = rng();
  for (auto& c : id) {
    c = hex[bits & 0xf];
    bits >>= 4;
  }
  return id;
}

namespace {

void emit_error(self_ptr self, const caf::actor& to, errc code,
                std::string message, const uint64_t* seq) {
  node_metrics().count_error(code);
  error_event e{self->state.doc, code, std::move(message), seq != nullptr,
                seq ? *seq : 0};
  self->send(to, std::move(e));
}

} // namespace

void send_error(self_ptr self, const caf::actor& to, errc code,
                std::string message, const uint64_t* seq) {
  if (code == errc::internal) {
    // docs/PROTOCOL.md: a bug, logged with a correlation id the message carries.
    auto id = new_correlation_id();
    spdlog::error("doc={} event=internal_error correlation={} message=\"{}\"",
                  self->state.doc, id, log_escape(message));
    message += " (correlation id " + id + ")";
  }
  emit_error(self, to, code, std::move(message), seq);
}

void arm_idle_timer(self_ptr self) {
  auto& st = self->state;
  if (!st.subs.empty() || !st.in_flight.empty() || !st.queued.empty())
    return;
  self->delayed_send(self, st.opts.idle_timeout, idle_atom_v,
                     ++st.idle_generation);
}

namespace {

void deliver(self_ptr self, subscriber& sub, const shared_op& op) {
  if (sub.catching_up)
    sub.buffered.push_back(op);
  else
    self->send(sub.conn, op_event{op});
}

void flush(self_ptr self);

// A released document stops once nothing it ordered is waiting for the
// store; its subscribers then resolve it again at its new owner.
bool stop_if_released(self_ptr self) {
  auto& st = self->state;
  if (!st.releasing || !st.in_flight.empty() || !st.queued.empty())
    return false;
  spdlog::info("doc={} event=handed_off rev={}", st.doc, st.durable_rev);
  node_metrics().hand_offs.fetch_add(1, std::memory_order_relaxed);
  self->quit();
  return true;
}

// Writes a snapshot of the durable text when enough ops passed since the
// last one (or any did, when `force`). Snapshots only shorten activation:
// a failed one is logged and retried later.
void maybe_snapshot(self_ptr self, bool force) {
  auto& st = self->state;
  if (st.snapshot_in_flight || st.durable_rev == st.snapshot_rev
      || (!force && st.durable_rev - st.snapshot_rev < st.opts.snapshot_every))
    return;
  st.snapshot_in_flight = true;
  auto rev = st.durable_rev;
  self
    ->request(st.store, st.opts.store_timeout, save_snapshot_atom_v, st.doc,
              st.epoch, rev, st.durable_text)
    .then(
      [=](bool) {
        self->state.snapshot_in_flight = false;
        self->state.snapshot_rev = std::max(self->state.snapshot_rev, rev);
      },
      [=](caf::error& err) {
        self->state.snapshot_in_flight = false;
        spdlog::warn("doc={} event=snapshot_failed rev={} error={}",
                     self->state.doc, rev, log_escape(self->system().render(err)));
      });
}

// One quiet timer at most: when it fires early it re-arms for the rest.
void arm_quiet_timer(self_ptr self) {
  auto& st = self->state;
  if (st.quiet_timer_armed)
    return;
  st.quiet_timer_armed = true;
  self->delayed_send(self, st.opts.snapshot_quiet, quiet_atom_v);
}

// The store made the in-flight batch durable: tell everyone.
void on_durable(self_ptr self) {
  auto& st = self->state;
  auto batch = std::move(st.in_flight);
  st.in_flight.clear();
  for (auto& p : batch) {
    st.durable_rev = p.op.rev;
    st.durable_text = p.text_after;
    st.clients[p.op.client] = client_seq{p.op.seq, p.op.rev, p.op.user};
    auto ps = st.pending_seq.find(p.op.client);
    if (ps != st.pending_seq.end() && ps->second.seq == p.op.seq)
      st.pending_seq.erase(ps);
    shared_op shared{p.op};
    ack_event ack{st.doc, p.op.seq, p.op.rev};
    self->send(p.sender, ack);
    for (auto& extra : p.also_ack)  // resubmissions while it was pending
      self->send(extra.first, ack);
    auto acked = [&](const std::string& session) {
      if (session == p.session)
        return true;
      for (auto& extra : p.also_ack)
        if (extra.second == session)
          return true;
      return false;
    };
    // Everyone else gets the op; those acked get the ack instead.
    for (auto& [session, sub] : st.subs)
      if (!acked(session))
        deliver(self, sub, shared);
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
  st.history.drop_newest(st.head_rev - st.durable_rev);
  st.in_flight.clear();
  st.queued.clear();
  st.pending_seq.clear();
  st.isolate = 0;
  st.head_rev = st.durable_rev;
  st.head_text = st.durable_text;
  if (stop_if_released(self))
    return;
  arm_idle_timer(self);
}

// Answers a pending op and every resubmission of it.
void fail_pending(self_ptr self, const pending_op& p, errc code,
                  const std::string& message) {
  emit_error(self, p.sender, code, message, &p.op.seq);
  for (auto& extra : p.also_ack)
    emit_error(self, extra.first, code, message, &p.op.seq);
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
                 "error={}", st.doc, st.in_flight.size(),
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
                "seq={} error={}", st.doc, id, p.op.rev, p.op.client, p.op.seq,
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
    self->quit();  // a normal end: subscribers resolve again at once
    return;
  }
  if (is(err, store_errc::rejected)) {
    on_commit_rejected(self, err);
    return;
  }
  spdlog::warn("doc={} event=commit_failed error={} pending={}", st.doc,
               log_escape(self->system().render(err)), st.in_flight.size() + st.queued.size());
  for (auto& p : st.in_flight)
    fail_pending(self, p, errc::unavailable,
                 "storage cannot commit now; retry with the same seq");
  fail_queued(self);
  roll_back(self);
}

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

constexpr const char* not_yours
  = "the client id belongs to another user; choose another one";

// Who owns a client id here (docs/PROTOCOL.md: exactly-once is per client id):
// the user who made its ops, durable or pending, else who is joined with it
// in another session. Empty: nobody (or only ops from before users were
// recorded), so anyone may take it.
std::string owner_of(const document_state& st, const std::string& client,
                     const std::string& session) {
  if (auto i = st.pending_seq.find(client); i != st.pending_seq.end())
    return i->second.user;
  if (auto i = st.clients.find(client); i != st.clients.end())
    return i->second.user;
  for (auto& [s, sub] : st.subs)
    if (s != session && sub.client == client)
      return sub.user;
  return {};
}

bool owned_by_other(const document_state& st, const std::string& client,
                    const std::string& session, const std::string& user) {
  auto owner = owner_of(st, client, session);
  return !owner.empty() && owner != user;
}

// A duplicate (client, seq) is re-acked with its original revision.
void reack_duplicate(self_ptr self, const caf::actor& conn,
                     const submit_request& req) {
  auto& st = self->state;
  node_metrics().duplicate_ops.fetch_add(1, std::memory_order_relaxed);
  auto matches = [&](const committed_op& op) {
    return op.client == req.client && op.seq == req.seq;
  };
  // Pending: ack together with the original once it is durable.
  auto join_pending = [&](auto& list) {
    for (auto& p : list)
      if (matches(p.op)) {
        p.also_ack.emplace_back(conn, req.session);
        return true;
      }
    return false;
  };
  if (join_pending(st.in_flight) || join_pending(st.queued))
    return;
  for (auto i = st.history.rbegin(); i != st.history.rend(); ++i)
    if (i->rev <= st.durable_rev && matches(*i)) {
      self->send(conn, ack_event{st.doc, req.seq, i->rev});
      return;
    }
  // Older than the history: ask the store.
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

// A revision ahead of ours is either the client's mistake (rev_ahead) or a
// sign that we are stale: another owner committed after we loaded (a split
// view of the members during a move). The op log tells which; a stale actor
// stops, and its subscribers resolve the document again.
void refuse_ahead(self_ptr self, const caf::actor& conn, std::string message,
                  std::optional<uint64_t> seq) {
  auto& st = self->state;
  // Awaited: nothing else is handled until we know. A stale actor must not
  // answer what the same client sends next (e.g. the op it resubmits after
  // this join): it stops, and the client's connection repeats both at the
  // document's real owner.
  self
    ->request(st.store, st.opts.store_timeout, read_ops_atom_v, st.doc,
              st.durable_rev, uint64_t{1})
    .await(
      [=](const std::vector<committed_op>& newer) {
        if (!newer.empty() && !self->state.releasing) {
          spdlog::warn("doc={} event=stale rev={} newer={}", self->state.doc,
                       self->state.durable_rev, newer.front().rev);
          self->quit();  // normal end: everyone resolves again at once
          return;
        }
        send_error(self, conn, errc::rev_ahead, message,
                   seq ? &*seq : nullptr);
      },
      [=](caf::error&) {
        send_error(self, conn, errc::rev_ahead, message,
                   seq ? &*seq : nullptr);
      });
}

// Refuses an op whose work would be out of bounds (docs/DESIGN.md, contract 6);
// else transforms it over every op after its base. True when done.
bool transform_bounded(self_ptr self, const caf::actor& conn,
                       submit_request& req) {
  auto& st = self->state;
  if (req.op.size() > st.opts.max_op_components) {
    send_error(self, conn, errc::too_large,
               "the op has " + std::to_string(req.op.size())
                 + " components, more than the limit of "
                 + std::to_string(st.opts.max_op_components),
               &req.seq);
    return false;
  }
  auto components = req.op.size();
  if (!transform_within(req.op, st.history.after(req.base_rev),
                        st.history.end(), st.opts.max_transform_work)) {
    send_error(self, conn, errc::rev_too_old,
               "the op is too far behind for its size ("
                 + std::to_string(components) + " components, "
                 + std::to_string(st.head_rev - req.base_rev)
                 + " revisions behind); rejoin and rebase",
               &req.seq);
    return false;
  }
  return true;
}

void on_submit(self_ptr self, submit_request& req) {
  auto& st = self->state;
  auto conn = caf::actor_cast<caf::actor>(self->current_sender());
  node_metrics().mailbox_depth.observe(
    static_cast<double>(self->mailbox().size()));
  if (st.subs.count(req.session) == 0) {
    send_error(self, conn, errc::not_joined, "join the document first",
               &req.seq);
    return;
  }
  if (owned_by_other(st, req.client, req.session, req.user)) {
    send_error(self, conn, errc::forbidden, not_yours, &req.seq);
    return;
  }
  // Exactly once: the last seq of this client, pending or durable.
  uint64_t last = 0;
  if (auto i = st.pending_seq.find(req.client); i != st.pending_seq.end())
    last = i->second.seq;
  else if (auto j = st.clients.find(req.client); j != st.clients.end())
    last = j->second.seq;
  if (req.seq <= last) {
    reack_duplicate(self, conn, req);
    return;
  }
  if (req.seq != last + 1) {
    send_error(self, conn, errc::seq_gap,
               "expected seq " + std::to_string(last + 1), &req.seq);
    return;
  }
  if (req.base_rev > st.durable_rev) {
    refuse_ahead(self, conn,
                 "base revision " + std::to_string(req.base_rev)
                   + " is ahead of the document",
                 req.seq);
    return;
  }
  if (req.base_rev < oldest_history_rev(st)) {
    send_error(self, conn, errc::rev_too_old,
               "base revision is older than the history kept for transform; "
               "rejoin and rebase",
               &req.seq);
    return;
  }
  if (!transform_bounded(self, conn, req))
    return;
  auto text = st.head_text;
  if (auto err = ot::apply(text, req.op); !err.empty()) {
    send_error(self, conn, errc::bad_op, err, &req.seq);
    return;
  }
  if (text.bytes() > st.opts.max_doc_bytes
      && text.bytes() > st.head_text.bytes()) {
    send_error(self, conn, errc::too_large,
               "the document would exceed "
                 + std::to_string(st.opts.max_doc_bytes) + " bytes",
               &req.seq);
    return;
  }
  committed_op c{st.doc, st.head_rev + 1, req.client, req.seq, req.user,
                 std::move(req.op)};
  // Room first: the oldest ops leave before the new one is charged, so that
  // a document at its bounds recycles its own bytes of the budget.
  auto bytes = memory_estimate(c);
  st.history.trim(st.opts.history_window - std::min<uint64_t>(
                                             st.opts.history_window, 1),
                  st.opts.history_bytes
                    - std::min(st.opts.history_bytes, bytes),
                  st.durable_rev);
  if (!st.history.try_push(c)) {
    send_error(self, conn, errc::overloaded,
               "the node's memory budget is spent; retry later with the same "
               "seq",
               &req.seq);
    return;
  }
  st.head_rev = c.rev;
  st.head_text = text;
  st.pending_seq[req.client] = client_seq{req.seq, 0, req.user};
  st.queued.push_back(pending_op{std::move(c), std::move(text), conn,
                                 req.session, {}});
  flush(self);
}

void on_join(self_ptr self, join_request& req) {
  auto& st = self->state;
  auto conn = caf::actor_cast<caf::actor>(req.conn);  // typed next
  if (owned_by_other(st, req.client, req.session, req.user)) {
    send_error(self, conn, errc::forbidden, not_yours);
    return;
  }
  if (req.resume && req.rev > st.durable_rev) {
    refuse_ahead(self, conn,
                 "revision " + std::to_string(req.rev)
                   + " is ahead of the document (at "
                   + std::to_string(st.durable_rev) + ")",
                 std::nullopt);
    return;
  }
  if (st.subs.count(req.session) == 0) {
    node_metrics().joined_sessions.fetch_add(1, std::memory_order_relaxed);
    self->monitor(conn);
  }
  auto& sub = st.subs[req.session];
  sub = subscriber{};
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
  self->send(conn, joined_event{st.doc, st.durable_rev, true, st.durable_text});
  send_presences(self, conn, req.session);
}

} // namespace

void remove_subscriber(self_ptr self, const std::string& session) {
  auto& st = self->state;
  auto i = st.subs.find(session);
  if (i == st.subs.end())
    return;
  auto sub = std::move(i->second);
  st.subs.erase(i);
  st.session_of.erase(sub.conn.address());
  node_metrics().joined_sessions.fetch_sub(1, std::memory_order_relaxed);
  presence_left(self, session, sub);
  arm_idle_timer(self);
}

namespace {

// ---- inspection (collabctl)

doc_status status_of(self_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  doc_status out;
  out.doc = st.doc;
  out.node = st.opts.node;
  out.rev = st.head_rev;
  out.durable_rev = st.durable_rev;
  out.snapshot_rev = st.snapshot_rev;
  out.subscribers = st.subs.size();
  out.mailbox = self->mailbox().size();
  out.ops_per_s = st.ops_rate.rate(now);
  out.idle_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  now - std::max(st.last_commit, st.last_active))
                  .count();
  return out;
}

doc_detail detail_of(self_ptr self, uint64_t recent) {
  auto& st = self->state;
  doc_detail out;
  out.status = status_of(self);
  out.epoch = st.epoch;
  out.history_from = oldest_history_rev(st);
  out.history_to = st.head_rev;
  for (auto& [session, sub] : st.subs)
    out.subscribers.push_back(
      subscriber_info{session, sub.client, sub.user, sub.node, sub.presence});
  auto n = std::min<uint64_t>(recent, st.history.size());
  for (auto i = st.history.end() - n; i != st.history.end(); ++i)
    if (i->rev <= st.durable_rev)
      out.recent_ops.push_back(*i);
  return out;
}

// An operator's snapshot: answered with the snapshot revision once stored.
caf::result<uint64_t> snapshot_now(self_ptr self) {
  auto& st = self->state;
  if (st.durable_rev == st.snapshot_rev)
    return st.snapshot_rev;
  auto rp = self->make_response_promise<uint64_t>();
  auto rev = st.durable_rev;
  self
    ->request(st.store, st.opts.store_timeout, save_snapshot_atom_v, st.doc,
              st.epoch, rev, st.durable_text)
    .then(
      [=](bool) mutable {
        self->state.snapshot_rev = std::max(self->state.snapshot_rev, rev);
        rp.deliver(self->state.snapshot_rev);
      },
      [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

// Stops, with a snapshot first (unless the last one is current) so the next
// activation replays few ops. Anything that arrives meanwhile waits (await)
// and then finds us gone; its sender resolves the document again.
void passivate(self_ptr self) {
  auto& st = self->state;
  spdlog::debug("doc={} event=passivate rev={}", st.doc, st.durable_rev);
  if (st.durable_rev == st.snapshot_rev) {
    self->quit();
    return;
  }
  self
    ->request(st.store, st.opts.store_timeout, save_snapshot_atom_v, st.doc,
              st.epoch, st.durable_rev, st.durable_text)
    .await([=](bool) { self->quit(); }, [=](caf::error&) { self->quit(); });
}

caf::behavior running(self_ptr self) {
  // While handing off, requests are dropped: their senders see this actor
  // go down, resolve the document again and repeat them at the new owner.
  return {
    [=](join_request& req) {
      if (!self->state.releasing)
        on_join(self, req);
    },
    [=](submit_request& req) {
      if (!self->state.releasing)
        on_submit(self, req);
    },
    [=](release_atom) {
      self->state.releasing = true;
      stop_if_released(self);
    },
    [=](inspect_atom) { return status_of(self); },
    [=](inspect_atom, uint64_t recent) { return detail_of(self, recent); },
    [=](snapshot_now_atom) { return snapshot_now(self); },
    [=](evict_atom) -> uint64_t {
      // Passivate now: like a hand-off, pending commits finish first, and a
      // snapshot shortens the next activation. Subscribers resolve again.
      auto& st = self->state;
      st.releasing = true;
      auto rev = st.durable_rev;
      if (st.in_flight.empty() && st.queued.empty())
        passivate(self);
      return rev;
    },
    [=](leave_request& req) { remove_subscriber(self, req.session); },
    [=](presence_request& req) { on_presence(self, req); },
    [=](presence_atom) { on_presence_tick(self); },
    [=](snapshot_atom) {
      // Reads of a live document come from its actor: always current.
      return caf::make_message(self->state.durable_rev,
                               self->state.durable_text);
    },
    [=](quiet_atom) {
      auto& st = self->state;
      st.quiet_timer_armed = false;
      auto quiet_for = self->clock().now() - st.last_commit;
      if (quiet_for >= st.opts.snapshot_quiet)
        maybe_snapshot(self, true);
      else if (st.durable_rev > st.snapshot_rev)
        arm_quiet_timer(self);
    },
    [=](idle_atom, uint64_t generation) {
      auto& st = self->state;
      if (generation != st.idle_generation || !st.subs.empty()
          || !st.in_flight.empty() || !st.queued.empty())
        return;
      passivate(self);
    },
  };
}

caf::behavior document(self_ptr self, std::string doc,
                       document_store_actor store, document_options opts) {
  auto& st = self->state;
  st.doc = std::move(doc);
  st.store = std::move(store);
  st.opts = opts;
  st.history.set_budget(st.opts.budget);
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
  // Loading: everything else waits in the mailbox until the store answers.
  self
    ->request(st.store, st.opts.store_timeout, load_atom_v, st.doc,
              st.opts.node, st.opts.history_window)
    .await(
      [=](doc_snapshot& snap) {
        auto& st = self->state;
        st.epoch = snap.epoch;
        st.snapshot_rev = snap.snapshot_rev;
        st.durable_rev = st.head_rev = snap.rev;
        st.durable_text = st.head_text = std::move(snap.text);
        // Already in memory: charged whatever the budget says, then trimmed.
        for (auto& op : snap.tail)
          st.history.push(std::move(op));
        st.history.trim(st.opts.history_window, st.opts.history_bytes,
                        st.durable_rev);
        st.last_active = self->clock().now();
        for (auto& op : snap.clients)
          st.clients[op.client] = client_seq{op.seq, op.rev, op.user};
        spdlog::debug("doc={} event=activate rev={} epoch={}", st.doc,
                      st.durable_rev, st.epoch);
        arm_idle_timer(self);
      },
      [=](caf::error& err) {
        spdlog::error("doc={} event=load_failed error={}", self->state.doc,
                      log_escape(self->system().render(err)));
        self->quit(err);
      });
  return running(self);
}

} // namespace
} // namespace collab::doc_actor

namespace collab {

caf::actor spawn_document(caf::actor_system& sys, std::string doc,
                          document_store_actor store, document_options opts) {
  return sys.spawn(doc_actor::document, std::move(doc), std::move(store),
                   std::move(opts));
}

} // namespace collab
