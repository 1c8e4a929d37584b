// Hand cases of the text-unicode type: the insert tie rule, convergence,
// text deletes through transform, which delete form compose keeps, check and
// normalize, refusal of ops running past the end, cursor transformation and
// code point (not byte, not UTF-16) positions. Expected values were checked
// against ot-text-unicode 4.0.0; the differential test covers the rest.
#define CAF_SUITE ot.text_unicode
#include <caf/test/unit_test.hpp>

#include <random>
#include <string>

#include <rapidjson/document.h>

#include "actors/ot/op_json.hpp"
#include "actors/ot/rope.hpp"
#include "actors/ot/text_unicode.hpp"

using namespace collab::ot;

namespace {

op parse(const char* json) {
  rapidjson::Document d;
  d.Parse(json);
  op out;
  CAF_REQUIRE(!d.HasParseError());
  CAF_REQUIRE_EQUAL(op_from_json(d, out), "");
  return out;
}

std::string show(const op& a) {
  return op_to_json(a);
}

std::string transformed(const char* a, const char* b, side s) {
  return show(transform(parse(a), parse(b), s));
}

std::string composed(const char* a, const char* b) {
  return show(compose(parse(a), parse(b)));
}

// apply on both document representations; they must agree.
std::string applied(const std::string& doc, const char* a) {
  rope r(doc);
  std::string flat = doc;
  status s1 = collab::ot::apply(r, parse(a));
  status s2 = collab::ot::apply(flat, parse(a));
  CAF_CHECK_EQUAL(s1.empty(), s2.empty());
  if (!s1.empty())
    return "error";
  CAF_CHECK_EQUAL(r.to_string(), flat);
  return flat;
}

} // namespace

CAF_TEST(tie rule : left insert goes first) {
  CAF_CHECK_EQUAL(transformed(R"(["a"])", R"(["b"])", side::left), R"(["a"])");
  CAF_CHECK_EQUAL(transformed(R"(["a"])", R"(["b"])", side::right),
                  R"([1,"a"])");
  CAF_CHECK_EQUAL(transformed(R"([2,"a"])", R"([2,"bc"])", side::right),
                  R"([4,"a"])");
  // Only one of two adjacent inserts is taken at the tie (reference quirk).
  CAF_CHECK_EQUAL(transformed(R"(["a","b"])", R"(["x"])", side::left),
                  R"(["a",1,"b"])");
}

CAF_TEST(transform converges) {
  const std::string doc = "h\u00e9llo \U0001F600 w\u5b57rld";
  const char* ops[]
    = {R"([1,{"d":3},"XY"])", R"([6,"\u00e9",{"d":"\ud83d\ude00"}])",
       R"(["\ud83c\udf08",10,{"d":3}])", R"([{"d":13}])", R"([13,"!"])"};
  for (const char* a : ops) {
    for (const char* b : ops) {
      // Server: a committed, b transformed left; client: the mirror image.
      rope left(doc), right(doc);
      CAF_REQUIRE_EQUAL(collab::ot::apply(left, parse(a)), "");
      CAF_REQUIRE_EQUAL(
        collab::ot::apply(left, transform(parse(b), parse(a), side::left)), "");
      CAF_REQUIRE_EQUAL(collab::ot::apply(right, parse(b)), "");
      CAF_REQUIRE_EQUAL(
        collab::ot::apply(right, transform(parse(a), parse(b), side::right)),
        "");
      CAF_CHECK_EQUAL(left.to_string(), right.to_string());
    }
  }
}

CAF_TEST(transform of text deletes) {
  CAF_CHECK_EQUAL(transformed(R"([{"d":"abc"}])", R"([1,{"d":1}])", side::left),
                  R"([{"d":"ac"}])");
  CAF_CHECK_EQUAL(transformed(R"([{"d":3}])", R"([1,{"d":"b"}])", side::left),
                  R"([{"d":2}])");
  CAF_CHECK_EQUAL(
    transformed(R"([{"d":"abc"}])", R"([{"d":"abc"}])", side::left), "[]");
  // An insert inside a range the other op deleted survives.
  CAF_CHECK_EQUAL(transformed(R"([2,"x"])", R"([1,{"d":3}])", side::left),
                  R"([1,"x"])");
  CAF_CHECK_EQUAL(transformed(R"([1,{"d":2}])", R"([2,"x"])", side::left),
                  R"([1,{"d":1},1,{"d":1}])");
}

