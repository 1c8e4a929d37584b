// Unit tests of the persistent rope: edits at boundaries, multi-byte and
// astral text, leaf boundaries, a long random edit sequence checked against a
// std::u32string model, and independence of O(1) copies.
#define CAF_SUITE ot.rope
#include <caf/test/unit_test.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "actors/ot/rope.hpp"

using collab::ot::rope;

namespace {

std::string to_utf8(const std::u32string& s) {
  std::string out;
  for (char32_t c : s) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

// ASCII, é, combining acute, CJK, 😀, ZWJ, newline: 1 to 4 bytes each.
const char32_t alphabet[] = {U'a',      U'z',         U' ',      U'\n',
                             U'\u00e9', U'\u0301',    U'\u5b57', U'\U0001F600',
                             U'\u200d', U'\U0001F308'};

std::u32string random_text(std::mt19937& rng, size_t n) {
  std::u32string s;
  for (size_t i = 0; i < n; ++i)
    s += alphabet[rng() % (sizeof(alphabet) / sizeof(alphabet[0]))];
  return s;
}

} // namespace

CAF_TEST(empty rope) {
  rope r;
  CAF_CHECK(r.empty());
  CAF_CHECK_EQUAL(r.size(), 0u);
  CAF_CHECK_EQUAL(r.bytes(), 0u);
  CAF_CHECK_EQUAL(r.to_string(), "");
  CAF_CHECK_EQUAL(r.substr(0, 0), "");
  CAF_CHECK_EQUAL(r.erase(0, 0).size(), 0u);
  CAF_CHECK_EQUAL(r.insert(0, "").size(), 0u);
  CAF_CHECK_EQUAL(rope("").height(), 0);
  CAF_CHECK(r.valid());
}

CAF_TEST(counts code points not bytes) {
  rope r("a\u00e9\u5b57\U0001F600"); // 1 + 2 + 3 + 4 bytes
  CAF_CHECK_EQUAL(r.size(), 4u);
  CAF_CHECK_EQUAL(r.bytes(), 10u);
  rope flag("\U0001F3F3\uFE0F\u200D\U0001F308"); // one grapheme, 4 code points
  CAF_CHECK_EQUAL(flag.size(), 4u);
  rope combining("e\u0301");
  CAF_CHECK_EQUAL(combining.size(), 2u);
}

CAF_TEST(insert at boundaries) {
  rope r("\u00e9\U0001F600x");
  CAF_CHECK_EQUAL(r.insert(0, "A").to_string(), "A\u00e9\U0001F600x");
  CAF_CHECK_EQUAL(r.insert(1, "\u5b57").to_string(), "\u00e9\u5b57\U0001F600x");
  CAF_CHECK_EQUAL(r.insert(2, "B").to_string(), "\u00e9\U0001F600Bx");
  CAF_CHECK_EQUAL(r.insert(3, "\U0001F308").to_string(),
                  "\u00e9\U0001F600x\U0001F308");
  CAF_CHECK_EQUAL(rope().insert(0, "\U0001F600").to_string(), "\U0001F600");
}

CAF_TEST(erase and substr at boundaries) {
  rope r("\u00e9\U0001F600x\u5b57");
  CAF_CHECK_EQUAL(r.erase(0, 1).to_string(), "\U0001F600x\u5b57");
  CAF_CHECK_EQUAL(r.erase(1, 1).to_string(), "\u00e9x\u5b57");
  CAF_CHECK_EQUAL(r.erase(3, 1).to_string(), "\u00e9\U0001F600x");
  CAF_CHECK_EQUAL(r.erase(0, 4).to_string(), "");
  CAF_CHECK(r.erase(0, 4).empty());
  CAF_CHECK_EQUAL(r.substr(0, 0), "");
  CAF_CHECK_EQUAL(r.substr(4, 0), "");
  CAF_CHECK_EQUAL(r.substr(1, 1), "\U0001F600");
  CAF_CHECK_EQUAL(r.substr(1, 3), "\U0001F600x\u5b57");
  CAF_CHECK_EQUAL(r.substr(0, 4), r.to_string());
}

CAF_TEST(text across many leaves) {
  std::mt19937 rng(7);
  std::u32string model = random_text(rng, 20000); // ~50 KB, dozens of leaves
  std::string utf8 = to_utf8(model);
  rope r(utf8);
  CAF_CHECK(r.valid());
  CAF_CHECK(r.leaf_count() > 20u);
  CAF_CHECK_EQUAL(r.size(), model.size());
  CAF_CHECK_EQUAL(r.bytes(), utf8.size());
  CAF_CHECK_EQUAL(r.to_string(), utf8);
  for (int i = 0; i < 200; ++i) {
    size_t pos = rng() % model.size();
    size_t n = rng() % std::min<size_t>(3000, model.size() - pos + 1);
    CAF_CHECK_EQUAL(r.substr(pos, n), to_utf8(model.substr(pos, n)));
  }
  std::string appended = "prefix";
  r.append_to(appended);
  CAF_CHECK_EQUAL(appended, "prefix" + utf8);
}

CAF_TEST(random edits match a u32string model) {
  std::mt19937 rng(12345);
  std::u32string model = random_text(rng, 3000);
  rope r(to_utf8(model));
  for (int step = 0; step < 20000; ++step) {
    unsigned what = rng() % 10;
    if (what < 5) {
      // Mostly small inserts, sometimes one larger than a leaf.
      size_t n = rng() % 50 == 0 ? 500 + rng() % 3000 : 1 + rng() % 8;
      std::u32string text = random_text(rng, n);
      size_t pos = rng() % (model.size() + 1);
      model.insert(pos, text);
      r = r.insert(pos, to_utf8(text));
    } else if (what < 9 && !model.empty()) {
      size_t pos = rng() % model.size();
      size_t max = rng() % 50 == 0 ? model.size() - pos
                                   : std::min<size_t>(8, model.size() - pos);
      size_t n = 1 + rng() % max;
      model.erase(pos, n);
      r = r.erase(pos, n);
    } else if (!model.empty()) {
      size_t pos = rng() % model.size();
      size_t n = rng() % std::min<size_t>(40, model.size() - pos + 1);
      CAF_CHECK_EQUAL(r.substr(pos, n), to_utf8(model.substr(pos, n)));
    }
    CAF_REQUIRE_EQUAL(r.size(), model.size());
    if (step % 500 == 0) {
      CAF_REQUIRE(r.valid());
      CAF_REQUIRE_EQUAL(r.to_string(), to_utf8(model));
    }
  }
  CAF_CHECK(r.valid());
  CAF_CHECK_EQUAL(r.to_string(), to_utf8(model));
  // AVL height bound: < 1.45 log2(leaves + 2).
  double bound = 1.45 * std::log2(static_cast<double>(r.leaf_count()) + 2) + 1;
  CAF_CHECK_LESS_OR_EQUAL(r.height(), bound);
  // Small edits must not fragment the text into tiny leaves.
  CAF_CHECK_GREATER_OR_EQUAL(r.bytes() / r.leaf_count(), 256u);
}

CAF_TEST(copies are independent) {
  std::mt19937 rng(99);
  std::u32string base = random_text(rng, 5000);
  rope original(to_utf8(base));
  std::vector<rope> versions{original};
  std::vector<std::u32string> models{base};
  for (int i = 0; i < 300; ++i) {
    rope copy = versions.back(); // O(1): shares every node
    std::u32string m = models.back();
    size_t pos = rng() % (m.size() + 1);
    if (i % 2 == 0 || m.empty()) {
      std::u32string t = random_text(rng, 1 + rng() % 5);
      m.insert(pos, t);
      copy = copy.insert(pos, to_utf8(t));
    } else {
      size_t n = std::min<size_t>(1 + rng() % 5,
                                  m.size() - std::min(pos, m.size() - 1));
      pos = std::min(pos, m.size() - 1);
      m.erase(pos, n);
      copy = copy.erase(pos, n);
    }
    versions.push_back(copy);
    models.push_back(m);
  }
  // Every old version still reads as it was.
  for (size_t i = 0; i < versions.size(); ++i)
    CAF_CHECK_EQUAL(versions[i].to_string(), to_utf8(models[i]));
  CAF_CHECK_EQUAL(original.to_string(), to_utf8(base));
}

CAF_TEST(ranges past the end are clamped and never wrapped) {
  rope r("hello");
  CAF_CHECK_EQUAL(r.substr(2, UINT64_MAX), "llo");
  CAF_CHECK_EQUAL(r.substr(UINT64_MAX, 1), "");
  rope e = r.erase(2, UINT64_MAX); // pos + n wraps without the clamp
  CAF_CHECK(e.valid());
  CAF_CHECK_EQUAL(e.size(), 2u);
  CAF_CHECK_EQUAL(e.to_string(), "he");
  CAF_CHECK_EQUAL(r.erase(UINT64_MAX, UINT64_MAX).to_string(), "hello");
  CAF_CHECK_EQUAL(r.insert(UINT64_MAX, "!").to_string(), "hello!");
}
