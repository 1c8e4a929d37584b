// A reader of the Redis op log: a detached actor (its own thread) with its own
// hiredis connection, doing one blocking XRANGE per request. The op log actor
// delegates reads to its readers round-robin; the reader answers the original
// requester directly.
//
// A read that waited in the mailbox past its deadline is answered
// `unavailable` without asking Redis (its requester is about to give up);
// otherwise its connect and socket timeouts are capped at what is left of
// the deadline, so a read answers within about read_timeout.
// While the connection backs off after a failure, reads are answered
// `unavailable` at once, without touching the network.
//
// Threading: spawn it detached (spawn_redis_reader does); it blocks its own
// thread for about read_timeout per read at most.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include "persistence/redis_op_log.hpp"

namespace collab {

// (stream_read_atom, doc, from, to, deadline): deadline in nanoseconds of
// std::chrono::steady_clock's epoch.
using redis_reader_actor = caf::typed_actor<
  caf::replies_to<stream_read_atom, std::string, uint64_t, uint64_t,
                  int64_t>::with<std::vector<committed_op>>>;

// Spawns a reader detached and linked to `parent`. `on_exit` runs on the
// reader's thread when it terminates.
redis_reader_actor spawn_redis_reader(caf::local_actor* parent,
                                      const redis_endpoint& ep,
                                      const redis_options& opts,
                                      std::shared_ptr<redis_health> health,
                                      std::function<void()> on_exit);

} // namespace collab
