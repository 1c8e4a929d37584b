// Unit tests for net/codec: every client message decodes, every malformed
// variant yields the right error code (carrying doc/seq where docs/PROTOCOL.md
// says so), encoders are byte-exact, escaping matches RapidJSON's Writer,
// ops round-trip, and random garbage never crashes the decoder.
#define CAF_SUITE net.codec
#include <caf/test/unit_test.hpp>

#include "net/codec.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "actors/ot/op_json.hpp"

using namespace collab;
using namespace collab::net;

namespace {

struct decoded {
  bool ok = false;
  client_message msg;
  decode_error err;
};

decoded dec(std::string_view frame, const decode_limits& limits = {}) {
  decoded r;
  r.ok = decode(frame, r.msg, r.err, limits);
  return r;
}

std::string code_of(const decoded& r) {
  return r.ok ? std::string("ok") : std::string(to_wire(r.err.code));
}

// -1: no seq expected.
int64_t seq_of(const decoded& r) {
  return r.err.seq ? static_cast<int64_t>(*r.err.seq) : -1;
}

struct bad_case {
  const char* frame;
  const char* code;
  const char* doc; // expected decode_error::doc
  int64_t seq; // expected decode_error::seq, -1 for none
};

void check_bad(const bad_case& c) {
  const auto r = dec(c.frame);
  const bool good = !r.ok && code_of(r) == c.code && r.err.doc == c.doc
                    && seq_of(r) == c.seq && !r.err.message.empty();
  if (!good)
    CAF_MESSAGE("frame " << c.frame << " -> " << code_of(r) << " doc='"
                         << r.err.doc << "' seq=" << seq_of(r)
                         << " msg=" << r.err.message);
  CAF_CHECK(good);
}

// What RapidJSON's Writer makes of a string: the reference for escaping.
std::string rapidjson_quoted(std::string_view s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return {buf.GetString(), buf.GetSize()};
}

// Parses an encoded message back (the encoders must emit valid JSON).
bool parses(const std::string& json, rapidjson::Document& d) {
  d.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  return !d.HasParseError() && d.IsObject();
}

const std::string emoji = "\xF0\x9F\x98\x80"; // U+1F600, 4 bytes, 1 code point

} // namespace

// ---------------------------------------------------------------------------
// Decoding: the happy paths

CAF_TEST(hello decodes) {
  const auto r = dec(R"({"type":"hello","client":"tab-1_A","v":1})");
  CAF_REQUIRE(r.ok);
  CAF_CHECK(r.msg.type == msg_type::hello);
  CAF_CHECK_EQUAL(r.msg.client, "tab-1_A");
  CAF_CHECK_EQUAL(r.msg.v, 1);
  CAF_CHECK(!r.msg.batch);
  const auto b = dec(R"({"type":"hello","client":"c","v":1,"batch":true})");
  CAF_REQUIRE(b.ok);
  CAF_CHECK(b.msg.batch);
  CAF_CHECK(
    !dec(R"({"type":"hello","client":"c","v":1,"batch":false})").msg.batch);
}

CAF_TEST(join decodes with and without rev) {
  auto r = dec(R"({"type":"join","doc":"acme/road.map~1-x"})");
  CAF_REQUIRE(r.ok);
  CAF_CHECK(r.msg.type == msg_type::join);
  CAF_CHECK_EQUAL(r.msg.doc, "acme/road.map~1-x");
  CAF_CHECK(!r.msg.rev.has_value());
  r = dec(R"( { "type" : "join", "doc" : "d", "rev" : 0 } )");
  CAF_REQUIRE(r.ok);
  CAF_REQUIRE(r.msg.rev.has_value());
  CAF_CHECK_EQUAL(*r.msg.rev, 0u);
  r = dec(R"({"type":"join","doc":"d","rev":18446744073709551615})");
  CAF_REQUIRE(r.ok);
  CAF_CHECK_EQUAL(*r.msg.rev, UINT64_MAX);
}

CAF_TEST(op decodes) {
  const auto frame = R"({"type":"op","doc":"d","rev":12,"seq":3,"op":[2,"h)"
                     + emoji + R"(i",{"d":4},1,{"d":"x\u00e9"}]})";
  const auto r = dec(frame);
  CAF_REQUIRE(r.ok);
  CAF_CHECK(r.msg.type == msg_type::op);
  CAF_CHECK_EQUAL(r.msg.doc, "d");
  CAF_REQUIRE(r.msg.rev.has_value());
  CAF_CHECK_EQUAL(*r.msg.rev, 12u);
  CAF_CHECK_EQUAL(r.msg.seq, 3u);
  const ot::op expected = {ot::component::skip(2),
                           ot::component::insert("h" + emoji + "i"),
                           ot::component::del(4), ot::component::skip(1),
                           ot::component::del_text("x\xC3\xA9")};
  CAF_CHECK(r.msg.op == expected);
  CAF_CHECK(ot::check(r.msg.op));
}

CAF_TEST(an empty op decodes) {
  const auto r = dec(R"({"type":"op","doc":"d","rev":0,"seq":1,"op":[]})");
  CAF_REQUIRE(r.ok);
  CAF_CHECK(r.msg.op.empty());
}

