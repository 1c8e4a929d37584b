// A revoked token or user: kept in Redis (persistence/redis_admin), applied
// by every node's agent and connection actors.
#pragma once

#include <cstdint>
#include <string>

#include <caf/meta/type_name.hpp>

namespace collab {

// A revoked token (jti) or user (sub: tokens issued before `at`).
struct revocation {
  std::string jti;
  std::string sub;
  int64_t at = 0; // seconds since the epoch
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, revocation& x) {
  return f(caf::meta::type_name("revocation"), x.jti, x.sub, x.at);
}

} // namespace collab
