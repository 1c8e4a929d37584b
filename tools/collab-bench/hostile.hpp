// collab-bench --hostile: the hostile-neighbour benchmark of issue 10
// (docs/HOSTILE-BENCH.md). For each abuse pattern, a fresh honest workload
// (workload.hpp: D docs x C clients typing at R ops/s) is measured in a
// window without abuse, then in a window of the same length with the abuse
// running next to it; the row shows the honest clients' ack p50/p99 in both,
// every error, disconnect or divergence they saw, and the node's RSS.
//
// A pattern is one function that runs on its own thread with its own
// io_context, so the abuse never shares a thread with the measured clients:
// it prepares (e.g. builds history), calls env.begin() when the abuse
// starts, abuses until env.stopping(), then closes everything it opened
// before it returns. What it did and what the server answered goes into
// env.counts (e.g. "refused:http 429").
//
// Thread-safety: an abuse_env is written by its pattern's thread; the runner
// reads `counts` and `skipped` only after joining that thread, and the
// atomics at any time.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "options.hpp"

namespace collab::bench {

// A node's client port as the abusers reach it.
struct target {
  endpoint ep;
  std::vector<boost::asio::ip::tcp::endpoint> addrs;
};

struct abuse_env {
  // Constant while the pattern runs.
  const bench_options* opt = nullptr;
  target client; // the node's client port
  std::string token; // the abuser's own user
  std::function<std::string(const std::string&)> token_for; // sub -> token
  std::vector<std::string> honest_docs;
  std::string prefix; // abuse documents are prefix + name
  std::string client_prefix; // abuse client ids start with it

  std::atomic<bool> stop{false}; // set by the runner at window end
  std::atomic<bool> begun{false}; // set by the pattern (begin())

  // Written by the pattern's thread.
  std::map<std::string, uint64_t> counts;
  std::string skipped; // non-empty: the pattern did not run

  void begin() { begun = true; }
  // The pattern could not set itself up: it did not run.
  void fail(const std::string& why) { skipped = "could not set up: " + why; }
  bool stopping() const { return stop.load(); }
  void count(const std::string& what, uint64_t n = 1) { counts[what] += n; }
};

using pattern_fn = void (*)(abuse_env&);

struct pattern {
  const char* name;
  const char* what; // one line for --help and the report
  pattern_fn run;
  bool needs_cluster_port; // skipped without --cluster-port
  bool needs_fd_limit; // skipped unless the bench started collabd
                       // with --fd-limit
};

// Every pattern, in the order they run by default.
const std::vector<pattern>& all_patterns();

// The patterns (one file per concern).
void abuse_nul(abuse_env& env); // hostile_data.cpp
void abuse_big_op(abuse_env& env);
void abuse_history(abuse_env& env);
void abuse_spoof(abuse_env& env);
void abuse_churn(abuse_env& env); // hostile_conns.cpp
void abuse_docs(abuse_env& env);
void abuse_sockets(abuse_env& env);
void abuse_idle(abuse_env& env); // hostile_idle.cpp
void abuse_http(abuse_env& env);
void abuse_fds(abuse_env& env);
void abuse_flood(abuse_env& env); // hostile_flow.cpp
void abuse_slow(abuse_env& env);
void abuse_presence(abuse_env& env);
void abuse_basp(abuse_env& env);

// The whole --hostile run (hostile_run.cpp); returns the exit code.
int run_hostile(const bench_options& opt);

} // namespace collab::bench