CAF_TEST(presence decodes and is re - serialised compactly) {
  auto r = dec(R"({"type":"presence","doc":"d","data": { "cursor" : [ 1 , 2 ],
                  "name" : "Ann\u00e9", "c" : "#f00", "x" : 1.5, "t" : true } })");
  CAF_REQUIRE(r.ok);
  CAF_CHECK(r.msg.type == msg_type::presence);
  CAF_CHECK_EQUAL(r.msg.presence, "{\"cursor\":[1,2],\"name\":\"Ann\xC3\xA9\","
                                  "\"c\":\"#f00\",\"x\":1.5,\"t\":true}");
  r = dec(R"({"type":"presence","doc":"d","data":null})");
  CAF_REQUIRE(r.ok);
  CAF_CHECK_EQUAL(r.msg.presence, "null");
  r = dec(R"({"type":"presence","doc":"d","data":"just a string"})");
  CAF_REQUIRE(r.ok);
  CAF_CHECK_EQUAL(r.msg.presence, "\"just a string\"");
  r = dec(R"({"type":"presence","doc":"d","data":7})");
  CAF_REQUIRE(r.ok);
  CAF_CHECK_EQUAL(r.msg.presence, "7");
}

CAF_TEST(leave auth and ping decode) {
  auto r = dec(R"({"type":"leave","doc":"a/b"})");
  CAF_REQUIRE(r.ok);
  CAF_CHECK(r.msg.type == msg_type::leave);
  CAF_CHECK_EQUAL(r.msg.doc, "a/b");
  r = dec(R"({"type":"auth","token":"aaa.bbb.ccc"})");
  CAF_REQUIRE(r.ok);
  CAF_CHECK(r.msg.type == msg_type::auth);
  CAF_CHECK_EQUAL(r.msg.token, "aaa.bbb.ccc");
  r = dec(R"({"type":"ping"})");
  CAF_REQUIRE(r.ok);
  CAF_CHECK(r.msg.type == msg_type::ping);
}

CAF_TEST(an auth token that is not printable ASCII is refused) {
  // a lone surrogate escape decodes to bytes that are not UTF-8 (fuzz/codec)
  for (auto frame : {R"({"type":"auth","token":"aaa.\ud800.ccc"})",
                     R"({"type":"auth","token":"aaa bbb"})",
                     R"({"type":"auth","token":"a\u00e9b"})"}) {
    const auto r = dec(frame);
    CAF_CHECK(!r.ok);
    CAF_CHECK(r.err.code == errc::bad_request);
  }
}

CAF_TEST(unknown fields are ignored) {
  const auto r
    = dec(R"({"type":"join","doc":"d","extra":{"a":[1,2]},"client":5})");
  CAF_REQUIRE(r.ok);
  CAF_CHECK(r.msg.type == msg_type::join);
}

CAF_TEST(a reused message is reset) {
  client_message m;
  decode_error e;
  CAF_REQUIRE(
    decode(R"({"type":"op","doc":"d","rev":1,"seq":2,"op":["x"]})", m, e));
  CAF_REQUIRE(decode(R"({"type":"join","doc":"e"})", m, e));
  CAF_CHECK(m.type == msg_type::join);
  CAF_CHECK(!m.rev.has_value());
  CAF_CHECK(m.op.empty());
  CAF_CHECK_EQUAL(m.seq, 0u);
  CAF_CHECK_EQUAL(m.doc, "e");
  // An error after a success leaves no stale doc/seq in the error either.
  CAF_CHECK(
    !decode(R"({"type":"op","doc":"d","rev":1,"seq":2,"op":[0]})", m, e));
  CAF_CHECK(!decode("{}", m, e));
  CAF_CHECK(e.doc.empty());
  CAF_CHECK(!e.seq.has_value());
}

CAF_TEST(identifier rules) {
  CAF_CHECK(valid_doc_id("a"));
  CAF_CHECK(valid_doc_id("acme/roadmap"));
  CAF_CHECK(valid_doc_id("A-z_0.9~/x/"));
  CAF_CHECK(valid_doc_id(std::string(200, 'x')));
  CAF_CHECK(!valid_doc_id(std::string(201, 'x')));
  CAF_CHECK(!valid_doc_id(""));
  CAF_CHECK(!valid_doc_id("/abs"));
  CAF_CHECK(!valid_doc_id("a b"));
  CAF_CHECK(!valid_doc_id("a?b"));
  CAF_CHECK(!valid_doc_id("caf\xC3\xA9"));
  CAF_CHECK(!valid_doc_id(std::string("a\0b", 3)));
  CAF_CHECK(valid_client_id("c"));
  CAF_CHECK(valid_client_id("Tab_1-x"));
  CAF_CHECK(valid_client_id(std::string(64, 'c')));
  CAF_CHECK(!valid_client_id(std::string(65, 'c')));
  CAF_CHECK(!valid_client_id(""));
  CAF_CHECK(!valid_client_id("a.b"));
  CAF_CHECK(!valid_client_id("a/b"));
}

// ---------------------------------------------------------------------------
// Decoding: refusals

