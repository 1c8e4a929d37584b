// Helpers for CAF `inspect` overloads shared by every layer's messages, and
// the overloads of the OT types (which know nothing of CAF themselves).
#pragma once

#include <string>
#include <type_traits>

#include <caf/meta/type_name.hpp>

#include "actors/ot/rope.hpp"
#include "actors/ot/text_unicode.hpp"

namespace collab::detail {

// A rope crosses nodes as its text.
template<class Inspector>
typename Inspector::result_type inspect_rope(Inspector& f, ot::rope& r) {
  if constexpr (Inspector::reads_state) {
    auto s = r.to_string();
    return f(s);
  } else {
    std::string s;
    auto res = f(s);
    r = ot::rope{s};
    return res;
  }
}

// Enums cross nodes as their underlying integer.
template<class Inspector, class Enum, class... Ts>
typename Inspector::result_type
inspect_with_enum(Inspector& f, Enum& e, const char* name, Ts&... xs) {
  auto raw = static_cast<std::underlying_type_t<Enum>>(e);
  if constexpr (Inspector::reads_state) {
    return f(caf::meta::type_name(name), raw, xs...);
  } else {
    auto res = f(caf::meta::type_name(name), raw, xs...);
    e = static_cast<Enum>(raw);
    return res;
  }
}

} // namespace collab::detail

namespace collab::ot {

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, component& x) {
  return collab::detail::inspect_with_enum(f, x.k, "ot_component", x.n, x.text,
                                           x.has_text);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, rope& x) {
  return collab::detail::inspect_rope(f, x);
}

} // namespace collab::ot
