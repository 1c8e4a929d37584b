// Typed reads of one member of a RapidJSON object, for the frames the bench
// receives: a missing or mistyped member is "absent" (false / nullptr),
// never an exception; and typed writes of one member, for the reports.
//
// Thread-safety: stateless.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace collab::bench {

inline const rapidjson::Value* field(const rapidjson::Value& m, const char* k) {
  if (!m.IsObject())
    return nullptr;
  const auto it = m.FindMember(k);
  return it == m.MemberEnd() ? nullptr : &it->value;
}

inline bool get_u64(const rapidjson::Value& m, const char* k, uint64_t& out) {
  const auto* v = field(m, k);
  if (v == nullptr || !v->IsUint64())
    return false;
  out = v->GetUint64();
  return true;
}

inline bool get_str(const rapidjson::Value& m, const char* k,
                    std::string_view& out) {
  const auto* v = field(m, k);
  if (v == nullptr || !v->IsString())
    return false;
  out = std::string_view(v->GetString(), v->GetStringLength());
  return true;
}

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

inline void put(json_writer& w, const char* k, double v) {
  w.Key(k);
  w.Double(v);
}
inline void put(json_writer& w, const char* k, uint64_t v) {
  w.Key(k);
  w.Uint64(v);
}
inline void put(json_writer& w, const char* k, int v) {
  w.Key(k);
  w.Int(v);
}
inline void put(json_writer& w, const char* k, bool v) {
  w.Key(k);
  w.Bool(v);
}
inline void put(json_writer& w, const char* k, const std::string& v) {
  w.Key(k);
  w.String(v.c_str(), rapidjson::SizeType(v.size()));
}

inline void put_counts(json_writer& w, const char* k,
                       const std::map<std::string, uint64_t>& m) {
  w.Key(k);
  w.StartObject();
  for (const auto& [n, v] : m) {
    w.Key(n.c_str(), rapidjson::SizeType(n.size()));
    w.Uint64(v);
  }
  w.EndObject();
}

} // namespace collab::bench
