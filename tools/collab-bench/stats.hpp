// Measurement primitives of collab-bench: a log-linear latency histogram
// (HdrHistogram-like, 64 sub-buckets per power of two, so percentiles are
// within 1.6% of the true value; min, max, count and sum are exact), the
// per-document counters the clients update, and /proc sampling of a
// process's CPU time and resident memory.
//
// Thread-safety: a doc_stats belongs to one document's strand, a
// latency_sink to one I/O thread (so memory does not grow with the number of
// documents); both are merged by main after the I/O threads have stopped.
// The /proc readers are stateless.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace collab::bench {

// Buckets are allocated on the first record or merge.
class histogram {
public:
  void record(int64_t ns);
  void merge(const histogram& other);
  uint64_t count() const { return count_; }
  int64_t min() const { return count_ ? min_ : 0; }
  int64_t max() const { return max_; }
  double mean() const { return count_ ? double(sum_) / double(count_) : 0; }
  // The q-quantile (0 < q <= 1), clamped to [min, max].
  int64_t quantile(double q) const;

private:
  static size_t index_of(uint64_t v);
  static uint64_t middle_of(size_t idx);
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  long double sum_ = 0;
};

// Everything one document's clients count. "Window" counters only count
// events whose time falls inside the measured window.
struct doc_stats {
  // Filled in the merged result (from the latency sinks), or per document
  // when shared_setup::window_by_send (--hostile).
  histogram ack_latency; // send -> ack of the same (client, seq)
  histogram remote_latency; // sender's send -> another client's `op`
  uint64_t window_acks = 0;
  uint64_t window_edits = 0; // local edits generated
  uint64_t window_sends = 0; // op messages sent (first sends only)
  uint64_t total_acks = 0;
  uint64_t total_edits = 0;
  uint64_t total_sends = 0;
  uint64_t resends = 0; // same seq sent again (retry, resume)
  uint64_t remote_ops = 0; // `op` messages received
  uint64_t presence = 0; // presence messages received (ignored)
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  std::map<std::string, uint64_t> errors; // by error code
  std::map<std::string, uint64_t> disconnects; // by close code / reason
  std::map<std::string, uint64_t> anomalies; // protocol deviations seen
  std::map<std::string, uint64_t> info; // legal but notable events
  uint64_t reconnects = 0;
  uint64_t connect_failures = 0;
  // Acks per second since generation started (warmup, window, drain).
  std::vector<uint64_t> acks_per_second;
  void count_ack_second(int64_t ns_since_start);

  void merge(const doc_stats& o);
};

// Latencies recorded by the handlers running on one I/O thread.
struct latency_sink {
  histogram ack;
  histogram remote;
};
// The calling thread's sink (set by each I/O thread before it runs; a
// thread without one records into a discarded sink).
latency_sink& thread_latency();
void set_thread_latency(latency_sink* sink);

// CPU time (user + system) of a process in seconds; < 0 when unreadable.
double proc_cpu_seconds(int pid); // pid 0 = this process
// VmRSS in bytes; 0 when unreadable.
uint64_t proc_rss_bytes(int pid); // pid 0 = this process
// A "Vm..:" line of /proc/<pid>/status (e.g. "VmHWM") in bytes; 0 when
// unreadable.
uint64_t proc_status_bytes(int pid, const char* key);
// Resets the process's VmHWM to its VmRSS (clear_refs 5; Linux 4.0+, our
// own processes only); false when refused.
bool proc_reset_peak(int pid);
// Open file descriptors of a process; -1 when unreadable.
int proc_open_fds(int pid);

} // namespace collab::bench
