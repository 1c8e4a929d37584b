// Unit tests of the JSON form of ops: what op_from_json reads (lenient about
// empty components, strict about structure) and what op_to_json writes.
#define CAF_SUITE ot.op_json
#include <caf/test/unit_test.hpp>

#include <string>

#include <rapidjson/document.h>

#include "actors/ot/op_json.hpp"

using namespace collab::ot;

namespace {

// The op re-serialized, or "refused".
std::string round_trip(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  CAF_REQUIRE(!d.HasParseError());
  op a;
  if (!op_from_json(d, a).empty())
    return "refused";
  return op_to_json(a);
}

} // namespace

CAF_TEST(reads and writes every component form) {
  CAF_CHECK_EQUAL(round_trip(R"([3,"h\u00e9",{"d":2},{"d":"x\ud83d\ude00"}])"),
                  "[3,\"h\xC3\xA9\",{\"d\":2},{\"d\":\"x\xF0\x9F\x98\x80\"}]");
  CAF_CHECK_EQUAL(round_trip("[]"), "[]");
  CAF_CHECK_EQUAL(round_trip(R"(["a\"\\\n\u0000b"])"), R"(["a\"\\\n\u0000b"])");
}

CAF_TEST(accepts well formed but not normalized components) {
  // normalize() must be able to see these; check() refuses them.
  CAF_CHECK_EQUAL(round_trip(R"([0,"",{"d":0},{"d":""}])"),
                  R"([0,"",{"d":0},{"d":""}])");
  CAF_CHECK_EQUAL(round_trip("[1,2,3]"), "[1,2,3]");
  CAF_CHECK_EQUAL(round_trip("[2.0,1e1,-0]"),
                  "[2,10,0]"); // integers to JavaScript
}

CAF_TEST(refuses structurally broken ops) {
  for (const char* bad :
       {"null", "5", "\"abc\"", "{}", R"({"d":1})", "[null]", "[true]", "[[1]]",
        "[-1]", "[1.5]", R"([{"d":-1}])", R"([{"d":2.5}])", "[{}]",
        R"([{"x":1}])", R"([{"d":1,"x":2}])", R"([{"d":null}])",
        R"([{"d":true}])", "[9007199254740992]", "[1e300]"})
    CAF_CHECK_EQUAL(round_trip(bad), "refused");
  CAF_CHECK_EQUAL(round_trip("[9007199254740991]"), "[9007199254740991]");
}

CAF_TEST(refuses invalid utf8 in strings) {
  // A lone surrogate escape decodes to bytes that are not valid UTF-8.
  CAF_CHECK_EQUAL(round_trip(R"(["\udc00"])"), "refused");
  CAF_CHECK_EQUAL(round_trip("[\"\xC0\xAF\"]"), "refused"); // overlong '/'
  CAF_CHECK_EQUAL(round_trip("[{\"d\":\"\xED\xA0\x80\"}]"),
                  "refused"); // raw surrogate
}

CAF_TEST(counts code points of inserts and text deletes) {
  rapidjson::Document d;
  d.Parse(R"(["\ud83c\udff3\ufe0f\u200d\ud83c\udf08",{"d":"e\u0301"}])");
  op a;
  CAF_REQUIRE_EQUAL(op_from_json(d, a), "");
  CAF_CHECK_EQUAL(a[0].n, 4u);
  CAF_CHECK_EQUAL(a[1].n, 2u);
  CAF_CHECK(a[1].has_text);
}
