#include "persistence/store_limits.hpp"

#include "actors/ot/op_json.hpp"

namespace collab {

uint64_t op_bytes(const ot::op& op) {
  return ot::op_to_json(op).size();
}

} // namespace collab