CAF_TEST(structural garbage is bad_request) {
  const bad_case cases[] = {
    {"", "bad_request", "", -1},
    {"   ", "bad_request", "", -1},
    {"nope", "bad_request", "", -1},
    {"[]", "bad_request", "", -1},
    {"[{\"type\":\"ping\"}]", "bad_request", "", -1},
    {"\"ping\"", "bad_request", "", -1},
    {"42", "bad_request", "", -1},
    {"null", "bad_request", "", -1},
    {"{", "bad_request", "", -1},
    {"{\"type\":\"ping\"", "bad_request", "", -1},
    {"{\"type\":\"ping\"}}", "bad_request", "", -1},
    {"{\"type\":\"ping\"} x", "bad_request", "", -1},
    {"{\"type\":\"ping\"}{}", "bad_request", "", -1},
    {"{\"type\":\"ping\",}", "bad_request", "", -1},
    {"{'type':'ping'}", "bad_request", "", -1},
    {"{\"type\":\"ping\"} // hi", "bad_request", "", -1},
    {"{\"type\":\"ping\",\"x\":NaN}", "bad_request", "", -1},
    {"{}", "bad_request", "", -1},
    {"{\"typ\":\"ping\"}", "bad_request", "", -1},
    {"{\"type\":1}", "bad_request", "", -1},
    {"{\"type\":null}", "bad_request", "", -1},
    {"{\"type\":[\"ping\"]}", "bad_request", "", -1},
    {"{\"type\":\"PING\"}", "bad_request", "", -1},
    {"{\"type\":\"welcome\"}", "bad_request", "", -1},
    {"{\"type\":\"ping\",\"type\":\"ping\"}", "bad_request", "", -1},
    {"{\"type\":\"ping\",\"t\\u0079pe\":\"hello\"}", "bad_request", "", -1},
    {"{\"type\":\"ping\",\"x\":\"\\ud800\"}", "bad_request", "", -1},
    {"{\"type\":\"ping\",\"x\":\"\x01\"}", "bad_request", "", -1},
    {"{\"type\":\"ping\",\"x\":\"\xC3\x28\"}", "bad_request", "", -1},
    {"{\"type\":\"ping\",\"x\":\"\xED\xA0\x80\"}", "bad_request", "", -1},
    {"{\"type\":\"ping\",\"x\":\"\xFF\"}", "bad_request", "", -1},
  };
  for (const auto& c : cases)
    check_bad(c);
}

CAF_TEST(a NUL byte after the value is trailing garbage) {
  const std::string frame("{\"type\":\"ping\"}\0{\"x\":1}", 23);
  CAF_CHECK_EQUAL(code_of(dec(frame)), "bad_request");
  CAF_CHECK_EQUAL(code_of(dec(std::string("{\"type\":\"ping\"}\0", 16))),
                  "bad_request");
  CAF_CHECK_EQUAL(code_of(dec(std::string("\0", 1))), "bad_request");
}

CAF_TEST(hello refusals) {
  const bad_case cases[] = {
    {R"({"type":"hello","v":1})", "bad_request", "", -1},
    {R"({"type":"hello","client":"","v":1})", "bad_request", "", -1},
    {R"({"type":"hello","client":"a.b","v":1})", "bad_request", "", -1},
    {R"({"type":"hello","client":7,"v":1})", "bad_request", "", -1},
    {R"({"type":"hello","client":"c"})", "bad_request", "", -1},
    {R"({"type":"hello","client":"c","v":"1"})", "bad_request", "", -1},
    {R"({"type":"hello","client":"c","v":1.5})", "bad_request", "", -1},
    {R"({"type":"hello","client":"c","v":null})", "bad_request", "", -1},
    {R"({"type":"hello","client":"c","v":1,"batch":1})", "bad_request", "", -1},
    {R"({"type":"hello","client":"c","v":1,"batch":"yes"})", "bad_request", "",
     -1},
  };
  for (const auto& c : cases)
    check_bad(c);
  const std::string long_client = R"({"type":"hello","client":")"
                                  + std::string(65, 'c') + R"(","v":1})";
  CAF_CHECK_EQUAL(code_of(dec(long_client)), "bad_request");
}

CAF_TEST(join leave and presence refusals carry the doc once it is valid) {
  const bad_case cases[] = {
    {R"({"type":"join"})", "bad_request", "", -1},
    {R"({"type":"join","doc":""})", "bad_request", "", -1},
    {R"({"type":"join","doc":"/abs"})", "bad_request", "", -1},
    {R"({"type":"join","doc":"a b"})", "bad_request", "", -1},
    {R"({"type":"join","doc":3})", "bad_request", "", -1},
    {R"({"type":"join","doc":"d","rev":-1})", "bad_request", "d", -1},
    {R"({"type":"join","doc":"d","rev":1.5})", "bad_request", "d", -1},
    {R"({"type":"join","doc":"d","rev":"3"})", "bad_request", "d", -1},
    {R"({"type":"join","doc":"d","rev":null})", "bad_request", "d", -1},
    {R"({"type":"join","doc":"d","rev":1e3})", "bad_request", "d", -1},
    {R"({"type":"join","doc":"d","rev":18446744073709551616})", "bad_request",
     "d", -1},
    {R"({"type":"leave"})", "bad_request", "", -1},
    {R"({"type":"leave","doc":["d"]})", "bad_request", "", -1},
    {R"({"type":"presence","data":null})", "bad_request", "", -1},
    {R"({"type":"presence","doc":"d"})", "bad_request", "d", -1},
    {R"({"type":"presence","doc":"d","data":{"a":1,"a":2}})", "bad_request", "",
     -1},
    {R"({"type":"auth"})", "bad_request", "", -1},
    {R"({"type":"auth","token":""})", "bad_request", "", -1},
    {R"({"type":"auth","token":5})", "bad_request", "", -1},
  };
  for (const auto& c : cases)
    check_bad(c);
  const std::string long_doc = R"({"type":"join","doc":")"
                               + std::string(201, 'd') + R"("})";
  CAF_CHECK_EQUAL(code_of(dec(long_doc)), "bad_request");
}

