// Redis for operators: what `collabctl doc` shows of a document's replay
// stream, and the revocation list (kept in Redis so that a node started
// later, or one that missed the cluster-wide broadcast, learns it).
//
//   (stream_info_atom, doc)   -> stream_info       XLEN + first/last entry id
//   (save_revocation_atom, revocation) -> bool     HSET collab:revocations
//   (revocations_atom)        -> std::vector<revocation>   HGETALL
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
#include <caf/type_id.hpp>

#include "actors/core/revocation.hpp"
#include "persistence/redis_options.hpp"

CAF_ADD_ATOM(collab, collab, stream_info_atom, "strinfo")
CAF_ADD_ATOM(collab, collab, save_revocation_atom, "revsave")
CAF_ADD_ATOM(collab, collab, revocations_atom, "revlist")

namespace collab {

struct stream_info {
  uint64_t length = 0;
  std::string first_id;       // empty when the stream is empty or missing
  std::string last_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_info& x) {
  return f(caf::meta::type_name("stream_info"), x.length, x.first_id,
           x.last_id);
}

// `opts.url` must be set (a parse error throws std::invalid_argument).
caf::actor spawn_redis_admin(caf::actor_system& sys, const redis_options& opts);

} // namespace collab
