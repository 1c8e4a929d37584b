// Process-wide counters and histograms, exported by /metrics in Prometheus
// text format. Lock-free: every field is an atomic updated on the hot path
// with relaxed ordering (figures, not synchronisation).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "actors/errors.hpp"

namespace collab {

// A fixed-bucket latency histogram (seconds).
class latency_histogram {
public:
  static constexpr std::array<double, 14> bounds{
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5};
  void observe(double seconds);
  // Appends the histogram in Prometheus text format.
  void render(std::string& out, const char* name, const char* help) const;

private:
  std::array<std::atomic<uint64_t>, bounds.size() + 1> counts_{};
  std::atomic<uint64_t> sum_micros_{0};
};

struct metrics {
  std::atomic<int64_t> connections{0};
  std::atomic<int64_t> joined_sessions{0};
  std::atomic<int64_t> live_documents{0};
  std::atomic<uint64_t> ops_committed{0};
  std::atomic<uint64_t> commit_batches{0};
  std::atomic<uint64_t> duplicate_ops{0};
  std::atomic<uint64_t> frames_in{0};
  std::atomic<uint64_t> frames_out{0};
  std::atomic<uint64_t> slow_reader_closes{0};
  std::array<std::atomic<uint64_t>, errc_count> errors{};
  latency_histogram ack_latency;     // frame received -> ack queued
  latency_histogram commit_latency;  // commit sent -> store answered

  void count_error(errc e) {
    errors[static_cast<size_t>(e)].fetch_add(1, std::memory_order_relaxed);
  }
  std::string render() const;
};

// The process's metrics (one node per process).
metrics& node_metrics();

} // namespace collab
