// What a document actor starts from: a store's answer to `load`.
#pragma once

#include <cstdint>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "actors/core/committed_op.hpp"
#include "actors/ot/rope.hpp"

namespace collab {

struct doc_snapshot {
  uint64_t epoch = 0; // fence epoch the loading owner commits with
  uint64_t rev = 0; // the head revision
  ot::rope text; // the text at `rev`
  uint64_t snapshot_rev = 0; // the latest stored snapshot
  uint64_t oldest_rev = 0; // ops (oldest_rev, rev] are in the op log
  std::vector<committed_op> tail; // the last ops up to `rev`, oldest first
  std::vector<committed_op> clients; // per client its last op (exactly-once);
                                     // `op` may be left empty; `user` owns
                                     // the client id (empty: unknown)
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, doc_snapshot& x) {
  return f(caf::meta::type_name("doc_snapshot"), x.epoch, x.rev, x.text,
           x.snapshot_rev, x.oldest_rev, x.tail, x.clients);
}

} // namespace collab
