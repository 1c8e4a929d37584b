// The appender of the Redis op log: a bounded FIFO of committed ops and one
// thread that XADDs them (redis_stream_codec.hpp) in pipelined batches of
// many documents per round trip. A lagging or dead Redis never blocks the
// caller: push() only takes a mutex for a moment.
//
//   push (any thread) --> [ queue, at most max_backlog ops ] --> thread -->
//   Redis
//                           overflow drops the oldest          batch <= batch
//
// Streams are bounded by entries (XADD MAXLEN ~ maxlen) and by bytes
// (max_bytes): the thread counts the bytes it appended per document, in
// chunks of consecutive revisions, and when a stream holds more than
// max_bytes it drops the oldest chunks and trims the stream to the first
// revision it keeps (XTRIM MINID). The first time it appends to a document
// (after a start, or once the document fell out of the bounded table of
// counted documents) it asks Redis for the stream's size (MEMORY USAGE, in
// the same round trip) and counts that as one chunk older than everything
// it appends, so a restart re-learns the size without reading the stream.
// A trimmed stream makes reads of older ranges not_covered: resume then
// reads PostgreSQL, exactly as after MAXLEN trimming.
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
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "actors/core/committed_op.hpp"
#include "persistence/redis_connection.hpp"
#include "persistence/redis_health.hpp"
#include "persistence/redis_options.hpp"

namespace collab {

class redis_appender {
public:
  redis_appender(redis_endpoint ep, const redis_options& opts,
                 std::shared_ptr<redis_health> health);
  ~redis_appender(); // stop()
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
  void send(std::vector<item>& batch); // requeues what was not answered
  void probe();
  void requeue(std::vector<item>& batch, size_t first);
  void drop_overflow(); // REQUIRES: mtx_ held
  void mark_ok();
  void mark_failed(std::string why);

  // ---- stream bytes (appender thread only)
  // Consecutive entries of one stream; first_rev 0: the entries the stream
  // held before we counted (re-learned size).
  struct chunk {
    uint64_t first_rev;
    uint64_t bytes;
  };
  struct stream_bytes {
    std::deque<chunk> chunks; // oldest first
    uint64_t total = 0;
    uint64_t last_rev = 0; // of the newest entry counted
  };
  // The counted streams, in two generations: a document is moved to
  // recent_ when appended; when recent_ is full it becomes older_ (the old
  // older_ is forgotten), so the table holds at most 2 x tracked_docs.
  stream_bytes* counted(const std::string& doc); // null: not counted
  void make_room(); // for one more document in recent_
  stream_bytes& start_counting(const std::string& doc, uint64_t known_bytes);
  void count(stream_bytes& s, uint64_t rev, uint64_t bytes);
  // Trims the batch's streams that are over max_bytes (one round trip).
  void trim(const std::vector<item>& batch);

  redis_options opts_;
  std::shared_ptr<redis_health> health_;
  redis_connection conn_; // appender thread only
  enum class link_state { unknown, up, down };
  link_state state_ = link_state::unknown; // appender thread only (logging)
  std::unordered_map<std::string, stream_bytes> recent_; // appender thread
  std::unordered_map<std::string, stream_bytes> older_; // appender thread

  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<item> queue_; // guarded by mtx_
  bool stop_ = false; // guarded by mtx_
  std::thread thread_;
};

} // namespace collab
