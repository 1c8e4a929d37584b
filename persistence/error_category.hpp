// What every error category of ours (store_error.hpp, redis_errors.hpp)
// shares: making an error of the category, with an optional text, and asking
// whether an error is one code of it. Their make_error/is overloads are thin
// wrappers over these.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace collab::detail {

// Code `code` of `category`; `message`, when given, is the error's context.
inline caf::error make_category_error(uint8_t code, caf::atom_value category,
                                      std::string message) {
  if (message.empty())
    return caf::error{code, category};
  return caf::error{code, category, caf::make_message(std::move(message))};
}

// True when `err` is code `code` of `category`; an empty error is none.
// The `err &&` guard must stay first: CAF 0.17.6's error::category() and
// code() dereference the error's data unchecked, so they crash on an empty
// (default) caf::error.
inline bool is_category_error(const caf::error& err, caf::atom_value category,
                              uint8_t code) {
  return err && err.category() == category && err.code() == code;
}

} // namespace collab::detail