CAF_TEST(compose keeps text deletes only when both have text) {
  CAF_CHECK_EQUAL(composed(R"([{"d":"ab"}])", R"([{"d":"cd"}])"),
                  R"([{"d":"abcd"}])");
  CAF_CHECK_EQUAL(composed(R"([{"d":2}])", R"([{"d":"cd"}])"), R"([{"d":4}])");
  CAF_CHECK_EQUAL(composed(R"([{"d":"ab"}])", R"([{"d":2}])"), R"([{"d":4}])");
  CAF_CHECK_EQUAL(composed(R"([1,{"d":"b"}])", R"([{"d":"a"}])"),
                  R"([{"d":"ab"}])");
  // Inserting then deleting the same text cancels out.
  CAF_CHECK_EQUAL(composed(R"(["abc"])", R"([{"d":"abc"}])"), "[]");
  CAF_CHECK_EQUAL(composed(R"([2,"xy"])", R"([1,{"d":"bxy"}])"),
                  R"([1,{"d":"b"}])");
  CAF_CHECK_EQUAL(composed(R"([3,"\ud83d\ude00\ud83d\ude00"])",
                           R"([4,{"d":1},"z"])"),
                  "[3,\"\U0001F600z\"]");
}

CAF_TEST(check mirrors checkOp) {
  CAF_CHECK(check(parse("[]")));
  CAF_CHECK(check(parse(R"([1,"a",{"d":2},{"d":"x"}])")));
  CAF_CHECK(check(parse(R"(["a","b"])"))); // adjacent inserts pass checkOp
  status why;
  CAF_CHECK(!check(parse("[1]"), &why));
  CAF_CHECK_EQUAL(why, "Op has a trailing skip");
  CAF_CHECK(!check(parse(R"([1,2,"a"])")));
  CAF_CHECK(!check(parse(R"([0,"a"])")));
  CAF_CHECK(!check(parse(R"([""])")));
  CAF_CHECK(!check(parse(R"([{"d":0}])")));
  CAF_CHECK(!check(parse(R"([{"d":""}])")));
}

CAF_TEST(normalize) {
  CAF_CHECK_EQUAL(
    show(normalize(parse(
      R"([1,0,2,"",{"d":0},{"d":""},"a","b",{"d":"x"},{"d":"y"},{"d":2},3])"))),
    R"([3,"ab",{"d":4}])");
  CAF_CHECK_EQUAL(show(normalize(parse(R"([{"d":"a"},{"d":"b"},5])"))),
                  R"([{"d":"ab"}])");
  CAF_CHECK_EQUAL(show(normalize(parse("[5]"))), "[]");
}

CAF_TEST(apply refuses ops past the end) {
  CAF_CHECK_EQUAL(applied("abc", R"([1,{"d":2}])"), "a");
  CAF_CHECK_EQUAL(applied("abc", R"([1,{"d":3}])"),
                  "error"); // reference truncates
  CAF_CHECK_EQUAL(applied("abc", R"([{"d":"abcd"}])"), "error");
  CAF_CHECK_EQUAL(applied("abc", R"([4,"x"])"), "error");
  CAF_CHECK_EQUAL(applied("abc", R"([3,"x"])"), "abcx");
  CAF_CHECK_EQUAL(applied("", R"([{"d":1}])"), "error");
  CAF_CHECK_EQUAL(applied("abc", "[2]"), "error"); // fails check
  rope doc("abc");
  CAF_CHECK(!collab::ot::apply(doc, parse(R"([2,{"d":2}])")).empty());
  CAF_CHECK_EQUAL(doc.to_string(), "abc"); // unchanged on refusal
}

CAF_TEST(positions are code points) {
  const std::string doc = "\U0001F600e\u0301\u5b57";
  CAF_CHECK_EQUAL(applied(doc, R"([1,"|"])"), "\U0001F600|e\u0301\u5b57");
  CAF_CHECK_EQUAL(applied(doc, R"([2,{"d":1}])"), "\U0001F600e\u5b57");
  CAF_CHECK_EQUAL(applied(doc, R"([4,"\ud83c\udf08"])"), doc + "\U0001F308");
  CAF_CHECK_EQUAL(applied(doc, R"([5,"x"])"), "error");
  CAF_CHECK_EQUAL(component::insert("\U0001F3F3\uFE0F\u200D\U0001F308").n, 4u);
  CAF_CHECK_EQUAL(
    inserted_length(parse(R"(["\ud83d\ude00",1,{"d":"ab"},"c"])")), 2u);
  CAF_CHECK_EQUAL(length_delta(parse(R"(["\ud83d\ude00",1,{"d":"ab"},"c"])")),
                  0);
  CAF_CHECK_EQUAL(length_delta(parse(R"([{"d":5}])")), -5);
}

