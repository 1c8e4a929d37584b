// The honest workload: D documents x C clients (client.hpp) on their own
// io_context, and the phases main and --hostile drive them through: connect
// (every client hello + join), generate, drain (no inflight or pending op,
// all clients of a document at one revision), compare the clients of each
// document, close, and compare with GET /v1/docs/{id}.
//
// --hostile runs one workload per pattern and measures it in windows it
// moves itself (open_window / take_window): latencies are then recorded per
// document by send time (shared_setup::window_by_send).
//
// Thread-safety: one thread (main, or the hostile runner) calls the
// methods; they reach a document's clients only by posting to its strand
// and waiting (on_all_groups). The io threads run inside.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>

#include "client.hpp"
#include "report.hpp"

namespace collab::bench {

// What --hostile collects from one window.
struct window_stats {
  doc_stats stats; // per-document counters, latencies by send time
  uint64_t stuck = 0; // ops sent in the window, unacked when taken
  int failed_clients = 0; // clients out of the run (so far)
  int clients = 0;
};

class workload {
public:
  // Client ids are "b<run id>-<doc>-<client>", the run id taken from `seed`.
  workload(const bench_options& opt,
           std::vector<std::vector<tcp::endpoint>> resolved,
           std::string doc_prefix, uint64_t seed, bool window_by_send);
  ~workload();
  workload(const workload&) = delete;
  workload& operator=(const workload&) = delete;

  run_control& ctl() { return ctl_; }
  int connections() const { return total_; }
  std::vector<std::string> doc_ids() const;

  // Starts the io threads and every client; true once all joined, else
  // false with a summary of what went wrong in `why`.
  bool connect(double timeout, double& seconds, std::string& why);
  // Generation starts 1 ms from now; the window is set by the caller.
  void start_generating();
  void stop_generating();

  // --hostile: a new window [start, end) (ns of ctl().epoch).
  void open_window(int64_t start_ns, int64_t end_ns);
  // Ops sent in the current window that are not acked yet.
  uint64_t pending_in_window();
  // Takes the counters of the window and resets them; ops still unacked
  // count as stuck and enter the ack histogram with their age (a floor).
  window_stats take_window();

  // Waits until every document is quiet; false on timeout.
  bool drain(double timeout);
  // Compares the clients of each document (fills r's convergence fields).
  void compare_clients(bench_result& r);
  // Closes every client and stops the io threads; idempotent.
  void shutdown();
  // After shutdown: merged counters and latencies into r.stats.
  void collect(bench_result& r);
  // After shutdown: compares up to `want` documents (-1 = all) with
  // GET /v1/docs/{id} (after compare_clients).
  void verify_http(bench_result& r, int want);

private:
  using group_list = std::vector<std::unique_ptr<doc_group>>;
  template<class F>
  void on_all_groups(F fn);

  const bench_options& opt_;
  asio::io_context ioc_;
  run_control ctl_;
  shared_setup setup_;
  group_list groups_;
  int total_ = 0;
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>>
    guard_;
  std::vector<latency_sink> sinks_;
  std::vector<std::thread> threads_;
  bool running_ = false;
  // compare_clients -> verify_http
  std::vector<std::string> reference_text_;
  std::vector<uint64_t> reference_rev_;
  std::vector<char> has_reference_;
  std::vector<char> doc_ok_;
};

// Seconds since `ns` (of ctl's epoch); sleeping until `ns`.
double seconds_since(const run_control& ctl, int64_t ns);
void sleep_until_ns(const run_control& ctl, int64_t ns);

} // namespace collab::bench
