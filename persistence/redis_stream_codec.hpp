// How committed ops are laid out in Redis: one stream per document, one entry
// per revision, the revision in the entry id.
//
//   key  collab:{<doc>}:ops         {<doc>} is a Redis Cluster hash tag: all
//                                   keys of one document share a slot
//   +---------+------------------------------------------------------+
//   | id      | fields                                               |
//   +---------+------------------------------------------------------+
//   | 41-0    | c <client>  s <seq>  u <user>  o <op as JSON>        |
//   | 42-0    | c tab-7f3   s 12     u alice   o [5,"hi",{"d":2}]    |
//   | ...     |   (oldest entries trimmed by XADD MAXLEN ~ maxlen)   |
//   +---------+------------------------------------------------------+
//
//   append  XADD key MAXLEN ~ <maxlen> <rev>-0 c .. s .. u .. o ..
//           Redis refuses an id <= the stream's last one ("equal or
//           smaller"): a re-append is a no-op, counted as a duplicate.
//   bytes   XTRIM key MINID <rev>-0 removes the entries before <rev> when
//           the stream holds more than max_bytes (redis_appender.hpp);
//           MEMORY USAGE key re-learns a stream's size after a restart.
//   read    XRANGE key <from+1>-0 <to>-0 COUNT <to-from>
//           covered only if the answer is exactly revisions from+1..to.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <hiredis/hiredis.h>

#include "actors/core/committed_op.hpp"
#include "persistence/redis_connection.hpp"

namespace collab {

std::string stream_key(const std::string& doc);

redis_command xadd_command(const committed_op& op, uint64_t maxlen);
// The bytes an appended entry counts for (its id and fields).
uint64_t entry_bytes(const redis_command& xadd);
redis_command pexpire_command(const std::string& doc,
                              std::chrono::milliseconds ttl);
// Removes the entries of revisions below `rev`.
redis_command xtrim_command(const std::string& doc, uint64_t rev);
redis_command memory_usage_command(const std::string& doc);
// REQUIRES: from < to
redis_command xrange_command(const std::string& doc, uint64_t from,
                             uint64_t to);

enum class xadd_result {
  appended,
  duplicate, // the id is <= the stream's last id: the op is (was) there
  refused, // any other error reply (wrong type, OOM, ...)
};
xadd_result classify_xadd(const redisReply* r);

// Decodes an XRANGE reply of `doc` into `out` (cleared first). Returns an
// empty string when it holds exactly revisions from+1..to, in order, each
// entry well formed; otherwise why not (then `out` is unspecified).
std::string decode_range(const redisReply* r, const std::string& doc,
                         uint64_t from, uint64_t to,
                         std::vector<committed_op>& out);

} // namespace collab
