// JSON <-> op (RapidJSON). Reading is deliberately lenient about form (0, "",
// {d:0}, {d:""} are read so normalize() can drop them; check() refuses them)
// and strict about structure: a component is a non-negative integer, a string,
// or an object whose only member is "d" holding one of those. Anything else
// (null, booleans, arrays, fractions, negatives, other keys, invalid UTF-8) is
// refused, so no later stage has to cope with it.
//
// Thread-safety: pure functions.
#include "actors/ot/op_json.hpp"

#include <cmath>

#include "actors/ot/utf8.hpp"

namespace collab::ot {

namespace {

// JavaScript integers are exact up to 2^53 - 1 (max_count); larger counts
// would already disagree with the reference, so they are refused.
bool read_count(const rapidjson::Value& v, uint64_t& out) {
  if (v.IsUint64()) {
    out = v.GetUint64();
    return out <= max_count;
  }
  if (v.IsDouble()) { // 2.0, 1e3 and -0.0 are integers to JavaScript too
    double d = v.GetDouble();
    if (!(d >= 0) || d > static_cast<double>(max_count) || std::floor(d) != d)
      return false;
    out = static_cast<uint64_t>(d);
    return true;
  }
  return false;
}

bool read_text(const rapidjson::Value& v, std::string& out) {
  std::string_view s(v.GetString(), v.GetStringLength());
  if (!utf8_valid(s))
    return false;
  out.assign(s);
  return true;
}

status read_component(const rapidjson::Value& v, component& out) {
  uint64_t n = 0;
  std::string text;
  if (v.IsNumber()) {
    if (!read_count(v, n))
      return "skip must be a non-negative integer";
    out = component::skip(n);
    return {};
  }
  if (v.IsString()) {
    if (!read_text(v, text))
      return "insert is not valid UTF-8";
    out = component::insert(std::move(text));
    return {};
  }
  if (!v.IsObject() || v.MemberCount() != 1 || !v.HasMember("d"))
    return "component must be a number, a string or {\"d\": ...}";
  const rapidjson::Value& d = v["d"];
  if (d.IsString()) {
    if (!read_text(d, text))
      return "delete is not valid UTF-8";
    out = component::del_text(std::move(text));
    return {};
  }
  if (!read_count(d, n))
    return "delete must be a non-negative integer or a string";
  out = component::del(n);
  return {};
}

} // namespace

status op_from_json(const rapidjson::Value& v, op& out) {
  if (!v.IsArray())
    return "Op must be an array of components";
  op result;
  result.reserve(v.Size());
  for (const auto& c : v.GetArray()) {
    component comp;
    if (status why = read_component(c, comp); !why.empty())
      return why;
    result.push_back(std::move(comp));
  }
  out = std::move(result);
  return {};
}

void op_to_json(rapidjson::Writer<rapidjson::StringBuffer>& w, const op& a) {
  w.StartArray();
  for (const component& c : a) {
    switch (c.k) {
      case component::kind::skip: w.Uint64(c.n); break;
      case component::kind::insert:
        w.String(c.text.data(),
                 static_cast<rapidjson::SizeType>(c.text.size()));
        break;
      case component::kind::del:
        w.StartObject();
        w.Key("d");
        if (c.has_text)
          w.String(c.text.data(),
                   static_cast<rapidjson::SizeType>(c.text.size()));
        else
          w.Uint64(c.n);
        w.EndObject();
        break;
    }
  }
  w.EndArray();
}

std::string op_to_json(const op& a) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  op_to_json(w, a);
  return std::string(buf.GetString(), buf.GetSize());
}

} // namespace collab::ot
