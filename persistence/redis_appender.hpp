// The appender of the Redis op log: a bounded FIFO of committed ops and one
// thread that XADDs them (redis_stream_codec.hpp) in pipelined batches of
// many documents per round trip. A lagging or dead Redis never blocks the
// caller: push() only takes a mutex for a moment.
//
//   push (any thread) --> [ queue, at most max_backlog ops ] --> thread --> Redis
//                           overflow drops the oldest          batch <= batch
//
// While Redis is down the thread appends nothing; the queue fills up to its
// bound and drops the oldest ops (streams then have gaps, which reads detect).
// Ops of a failed round trip go back to the front of the queue and are sent
// again (XADD with explicit ids is idempotent). When idle the thread pings
// Redis (or retries the connection) every probe_interval, so health is live.
//
// Threading: push() and stop() from any thread; everything else runs on the
// appender's own thread, which owns the connection.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "actors/messages.hpp"
#include "persistence/redis_connection.hpp"
#include "persistence/redis_health.hpp"
#include "persistence/redis_options.hpp"

namespace collab {

class redis_appender {
public:
  redis_appender(redis_endpoint ep, const redis_options& opts,
                 std::shared_ptr<redis_health> health);
  ~redis_appender();  // stop()
  redis_appender(const redis_appender&) = delete;
  redis_appender& operator=(const redis_appender&) = delete;

  // Queues ops (in order) for appending. After stop(): drops them.
  void push(std::vector<committed_op> ops);

  // Appends what is queued while Redis answers (one try, no waiting out a
  // backoff), drops the rest, joins the thread. Idempotent.
  void stop();

private:
  using clock = std::chrono::steady_clock;
  struct item {
    committed_op op;
    clock::time_point queued;
  };

  void run();
  void send(std::vector<item>& batch);  // requeues what was not answered
  void probe();
  void requeue(std::vector<item>& batch, size_t first);
  void drop_overflow();  // REQUIRES: mtx_ held
  void mark_ok();
  void mark_failed(std::string why);

  redis_options opts_;
  std::shared_ptr<redis_health> health_;
  redis_connection conn_;  // appender thread only
  enum class link_state { unknown, up, down };
  link_state state_ = link_state::unknown;  // appender thread only (logging)

  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<item> queue_;  // guarded by mtx_
  bool stop_ = false;       // guarded by mtx_
  std::thread thread_;
};

} // namespace collab
