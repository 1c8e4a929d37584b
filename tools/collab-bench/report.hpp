// The outcome of a run (bench_result) and its two renderings: a short
// human-readable report and, with --json, one JSON object on stdout.
//
// Thread-safety: filled and printed by main after the I/O threads stopped.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "options.hpp"
#include "stats.hpp"

namespace collab::bench {

struct bench_result {
  const bench_options* opt = nullptr;
  int connections = 0;
  double connect_s = 0;
  double window_s = 0; // measured window actually observed
  double drain_s = 0;
  bool drained = false;
  doc_stats stats; // merged over all documents
  std::map<std::string, int> nodes; // welcome node -> clients

  // server and bench process samples over the window
  bool server_sampled = false;
  double server_cpu_pct = 0;
  uint64_t server_rss = 0;
  uint64_t server_rss_peak = 0;
  double bench_cpu_pct = 0;
  uint64_t bench_rss = 0;

  // convergence
  int docs_ok = 0;
  std::vector<std::string> divergences; // one line per problem
  std::vector<std::string> failed_clients;
  int http_checked = 0;
  int http_matched = 0;
  uint64_t committed_revs = 0; // sum over docs of final - join rev
  uint64_t final_chars = 0; // total text size (code points)
  bool accounting_checked = false;
  bool accounting_ok = true;

  std::vector<std::string> untolerated_errors;
  int exit_code = 0;
};

void print_human(const bench_result& r);
void print_json(const bench_result& r);

} // namespace collab::bench
