// Fuzz target: the Redis stream entry codec (persistence/redis_stream_codec.hpp
// decode_range) on XRANGE replies parsed by hiredis's own reader from
// arbitrary RESP bytes.
//
// Input: two bytes pick the range start `from` (and whether `to` matches
// the number of entries, so most inputs get past the count check), the
// rest is RESP.
//
// Invariants: no crash; an accepted range holds exactly revisions
// from+1..to of the document, in order; what was accepted, written back
// with xadd_command's fields as an XRANGE reply, decodes to the same ops.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <hiredis/hiredis.h>

#include "fuzz/fuzz_check.hpp"
#include "persistence/redis_stream_codec.hpp"

namespace {

using namespace collab;

struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

// hiredis 0.14 allocates a multi-bulk's element array as soon as it reads
// the header ("*2000000000\r\n" asks for 16 GB); our Redis is trusted, so
// inputs announcing huge arrays are skipped rather than reported.
bool announces_huge_array(std::string_view resp) {
  for (size_t i = resp.find('*'); i != std::string_view::npos;
       i = resp.find('*', i + 1)) {
    uint64_t n = 0;
    for (size_t j = i + 1;
         j < resp.size() && resp[j] >= '0' && resp[j] <= '9' && n <= 4096; ++j)
      n = n * 10 + static_cast<uint64_t>(resp[j] - '0');
    if (n > 4096)
      return true;
  }
  return false;
}

reply_ptr parse_resp(std::string_view resp) {
  std::unique_ptr<redisReader, decltype(&redisReaderFree)> reader(
    redisReaderCreate(), redisReaderFree);
  if (redisReaderFeed(reader.get(), resp.data(), resp.size()) != REDIS_OK)
    return nullptr;
  void* reply = nullptr;
  if (redisReaderGetReply(reader.get(), &reply) != REDIS_OK)
    return nullptr;
  return reply_ptr(static_cast<redisReply*>(reply));
}

void bulk(std::string& out, std::string_view s) {
  out += '$' + std::to_string(s.size()) + "\r\n";
  out.append(s);
  out += "\r\n";
}

// The XRANGE reply Redis gives for entries appended by xadd_command.
std::string xrange_reply(const std::vector<committed_op>& ops) {
  std::string out = "*" + std::to_string(ops.size()) + "\r\n";
  for (const auto& op : ops) {
    const redis_command cmd = xadd_command(op, 1000);
    // XADD key MAXLEN ~ n <id> field value ...
    out += "*2\r\n";
    bulk(out, cmd[5]);
    out += "*" + std::to_string(cmd.size() - 6) + "\r\n";
    for (size_t i = 6; i < cmd.size(); ++i)
      bulk(out, cmd[i]);
  }
  return out;
}

bool same(const committed_op& a, const committed_op& b) {
  return a.doc == b.doc && a.rev == b.rev && a.client == b.client
         && a.seq == b.seq && a.user == b.user && a.op == b.op;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2)
    return 0;
  const uint64_t from = data[0];
  const bool matching = data[1] % 4 != 0;
  const std::string_view resp(reinterpret_cast<const char*>(data + 2),
                              size - 2);
  if (announces_huge_array(resp))
    return 0;
  const reply_ptr reply = parse_resp(resp);
  if (!reply)
    return 0;
  const std::string doc = "doc-1";
  uint64_t to = from + 1 + data[1] % 8;
  if (matching && reply->type == REDIS_REPLY_ARRAY && reply->elements > 0)
    to = from + reply->elements;
  std::vector<committed_op> ops;
  if (!decode_range(reply.get(), doc, from, to, ops).empty())
    return 0;
  FUZZ_REQUIRE(ops.size() == to - from);
  for (size_t i = 0; i < ops.size(); ++i) {
    FUZZ_REQUIRE(ops[i].doc == doc);
    FUZZ_REQUIRE(ops[i].rev == from + 1 + i);
  }
  const reply_ptr again = parse_resp(xrange_reply(ops));
  FUZZ_REQUIRE(again != nullptr);
  std::vector<committed_op> back;
  FUZZ_REQUIRE(decode_range(again.get(), doc, from, to, back).empty());
  FUZZ_REQUIRE(back.size() == ops.size());
  for (size_t i = 0; i < ops.size(); ++i)
    FUZZ_REQUIRE(same(ops[i], back[i]));
  return 0;
}
