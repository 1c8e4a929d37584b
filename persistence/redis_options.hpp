// Settings of the Redis Streams op log (redis_op_log.hpp) and the parser of
// its URL.
//
//   redis://[[user:]password@]host[:port][/db]     port 6379, db 0 by default
//   redis://127.0.0.1:6379/2   redis://:secret@[::1]:7000
//   redis-sentinel://[[user:]password@]host[:port][,host[:port]...]/master[/db]
//       Redis Sentinel (port 26379 by default): the sentinels are asked for
//       the current address of `master` at every connect, so a connection
//       lost in a failover reconnects to the promoted replica; the
//       password is the master's (the sentinels are asked without one).
//
// An empty URL means "disabled": append does nothing and every read answers
// not_covered, so callers need no special case.
//
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace collab {

struct redis_address {
  std::string host;
  uint16_t port = 0;
};

struct redis_endpoint {
  std::string host; // with sentinels: the master they named last
  uint16_t port = 6379;
  std::vector<redis_address> sentinels; // empty: host and port are fixed
  std::string master; // the master's name at the sentinels
  uint32_t db = 0;
  std::string user; // Redis 6 ACL user; empty: AUTH with password only
  std::string password; // empty: no AUTH
};

// Parses `url` into `out`. Returns an empty string on success, else the
// reason (and leaves `out` unspecified).
std::string parse_redis_url(const std::string& url, redis_endpoint& out);

struct redis_options {
  std::string url; // empty: disabled

  // Appender.
  uint64_t maxlen = 10000; // XADD ... MAXLEN ~ maxlen (per document)
  uint64_t max_bytes = 0; // per document stream bytes, about (XTRIM
                          // MINID); 0: no byte bound
  size_t tracked_docs = 16384; // documents whose stream bytes are counted
                               // (x2: two generations); others re-learn
  size_t batch = 256; // ops per pipelined round trip, at most
  size_t max_backlog = 10000; // queued ops; beyond: the oldest are dropped
  std::chrono::milliseconds stream_ttl{
    0}; // EXPIRE per appended stream; 0: none
  std::chrono::milliseconds io_timeout{1000}; // appender socket timeout
  std::chrono::milliseconds probe_interval{1000}; // PING / reconnect when idle

  // Reader.
  size_t readers = 2; // connections (detached actors) for reads
  std::chrono::milliseconds read_timeout{200}; // queueing + round trip
  uint64_t max_read_ops = 20000; // longer ranges answer not_covered at once

  // Connections.
  std::chrono::milliseconds connect_timeout{200};
  std::chrono::milliseconds backoff_initial{50}; // doubles per failure ...
  std::chrono::milliseconds backoff_max{2000}; // ... up to this (+-20 %)
};

} // namespace collab
