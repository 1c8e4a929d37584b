// Case dispatch for collab-ot. Each kind maps to the reference call it is
// compared with:
//   apply             type.apply(doc, a)           + refuse deletes past the
//   end transform         type.transform(a, b, side)   (doc is informational)
//   compose           type.compose(a, b)           (doc is informational)
//   normalize         type.normalize(a)            (no check, like the
//   reference) transformPosition type.transformPosition(cursor, a) (no check
//   either) check             type.checkOp(a)
// Ops that are structurally broken (see op_from_json) are refused everywhere.
//
// Thread-safety: pure function.
#include "cases.hpp"

#include <cmath>
#include <cstring>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "actors/ot/op_json.hpp"
#include "actors/ot/rope.hpp"
#include "actors/ot/text_unicode.hpp"
#include "actors/ot/utf8.hpp"

namespace collab::ot_tool {

namespace {

using namespace collab::ot;
using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

// An answer under construction: either a result written into `result_buf`,
// or an error message.
struct reply {
  rapidjson::StringBuffer result_buf;
  json_writer result{result_buf};
  std::string error;

  bool fail(std::string why) {
    error = std::move(why);
    return false;
  }
};

bool get_op(const rapidjson::Value& c, const char* key, op& out, reply& r,
            bool must_check) {
  auto it = c.FindMember(key);
  if (it == c.MemberEnd())
    return r.fail(std::string("missing field ") + key);
  if (status why = op_from_json(it->value, out); !why.empty())
    return r.fail(std::string(key) + ": " + why);
  if (must_check) {
    if (status why; !check(out, &why))
      return r.fail(std::string(key) + ": " + why);
  }
  return true;
}

bool get_string(const rapidjson::Value& c, const char* key, std::string& out,
                reply& r) {
  auto it = c.FindMember(key);
  if (it == c.MemberEnd() || !it->value.IsString())
    return r.fail(std::string("field ") + key + " must be a string");
  out.assign(it->value.GetString(), it->value.GetStringLength());
  if (!utf8_valid(out)) // e.g. a lone surrogate escape
    return r.fail(std::string("field ") + key + " is not valid UTF-8");
  return true;
}

bool do_apply(const rapidjson::Value& c, reply& r) {
  std::string doc;
  op a;
  if (!get_string(c, "doc", doc, r) || !get_op(c, "a", a, r, false))
    return false;
  // Applied twice, on the rope and on the plain string: the two code paths
  // must agree, which doubles what the differential test covers.
  rope text(doc);
  if (status why = collab::ot::apply(text, a); !why.empty())
    return r.fail(why);
  std::string flat = doc;
  if (status why = collab::ot::apply(flat, a);
      !why.empty() || flat != text.to_string())
    return r.fail("internal error: rope and string apply disagree");
  r.result.String(flat.data(), static_cast<rapidjson::SizeType>(flat.size()));
  return true;
}

bool do_transform(const rapidjson::Value& c, reply& r) {
  std::string s;
  op a, b;
  if (!get_string(c, "side", s, r))
    return false;
  if (s != "left" && s != "right")
    return r.fail("side must be 'left' or 'right'");
  if (!get_op(c, "a", a, r, true) || !get_op(c, "b", b, r, true))
    return false;
  op_to_json(r.result, transform(a, b, s == "left" ? side::left : side::right));
  return true;
}

bool do_compose(const rapidjson::Value& c, reply& r) {
  op a, b;
  if (!get_op(c, "a", a, r, true) || !get_op(c, "b", b, r, true))
    return false;
  op_to_json(r.result, compose(a, b));
  return true;
}

bool do_normalize(const rapidjson::Value& c, reply& r) {
  op a;
  if (!get_op(c, "a", a, r, false))
    return false;
  op_to_json(r.result, normalize(std::move(a)));
  return true;
}

bool do_transform_position(const rapidjson::Value& c, reply& r) {
  op a;
  if (!get_op(c, "a", a, r, false))
    return false;
  auto it = c.FindMember("cursor");
  if (it == c.MemberEnd() || !it->value.IsNumber())
    return r.fail("cursor must be a number");
  const auto& v = it->value;
  uint64_t cursor;
  if (v.IsUint64()) {
    cursor = v.GetUint64();
  } else if (v.IsDouble() && v.GetDouble() >= 0
             && v.GetDouble() < 9007199254740992.0
             && std::floor(v.GetDouble()) == v.GetDouble()) {
    cursor = static_cast<uint64_t>(v.GetDouble());
  } else {
    return r.fail("cursor must be a non-negative integer");
  }
  r.result.Uint64(transform_position(cursor, a));
  return true;
}

bool do_check(const rapidjson::Value& c, reply& r) {
  op a;
  if (!get_op(c, "a", a, r, true))
    return false;
  r.result.Bool(true);
  return true;
}

bool dispatch(const rapidjson::Value& c, reply& r) {
  auto it = c.FindMember("kind");
  if (it == c.MemberEnd() || !it->value.IsString())
    return r.fail("missing kind");
  std::string_view kind(it->value.GetString(), it->value.GetStringLength());
  if (kind == "apply")
    return do_apply(c, r);
  if (kind == "transform")
    return do_transform(c, r);
  if (kind == "compose")
    return do_compose(c, r);
  if (kind == "normalize")
    return do_normalize(c, r);
  if (kind == "transformPosition")
    return do_transform_position(c, r);
  if (kind == "check")
    return do_check(c, r);
  return r.fail("unknown kind");
}

// True when `v` nests at most `depth` levels, so echoing it with the
// (recursive) Writer cannot exhaust the stack.
bool shallow(const rapidjson::Value& v, int depth) {
  if (!v.IsArray() && !v.IsObject())
    return true;
  if (depth == 0)
    return false;
  if (v.IsArray()) {
    for (const auto& e : v.GetArray())
      if (!shallow(e, depth - 1))
        return false;
    return true;
  }
  for (const auto& m : v.GetObject())
    if (!shallow(m.value, depth - 1))
      return false;
  return true;
}

} // namespace

std::string answer(std::string_view line) {
  rapidjson::Document in;
  // Validate the encoding so raw invalid UTF-8 is refused up front; parse
  // iteratively so deeply nested garbage cannot overflow the stack.
  in.Parse<rapidjson::kParseValidateEncodingFlag
           | rapidjson::kParseIterativeFlag>(line.data(), line.size());
  reply r;
  bool ok = false;
  if (in.HasParseError())
    r.fail(std::string("malformed JSON: ")
           + rapidjson::GetParseError_En(in.GetParseError()));
  else if (!in.IsObject())
    r.fail("a case must be a JSON object");
  else
    ok = dispatch(in, r);

  rapidjson::StringBuffer out;
  json_writer w(out);
  w.StartObject();
  if (!in.HasParseError() && in.IsObject()) {
    if (auto id = in.FindMember("id");
        id != in.MemberEnd() && shallow(id->value, 64)) {
      w.Key("id");
      id->value.Accept(w);
    }
  }
  if (ok) {
    w.Key("result");
    w.RawValue(r.result_buf.GetString(), r.result_buf.GetSize(),
               rapidjson::kObjectType);
  } else {
    w.Key("error");
    w.String(r.error.data(), static_cast<rapidjson::SizeType>(r.error.size()));
  }
  w.EndObject();
  return std::string(out.GetString(), out.GetSize());
}

} // namespace collab::ot_tool
