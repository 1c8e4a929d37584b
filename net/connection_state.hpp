// The connection actor's state and the helpers its parts share (private to
// net/connection_*.cpp): connection_actor.cpp has the behaviour, the output
// to the socket and the operators' messages; connection_expiry.cpp the
// token-expiry timer; connection_frames.cpp the client's frames (hello,
// join, op, presence, leave, auth, ping); connection_links.cpp the links to
// document actors (resolve, join, rejoin after a move, resubmission of the
// unacked op, on_doc_down); connection_events.cpp the documents' events
// turned into frames.
//
// Thread-safety: everything here is touched only by the one connection
// actor that owns the state, inside its handlers.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>

#include "actors/core/errc.hpp"
#include "actors/document_protocol.hpp"
#include "actors/metrics.hpp"
#include "net/codec.hpp"
#include "net/connection_actor.hpp"
#include "net/token_bucket.hpp"

namespace collab::net::conn {

using clock = std::chrono::steady_clock;
constexpr auto resolve_timeout = std::chrono::seconds(3);
constexpr auto resolve_retry = std::chrono::milliseconds(250);
constexpr int max_resolve_attempts = 40; // ~10 s of retries, then an error
constexpr int max_join_attempts = 8; // ~2 s for a client waiting to join
// The retry_after_ms of an `unavailable` or `overloaded` error (jittered):
// storage down, a document that could not be found or loaded.
constexpr auto retry_after_default = std::chrono::milliseconds(1000);
// ... for a node at its max_live_docs: documents passivate after minutes.
constexpr auto retry_after_full = std::chrono::milliseconds(10000);
// ... for a node that stayed at max_concurrent_activations for the whole
// wait: a restart's storm; come back when it has loaded more.
constexpr auto retry_after_busy = std::chrono::milliseconds(2000);
// After a node died, membership needs a moment to drop it from placement.
constexpr auto crash_settle = std::chrono::milliseconds(150);
// The longest the token expiry timer waits before it looks again (so that
// an `exp` of any size is fine).
constexpr int64_t max_expiry_wait_ms = 3600 * 1000;

// An optional value kept on the heap: as std::optional to its users, but
// only a pointer while empty (a doc_link's unacked op is empty nearly
// always, and a submit_request is ~140 bytes).
template<class T>
class boxed_optional {
public:
  boxed_optional() = default;
  boxed_optional(const boxed_optional& other)
      : value_(other ? std::make_unique<T>(*other) : nullptr) {
    // nop
  }
  boxed_optional(boxed_optional&&) noexcept = default;
  boxed_optional& operator=(const boxed_optional& other) {
    value_ = other ? std::make_unique<T>(*other) : nullptr;
    return *this;
  }
  boxed_optional& operator=(boxed_optional&&) noexcept = default;
  boxed_optional& operator=(T value) {
    value_ = std::make_unique<T>(std::move(value));
    return *this;
  }
  explicit operator bool() const { return value_ != nullptr; }
  bool has_value() const { return value_ != nullptr; }
  T& operator*() const { return *value_; }
  T* operator->() const { return value_.get(); }
  void reset() { value_.reset(); }

private:
  std::unique_ptr<T> value_;
};

struct doc_link {
  enum class phase : uint8_t { resolving, joining, joined };
  phase state = phase::resolving;
  document_actor actor;
  bool can_write = false;
  bool resume = false; // what the join asked for
  uint64_t rev = 0; // last revision this session has seen
  boxed_optional<submit_request> unacked; // the last op sent, to resubmit
  clock::time_point unacked_since;
  std::vector<uint64_t> awaiting; // seqs sent and not yet answered
  // Takes `seq` off the awaiting list; false when it was not on it (e.g. a
  // second ack for an op already acked from a replay after a move).
  bool answered(uint64_t seq) {
    auto i = std::find(awaiting.begin(), awaiting.end(), seq);
    if (i == awaiting.end())
      return false;
    awaiting.erase(i);
    if (unacked && unacked->seq == seq)
      unacked.reset();
    return true;
  }
  bool silent_rejoin = false; // the document moved: the client hears nothing
  int attempts = 0; // resolves failed in a row
};

using doc_map = std::unordered_map<std::string, doc_link>;

// Counts its connection in collab_connections for as long as it lives: a
// member of the state, which lives from the actor's spawn to its end (an
// attached functor cost every connection an allocation more).
struct connection_gauge {
  connection_gauge() {
    node_metrics().connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~connection_gauge() {
    node_metrics().connections.fetch_sub(1, std::memory_order_relaxed);
  }
  connection_gauge(const connection_gauge&) = delete;
  connection_gauge& operator=(const connection_gauge&) = delete;
};

struct connection_state {
  connection_gauge gauge;

