// JSON string writing (net/json_writer.hpp): a table-driven escaper that
// emits exactly what RapidJSON's Writer emits (so ops encode byte-identically
// to ot::op_to_json), passing UTF-8 through raw; a strict UTF-8 validator;
// and escaping in place of text already copied into the output (the joined
// text is copied out of the rope straight into the output).
//
// Thread-safety: stateless functions; safe from any thread.
#include "net/json_writer.hpp"

#include <array>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace collab::net::json {

namespace {

// 0: copy raw; 'u': \u00XX; otherwise the character after the backslash.
// Same table as RapidJSON's Writer, so the two produce identical bytes.
constexpr std::array<char, 256> make_escape_table() {
  std::array<char, 256> t{};
  for (int c = 0; c < 0x20; ++c)
    t[c] = 'u';
  t['\b'] = 'b';
  t['\t'] = 't';
  t['\n'] = 'n';
  t['\f'] = 'f';
  t['\r'] = 'r';
  t['"'] = '"';
  t['\\'] = '\\';
  return t;
}

constexpr auto escape_table = make_escape_table();
constexpr char hex_digits[] = "0123456789ABCDEF";

inline char escape_of(char c) {
  return escape_table[static_cast<unsigned char>(c)];
}

void append_escape(std::string& out, char c, char esc) {
  if (esc == 'u') {
    const auto u = static_cast<unsigned char>(c);
    const char buf[6]
      = {'\\', 'u', '0', '0', hex_digits[u >> 4], hex_digits[u & 15]};
    out.append(buf, 6);
  } else {
    const char buf[2] = {'\\', esc};
    out.append(buf, 2);
  }
}

// True when one of the 8 bytes in `w` needs escaping (< 0x20, '"' or '\\').
// Classic SWAR zero-byte tests; a borrow can only misfire after a real hit,
// so the "any" answer is exact.
inline bool word_needs_escape(uint64_t w) {
  constexpr uint64_t ones = 0x0101010101010101ull;
  constexpr uint64_t highs = 0x8080808080808080ull;
  const uint64_t quote = w ^ (ones * '"');
  const uint64_t backslash = w ^ (ones * '\\');
  const uint64_t control = (w - ones * 0x20) & ~w;
  const uint64_t q = (quote - ones) & ~quote;
  const uint64_t b = (backslash - ones) & ~backslash;
  return ((control | q | b) & highs) != 0;
}

inline uint64_t load_word(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

#if defined(__SSE2__)
// Bit i set when byte i of the 16 at `p` needs escaping.
inline unsigned escape_mask16(const char* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)),
                                         v);
  const __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
  const __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
  return static_cast<unsigned>(
    _mm_movemask_epi8(_mm_or_si128(control, _mm_or_si128(quote, backslash))));
}
#endif

// The first byte in [p, end) that needs escaping, or end.
const char* find_escape(const char* p, const char* end) {
#if defined(__SSE2__)
  for (; end - p >= 16; p += 16)
    if (const unsigned m = escape_mask16(p))
      return p + __builtin_ctz(m);
#endif
  while (end - p >= 8 && !word_needs_escape(load_word(p)))
    p += 8;
  for (; p != end; ++p)
    if (escape_of(*p) != 0)
      return p;
  return end;
}

// One past the last byte in [begin, p) that needs escaping, or begin.
const char* find_escape_backwards(const char* begin, const char* p) {
#if defined(__SSE2__)
  for (; p - begin >= 16; p -= 16)
    if (const unsigned m = escape_mask16(p - 16))
      return p - 16 + (32 - __builtin_clz(m));
#endif
  while (p - begin >= 8 && !word_needs_escape(load_word(p - 8)))
    p -= 8;
  for (; p != begin; --p)
    if (escape_of(p[-1]) != 0)
      return p;
  return begin;
}

// Escapes the body of a JSON string (no quotes). REQUIRES: valid UTF-8 (the
// callers pass validated ids, ops and text); bytes >= 0x80 pass through.
void append_escaped(std::string& out, std::string_view s) {
  const char* p = s.data();
  const char* const end = p + s.size();
  for (;;) {
    const char* hit = find_escape(p, end);
    out.append(p, hit);
    if (hit == end)
      return;
    append_escape(out, *hit, escape_of(*hit));
    p = hit + 1;
  }
}

