#include "persistence/redis_stream_codec.hpp"

#include <cstring>
#include <string_view>

#include <rapidjson/document.h>

#include "actors/ot/op_json.hpp"

namespace collab {
namespace {

std::string_view as_view(const redisReply* r) {
  if (r == nullptr || r->str == nullptr)
    return {};
  return {r->str, r->len};
}

bool is_text(const redisReply* r) {
  return r != nullptr
         && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 20)
    return false;
  uint64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    auto d = static_cast<uint64_t>(c - '0');
    if (x > (UINT64_MAX - d) / 10)
      return false;
    x = x * 10 + d;
  }
  out = x;
  return true;
}

std::string entry_id(uint64_t rev) {
  return std::to_string(rev) + "-0";
}

// One XRANGE entry: [id, [field, value, ...]].
std::string decode_entry(const redisReply* e, const std::string& doc,
                         uint64_t rev, committed_op& out) {
  if (e == nullptr || e->type != REDIS_REPLY_ARRAY || e->elements != 2
      || !is_text(e->element[0]) || e->element[1]->type != REDIS_REPLY_ARRAY)
    return "malformed entry";
  auto id = as_view(e->element[0]);
  if (id != entry_id(rev))
    return "expected revision " + std::to_string(rev) + ", found entry "
           + std::string{id};
  out = committed_op{};
  out.doc = doc;
  out.rev = rev;
  bool has_client = false, has_seq = false, has_op = false;
  auto fields = e->element[1];
  if (fields->elements % 2 != 0)
    return "odd field list in entry " + std::string{id};
  for (size_t i = 0; i < fields->elements; i += 2) {
    auto k = fields->element[i];
    auto v = fields->element[i + 1];
    if (!is_text(k) || !is_text(v))
      return "non-string field in entry " + std::string{id};
    auto name = as_view(k);
    auto value = as_view(v);
    if (name == "c") {
      out.client = std::string{value};
      has_client = true;
    } else if (name == "s") {
      has_seq = parse_u64(value, out.seq);
    } else if (name == "u") {
      out.user = std::string{value};
    } else if (name == "o") {
      rapidjson::Document d;
      d.Parse(value.data(), value.size());
      has_op = !d.HasParseError() && ot::op_from_json(d, out.op).empty();
    } // other fields: written by a newer version, ignored
  }
  if (!has_client || !has_seq || !has_op)
    return "entry " + std::string{id} + " lacks a valid c, s or o field";
  return {};
}

} // namespace

std::string stream_key(const std::string& doc) {
  return "collab:{" + doc + "}:ops";
}

redis_command xadd_command(const committed_op& op, uint64_t maxlen) {
  return {"XADD",
          stream_key(op.doc),
          "MAXLEN",
          "~",
          std::to_string(maxlen),
          entry_id(op.rev),
          "c",
          op.client,
          "s",
          std::to_string(op.seq),
          "u",
          op.user,
          "o",
          ot::op_to_json(op.op)};
}

uint64_t entry_bytes(const redis_command& xadd) {
  uint64_t n = 0;
  for (size_t i = 5; i < xadd.size(); ++i) // from the entry id on
    n += xadd[i].size();
  return n;
}

redis_command xtrim_command(const std::string& doc, uint64_t rev) {
  return {"XTRIM", stream_key(doc), "MINID", entry_id(rev)};
}

redis_command memory_usage_command(const std::string& doc) {
  return {"MEMORY", "USAGE", stream_key(doc)};
}

redis_command pexpire_command(const std::string& doc,
                              std::chrono::milliseconds ttl) {
  return {"PEXPIRE", stream_key(doc), std::to_string(ttl.count())};
}

redis_command xrange_command(const std::string& doc, uint64_t from,
                             uint64_t to) {
  return {"XRANGE",     stream_key(doc), entry_id(from + 1),
          entry_id(to), "COUNT",         std::to_string(to - from)};
}

xadd_result classify_xadd(const redisReply* r) {
  if (r == nullptr)
    return xadd_result::refused;
  if (r->type != REDIS_REPLY_ERROR)
    return xadd_result::appended;
  // "ERR The ID specified in XADD is equal or smaller than the target
  // stream top item" (Redis 5 to 7)
  if (as_view(r).find("equal or smaller") != std::string_view::npos)
    return xadd_result::duplicate;
  return xadd_result::refused;
}

std::string decode_range(const redisReply* r, const std::string& doc,
                         uint64_t from, uint64_t to,
                         std::vector<committed_op>& out) {
  out.clear();
  if (r == nullptr)
    return "no reply";
  if (r->type == REDIS_REPLY_ERROR)
    return "Redis refused XRANGE: " + std::string{as_view(r)};
  if (r->type != REDIS_REPLY_ARRAY)
    return "XRANGE answered no array";
  auto want = to - from;
  if (r->elements != want)
    return "stream holds " + std::to_string(r->elements) + " of "
           + std::to_string(want) + " revisions";
  out.resize(want);
  for (uint64_t i = 0; i < want; ++i)
    if (auto why = decode_entry(r->element[i], doc, from + 1 + i, out[i]);
        !why.empty())
      return why;
  return {};
}

} // namespace collab