  // Constant after construction.
  server_context* ctx = nullptr;
  std::shared_ptr<session_sink> sink;
  std::string session;

  token_claims claims;
  // Token expiry: the pending timer (see arm_expiry).
  uint64_t expiry_generation = 0;
  caf::message_id expiry_request; // its timeout's response id
  caf::typed_response_promise<bool> expiry_timer; // answering it retires
                                                  // the timer
  std::string client; // empty until hello
  bool batch = false; // hello asked for batched delivery
  token_bucket messages{1, 1}; // the message rate (bytes: ws_session)
  // Both maps start with two buckets: libstdc++ makes 13 (104 bytes) at a
  // map's first insertion, and most sockets join one or two documents.
  doc_map docs = doc_map(1);
  std::unordered_map<caf::actor_addr, std::string> doc_of = decltype(doc_of)(1);
  bool closing = false;

  // For operators (collabctl conns).
  uint64_t messages_in = 0;
  uint64_t messages_out = 0;
  clock::time_point opened = clock::now();

  static inline const char* name = "connection";
};

// The actor type only adds the count of connection actors in memory
// (connection_actor.cpp).
class counted_connection
    : public connection_actor::stateful_base<connection_state> {
public:
  explicit counted_connection(caf::actor_config& cfg);
  ~counted_connection() override;
};

using self_ptr = counted_connection*;

// ---- Output to the socket (connection_actor.cpp)
void send_frame(self_ptr self, std::string frame);
// Sends an already encoded frame shared with other receivers.
void send_shared_frame(self_ptr self, std::shared_ptr<const std::string> frame);
// Errors that say "later" (unavailable, overloaded) carry a retry_after_ms:
// the one given, or about retry_after_default (jittered: clients refused
// together come back spread out).
void send_error(self_ptr self, errc code, std::string_view message,
                std::string_view doc = {},
                std::optional<uint64_t> seq = std::nullopt,
                std::optional<uint64_t> retry_after_ms = std::nullopt);
// Between half and one and a half times `base`.
std::chrono::milliseconds jittered(std::chrono::milliseconds base);
// The retry_after_ms for an error of `code` that says "later", if it does.
std::optional<uint64_t> retry_hint(errc code);
void close_socket(self_ptr self, uint16_t code, std::string reason);

// ---- Token expiry (connection_expiry.cpp)
// (Re)arms the timer for the current claims.
void arm_expiry(self_ptr self);
// The timer's own request (expire_atom): kept unanswered.
caf::result<bool> on_expire_request(self_ptr self);

// ---- The client's frames (connection_frames.cpp)
void on_frame(self_ptr self, std::string& text);

// ---- Links to document actors (connection_links.cpp)
// Finds the document's actor (activating it if needed) and joins it.
void resolve(self_ptr self, const std::string& doc);
// A delayed retry of resolve (resolve_atom to itself).
void on_resolve_retry(self_ptr self, const std::string& doc);
void send_join(self_ptr self, doc_link& link, const std::string& doc);
// Forgets a document of this session: tells its actor (when there is one)
// and stops watching it.
void forget_doc(self_ptr self, doc_map::iterator i);
// Drops a document from the session (and from the node relay's list).
void erase_doc(self_ptr self, doc_map::iterator i);
// Stops watching the document actor of `link` (if any).
void unwatch(self_ptr self, doc_link& link);
void on_doc_down(self_ptr self, const caf::down_msg& dm);

// ---- Events from document actors (connection_events.cpp)
void on_joined(self_ptr self, joined_event& ev);
void on_op_event(self_ptr self, op_event& ev);
void on_ack(self_ptr self, ack_event& ev);
void on_presence_event(self_ptr self, presence_event& ev);
void on_error_event(self_ptr self, error_event& ev);
// Batched delivery (hello `batch`).
void on_ops_event(self_ptr self, ops_event& ev);
void on_presences_event(self_ptr self, presences_event& ev);

} // namespace collab::net::conn
