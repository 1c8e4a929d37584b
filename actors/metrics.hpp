// Process-wide counters and histograms, exported by /metrics in Prometheus
// text format. Lock-free: every field is an atomic updated on the hot path
// with relaxed ordering (figures, not synchronisation).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "actors/core/errc.hpp"

namespace collab {

// A fixed-bucket histogram; the sum is kept in millionths of the unit.
class histogram {
public:
  static constexpr size_t max_buckets = 16;
  explicit histogram(std::initializer_list<double> bounds);
  void observe(double value);
  // Appends the histogram in Prometheus text format.
  void render(std::string& out, const char* name, const char* help) const;

private:
  std::array<double, max_buckets> bounds_{};
  size_t size_ = 0;
  std::array<std::atomic<uint64_t>, max_buckets + 1> counts_{};
  std::atomic<uint64_t> sum_micros_{0};
};

// Latencies in seconds, 100 us to 2.5 s.
struct latency_histogram : histogram {
  latency_histogram()
      : histogram({0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                   0.05, 0.1, 0.25, 0.5, 1.0, 2.5}) {
    // nop
  }
};

// Counts (batch sizes, queue depths), 1 to 1000.
struct count_histogram : histogram {
  count_histogram() : histogram({1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}) {
    // nop
  }
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
  std::atomic<uint64_t> activations{0}; // document actors started
  // Activations refused for a while: max_concurrent_activations loading.
  std::atomic<uint64_t> activations_deferred{0};
  std::atomic<uint64_t> hand_offs{0}; // documents moved away
  // Batched delivery: batches documents sent, the messages they took (one
  // per node relay, or per subscriber without one), how many of those
  // crossed to another node, and what the relays handed to connections.
  std::atomic<uint64_t> delivery_batches{0};
  std::atomic<uint64_t> delivery_messages{0};
  std::atomic<uint64_t> delivery_remote_messages{0};
  std::atomic<uint64_t> relay_deliveries{0};
  std::atomic<uint64_t> members_lost{0}; // failovers: members seen down
  std::atomic<uint64_t> revoked_closes{0}; // sockets cut off by revocation
  std::atomic<uint64_t> accept_errors{0}; // accept() failed (EMFILE, ...)
  std::atomic<uint64_t> send_budget_closes{0}; // closed 1013: node send budget
  std::atomic<uint64_t> input_pauses{0}; // a socket stopped reading a while
  std::atomic<uint64_t> input_throttles{0}; // ... because of its byte rate
  std::atomic<uint64_t> user_socket_refusals{0}; // upgrades refused 429
  std::array<std::atomic<uint64_t>, errc_count> errors{};
  latency_histogram ack_latency; // frame received -> ack queued
  latency_histogram commit_latency; // commit sent -> store answered
  latency_histogram store_read_latency; // resume read from the store
  latency_histogram stream_read_latency; // resume read from Redis
  count_histogram commit_batch; // ops per commit of one document
  count_histogram mailbox_depth; // a document's mailbox at each submit

  void count_error(errc e) {
    errors[static_cast<size_t>(e)].fetch_add(1, std::memory_order_relaxed);
  }
  std::string render() const;
};

// Appends one metric (`type`: gauge or counter) in Prometheus text format:
// its # HELP and # TYPE lines and the sample. Every /metrics source writes
// through these (metrics::render, the session registry, collabd's storage
// figures).
void append_metric(std::string& out, const char* type, const char* name,
                   const char* help, uint64_t value);
// The same for a fractional value, written in its shortest exact form
// ("0.25", "3").
void append_metric(std::string& out, const char* type, const char* name,
                   const char* help, double value);

// The process's metrics (one node per process).
metrics& node_metrics();

} // namespace collab