CAF_TEST(op refusals carry doc and seq) {
  const bad_case cases[] = {
    // Field presence and types: bad_request.
    {R"({"type":"op","rev":1,"seq":1,"op":[]})", "bad_request", "", -1},
    {R"({"type":"op","doc":"/x","rev":1,"seq":1,"op":[]})", "bad_request", "",
     -1},
    {R"({"type":"op","doc":"d","rev":1,"op":[]})", "bad_request", "d", -1},
    {R"({"type":"op","doc":"d","rev":1,"seq":0,"op":[]})", "bad_request", "d",
     -1},
    {R"({"type":"op","doc":"d","rev":1,"seq":-1,"op":[]})", "bad_request", "d",
     -1},
    {R"({"type":"op","doc":"d","rev":1,"seq":1.0,"op":[]})", "bad_request", "d",
     -1},
    {R"({"type":"op","doc":"d","rev":1,"seq":"1","op":[]})", "bad_request", "d",
     -1},
    {R"({"type":"op","doc":"d","seq":4,"op":[]})", "bad_request", "d", 4},
    {R"({"type":"op","doc":"d","rev":-2,"seq":4,"op":[]})", "bad_request", "d",
     4},
    {R"({"type":"op","doc":"d","rev":"2","seq":4,"op":[]})", "bad_request", "d",
     4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4})", "bad_request", "d", 4},
    // The op itself: bad_op.
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":null})", "bad_op", "d", 4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":"abc"})", "bad_op", "d", 4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":{"d":1}})", "bad_op", "d",
     4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[0,"a"]})", "bad_op", "d",
     4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[-1,"a"]})", "bad_op", "d",
     4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[1.5,"a"]})", "bad_op", "d",
     4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[""]})", "bad_op", "d", 4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[{"d":0}]})", "bad_op", "d",
     4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[{"d":""}]})", "bad_op",
     "d", 4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[{"x":1}]})", "bad_op", "d",
     4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[null]})", "bad_op", "d",
     4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[[1]]})", "bad_op", "d", 4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[true]})", "bad_op", "d",
     4},
    // Refused by ot::check (as by ot-text-unicode's checkOp).
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[5]})", "bad_op", "d", 4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":["a",3]})", "bad_op", "d",
     4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[1,2,"b"]})", "bad_op", "d",
     4},
    // Duplicate keys anywhere are refused before the op is looked at.
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[{"d":1,"d":2}]})",
     "bad_request", "", -1},
  };
  for (const auto& c : cases)
    check_bad(c);
}

CAF_TEST(presence data over the limit is too_large) {
  const std::string at_limit = "\"" + std::string(4094, 'x')
                               + "\""; // 4096 bytes
  auto r = dec(R"({"type":"presence","doc":"d","data":)" + at_limit + "}");
  CAF_REQUIRE(r.ok);
  CAF_CHECK_EQUAL(r.msg.presence.size(), 4096u);
  const std::string over = "\"" + std::string(4095, 'x') + "\"";
  r = dec(R"({"type":"presence","doc":"d","data":)" + over + "}");
  CAF_CHECK_EQUAL(code_of(r), "too_large");
  CAF_CHECK_EQUAL(r.err.doc, "d");
  // The limit applies to the compact form, not to the sender's whitespace.
  const std::string spaced = "[1" + std::string(5000, ' ') + "]";
  r = dec(R"({"type":"presence","doc":"d","data":)" + spaced + "}");
  CAF_REQUIRE(r.ok);
  CAF_CHECK_EQUAL(r.msg.presence, "[1]");
  decode_limits small;
  small.max_presence_bytes = 8;
  CAF_CHECK_EQUAL(
    code_of(dec(R"({"type":"presence","doc":"d","data":[1,2,3,4]})", small)),
    "too_large");
  CAF_CHECK_EQUAL(
    code_of(dec(R"({"type":"presence","doc":"d","data":[1,2,3]})", small)),
    "ok");
}

CAF_TEST(
  an op of more components than the limit is refused while it is parsed) {
  decode_limits small;
  small.max_op_components = 4;
  auto op_of = [](int n) {
    std::string op = "[";
    for (int i = 0; i < n; ++i)
      op += (i % 2 == 0) ? "1," : "\"a\",";
    op.back() = ']';
    return op;
  };
  auto frame = [&](int n) {
    return R"({"type":"op","doc":"d","rev":0,"seq":7,"op":)" + op_of(n) + "}";
  };
  // Exactly at the limit: the op decodes (nested values do not count).
  auto r = dec(
    R"({"type":"op","doc":"d","rev":0,"seq":7,"op":[1,{"d":"xy"},1,"a"]})",
    small);
  CAF_CHECK_EQUAL(code_of(r), "ok");
  CAF_CHECK_EQUAL(code_of(dec(frame(4), small)), "ok");
  r = dec(frame(5), small);
  CAF_CHECK_EQUAL(code_of(r), "too_large");
  CAF_CHECK_EQUAL(r.err.doc, "d");
  CAF_REQUIRE(r.err.seq.has_value());
  CAF_CHECK_EQUAL(*r.err.seq, 7u);
  // Only the top-level op counts: a long array elsewhere is not an op.
  CAF_CHECK_EQUAL(
    code_of(dec(R"({"type":"presence","doc":"d","data":{"op":[1,2,3,4,5,6]}})",
                small)),
    "ok");
  // Far over the limit: refused long before the end of the frame, which is
  // not even valid JSON there.
  auto huge = R"({"type":"op","doc":"d","rev":0,"seq":1,"op":)" + op_of(100000);
  huge.back() = ','; // unterminated
  CAF_CHECK_EQUAL(code_of(dec(huge, small)), "too_large");
}