// Length of the valid UTF-8 sequence at [p, end), or 0 when it is invalid
// (overlong, surrogate, above U+10FFFF, truncated).
size_t utf8_sequence_length(const unsigned char* p, const unsigned char* end) {
  const unsigned c = p[0];
  const auto left = static_cast<size_t>(end - p);
  auto cont = [&](size_t i) {
    return i < left && (p[i] & 0xC0) == 0x80;
  };
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2))
      return 0;
    if (c == 0xE0 && p[1] < 0xA0)
      return 0; // overlong
    if (c == 0xED && p[1] >= 0xA0)
      return 0; // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3))
      return 0;
    if (c == 0xF0 && p[1] < 0x90)
      return 0; // overlong
    if (c == 0xF4 && p[1] >= 0x90)
      return 0; // above U+10FFFF
    return 4;
  }
  return 0;
}

} // namespace

// Strict UTF-8 validation with an ASCII fast path (8 bytes at a time):
// frames are almost all ASCII, and this is several times faster than
// RapidJSON's per-character validation inside strings.
bool utf8_valid(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (p != end) {
    if (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, 8);
      if ((word & 0x8080808080808080ull) == 0) {
        p += 8;
        continue;
      }
    }
    if (*p < 0x80) {
      ++p;
      continue;
    }
    const size_t n = utf8_sequence_length(p, end);
    if (n == 0)
      return false;
    p += n;
  }
  return true;
}

namespace {

// Like append_escaped, but for text we did not validate (error messages,
// user names, node ids): invalid UTF-8 becomes U+FFFD, so the frame is
// always valid UTF-8 and the browser does not drop the connection.
void append_escaped_sanitized(std::string& out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (p != end) {
    const char esc = escape_of(static_cast<char>(*p));
    if (esc != 0) {
      append_escape(out, static_cast<char>(*p), esc);
      ++p;
      continue;
    }
    const size_t n = utf8_sequence_length(p, end);
    if (n == 0) {
      out.append("\xEF\xBF\xBD");
      ++p;
      continue;
    }
    out.append(reinterpret_cast<const char*>(p), n);
    p += n;
  }
}

} // namespace

// Escapes out[start, size()) in place: grows the string once by the number
// of extra bytes the escapes need, then rewrites it back to front so that
// no byte is read after it was overwritten. Runs of plain text move with
// one memmove each.
void escape_in_place(std::string& out, size_t start) {
  size_t extra = 0;
  {
    const char* p = out.data() + start;
    const char* const end = out.data() + out.size();
    while ((p = find_escape(p, end)) != end) {
      extra += escape_of(*p) == 'u' ? 5 : 1;
      ++p;
    }
  }
  if (extra == 0)
    return;
  size_t src = out.size();
  out.resize(src + extra);
  char* const d = out.data();
  size_t dst = out.size();
  for (;;) {
    const size_t run
      = static_cast<size_t>(find_escape_backwards(d + start, d + src) - d);
    const size_t n = src - run;
    dst -= n;
    if (n <= 16) {
      // Short runs (words between escapes) are cheaper without a call.
      for (size_t i = n; i-- > 0;)
        d[dst + i] = d[run + i];
    } else {
      std::memmove(d + dst, d + run, n);
    }
    if (run == start)
      break;
    src = run - 1;
    const char c = d[src];
    const char esc = escape_of(c);
    if (esc == 'u') {
      const auto u = static_cast<unsigned char>(c);
      dst -= 6;
      d[dst] = '\\';
      d[dst + 1] = 'u';
      d[dst + 2] = '0';
      d[dst + 3] = '0';
      d[dst + 4] = hex_digits[u >> 4];
      d[dst + 5] = hex_digits[u & 15];
    } else {
      dst -= 2;
      d[dst] = '\\';
      d[dst + 1] = esc;
    }
  }
}

void append_string(std::string& out, std::string_view s) {
  out += '"';
  append_escaped(out, s);
  out += '"';
}

void append_string_sanitized(std::string& out, std::string_view s) {
  out += '"';
  append_escaped_sanitized(out, s);
  out += '"';
}
} // namespace collab::net::json
