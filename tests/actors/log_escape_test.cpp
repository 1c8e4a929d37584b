// Unit tests of actors/core/log_escape.hpp: user-controlled strings in log
// lines cannot start a new line or break out of a quoted field; clean text is
// written as it is.
#define CAF_SUITE actors.log_escape
#include <caf/test/unit_test.hpp>

#include "actors/core/log_escape.hpp"

#include <random>
#include <string>

using namespace collab;

namespace {

// What fmt (and so spdlog) writes for a field.
std::string logged(std::string_view s) {
  return fmt::format("{}", log_escape(s));
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    auto n = detail::log_utf8_length(s, i);
    if (n == 0)
      return false;
    i += n;
  }
  return true;
}

} // namespace

CAF_TEST(clean text is written as it is) {
  for (std::string_view s : {"", "alice", "user-42@example.org", "a b = c",
                             "acme/roadmap.v2~x", "{}[]:;,!?#$%&'()*+<>|^`"}) {
    CAF_CHECK(log_clean(s));
    CAF_CHECK_EQUAL(logged(s), s);
  }
  // Valid UTF-8 passes unchanged too (it is not clean: it was looked at).
  for (std::string_view s :
       {"h\xc3\xa9llo", "\xe2\x82\xac", "\xf0\x9f\x98\x80 ok"}) {
    CAF_CHECK(!log_clean(s));
    CAF_CHECK_EQUAL(logged(s), s);
  }
}

CAF_TEST(controls quotes and backslashes are escaped) {
  CAF_CHECK_EQUAL(logged("a\nb"), "a\\nb");
  CAF_CHECK_EQUAL(logged("\r\t"), "\\r\\t");
  CAF_CHECK_EQUAL(logged(std::string_view("\0\x01\x1b[31m\x7f", 8)),
                  "\\x00\\x01\\x1b[31m\\x7f");
  CAF_CHECK_EQUAL(logged("say \"hi\""), "say \\\"hi\\\"");
  CAF_CHECK_EQUAL(logged("C:\\x"), "C:\\\\x");
}

CAF_TEST(invalid utf8 and unicode line breaks are escaped) {
  CAF_CHECK_EQUAL(logged("\xff"), "\\xff");
  CAF_CHECK_EQUAL(logged("a\xc3"), "a\\xc3"); // truncated
  CAF_CHECK_EQUAL(logged("\xc0\xaf"), "\\xc0\\xaf"); // overlong
  CAF_CHECK_EQUAL(logged("\xed\xa0\x80"), "\\xed\\xa0\\x80"); // surrogate
  CAF_CHECK_EQUAL(logged("\xf4\x90\x80\x80"),
                  "\\xf4\\x90\\x80\\x80"); // > U+10FFFF
  CAF_CHECK_EQUAL(logged("a\xc2\x85z"), "a\\u0085z"); // NEL, a C1 control
  CAF_CHECK_EQUAL(logged("\xe2\x80\xa8\xe2\x80\xa9"), "\\u2028\\u2029");
}

CAF_TEST(a forged log line stays inside its field) {
  auto line
    = fmt::format("session=1 user=\"{}\" event=revoked",
                  log_escape("mallory\" event=admin\n2026-12-07T00:00:00.000 "
                             "info node=n1 event=forged"));
  CAF_CHECK_EQUAL(line.find('\n'), std::string::npos);
  CAF_CHECK_EQUAL(
    line, "session=1 user=\"mallory\\\" event=admin\\n2026-12-07T00:00:00.000 "
          "info node=n1 event=forged\" event=revoked");
  // The format spec applies to the escaped text.
  CAF_CHECK_EQUAL(fmt::format("[{:>6}]", log_escape("a\n")), "[   a\\n]");
}

CAF_TEST(random bytes never yield a control byte an unescaped quote
         or bad utf8) {
  std::mt19937 rng(7);
  for (int round = 0; round < 20000; ++round) {
    std::string s(rng() % 24, '\0');
    for (auto& c : s)
      c = static_cast<char>(rng() % 4 == 0 ? "\n\r\"\\\xc2\x85\xe2"[rng() % 8]
                                           : rng() % 256);
    auto out = logged(s);
    CAF_REQUIRE(valid_utf8(out));
    for (size_t i = 0; i < out.size(); ++i) {
      auto c = static_cast<unsigned char>(out[i]);
      CAF_REQUIRE(c >= 0x20 && c != 0x7f);
      if (c == '\\') {
        ++i; // the escaped character
        continue;
      }
      CAF_REQUIRE(c != '"');
    }
    CAF_REQUIRE(out.find("\xc2\x85") == std::string::npos);
    CAF_REQUIRE(out.find("\xe2\x80\xa8") == std::string::npos);
  }
}