CAF_TEST(duplicate keys are refused at every depth and size) {
  // A large object goes through the sorting path of the duplicate check.
  std::string obj = "{";
  for (int i = 0; i < 40; ++i)
    obj += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  auto unique = obj;
  unique.back() = '}';
  obj += "\"k17\":0}";
  CAF_CHECK_EQUAL(
    code_of(dec(R"({"type":"presence","doc":"d","data":)" + unique + "}")),
    "ok");
  CAF_CHECK_EQUAL(
    code_of(dec(R"({"type":"presence","doc":"d","data":)" + obj + "}")),
    "bad_request");
  CAF_CHECK_EQUAL(
    code_of(dec(
      R"({"type":"presence","doc":"d","data":{"a":[{"b":1,"c":{"x":1,"x":1}}]}})")),
    "bad_request");
  // Same key in sibling objects is fine.
  CAF_CHECK_EQUAL(
    code_of(dec(R"({"type":"presence","doc":"d","data":[{"a":1},{"a":2}]})")),
    "ok");
}

CAF_TEST(deep nesting is refused without recursion) {
  const int n = 200000;
  const std::string deep = std::string(n, '[') + std::string(n, ']');
  CAF_CHECK_EQUAL(
    code_of(dec(R"({"type":"presence","doc":"d","data":)" + deep + "}")),
    "bad_request");
  CAF_CHECK_EQUAL(code_of(dec(std::string(n, '['))), "bad_request");
  std::string objs;
  for (int i = 0; i < n / 8; ++i)
    objs += "{\"a\":";
  CAF_CHECK_EQUAL(code_of(dec(objs)), "bad_request");
  // Moderate nesting is fine.
  const std::string ok_depth = std::string(40, '[') + std::string(40, ']');
  CAF_CHECK_EQUAL(
    code_of(dec(R"({"type":"presence","doc":"d","data":)" + ok_depth + "}")),
    "ok");
}

// ---------------------------------------------------------------------------
// Encoders

CAF_TEST(encoders are byte exact) {
  CAF_CHECK_EQUAL(
    encode_welcome("node-1", "s42"),
    R"({"type":"welcome","node":"node-1","session":"s42","v":1})");
  CAF_CHECK_EQUAL(
    encode_welcome("node-1", "s42", true),
    R"({"type":"welcome","node":"node-1","session":"s42","v":1,"batch":true})");
  const ot::rope text("hi");
  CAF_CHECK_EQUAL(encode_joined("acme/doc", 7, &text),
                  R"({"type":"joined","doc":"acme/doc","rev":7,"text":"hi"})");
  CAF_CHECK_EQUAL(encode_joined("d", 3, nullptr),
                  R"({"type":"joined","doc":"d","rev":3})");
  const ot::rope empty;
  CAF_CHECK_EQUAL(encode_joined("d", 0, &empty),
                  R"({"type":"joined","doc":"d","rev":0,"text":""})");
  const ot::op op = {ot::component::skip(3),
                     ot::component::insert("\xC3\xA9" + emoji),
                     ot::component::del(2), ot::component::skip(1),
                     ot::component::del_text("ab")};
  CAF_CHECK_EQUAL(
    encode_op("d", 5, "c1", 2, op),
    R"({"type":"op","doc":"d","rev":5,"client":"c1","seq":2,"op":[3,")"
    "\xC3\xA9"
      + emoji + R"(",{"d":2},1,{"d":"ab"}]})");
  CAF_CHECK_EQUAL(
    encode_op("d", 1, "c", 1, ot::op{}),
    R"({"type":"op","doc":"d","rev":1,"client":"c","seq":1,"op":[]})");
  CAF_CHECK_EQUAL(
    encode_ack("d", 2, 18446744073709551615u),
    R"({"type":"ack","doc":"d","seq":2,"rev":18446744073709551615})");
  CAF_CHECK_EQUAL(
    encode_presence("d", "c1", "alice", R"({"cursor":3})"),
    R"({"type":"presence","doc":"d","client":"c1","user":"alice","data":{"cursor":3}})");
  CAF_CHECK_EQUAL(
    encode_presence("d", "c1", "alice", "null"),
    R"({"type":"presence","doc":"d","client":"c1","user":"alice","data":null})");
  CAF_CHECK_EQUAL(
    encode_presence("d", "c1", "alice", ""),
    R"({"type":"presence","doc":"d","client":"c1","user":"alice","data":null})");
  const std::vector<committed_op> ops
    = {{"d", 4, "c0", 9, "u", ot::op{ot::component::insert("x")}},
       {"d", 5, "c1", 2, "u", op},
       {"d", 6, "c\"", 1, "u", ot::op{}}};
  CAF_CHECK_EQUAL(
    encode_ops("d", ops, 1),
    R"({"type":"ops","doc":"d","ops":[{"rev":5,"client":"c1","seq":2,"op":[3,")"
    "\xC3\xA9"
      + emoji
      + R"(",{"d":2},1,{"d":"ab"}]},{"rev":6,"client":"c\"","seq":1,"op":[]}]})");
  CAF_CHECK_EQUAL(
    encode_ops("d", ops),
    R"({"type":"ops","doc":"d","ops":[{"rev":4,"client":"c0","seq":9,"op":["x"]},)"
    R"({"rev":5,"client":"c1","seq":2,"op":[3,")"
    "\xC3\xA9"
      + emoji
      + R"(",{"d":2},1,{"d":"ab"}]},{"rev":6,"client":"c\"","seq":1,"op":[]}]})");
  CAF_CHECK_EQUAL(
    encode_presences("d",
                     {{"c1", "alice", R"({"cursor":3})"}, {"c2", "bob", ""}}),
    R"({"type":"presences","doc":"d","presence":[{"client":"c1","user":"alice",)"
    R"("data":{"cursor":3}},{"client":"c2","user":"bob","data":null}]})");
  CAF_CHECK_EQUAL(encode_presences("d", {}),
                  R"({"type":"presences","doc":"d","presence":[]})");
  CAF_CHECK_EQUAL(encode_left("a/b"), R"({"type":"left","doc":"a/b"})");
  CAF_CHECK_EQUAL(encode_pong(), R"({"type":"pong"})");
  CAF_CHECK_EQUAL(
    encode_error(errc::bad_op, "bad", "d", 4),
    R"({"type":"error","code":"bad_op","message":"bad","doc":"d","seq":4})");
  CAF_CHECK_EQUAL(
    encode_error(errc::forbidden, "no", "d"),
    R"({"type":"error","code":"forbidden","message":"no","doc":"d"})");
  CAF_CHECK_EQUAL(
    encode_error(errc::rate_limited, "slow down"),
    R"({"type":"error","code":"rate_limited","message":"slow down"})");
  CAF_CHECK_EQUAL(
    encode_error(errc::seq_gap, "gap", {}, 0),
    R"({"type":"error","code":"seq_gap","message":"gap","seq":0})");
  CAF_CHECK_EQUAL(encode_error(errc::unavailable, "later", "d", 3, 1500),
                  R"({"type":"error","code":"unavailable","message":"later",)"
                  R"("doc":"d","seq":3,"retry_after_ms":1500})");
}

