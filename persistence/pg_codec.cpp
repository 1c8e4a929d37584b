// SQL codecs of the PostgreSQL store: array literals for multi-row statements
// (INSERT ... SELECT * FROM unnest($1::text[], ...)), and ops rows back into
// committed_op.
//
// Threading: pure functions and values; used on the store's threads.
#include "persistence/pg_internal.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <pqxx/row>

#include "actors/ot/op_json.hpp"

namespace collab::pg {

void array_builder::add(std::string_view text) {
  if (n_++ > 0)
    buf_ += ',';
  buf_.reserve(buf_.size() + text.size() + 2);
  buf_ += '"';
  for (char c : text) {
    if (c == '"' || c == '\\')
      buf_ += '\\';
    buf_ += c;
  }
  buf_ += '"';
}

void array_builder::add(uint64_t n) {
  if (n_++ > 0)
    buf_ += ',';
  buf_ += std::to_string(to_bigint(n));
}

const std::string& array_builder::str() {
  if (!closed_) {
    buf_ += '}';
    closed_ = true;
  }
  return buf_;
}

std::string op_from_row(const pqxx::row& r, const std::string& doc,
                        committed_op& out) {
  out.doc = doc;
  out.rev = r[0].as<uint64_t>();
  out.client = r[1].as<std::string>();
  out.seq = r[2].as<uint64_t>();
  out.user = r[3].is_null() ? std::string{} : r[3].as<std::string>();
  out.op.clear();
  if (r[4].is_null())
    return {};
  rapidjson::Document d;
  d.Parse(r[4].c_str(), r[4].size());
  if (d.HasParseError())
    return std::string{"op of rev "} + std::to_string(out.rev)
           + " is not JSON: " + rapidjson::GetParseError_En(d.GetParseError());
  if (auto err = ot::op_from_json(d, out.op); !err.empty())
    return "op of rev " + std::to_string(out.rev) + ": " + err;
  return {};
}

} // namespace collab::pg
