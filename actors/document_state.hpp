// The document actor's state and the helpers its parts share (private to
// actors/document_*.cpp): document_actor.cpp orders, commits and answers
// ops; document_presence.cpp sends presence, coalesced per tick;
// document_replay.cpp replays missed ops to a resuming session.
//
// Thread-safety: everything here is touched only by the one document actor
// that owns the state, inside its handlers.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_clock.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/document_actor.hpp"
#include "actors/core/errc.hpp"
#include "actors/messages.hpp"
#include "actors/op_history.hpp"
#include "actors/rate_meter.hpp"

namespace collab::doc_actor {

struct subscriber {
  caf::actor conn;
  std::string client;
  std::string user;
  std::string node;                    // where its socket is (inspection)
  std::string presence;                // raw JSON; empty when none
  bool presence_dirty = false;         // changed since last sent (tick)
  bool catching_up = false;            // resume being read from the store
  uint64_t join_id = 0;                // which join a replay belongs to
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

// A client's last op: durable (clients) or pending (pending_seq).
struct client_seq {
  uint64_t seq = 0;
  uint64_t rev = 0;
  std::string user;                    // who made it; empty: unknown
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
  op_history history;                  // ops (head_rev - size, head_rev]
  std::deque<pending_op> queued;       // pending, not yet sent to the store
  std::vector<pending_op> in_flight;   // pending, being committed
  std::unordered_map<std::string, client_seq> pending_seq;  // by client
  // After the store rejected a batch: how many of the queued ops to commit
  // one at a time, so that only the op it refuses fails.
  size_t isolate = 0;

  std::unordered_map<std::string, subscriber> subs;       // by session
  std::unordered_map<caf::actor_addr, std::string> session_of;
  uint64_t next_join_id = 0;
  uint64_t idle_generation = 0;
  bool releasing = false;   // handing off: finish pending commits, then stop

  // Presence: sessions whose presence changed since the last tick.
  std::vector<std::string> presence_dirty;
  bool presence_tick_armed = false;

  // For operators (collabctl): recent ops/s and the last activity.
  rate_meter ops_rate;
  caf::actor_clock::time_point last_active;

  static inline const char* name = "document";
};

using self_ptr = caf::stateful_actor<document_state>*;

double seconds_since(std::chrono::steady_clock::time_point t);

// Sends an error event; `internal` is logged with a new correlation id that
// the message carries (docs/PROTOCOL.md).
void send_error(self_ptr self, const caf::actor& to, errc code,
                std::string message, const uint64_t* seq = nullptr);

// A random id for an `internal` error: in the log and in the message.
std::string new_correlation_id();

// The oldest revision an op may be based on: ops after it are in memory.
inline uint64_t oldest_history_rev(const document_state& st) {
  return st.head_rev - st.history.size();
}

void arm_idle_timer(self_ptr self);
void remove_subscriber(self_ptr self, const std::string& session);

// ---- document_presence.cpp

// A presence request of a joined session.
void on_presence(self_ptr self, presence_request& req);
// The tick: sends what changed since the last one.
void on_presence_tick(self_ptr self);
// A session left: others hear its null presence (at once).
void presence_left(self_ptr self, const std::string& session,
                   subscriber& sub);
// After `joined`: the presence of everyone else.
void send_presences(self_ptr self, const caf::actor& to,
                    const std::string& session);

// ---- document_replay.cpp

// Replays the ops after `rev` (durable ops only) to a session that joined
// with that revision, then `joined`: from memory when the history holds
// them, else a page at a time from the Redis stream or the store.
void replay(self_ptr self, const std::string& session, uint64_t rev);

} // namespace collab::doc_actor