CAF_TEST(every error code encodes as its wire name) {
  for (int i = 0; i < errc_count; ++i) {
    const auto code = static_cast<errc>(i);
    rapidjson::Document d;
    CAF_REQUIRE(parses(encode_error(code, "m"), d));
    CAF_CHECK_EQUAL(std::string(d["code"].GetString()),
                    std::string(to_wire(code)));
  }
}

CAF_TEST(escaping matches rapidjson for every ascii byte) {
  std::string all;
  for (int c = 0; c < 128; ++c)
    all += static_cast<char>(c);
  std::string out;
  append_json_string(out, all);
  CAF_CHECK_EQUAL(out, rapidjson_quoted(all));
  out.clear();
  append_json_string(out, "\x01\b\f\n\r\t\"\\/\x1f\x7f \xC3\xA9" + emoji);
  CAF_CHECK_EQUAL(out, "\"\\u0001\\b\\f\\n\\r\\t\\\"\\\\/\\u001F\x7f \xC3\xA9"
                         + emoji + "\"");
  // Control characters in every encoder field that takes text.
  const ot::rope text(std::string("a\0b\n\"", 5));
  CAF_CHECK_EQUAL(
    encode_joined("d", 1, &text),
    R"({"type":"joined","doc":"d","rev":1,"text":"a\u0000b\n\""})");
  CAF_CHECK_EQUAL(
    encode_error(errc::internal, "x\ty \"z\" id=abc"),
    R"({"type":"error","code":"internal","message":"x\ty \"z\" id=abc"})");
  CAF_CHECK_EQUAL(encode_presence("d", "c", "Zo\xC3\xAB \"Z\"", "1"),
                  R"({"type":"presence","doc":"d","client":"c","user":"Zo)"
                  "\xC3\xAB"
                  R"( \"Z\"","data":1})");
}

CAF_TEST(escaping agrees with rapidjson on random strings of every length) {
  // Lengths around the 8- and 16-byte scanning strides, escapes at the edges.
  std::mt19937 rng(11);
  const std::vector<std::string> pieces
    = {"a",  "b",    "X",    " ", "\"",   "\\",       "\n",
       "\t", "\x01", "\x1f", "/", "\x7f", "\xC3\xA9", emoji};
  for (int i = 0; i < 3000; ++i) {
    std::string valid;
    const size_t len = rng() % 70;
    while (valid.size() < len)
      valid += pieces[rng() % pieces.size()];
    std::string out;
    append_json_string(out, valid);
    CAF_CHECK_EQUAL(out, rapidjson_quoted(valid));
    const ot::rope r(valid);
    CAF_CHECK_EQUAL(encode_joined("d", 1, &r),
                    R"({"type":"joined","doc":"d","rev":1,"text":)" + out
                      + "}");
  }
}

CAF_TEST(lone surrogate escapes never reach other sessions) {
  CAF_CHECK_EQUAL(
    code_of(dec(R"({"type":"presence","doc":"d","data":"\udc00"})")),
    "bad_request");
  CAF_CHECK_EQUAL(
    code_of(dec(R"({"type":"presence","doc":"d","data":{"\udfff":1}})")),
    "bad_request");
  CAF_CHECK_EQUAL(
    code_of(dec(R"({"type":"presence","doc":"d","data":"\ud800x"})")),
    "bad_request");
  const auto bad
    = dec(R"({"type":"op","doc":"d","rev":0,"seq":1,"op":["\udc00"]})");
  CAF_CHECK_EQUAL(code_of(bad), "bad_op");
  CAF_CHECK_EQUAL(seq_of(bad), 1);
  // A proper pair is one code point.
  const auto pair
    = dec(R"({"type":"op","doc":"d","rev":0,"seq":1,"op":["\ud83d\ude00"]})");
  CAF_REQUIRE(pair.ok);
  CAF_REQUIRE_EQUAL(pair.msg.op.size(), 1u);
  CAF_CHECK_EQUAL(pair.msg.op[0].text, emoji);
  CAF_CHECK_EQUAL(pair.msg.op[0].n, 1u);
  const auto p = dec(R"({"type":"presence","doc":"d","data":"\ud83d\ude00"})");
  CAF_REQUIRE(p.ok);
  CAF_CHECK_EQUAL(p.msg.presence, "\"" + emoji + "\"");
}

