// Typed reads of one member of a RapidJSON object, for the frames the bench
// receives: a missing or mistyped member is "absent" (false / nullptr),
// never an exception.
//
// Thread-safety: stateless.
#pragma once

#include <cstdint>
#include <string_view>

#include <rapidjson/document.h>

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

} // namespace collab::bench