CAF_TEST(transform position) {
  CAF_CHECK_EQUAL(transform_position(3, parse(R"([3,"x"])")),
                  3u); // insert at cursor
  CAF_CHECK_EQUAL(transform_position(3, parse(R"([2,"\ud83d\ude00"])")), 4u);
  CAF_CHECK_EQUAL(transform_position(2, parse(R"([1,{"d":5}])")), 1u);
  CAF_CHECK_EQUAL(transform_position(0, parse(R"(["x"])")), 0u);
  CAF_CHECK_EQUAL(transform_position(2, parse("[3]")),
                  2u); // no check, like the reference
}

CAF_TEST(components compare by value) {
  CAF_CHECK(component::del(2) == component::del(2));
  CAF_CHECK(!(component::del(2) == component::del_text("ab")));
  CAF_CHECK(component::insert("\u00e9") == component::insert("\u00e9"));
  CAF_CHECK(!(component::skip(1) == component::del(1)));
}

namespace {

// `n` copies of {"d": 2^53-1} and then `tail`, as a client would send them.
std::string max_deletes(int n, const char* tail) {
  std::string json = "[";
  for (int i = 0; i < n; ++i)
    json += R"({"d":9007199254740991},)";
  return json + tail + "]";
}

} // namespace

// Defect 12: 2048 x {d: 2^53-1} + {d: 2053} sums to 2^64 + 5; the old
// normalize wrapped that to {d: 5}, a valid op on a 10 code point document,
// so the server committed another op than the client sent.
CAF_TEST(counts summing past 2 ^ 53 - 1 are refused and never wrapped) {
  const std::string json = max_deletes(2048, R"({"d":2053})");
  op a = parse(json.c_str());
  status why;
  CAF_CHECK(!check(a, &why));
  CAF_CHECK_EQUAL(why, "The op reads more than 2^53-1 code points");
  // normalize keeps the meaning: no merged count above max_count, and the
  // counts still add up to what the client sent.
  op n = normalize(a);
  unsigned __int128 total = 0;
  for (const component& c : n) {
    CAF_CHECK(c.n <= max_count);
    total += c.n;
  }
  CAF_CHECK(total == static_cast<unsigned __int128>(2048) * max_count + 2053);
  rope doc("0123456789");
  CAF_CHECK(!collab::ot::apply(doc, n).empty());
  CAF_CHECK_EQUAL(doc.to_string(), "0123456789");
  // At the limit itself the op is valid (and too long for this document).
  CAF_CHECK(check(parse(R"([9007199254740990,{"d":1}])")));
  CAF_CHECK(!check(parse(R"([9007199254740991,{"d":1}])"), &why));
  CAF_CHECK(!check(parse(R"(["a",9007199254740991,{"d":"b"}])")));
  CAF_CHECK(
    !check(op{component::skip(max_count + 1), component::insert("a")}, &why));
  CAF_CHECK_EQUAL(why, "Counts must not exceed 2^53-1");
}

CAF_TEST(transform and compose of ops at the count limit do not wrap) {
  // Each op reads max_count code points; the results stay exact.
  op a = parse(R"([9007199254740990,"x"])");
  op b = parse(R"(["yz",{"d":9007199254740991}])");
  CAF_REQUIRE(check(a));
  CAF_REQUIRE(check(b));
  CAF_CHECK_EQUAL(show(transform(a, b, side::left)), R"([2,"x"])");
  CAF_CHECK_EQUAL(show(transform(b, a, side::right)),
                  R"(["yz",{"d":9007199254740990},1,{"d":1}])");
  CAF_CHECK_EQUAL(show(compose(a, parse(R"([9007199254740991,"w"])"))),
                  R"([9007199254740990,"xw"])");
}

CAF_TEST(unchecked counts saturate instead of wrapping) {
  // transform_position, inserted_length and length_delta do not check (as
  // the reference); a wrap would give a small, plausible wrong answer.
  const uint64_t top = UINT64_MAX;
  CAF_CHECK_EQUAL(transform_position(top, op{component::skip(top - 1),
                                             component::insert("ab")}),
                  top);
  CAF_CHECK(length_delta(op{component::del(top)}) < 0);
  CAF_CHECK(length_delta(op{component::del(top), component::del(top)}) < 0);
  CAF_CHECK_EQUAL(
    inserted_length(op{component::insert("a"), component::del(top)}), 1u);
}