CAF_TEST(invalid utf8 outside strings is refused) {
  CAF_CHECK_EQUAL(code_of(dec("{\"type\":\"ping\"}\xFF")), "bad_request");
  CAF_CHECK_EQUAL(code_of(dec("\xEF\xBB\xBF{\"type\":\"ping\"}")),
                  "bad_request"); // BOM
  CAF_CHECK_EQUAL(code_of(dec("{\"type\":\"ping\",\"\xC0\xAF\":1}")),
                  "bad_request");
}

CAF_TEST(invalid utf8 in free text becomes the replacement character) {
  const auto s = encode_error(errc::bad_request,
                              "bad \xFF\xC3 \xED\xA0\x80 ok \xF0\x9F\x98\x80");
  CAF_CHECK_EQUAL(
    s, "{\"type\":\"error\",\"code\":\"bad_request\",\"message\":\"bad "
       "\xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD ok "
       "\xF0\x9F\x98\x80\"}");
  rapidjson::Document d;
  CAF_CHECK(parses(s, d));
  CAF_CHECK(parses(encode_welcome("n\xC0\xAF", "s\x80"), d));
}

CAF_TEST(a large joined text streams and escapes correctly) {
  // ~2 MB with escapes spread through it, including runs of them.
  std::mt19937 rng(7);
  const std::vector<std::string> pieces
    = {"lorem ", "ipsum\n", "\"q\"", "\\",
       "\t\t",   "\x01",    emoji,   "\xC3\xA9t\xC3\xA9 ",
       "\n\n\n"};
  std::string text;
  while (text.size() < 2 * 1024 * 1024)
    text += pieces[rng() % pieces.size()];
  const ot::rope r(text);
  const auto json = encode_joined("big", 99, &r);
  std::string expected = R"({"type":"joined","doc":"big","rev":99,"text":)";
  append_json_string(expected, text);
  expected += "}";
  CAF_CHECK(json == expected);
  rapidjson::Document d;
  CAF_REQUIRE(parses(json, d));
  CAF_CHECK(std::string(d["text"].GetString(), d["text"].GetStringLength())
            == text);
}

CAF_TEST(ops encode exactly like op_to_json and round trip) {
  const std::vector<std::string> frames = {
    R"({"type":"op","doc":"d","rev":1,"seq":1,"op":["a"]})",
    R"({"type":"op","doc":"d","rev":1,"seq":1,"op":[3,")" + emoji + emoji
      + R"("]})",
    R"({"type":"op","doc":"d","rev":1,"seq":1,"op":[1,{"d":2},"x\n\"y\"\u0001"]})",
    R"({"type":"op","doc":"d","rev":1,"seq":1,"op":[{"d":")" + emoji
      + R"(\\"},2,"\u00e9"]})",
    // The largest op check() accepts: it reads exactly 2^53-1 code points.
    R"({"type":"op","doc":"d","rev":1,"seq":1,"op":[9007186909062090,{"d":12345678901}]})",
    R"({"type":"op","doc":"d","rev":1,"seq":1,"op":[{"d":9007199254740991}]})",
  };
  for (const auto& f : frames) {
    const auto r = dec(f);
    CAF_REQUIRE(r.ok);
    std::string op_json;
    append_op_json(op_json, r.msg.op);
    CAF_CHECK_EQUAL(op_json, ot::op_to_json(r.msg.op));
    // Encode as the server would, decode the broadcast as a client frame.
    auto wire = encode_op(r.msg.doc, 2, "c", r.msg.seq, r.msg.op);
    rapidjson::Document d;
    CAF_REQUIRE(parses(wire, d));
    ot::op back;
    CAF_REQUIRE(ot::op_from_json(d["op"], back).empty());
    CAF_CHECK(back == r.msg.op);
    CAF_CHECK_EQUAL(d["client"].GetString(), std::string("c"));
  }
}

// ---------------------------------------------------------------------------
// Robustness

CAF_TEST(random garbage never crashes the decoder) {
  std::mt19937_64 rng(20240531);
  const std::string alphabet
    = "{}[]\":,0123456789-+.eEtrufalsn \\u\t\n\x01\xC3\xA9\xFF\xF0\x9F";
  size_t accepted = 0;
  client_message m;
  decode_error e;
  for (int i = 0; i < 20000; ++i) {
    std::string frame(rng() % 96, '\0');
    const bool raw = rng() % 4 == 0;
    for (auto& c : frame)
      c = raw ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
    if (decode(frame, m, e))
      ++accepted;
    else if (e.message.empty())
      CAF_FAIL("error without a message for: " << frame);
  }
  CAF_MESSAGE("random frames accepted: " << accepted);

  // Mutations of valid frames reach much deeper into the decoder.
  const std::vector<std::string> seeds = {
    R"({"type":"hello","client":"c1","v":1})",
    R"({"type":"join","doc":"acme/x","rev":3})",
    R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[2,"h)" + emoji
      + R"(",{"d":3},1,{"d":"ab"}]})",
    R"({"type":"presence","doc":"d","data":{"c":[1,2],"n":"x\n"}})",
    R"({"type":"leave","doc":"d"})",
    R"({"type":"auth","token":"a.b.c"})",
    R"({"type":"ping"})",
  };
  size_t ok_ops = 0;
  for (int i = 0; i < 60000; ++i) {
    std::string f = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !f.empty(); ++k) {
      const size_t at = rng() % f.size();
      switch (rng() % 4) {
        case 0: f[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: f.erase(at, 1 + rng() % 3); break;
        case 2: f.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        default: f.resize(at); break;
      }
    }
    if (decode(f, m, e)) {
      // Whatever gets through must satisfy the decoder's promises.
      if (m.type == msg_type::op) {
        ++ok_ops;
        CAF_CHECK(ot::check(m.op));
        CAF_CHECK(valid_doc_id(m.doc));
        CAF_CHECK(m.seq >= 1);
      }
    } else if (e.message.empty()) {
      CAF_FAIL("error without a message for: " << f);
    }
  }
  CAF_MESSAGE("mutated op frames accepted: " << ok_ops);
}

