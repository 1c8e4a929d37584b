// JSON string writing for the codec's encoders and other JSON answers:
// quoted, escaped strings byte-identical to RapidJSON's Writer, numbers, and
// a strict UTF-8 validator. Internal to net/ (net/codec.hpp exposes
// append_json_string to the rest of the layer).
//
// Thread-safety: stateless functions; safe from any thread.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace collab::net::json {

// Strict UTF-8 validation (overlong forms, surrogates, above U+10FFFF and
// truncated sequences are invalid), with an ASCII fast path.
bool utf8_valid(std::string_view s);

// Appends `s` as a quoted, escaped JSON string. REQUIRES: valid UTF-8 (the
// callers pass validated ids, ops and text); bytes >= 0x80 pass through.
void append_string(std::string& out, std::string_view s);

// Like append_string, for text that was not validated (error messages, user
// names, node ids): invalid UTF-8 becomes U+FFFD.
void append_string_sanitized(std::string& out, std::string_view s);

// Escapes out[start, size()) in place (the body of a string whose opening
// quote is already in `out`). REQUIRES: valid UTF-8 in that range.
void escape_in_place(std::string& out, size_t start);

inline void append_u64(std::string& out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

} // namespace collab::net::json
