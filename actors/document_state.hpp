// The document actor's state and the helpers its parts share (private to
// actors/document_*.cpp): document_actor.cpp has the phases (behaviours);
// document_submit.cpp joins and sequences ops (the rules themselves are
// document_sequencer.hpp); document_commit.cpp commits, acks, broadcasts and
// snapshots; document_presence.cpp sends presence, coalesced per tick;
// document_replay.cpp replays missed ops to a resuming session;
// document_errors.cpp sends error events.
//
// Thread-safety: everything here is touched only by the one document actor
// that owns the state, inside its handlers.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_clock.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/errc.hpp"
#include "actors/document_actor.hpp"
#include "actors/document_protocol.hpp"
#include "actors/document_sequencer.hpp"
#include "actors/rate_meter.hpp"

namespace collab::doc_actor {

struct subscriber {
  document_subscriber conn;
  std::string client;
  std::string user;
  std::string node; // where its socket is (inspection)
  std::string presence; // raw JSON; empty when none
  bool presence_dirty = false; // changed since last sent (tick)
  bool catching_up = false; // resume being read from the store
  bool batched = false; // hears ops and presence in batches (hello)
  relay_actor relay; // where its batches go (null: to conn itself)
  uint64_t join_id = 0; // which join a replay belongs to
  std::vector<shared_op> buffered; // live ops held back while catching up
};

// An op applied at head but not yet durable.
struct pending_op {
  committed_op op;
  ot::rope text_after;
  document_subscriber sender;
  std::string session;
  // Further (conn, session) pairs that resubmitted this op meanwhile.
  std::vector<std::pair<document_subscriber, std::string>> also_ack;
};

// The phases, each a behaviour (document_actor.cpp):
//   loading   --(store answers load)--> running
//   running   --(release_atom, evict_atom)--> releasing
//   releasing --(nothing pending)--> quit
// Commits finishing in any phase check it (a releasing actor stops once
// the last one is durable).
enum class doc_phase : uint8_t { loading, running, releasing };

struct document_state {
  // Constant after construction.
  std::string doc;
  document_store_actor store;
  document_options opts;

  uint64_t epoch = 0; // our fence epoch, from load
  // The activation slot the directory took for our load (activation_gate).
  activation_slot loading_slot;

  // The ordering state: durable and head text and revision, the history
  // for transform, each client's last seq. Set up by `document`.
  std::optional<document_sequencer> order;
  uint64_t snapshot_rev = 0;
  bool snapshot_in_flight = false;
  bool quiet_timer_armed = false;
  caf::actor_clock::time_point last_commit; // the actor clock: testable

  // Pending ops (in order: head - durable of them), and who waits for each.
  std::deque<pending_op> queued; // pending, not yet sent to the store
  std::vector<pending_op> in_flight; // pending, being committed
  // After the store rejected a batch: how many of the queued ops to commit
  // one at a time, so that only the op it refuses fails.
  size_t isolate = 0;

  std::unordered_map<std::string, subscriber> subs; // by session
  std::unordered_map<caf::actor_addr, std::string> session_of;
  uint64_t next_join_id = 0;
  uint64_t idle_generation = 0;
  doc_phase phase = doc_phase::loading;

  // Batched delivery: durable ops not yet sent to the batched subscribers,
  // when the last batch went out, and whether the tick timer is armed.
  std::vector<committed_op> batch;
  caf::actor_clock::time_point last_batch;
  bool batch_timer_armed = false;
  size_t batched_subs = 0;
  // The node relays of the batched subscribers, with how many use each.
  struct relay_use {
    relay_actor relay;
    size_t subs = 0;
  };
  std::unordered_map<caf::actor_addr, relay_use> relays;

  // Presence: sessions whose presence changed since the last tick.
  std::vector<std::string> presence_dirty;
  bool presence_tick_armed = false;

  // For operators (collabctl): recent ops/s and the last activity.
  rate_meter ops_rate;
  caf::actor_clock::time_point last_active;

  static inline const char* name = "document";
};

using self_ptr = document_actor::stateful_pointer<document_state>;

double seconds_since(std::chrono::steady_clock::time_point t);

// Sends an error event; `internal` is logged with a new correlation id that
// the message carries (docs/PROTOCOL.md).
void send_error(self_ptr self, const document_subscriber& to, errc code,
                std::string message, const uint64_t* seq = nullptr);

// Sends an error event as it is (the caller logged an `internal` one).
void send_error_event(self_ptr self, const document_subscriber& to, errc code,
                      std::string message, const uint64_t* seq);

// A random id for an `internal` error: in the log and in the message.
std::string new_correlation_id();

// ---- document_actor.cpp

// Passivates after `idle_timeout` without subscribers or pending ops.
void arm_idle_timer(self_ptr self);

// ---- document_submit.cpp

// A join: `joined` with the text, or a resume (replay).
void on_join(self_ptr self, join_request& req);
// An op: sequenced (document_sequencer.hpp), then queued for commit,
// re-acked or refused.
void on_submit(self_ptr self, submit_request& req);
void remove_subscriber(self_ptr self, const std::string& session);

// ---- document_commit.cpp

inline bool has_pending(const document_state& st) {
  return !st.in_flight.empty() || !st.queued.empty();
}
// Sends the queued ops to the store unless a commit is in flight.
void flush(self_ptr self);
// Releasing and nothing pending: quits (hand-off done). True when it did.
bool stop_if_released(self_ptr self);

// `awaited`: nothing else is handled until the store answers.
enum class snapshot_wait : uint8_t { concurrent, awaited };
// Asks the store to save the durable text at durable_rev (the one place
// that does); on success snapshot_rev moves up, then `done` runs with no
// error, else with the store's.
void save_snapshot(self_ptr self, snapshot_wait wait,
                   std::function<void(const caf::error&)> done);
// Writes a snapshot when `snapshot_every` ops passed since the last one
// (any, when `force`).
void maybe_snapshot(self_ptr self, bool force);
// The quiet timer: a snapshot after `snapshot_quiet` without commits.
void on_quiet(self_ptr self);

// ---- document_batch.cpp

// After a durable commit: sends the batch now when the last one went out a
// tick ago or more, else arms the tick timer.
void schedule_batch(self_ptr self);
// Sends the batch to every batched subscriber (the tick timer; before the
// actor stops).
void deliver_batch(self_ptr self);
void on_batch_tick(self_ptr self);
// Sends a batch event to every batched subscriber: once per node relay, and
// to each subscriber without one (unless it is catching up).
void send_batched(self_ptr self, const ops_event& ev);
void send_batched(self_ptr self, const presences_event& ev);
// A batched subscriber comes or goes: counts it and its relay.
void add_batched(document_state& st, const subscriber& sub);
void remove_batched(document_state& st, const subscriber& sub);

// ---- document_presence.cpp

// A presence request of a joined session.
void on_presence(self_ptr self, presence_request& req);
// The tick: sends what changed since the last one.
void on_presence_tick(self_ptr self);
// A session left: others hear its null presence (at once).
void presence_left(self_ptr self, const std::string& session, subscriber& sub);
// After `joined`: the presence of everyone else.
void send_presences(self_ptr self, const document_subscriber& to,
                    const std::string& session);

// ---- document_replay.cpp

// Replays the ops after `rev` (durable ops only) to a session that joined
// with that revision, then `joined`: from memory when the history holds
// them, else a page at a time from the Redis stream or the store.
void replay(self_ptr self, const std::string& session, uint64_t rev);

} // namespace collab::doc_actor
