// Private UTF-8 helpers for the OT library: code point counting and
// code point -> byte offset conversion. Positions in text-unicode are Unicode
// code points, so every index into a UTF-8 buffer goes through these.
// Continuation bytes (10xxxxxx) are the only bytes that do not start a code
// point, which is all counting needs; validity is checked once, at the edge
// (op_from_json), by utf8_valid().
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace collab::ot {

inline bool utf8_is_lead(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
}

// Code points in `s`.
inline uint64_t utf8_count(std::string_view s) {
  uint64_t n = 0;
  for (char c : s)
    n += utf8_is_lead(c);
  return n;
}

// Byte offset reached by moving `n` code points forward from byte `from`;
// stops at s.size() when the text runs out.
inline size_t utf8_advance(std::string_view s, size_t from, uint64_t n) {
  size_t i = from;
  const size_t end = s.size();
  while (n > 0 && i < end) {
    ++i;
    while (i < end && !utf8_is_lead(s[i]))
      ++i;
    --n;
  }
  return i;
}

// The first byte offset >= `at` that starts a code point (or s.size()).
inline size_t utf8_boundary(std::string_view s, size_t at) {
  while (at < s.size() && !utf8_is_lead(s[at]))
    ++at;
  return at;
}

// Strict validation: no overlong forms, no surrogates, nothing above U+10FFFF.
inline bool utf8_valid(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p < len)
      return false;
    for (int i = 1; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF
        || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    p += len;
  }
  return true;
}

} // namespace collab::ot
