// Health and counters of the Redis op log, shared between its threads and
// whoever reports them (/readyz, /metrics). Redis is not on the durability
// path, so "unhealthy" means "resume falls back to PostgreSQL and streams
// miss ops", never "cannot edit": report it, do not refuse traffic for it.
//
// Thread-safety: every field is an atomic or guarded by the struct's mutex;
// writers are the appender thread and the reader actors, readers anyone.
// snapshot() gives a consistent-enough copy for one report.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace collab {

struct redis_health_snapshot {
  bool enabled = false;
  bool healthy = false; // the last round trip to Redis succeeded
  std::string last_error; // the last failure, kept after recovery
  uint64_t appended = 0; // ops XADDed
  uint64_t duplicates = 0; // ops already in the stream (re-append)
  uint64_t dropped = 0; // ops given up: backlog overflow, refused
  uint64_t trims = 0; // streams trimmed for their bytes
  uint64_t errors = 0; // failed round trips and refused commands
  uint64_t backlog = 0; // ops queued, not yet appended
  uint64_t lag_ms = 0; // queue time of the last appended op
  uint64_t reads = 0; // reads answered with ops
  uint64_t read_misses = 0; // reads answered not_covered
  uint64_t read_errors = 0; // reads answered unavailable
};

class redis_health {
public:
  std::atomic<bool> enabled{false};
  std::atomic<bool> healthy{false};
  std::atomic<uint64_t> appended{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> trims{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> backlog{0};
  std::atomic<uint64_t> lag_ms{0};
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> read_misses{0};
  std::atomic<uint64_t> read_errors{0};

  // A failed round trip: unhealthy, errors + 1, remember why.
  void fail(std::string why) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      last_error_ = std::move(why);
    }
    errors.fetch_add(1, std::memory_order_relaxed);
    healthy.store(false);
  }

  // A successful round trip.
  void ok() { healthy.store(true); }

  std::string last_error() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return last_error_;
  }

  redis_health_snapshot snapshot() const {
    redis_health_snapshot s;
    s.enabled = enabled.load();
    s.healthy = healthy.load();
    s.last_error = last_error();
    s.appended = appended.load();
    s.duplicates = duplicates.load();
    s.dropped = dropped.load();
    s.trims = trims.load();
    s.errors = errors.load();
    s.backlog = backlog.load();
    s.lag_ms = lag_ms.load();
    s.reads = reads.load();
    s.read_misses = read_misses.load();
    s.read_errors = read_errors.load();
    return s;
  }

private:
  mutable std::mutex mtx_;
  std::string last_error_;
};

} // namespace collab
