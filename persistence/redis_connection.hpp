// One blocking hiredis connection: connect (AUTH, SELECT) with a timeout,
// socket timeouts for every round trip, pipelining, and reconnect with capped
// exponential backoff (with jitter, so that many nodes do not retry in step).
//
// Threading: blocking. Use a connection from one thread only (the appender
// thread, or one detached reader actor), never from a scheduled actor.
// Writes to a socket Redis has closed raise no SIGPIPE: every call blocks it
// on the calling thread and swallows a pending one.
//
// Failure handling: a failed connect or round trip closes the connection and
// starts a backoff; until it elapses, calls fail at once without touching the
// network (so a dead Redis costs callers nothing). An open connection that
// fails before any reply (typically: Redis restarted, the socket is stale) is
// reopened and the round trip retried once at once; every command we send
// (XADD with explicit ids, PEXPIRE, XRANGE, PING) is safe to repeat.
#pragma once

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <hiredis/hiredis.h>

#include "persistence/redis_options.hpp"

namespace collab {

struct redis_reply_deleter {
  void operator()(redisReply* r) const noexcept {
    if (r != nullptr)
      freeReplyObject(r);
  }
};
using redis_reply = std::unique_ptr<redisReply, redis_reply_deleter>;

// One command as its arguments, e.g. {"XRANGE", key, "1-0", "5-0"}.
using redis_command = std::vector<std::string>;

// The one place where a hiredis context error becomes an error value:
// redis_errc::unavailable with "<what>: <kind>: <hiredis text>".
caf::error to_error(const redisContext* c, const std::string& what);

struct redis_connection_timeouts {
  std::chrono::milliseconds connect{200};
  std::chrono::milliseconds io{1000};
  std::chrono::milliseconds backoff_initial{50};
  std::chrono::milliseconds backoff_max{2000};
};

class redis_connection {
public:
  using clock = std::chrono::steady_clock;

  redis_connection(redis_endpoint ep, redis_connection_timeouts t);
  ~redis_connection();
  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;

  bool connected() const noexcept { return ctx_ != nullptr; }

  // True while a backoff runs: the next connect() fails without trying.
  bool backing_off() const { return !connected() && clock::now() < retry_at_; }

  // When the next connect attempt may be made.
  clock::time_point retry_at() const noexcept { return retry_at_; }

  // Opens the connection unless open (force: even during a backoff).
  caf::error connect(bool force = false);

  // Connects when needed, sends `cmds` in one round trip and appends one
  // reply per command to `replies` (error replies included: they are the
  // caller's to judge). On failure: the connection is closed, the error
  // returned, and `replies` holds the replies that did arrive (a prefix).
  caf::error run(const std::vector<redis_command>& cmds,
                 std::vector<redis_reply>& replies);

  // Caps the connect and socket timeouts of the next calls at `limit` (never
  // above the configured ones): a reader fits a round trip into what is left
  // of its request's deadline.
  void limit_timeouts(std::chrono::milliseconds limit);

  // Closes the connection without starting a backoff.
  void close();

  const redis_endpoint& endpoint() const noexcept { return ep_; }

private:
  caf::error exchange(const std::vector<redis_command>& cmds,
                      std::vector<redis_reply>& replies);
  caf::error failed(caf::error err); // close + start/extend the backoff
  caf::error locate_master(); // sentinels: where the master is now
  caf::error check_master(); // sentinels: the server reached is the master

  redis_endpoint ep_;
  redis_connection_timeouts timeouts_; // as configured
  std::chrono::milliseconds connect_timeout_; // in effect (limit_timeouts)
  std::chrono::milliseconds io_timeout_; // in effect (limit_timeouts)
  redisContext* ctx_ = nullptr;
  clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{0}; // 0: the last attempt succeeded
  std::minstd_rand rng_;
};

} // namespace collab
