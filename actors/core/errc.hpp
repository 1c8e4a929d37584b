// The protocol's error codes (docs/PROTOCOL.md, "Errors"): one enum shared by
// the document actor, the connection actor and the codec, with the stable
// string each code has on the wire.
#pragma once

#include <cstdint>
#include <string_view>

namespace collab {

enum class errc : uint8_t {
  bad_request,
  not_joined,
  forbidden,
  bad_op,
  seq_gap,
  rev_ahead,
  rev_too_old,
  rate_limited,
  unavailable,
  too_large,
  token_expired,
  internal,
  // Additions to the v1 protocol (docs/PROTOCOL.md): the isolation bounds.
  too_many, // a count bound: documents per socket (the join is refused)
  overloaded, // the node's memory budget is spent: retry later, same seq
};

constexpr std::string_view to_wire(errc e) {
  switch (e) {
    case errc::bad_request: return "bad_request";
    case errc::not_joined: return "not_joined";
    case errc::forbidden: return "forbidden";
    case errc::bad_op: return "bad_op";
    case errc::seq_gap: return "seq_gap";
    case errc::rev_ahead: return "rev_ahead";
    case errc::rev_too_old: return "rev_too_old";
    case errc::rate_limited: return "rate_limited";
    case errc::unavailable: return "unavailable";
    case errc::too_large: return "too_large";
    case errc::token_expired: return "token_expired";
    case errc::internal: return "internal";
    case errc::too_many: return "too_many";
    case errc::overloaded: return "overloaded";
  }
  return "internal";
}

constexpr int errc_count = static_cast<int>(errc::overloaded) + 1;

} // namespace collab
