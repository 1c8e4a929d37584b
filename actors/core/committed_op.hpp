// One committed op: the record of the op log, what the stores keep, the
// Redis stream replays and every subscriber receives.
#pragma once

#include <cstdint>
#include <string>

#include <caf/meta/type_name.hpp>

#include "actors/core/inspect_helpers.hpp"
#include "actors/ot/text_unicode.hpp"

namespace collab {

// Revision `rev` of `doc`, made by (client, seq) of `user`.
struct committed_op {
  std::string doc;
  uint64_t rev = 0;
  std::string client;
  uint64_t seq = 0;
  std::string user;
  ot::op op;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, committed_op& x) {
  return f(caf::meta::type_name("committed_op"), x.doc, x.rev, x.client, x.seq,
           x.user, x.op);
}

} // namespace collab
