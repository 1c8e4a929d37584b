// Redis for operators: what `collabctl doc` shows of a document's replay
// stream, and the revocation list (kept in Redis so that a node started
// later, or one that missed the cluster-wide broadcast, learns it).
//
// Errors: redis_errc::unavailable when Redis does not answer.
//
// Threading: a detached actor (its own thread) with one blocking hiredis
// connection; operators' requests are rare and small.
#pragma once

#include <cstdint>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/type_id.hpp>
#include <caf/typed_actor.hpp>

#include "actors/core/revocation.hpp"
#include "persistence/redis_options.hpp"

CAF_ADD_ATOM(collab, collab, stream_info_atom, "strinfo")
CAF_ADD_ATOM(collab, collab, save_revocation_atom, "revsave")
CAF_ADD_ATOM(collab, collab, revocations_atom, "revlist")

namespace collab {

struct stream_info {
  uint64_t length = 0;
  std::string first_id; // empty when the stream is empty or missing
  std::string last_id;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_info& x) {
  return f(caf::meta::type_name("stream_info"), x.length, x.first_id,
           x.last_id);
}

using redis_admin_actor = caf::typed_actor<
  // XLEN + the first and last entry id of the document's replay stream.
  caf::replies_to<stream_info_atom, std::string>::with<stream_info>,
  // HSET collab:revocations; HGETALL collab:revocations.
  caf::replies_to<save_revocation_atom, revocation>::with<bool>,
  caf::replies_to<revocations_atom>::with<std::vector<revocation>>>;

// `opts.url` must be set (a parse error throws std::invalid_argument).
redis_admin_actor spawn_redis_admin(caf::actor_system& sys,
                                    const redis_options& opts);

} // namespace collab
