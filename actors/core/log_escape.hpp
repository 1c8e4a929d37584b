// Escaping of user-controlled strings in log lines (docs/DESIGN.md contract 6):
// a token's `sub` or `jti`, a revocation subject, a member name a peer sent,
// a storage error that quotes a value may hold newlines, quotes or terminal
// escapes. Logged raw, one of them forges a whole log line or breaks out of
// a quoted field. Every log site that prints such a string wraps it:
//
//   spdlog::info("event=revoked user=\"{}\"", log_escape(claims.sub));
//
// Escaped: \n \r \t as such; other C0 controls and DEL as \xHH; `"` and `\`
// with a backslash; bytes that are not valid UTF-8 as \xHH; C1 controls and
// U+2028/U+2029 (line breaks to some log viewers) as \uHHHH. Printable ASCII
// and valid UTF-8 text are written as they are. Cheap when nothing needs
// escaping: one scan of the bytes, no allocation.
//
// Thread-safety: stateless; safe from any thread. log_escape() keeps a view:
// use it inside the logging call only.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace collab {

// A string to log escaped (a view: the string must outlive the log call).
struct log_escaped {
  std::string_view text;
};

inline log_escaped log_escape(std::string_view text) noexcept {
  return log_escaped{text};
}

namespace detail {

// Length of the valid UTF-8 sequence at s[i] (2..4), or 0 when invalid.
inline size_t log_utf8_length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) {
    return static_cast<unsigned char>(s[i + k]);
  };
  const auto cont = [&](size_t k) {
    return i + k < s.size() && (b(k) & 0xC0) == 0x80;
  };
  const unsigned c = b(0);
  if (c >= 0xC2 && c <= 0xDF)
    return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2) || (c == 0xE0 && b(1) < 0xA0)
        || (c == 0xED && b(1) >= 0xA0))
      return 0; // truncated, overlong or a UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3) || (c == 0xF0 && b(1) < 0x90)
        || (c == 0xF4 && b(1) >= 0x90))
      return 0; // truncated, overlong or above U+10FFFF
    return 4;
  }
  return 0;
}

// True when the byte can only be written escaped (or starts a sequence that
// must be checked): anything but printable ASCII other than `"` and `\`.
inline bool log_byte_special(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return c < 0x20 || c >= 0x7F || c == '"' || c == '\\';
}

} // namespace detail

// The escaped form of `text` (see the top of this file).
inline std::string escape_for_log(std::string_view text) {
  constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 8);
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (!detail::log_byte_special(text[i])) {
      out += text[i++];
      continue;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += text[i++];
      continue;
    }
    if (c == '\n' || c == '\r' || c == '\t') {
      out += '\\';
      out += c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
      ++i;
      continue;
    }
    const size_t n = c >= 0x80 ? detail::log_utf8_length(text, i) : 0;
    if (n == 0) { // a control byte, DEL, or not UTF-8
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
      ++i;
      continue;
    }
    // C1 controls (U+0080..U+009F) and the Unicode line/paragraph separators.
    const auto c1 = static_cast<unsigned char>(text[i + 1]);
    const auto c2 = n == 3 ? static_cast<unsigned char>(text[i + 2]) : 0u;
    if (n == 2 && c == 0xC2 && c1 < 0xA0) {
      out += "\\u00";
      out += hex[c1 >> 4];
      out += hex[c1 & 15];
    } else if (n == 3 && c == 0xE2 && c1 == 0x80
               && (c2 == 0xA8 || c2 == 0xA9)) {
      out += c2 == 0xA8 ? "\\u2028" : "\\u2029";
    } else {
      out.append(text.data() + i, n);
    }
    i += n;
  }
  return out;
}

// True when escape_for_log(text) == text.
inline bool log_clean(std::string_view text) {
  for (char c : text)
    if (detail::log_byte_special(c))
      return false;
  return true;
}

} // namespace collab

// `{}` of a log_escaped: the text as it is when clean, else escaped.
template<>
struct fmt::formatter<collab::log_escaped> : fmt::formatter<std::string_view> {
  template<class FormatContext>
  auto format(const collab::log_escaped& x, FormatContext& ctx) const
    -> decltype(ctx.out()) {
    if (collab::log_clean(x.text))
      return fmt::formatter<std::string_view>::format(x.text, ctx);
    const auto escaped = collab::escape_for_log(x.text);
    return fmt::formatter<std::string_view>::format(escaped, ctx);
  }
};
