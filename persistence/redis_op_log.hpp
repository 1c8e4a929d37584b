// The Redis Streams replay log: the fast path of a resume join. After each
// durable commit a document actor appends its committed ops here; a resume
// join (`join` with rev R) asks for R+1..N before falling back to PostgreSQL.
// Redis is not on the durability path: appends are fire-and-forget, and any
// read error just means "read PostgreSQL instead".
//
//   document actor --append(ops)------> [op log actor] --> appender thread -->
//   XADD document actor --read(doc, R, N)--> [op log actor] --> reader
//   (detached) --> XRANGE
//                  <-- ops R+1..N, or error not_covered / unavailable --------'
//
// Messages (handle: redis_op_log_actor):
//   (stream_append_atom, std::vector<committed_op>)            no reply
//       Appends each op as entry <rev>-0 of collab:{<doc>}:ops, trimmed to
//       about `maxlen` entries. Ops of one document must come in revision
//       order; a re-append of an existing revision is a no-op.
//   (stream_read_atom, std::string doc, uint64_t from, uint64_t to)
//       -> std::vector<committed_op>                           ops from+1..to
//       Answers the ops only when the stream holds exactly revisions
//       from+1..to (no gap, not trimmed); else redis_errc::not_covered.
//       Redis down or slower than read_timeout: redis_errc::unavailable,
//       within about read_timeout (at once while Redis is known down).
//       from == to: an empty list. Give the request a timeout a bit above
//       read_timeout (e.g. read_timeout + 100 ms).
//
// Errors: redis_errors.hpp. Layout of the stream: redis_stream_codec.hpp.
//
// Threading: the op log actor never blocks (it only queues); blocking
// hiredis calls run on the appender's thread and on `readers` detached
// reader actors, each with its own connection. Node-local: the handle is
// not meant to cross nodes (every node has its own).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/typed_actor.hpp>

#include "actors/core/committed_op.hpp"
#include "persistence/redis_errors.hpp"
#include "persistence/redis_health.hpp"
#include "persistence/redis_options.hpp"

CAF_ADD_ATOM(collab, collab, stream_append_atom, "strappend")
CAF_ADD_ATOM(collab, collab, stream_read_atom, "strread")

namespace collab {

using redis_op_log_actor = caf::typed_actor<
  caf::reacts_to<stream_append_atom, std::vector<committed_op>>,
  caf::replies_to<stream_read_atom, std::string, uint64_t,
                  uint64_t>::with<std::vector<committed_op>>>;

class redis_appender;
struct redis_stop_latch;

// A running op log: its actor handle, its health, and the way to stop it.
// Move-only; destroying it stops it.
class redis_op_log {
public:
  redis_op_log() = default;
  redis_op_log(redis_op_log&&) noexcept = default;
  redis_op_log& operator=(redis_op_log&& other) noexcept;
  ~redis_op_log();

  const redis_op_log_actor& actor() const noexcept { return actor_; }
  const std::shared_ptr<const redis_health>& health() const noexcept {
    return health_;
  }

  // Stops the actor and its readers (waiting for them, at most about
  // read_timeout), appends what is queued while Redis answers, joins the
  // appender thread. Idempotent. Blocks: call it from the composition root
  // (shutdown), never from inside an actor.
  void stop();

private:
  friend redis_op_log spawn_redis_op_log(caf::actor_system&, redis_options);

  redis_op_log_actor actor_;
  std::shared_ptr<const redis_health> health_;
  std::shared_ptr<redis_appender> appender_;
  std::shared_ptr<redis_stop_latch> readers_done_;
  std::chrono::milliseconds stop_wait_{0};
};

// Starts the op log. An empty opts.url starts it disabled (append does
// nothing, read answers not_covered). Throws std::invalid_argument for a bad
// URL. Connects lazily: Redis need not be up.
redis_op_log spawn_redis_op_log(caf::actor_system& sys, redis_options opts);

} // namespace collab
