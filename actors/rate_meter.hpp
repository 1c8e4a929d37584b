// Events per second over the last ten seconds (ops/s of a document or a
// node, for operators): ten one-second buckets, so a rate answers "how busy
// lately", not since start. Time comes from the caller (an actor's clock).
//
// Thread-safety: none; one actor owns it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace collab {

class rate_meter {
public:
  static constexpr int64_t window_seconds = 10;

  template<class TimePoint>
  void add(TimePoint now, uint64_t n = 1) {
    advance(seconds(now));
    buckets_[head_ % window_seconds] += n;
  }

  // Events per second over the last `window_seconds` seconds (the current,
  // partial second included).
  template<class TimePoint>
  double rate(TimePoint now) {
    advance(seconds(now));
    uint64_t sum = 0;
    for (auto b : buckets_)
      sum += b;
    return static_cast<double>(sum) / static_cast<double>(window_seconds);
  }

private:
  template<class TimePoint>
  static int64_t seconds(TimePoint now) {
    return std::chrono::duration_cast<std::chrono::seconds>(
             now.time_since_epoch())
      .count();
  }
  void advance(int64_t now) {
    if (head_ == 0 || now - head_ >= window_seconds) {
      buckets_.fill(0);
    } else {
      for (auto s = head_ + 1; s <= now; ++s)
        buckets_[s % window_seconds] = 0;
    }
    if (now > head_ || head_ == 0)
      head_ = now;
  }
  std::array<uint64_t, window_seconds> buckets_{};
  int64_t head_ = 0;
};

} // namespace collab
