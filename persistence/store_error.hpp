// Errors a document store answers with (a CAF error category of our own).
//   unavailable  the store cannot do it now (PostgreSQL down or slow): retry
//   fenced       another owner took the document (docs/DESIGN.md contract 2):
//                the asking document actor must stop
//   compacted    the requested ops were removed by retention
//   corrupt      the stored data contradicts itself (a bug; logged loudly)
//   rejected     the store refused this document's data (e.g. PostgreSQL's
//                jsonb refuses "\u0000"): retrying will not help; other
//                documents committed in the same batch are not affected
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>

#include "persistence/error_category.hpp"

namespace collab {

enum class store_errc : uint8_t {
  unavailable = 1,
  fenced,
  compacted,
  corrupt,
  rejected,
};

constexpr caf::atom_value store_error_category = caf::atom("collab_st");

inline caf::error make_error(store_errc x, std::string message = {}) {
  return detail::make_category_error(static_cast<uint8_t>(x),
                                     store_error_category, std::move(message));
}

// False for an empty error (see is_category_error).
inline bool is(const caf::error& err, store_errc x) {
  return detail::is_category_error(err, store_error_category,
                                   static_cast<uint8_t>(x));
}

} // namespace collab
