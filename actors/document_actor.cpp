#include "actors/document_actor.hpp"

#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/log_escape.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/rate_meter.hpp"
#include "persistence/store_error.hpp"

namespace collab {
namespace {

struct subscriber {
  caf::actor conn;
  std::string client;
  std::string user;
  std::string node;                    // where its socket is (inspection)
  std::string presence;                // raw JSON; empty when none
  bool catching_up = false;            // resume being read from the store
  std::vector<shared_op> buffered;     // live ops held back while catching up
};

// An op applied at head but not yet durable.
struct pending_op {
  committed_op op;
  ot::rope text_after;
  caf::actor sender;
  std::string session;
  // Further (conn, session) pairs that resubmitted this op meanwhile.
  std::vector<std::pair<caf::actor, std::string>> also_ack;
};

struct client_seq {
  uint64_t seq = 0;
  uint64_t rev = 0;
};

struct document_state {
  // Constant after construction.
  std::string doc;
  document_store_actor store;
  document_options opts;

  uint64_t epoch = 0;                  // our fence epoch, from load

  // Durable state: what clients may know.
  uint64_t durable_rev = 0;
  uint64_t snapshot_rev = 0;
  bool snapshot_in_flight = false;
  bool quiet_timer_armed = false;
  caf::actor_clock::time_point last_commit;  // the actor clock: testable
  ot::rope durable_text;
  std::unordered_map<std::string, client_seq> clients;  // last durable op

  // Head: durable plus pending ops.
  uint64_t head_rev = 0;
  ot::rope head_text;
  std::deque<committed_op> history;    // ops (head_rev - size, head_rev]
  std::deque<pending_op> queued;       // pending, not yet sent to the store
  std::vector<pending_op> in_flight;   // pending, being committed
  std::unordered_map<std::string, uint64_t> pending_seq;  // client -> seq

  std::unordered_map<std::string, subscriber> subs;       // by session
  std::unordered_map<caf::actor_addr, std::string> session_of;
  uint64_t idle_generation = 0;
  bool releasing = false;   // handing off: finish pending commits, then stop

  // For operators (collabctl): recent ops/s and the last activity.
  rate_meter ops_rate;
  caf::actor_clock::time_point last_active;

