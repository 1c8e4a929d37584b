// The figures of a --hostile run: one row per pattern (the honest
// workload's window without and with the abuse, the node's memory, what
// the abuse did) and the verdict against the goal of issue 10: honest p99
// within 2x of its baseline, no error of any kind for the honest clients,
// the node's peak RSS under its memory budget. Rendered as a table or, with
// --json, one JSON object.
//
// Thread-safety: filled and printed by the hostile runner's thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "options.hpp"

namespace collab::bench {

// The honest workload in one window (latencies by send time, ms).
struct window_figures {
  bool measured = false;
  double seconds = 0;
  uint64_t sent = 0; // first sends in the window
  uint64_t acked = 0; // of those
  uint64_t stuck = 0; // of those, unacked when the window was taken
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double remote_p99_ms = 0;
  std::map<std::string, uint64_t> errors; // by code
  std::map<std::string, uint64_t> disconnects; // by reason
  std::map<std::string, uint64_t> anomalies;
  int failed_clients = 0;
  double server_cpu_pct = -1; // < 0: not sampled
  // Anything the honest clients saw that they should not have.
  uint64_t trouble() const;
};

struct pattern_row {
  std::string name, what;
  std::string skipped; // the pattern did not run (why)
  std::string setup_error; // the honest workload could not run (why)
  window_figures base, abuse;
  double prepare_s = 0; // before the abuse window (e.g. history)
  double settle_s = 0; // after it, until the window's ops were acked
  bool settled = true;
  // the node (0 / -1 when not sampled)
  uint64_t rss_before = 0, rss_peak = 0, rss_after = 0;
  bool peak_is_hwm = false; // VmHWM reset at the window start
  int fds_peak = -1;
  uint64_t log_lines = 0, log_bytes = 0;
  // convergence of the honest documents after the pattern (compared only
  // when they became quiet within --settle)
  bool quiet = true;
  std::vector<std::string> problems;
  std::map<std::string, uint64_t> counts; // what the abuse did / got

  // the goal
  bool latency_ok = false, honest_ok = false, rss_ok = false;
  bool met() const { return latency_ok && honest_ok && rss_ok; }
  bool ran() const { return skipped.empty() && setup_error.empty(); }
};

struct hostile_report {
  const bench_options* opt = nullptr;
  int server_pid = 0;
  bool started_server = false;
  int fd_limit = 0;
  std::string server_end; // how the started node ended, or "running"
  std::vector<pattern_row> rows;
  int exit_code = 0;
};

// Fills the row's verdict from its figures (floor: --p99-floor-ms).
void judge(pattern_row& row, const bench_options& opt);

void print_hostile_table(const hostile_report& r);
void print_hostile_json(const hostile_report& r);

} // namespace collab::bench
