// Errors the Redis op log answers reads with (a CAF error category of its
// own). For a caller both mean the same: read the range from PostgreSQL.
//   not_covered  the stream does not hold exactly the asked revisions
//                (trimmed, a gap, never appended, disabled, a corrupt entry)
//   unavailable  Redis cannot answer now (down, slow, timed out)
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include "persistence/error_category.hpp"

namespace collab {

enum class redis_errc : uint8_t {
  not_covered = 1,
  unavailable,
};

constexpr caf::atom_value redis_error_category = caf::atom("collab_rd");

inline caf::error make_error(redis_errc x, std::string message = {}) {
  return detail::make_category_error(static_cast<uint8_t>(x),
                                     redis_error_category, std::move(message));
}

// False for an empty error (see is_category_error).
inline bool is(const caf::error& err, redis_errc x) {
  return detail::is_category_error(err, redis_error_category,
                                   static_cast<uint8_t>(x));
}

// The text an error of this category carries (empty if none, and for an
// empty error, whose context() CAF 0.17.6 would dereference unchecked).
inline std::string error_text(const caf::error& err) {
  if (!err)
    return {};
  auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return {};
}

} // namespace collab