  static inline const char* name = "document";
};

using self_ptr = caf::stateful_actor<document_state>*;

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
    .count();
}

void send_error(self_ptr self, const caf::actor& to, errc code,
                std::string message, const uint64_t* seq = nullptr) {
  node_metrics().count_error(code);
  if (code == errc::internal) {
    // PROTOCOL.md: a bug, logged with a correlation id the message carries.
    static std::atomic<uint64_t> next_id{1};
    auto id = self->state.opts.node + "-" + std::to_string(next_id++);
    spdlog::error("doc={} event=internal_error correlation={} message=\"{}\"",
                  self->state.doc, id, log_escape(message));
    message += " (correlation id " + id + ")";
  }
  error_event e{self->state.doc, code, std::move(message), seq != nullptr,
                seq ? *seq : 0};
  self->send(to, std::move(e));
}

uint64_t oldest_history_rev(const document_state& st) {
  return st.head_rev - st.history.size();  // ops after this one are held
}

void arm_idle_timer(self_ptr self) {
  auto& st = self->state;
  if (!st.subs.empty() || !st.in_flight.empty() || !st.queued.empty())
    return;
  self->delayed_send(self, st.opts.idle_timeout, idle_atom_v,
                     ++st.idle_generation);
}

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
    st.clients[p.op.client] = client_seq{p.op.seq, p.op.rev};
    auto ps = st.pending_seq.find(p.op.client);
    if (ps != st.pending_seq.end() && ps->second == p.op.seq)
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

// The store refused: nothing pending is durable. Roll head back.
void on_commit_failed(self_ptr self, const caf::error& err) {
  auto& st = self->state;
  if (is(err, store_errc::fenced)) {
    // Another owner took the document (a move, or a split view of the
    // members): stop without answering. The senders' connections see us go
    // down, resolve the new owner and resubmit with the same seq, so their
    // clients see a late ack, not an error (DESIGN.md, contract 2).
    spdlog::warn("doc={} event=fenced epoch={} pending={}", st.doc, st.epoch,
                 st.in_flight.size() + st.queued.size());
    self->quit();  // a normal end: subscribers resolve again at once
    return;
  }
  spdlog::warn("doc={} event=commit_failed error={} pending={}", st.doc,
               log_escape(self->system().render(err)), st.in_flight.size() + st.queued.size());
  auto fail = [&](pending_op& p) {
    send_error(self, p.sender, errc::unavailable,
               "storage cannot commit now; retry with the same seq", &p.op.seq);
    for (auto& [conn, session] : p.also_ack)
      send_error(self, conn, errc::unavailable,
                 "storage cannot commit now; retry with the same seq",
                 &p.op.seq);
  };
  for (auto& p : st.in_flight)
    fail(p);
  for (auto& p : st.queued)
    fail(p);
  auto dropped = st.head_rev - st.durable_rev;
  st.history.erase(st.history.end() - std::min<uint64_t>(dropped, st.history.size()),
                   st.history.end());
  st.in_flight.clear();
  st.queued.clear();
  st.pending_seq.clear();
  st.head_rev = st.durable_rev;
  st.head_text = st.durable_text;
  if (stop_if_released(self))
    return;
  arm_idle_timer(self);
}

// Sends the queued ops to the store unless a commit is in flight: ops that
// arrive meanwhile form the next batch (group commit per document).
void flush(self_ptr self) {
  auto& st = self->state;
  if (!st.in_flight.empty() || st.queued.empty())
    return;
  std::vector<committed_op> batch;
  batch.reserve(st.queued.size());
  for (auto& p : st.queued) {
    batch.push_back(p.op);
    st.in_flight.push_back(std::move(p));
  }
  st.queued.clear();
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
  // Exactly once: the last seq of this client, pending or durable.
  uint64_t last = 0;
  if (auto i = st.pending_seq.find(req.client); i != st.pending_seq.end())
    last = i->second;
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
  // Transform over every op after the base (side left: ShareDB's rule).
  auto op = std::move(req.op);
  auto skip = st.history.size() - (st.head_rev - req.base_rev);
  for (auto i = st.history.begin() + skip; i != st.history.end(); ++i)
    op = ot::transform(op, i->op, ot::side::left);
  auto text = st.head_text;
  if (auto err = ot::apply(text, op); !err.empty()) {
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
                 std::move(op)};
  st.head_rev = c.rev;
  st.head_text = text;
  st.pending_seq[req.client] = req.seq;
  st.history.push_back(c);
  while (st.history.size() > st.opts.history_window
         && st.history.front().rev <= st.durable_rev)
    st.history.pop_front();
  st.queued.push_back(pending_op{std::move(c), std::move(text), conn,
                                 req.session, {}});
  flush(self);
}

void broadcast_presence(self_ptr self, const std::string& from_session,
                        const subscriber& from, const std::string& data) {
  presence_event ev{self->state.doc, from.client, from.user, data};
  for (auto& [session, sub] : self->state.subs)
    if (session != from_session)
      self->send(sub.conn, ev);
}

void remove_subscriber(self_ptr self, const std::string& session) {
  auto& st = self->state;
  auto i = st.subs.find(session);
  if (i == st.subs.end())
    return;
  auto sub = std::move(i->second);
  st.subs.erase(i);
  st.session_of.erase(sub.conn.address());
  node_metrics().joined_sessions.fetch_sub(1, std::memory_order_relaxed);
  if (!sub.presence.empty() && sub.presence != "null")
    broadcast_presence(self, session, sub, "null");
  arm_idle_timer(self);
}

// After `joined`: the presence of everyone else.
void send_presences(self_ptr self, const caf::actor& to,
                    const std::string& session) {
  for (auto& [s, sub] : self->state.subs)
    if (s != session && !sub.presence.empty() && sub.presence != "null")
      self->send(to, presence_event{self->state.doc, sub.client, sub.user,
                                    sub.presence});
}

// The end of a catch-up: the replayed ops (from+1..upto), `joined` at upto,
// then the live ops held back meanwhile (all after upto): no gap, no repeat.
void finish_replay(self_ptr self, const std::string& session,
                   std::vector<committed_op>& ops, uint64_t upto) {
  auto& st = self->state;
  auto i = st.subs.find(session);
  if (i == st.subs.end())
    return;  // left meanwhile
  auto& sub = i->second;
  for (auto& op : ops)
    self->send(sub.conn, op_event{shared_op{std::move(op)}});
  self->send(sub.conn, joined_event{st.doc, upto, false, {}});
  sub.catching_up = false;
  for (auto& op : sub.buffered)
    self->send(sub.conn, op_event{op});
  sub.buffered.clear();
  send_presences(self, sub.conn, session);
}

// A catch-up nobody can serve (compacted, or storage down): a join with the
// text, as PROTOCOL.md says; the held-back ops are part of that text.
void finish_with_text(self_ptr self, const std::string& session) {
  auto& st = self->state;
  auto i = st.subs.find(session);
  if (i == st.subs.end())
    return;
  auto& sub = i->second;
  sub.catching_up = false;
  sub.buffered.clear();
  self->send(sub.conn,
             joined_event{st.doc, st.durable_rev, true, st.durable_text});
  send_presences(self, sub.conn, session);
}

// Replays from+1..upto from the op log in the store (PostgreSQL).
void replay_from_store(self_ptr self, const std::string& session,
                       uint64_t from, uint64_t upto) {
  auto& st = self->state;
  auto started = std::chrono::steady_clock::now();
  self
    ->request(st.store, st.opts.store_timeout, read_ops_atom_v, st.doc, from,
              upto - from)
    .then(
      [=](std::vector<committed_op>& ops) {
        node_metrics().store_read_latency.observe(seconds_since(started));
        if (ops.size() == upto - from)
          finish_replay(self, session, ops, upto);
        else
          finish_with_text(self, session);
      },
      [=](caf::error& err) {
        if (is(err, store_errc::compacted)) {
          finish_with_text(self, session);
          return;
        }
        // Resume is exact or nothing: a text instead of the missed ops
        // would leave a client with an unacked op unable to rebase it.
        auto i = self->state.subs.find(session);
        if (i == self->state.subs.end())
          return;
        auto conn = i->second.conn;
        remove_subscriber(self, session);
        send_error(self, conn, errc::unavailable,
                   "the history cannot be read now; join again");
      });
}

// Replays from+1..upto from the Redis stream when it holds exactly that
// range, else from the store.
void replay(self_ptr self, const std::string& session, uint64_t from,
            uint64_t upto) {
  auto& st = self->state;
  if (!st.opts.op_log) {
    replay_from_store(self, session, from, upto);
    return;
  }
  auto started = std::chrono::steady_clock::now();
  self
    ->request(st.opts.op_log, st.opts.op_log_timeout, stream_read_atom_v,
              st.doc, from, upto)
    .then(
      [=](std::vector<committed_op>& ops) {
        node_metrics().stream_read_latency.observe(seconds_since(started));
        if (ops.size() == upto - from)
          finish_replay(self, session, ops, upto);
        else
          replay_from_store(self, session, from, upto);
      },
      [=](caf::error&) { replay_from_store(self, session, from, upto); });
}

void on_join(self_ptr self, join_request& req) {
  auto& st = self->state;
  auto conn = req.conn;
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
  sub = subscriber{conn, req.client, req.user, req.node, {}, false, {}};
  st.last_active = self->clock().now();
  st.session_of[conn.address()] = req.session;
  auto full_join = [&] {
    self->send(conn, joined_event{st.doc, st.durable_rev, true, st.durable_text});
  };
  if (!req.resume) {
    full_join();
  } else if (req.rev >= oldest_history_rev(st)) {
    // Replay from memory: ops rev+1 .. durable_rev, then joined.
    auto first = st.history.size() - (st.head_rev - req.rev);
    for (auto i = st.history.begin() + first;
         i != st.history.end() && i->rev <= st.durable_rev; ++i)
      self->send(conn, op_event{shared_op{*i}});
    self->send(conn, joined_event{st.doc, st.durable_rev, false, {}});
  } else {
    // Older than the memory history: live ops wait in `buffered` meanwhile.
    sub.catching_up = true;
    replay(self, req.session, req.rev, st.durable_rev);
    return;
  }
  send_presences(self, conn, req.session);
}

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
    [=](save_snapshot_atom) { return snapshot_now(self); },
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
    [=](presence_request& req) {
      auto& st = self->state;
      auto i = st.subs.find(req.session);
      if (i == st.subs.end()) {
        send_error(self, caf::actor_cast<caf::actor>(self->current_sender()),
                   errc::not_joined, "join the document first");
        return;
      }
      i->second.presence = req.data;
      broadcast_presence(self, req.session, i->second, req.data);
    },
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
        st.history.assign(snap.tail.begin(), snap.tail.end());
        st.last_active = self->clock().now();
        for (auto& op : snap.clients)
          st.clients[op.client] = client_seq{op.seq, op.rev};
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

caf::actor spawn_document(caf::actor_system& sys, std::string doc,
                          document_store_actor store, document_options opts) {
  return sys.spawn(document, std::move(doc), std::move(store), opts);
}

} // namespace collab
