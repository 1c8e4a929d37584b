// The state of a cluster member, as placement and operators see it.
#pragma once

#include <cstdint>

namespace collab {

// `joining` and `down` are only shown to operators: placement uses the
// members that are `up`.
enum class member_state : uint8_t { up, draining, joining, down };

inline const char* to_string(member_state s) {
  switch (s) {
    case member_state::up: return "up";
    case member_state::draining: return "draining";
    case member_state::joining: return "joining";
    case member_state::down: return "down";
  }
  return "unknown";
}

} // namespace collab