// Documents never hold U+0000 (PostgreSQL's jsonb refuses it, and one such
// op used to fail the group commit of every other document): an insert or
// a `{"d":"text"}` with NUL is refused at decode, carrying doc and seq.
CAF_TEST(ops with nul in their text are bad_op) {
  const bad_case cases[] = {
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":["a\u0000b"]})", "bad_op",
     "d", 4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":["\u0000"]})", "bad_op",
     "d", 4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[3,"x\u0000"]})", "bad_op",
     "d", 4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[{"d":"a\u0000"}]})",
     "bad_op", "d", 4},
    {R"({"type":"op","doc":"d","rev":2,"seq":4,"op":[1,{"d":"\u0000"},"y"]})",
     "bad_op", "d", 4},
  };
  for (const auto& c : cases) {
    check_bad(c);
    CAF_CHECK(dec(c.frame).err.message.find("U+0000") != std::string::npos);
  }
  // Other control characters are text like any other.
  auto r = dec(
    R"({"type":"op","doc":"d","rev":2,"seq":4,"op":["a\u0001\tb",{"d":"\u001f"}]})");
  CAF_REQUIRE(r.ok);
  CAF_CHECK_EQUAL(r.msg.op[0].text, std::string("a\x01\tb"));
}

CAF_TEST(presence data may hold nul as it is forwarded and never stored) {
  auto r = dec(R"({"type":"presence","doc":"d","data":{"name":"a\u0000b"}})");
  CAF_REQUIRE(r.ok);
  CAF_CHECK_EQUAL(r.msg.presence, R"({"name":"a\u0000b"})");
  // What the others receive is valid JSON with the same string.
  const auto frame = encode_presence("d", "c", "u", r.msg.presence);
  rapidjson::Document d;
  d.Parse(frame.data(), frame.size());
  CAF_REQUIRE(!d.HasParseError());
  CAF_CHECK_EQUAL(std::string(d["data"]["name"].GetString(),
                              d["data"]["name"].GetStringLength()),
                  std::string("a\0b", 3));
}

// What a rate-limited (undecoded) frame's error can still carry.
CAF_TEST(peek_head finds doc and seq in the head of a frame) {
  auto op
    = peek_head(R"({"type":"op","doc":"acme/x","rev":3,"seq":7,"op":["a"]})");
  CAF_CHECK_EQUAL(op.doc, "acme/x");
  CAF_REQUIRE(op.seq);
  CAF_CHECK_EQUAL(*op.seq, 7u);
  // Whitespace, other members, true/false/null between them.
  auto spaced = peek_head(
    " { \"seq\" : 9 ,\n\"x\":null, \"ok\":true, \"doc\":\"d\" ,"
    "\"type\":\"op\", \"op\":[1]}");
  CAF_CHECK_EQUAL(spaced.doc, "d");
  CAF_CHECK(spaced.seq && *spaced.seq == 9);
  // seq only for ops; doc for every type.
  auto join = peek_head(R"({"type":"join","doc":"d","seq":2})");
  CAF_CHECK_EQUAL(join.doc, "d");
  CAF_CHECK(!join.seq);
  CAF_CHECK(!peek_head(R"({"doc":"d","seq":2})").seq);
  // Nothing nested is read: members after an array or object are not seen.
  auto late = peek_head(R"({"type":"op","op":["x"],"doc":"d","seq":1})");
  CAF_CHECK(late.doc.empty());
  CAF_CHECK(!late.seq);
  // Only within the first bytes, and never a value cut by that bound.
  auto far = std::string(R"({"type":"op","pad":")") + std::string(600, 'x')
             + R"(","doc":"d","seq":1})";
  CAF_CHECK(peek_head(far).doc.empty());
  auto cut = std::string(R"({"type":"op","doc":"d","seq":123})");
  auto h = peek_head(cut, cut.find("23"));
  CAF_CHECK_EQUAL(h.doc, "d");
  CAF_CHECK(!h.seq);
  // Bad ids and values are left out, escapes are not decoded.
  CAF_CHECK(peek_head(R"({"type":"op","doc":"/abs","seq":1})").doc.empty());
  CAF_CHECK(peek_head(R"({"type":"op","doc":"a\u0062","seq":1})").doc.empty());
  CAF_CHECK(!peek_head(R"({"type":"op","doc":"d","seq":0})").seq);
  CAF_CHECK(!peek_head(R"({"type":"op","doc":"d","seq":-1})").seq);
  CAF_CHECK(!peek_head(R"({"type":"op","doc":"d","seq":1.5})").seq);
  CAF_CHECK(!peek_head(R"({"type":"op","doc":"d","seq":"1"})").seq);
  // Garbage finds nothing and never reads past the bound.
  for (const char* g :
       {"", "{", "[", "nope", "{\"doc\"", "{\"doc\":", "{\"doc\":\"d",
        "{\"type\":\"op\",\"seq\":5", "{\"a\\\"\":1,\"doc\":\"d\"}"}) {
    auto x = peek_head(g);
    CAF_CHECK(x.doc.empty()
              || std::string_view(g).find("\"doc\":\"d\"")
                   != std::string_view::npos);
    CAF_CHECK(!x.seq);
  }
}
