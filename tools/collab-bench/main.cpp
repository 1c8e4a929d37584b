// collab-bench: the load generator and convergence checker for collabd.
//
// Runs D documents x C clients over one io_context (--threads io threads,
// one strand per document), in phases: connect (every client hello + join),
// generate (--warmup unmeasured seconds, then the --duration window in which
// acks, latencies and edits are counted and the server's /proc is sampled),
// drain (stop editing, wait until no client has an inflight or pending op
// and all clients of a document are at the same revision), verify (all
// clients of a document hold the same text; GET /v1/docs/{id} returns that
// text at that revision; the revisions committed equal the acks received)
// and close. Exit status: 0 all good, 1 divergence / protocol anomaly /
// failed client / error not in --tolerate, 2 usage, 3 could not connect.
//
// With --hostile it runs hostile.hpp instead: the honest workload next to
// each abuse pattern.
//
// Thread-safety: main owns the run; the workload (workload.hpp) touches a
// document's clients only on that document's strand.
#include <algorithm>
#include <cstdio>
#include <thread>

#include "hostile.hpp"
#include "options.hpp"
#include "report.hpp"
#include "stats.hpp"
#include "workload.hpp"

using namespace collab::bench;

namespace {

// Resolves every --url; false (with the message printed) on failure.
bool resolve_all(const bench_options& opt,
                 std::vector<std::vector<tcp::endpoint>>& out) {
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  for (const auto& u : opt.urls) {
    boost::system::error_code ec;
    const auto results = resolver.resolve(u.host, u.port, ec);
    if (ec || results.empty()) {
      std::fprintf(stderr, "collab-bench: cannot resolve %s: %s\n",
                   u.text().c_str(), ec.message().c_str());
      return false;
    }
    out.emplace_back(results.begin(), results.end());
  }
  return true;
}

// The measured window: sleeps through it, sampling the server's RSS.
void measure_window(const bench_options& opt, workload& w, bench_result& r) {
  auto& ctl = w.ctl();
  sleep_until_ns(ctl, ctl.window_start_ns);
  const double server_cpu0 = opt.pid ? proc_cpu_seconds(opt.pid) : -1;
  const double self_cpu0 = proc_cpu_seconds(0);
  const int64_t w0 = ctl.now_ns();
  while (ctl.now_ns() < ctl.window_end_ns) {
    if (opt.pid)
      r.server_rss_peak = std::max(r.server_rss_peak, proc_rss_bytes(opt.pid));
    const int64_t next = std::min<int64_t>(ctl.window_end_ns,
                                           ctl.now_ns() + 100000000);
    sleep_until_ns(ctl, next);
  }
  const double server_cpu1 = opt.pid ? proc_cpu_seconds(opt.pid) : -1;
  const double self_cpu1 = proc_cpu_seconds(0);
  const int64_t w1 = ctl.now_ns();
  r.window_s = double(ctl.window_end_ns - ctl.window_start_ns) / 1e9;
  const double sampled_s = double(w1 - w0) / 1e9;
  if (opt.pid && server_cpu0 >= 0 && server_cpu1 >= 0) {
    r.server_sampled = true;
    r.server_cpu_pct = 100.0 * (server_cpu1 - server_cpu0) / sampled_s;
    r.server_rss = proc_rss_bytes(opt.pid);
    r.server_rss_peak = std::max(r.server_rss_peak, r.server_rss);
  }
  r.bench_cpu_pct = 100.0 * (self_cpu1 - self_cpu0) / sampled_s;
  r.bench_rss = proc_rss_bytes(0);
}

} // namespace

int main(int argc, char** argv) {
  bench_options opt;
  if (const int rc = parse_options(argc, argv, opt); rc >= 0)
    return rc;
  if (opt.hostile.enabled)
    return run_hostile(opt);

  std::vector<std::vector<tcp::endpoint>> resolved;
  if (!resolve_all(opt, resolved))
    return 3;
  workload w(opt, std::move(resolved), opt.doc_prefix, opt.seed, false);
  bench_result r;
  r.opt = &opt;
  r.connections = w.connections();

  // --- connect
  std::string why;
  if (!w.connect(opt.connect_timeout, r.connect_s, why)) {
    w.shutdown();
    std::fprintf(stderr, "collab-bench: %s\n", why.c_str());
    return 3;
  }

  // --- generate: warmup, then the measured window
  auto& ctl = w.ctl();
  w.start_generating();
  const int64_t window_start = ctl.gen_start_ns
                               + static_cast<int64_t>(opt.warmup * 1e9);
  w.open_window(window_start,
                window_start + static_cast<int64_t>(opt.duration * 1e9));
  measure_window(opt, w, r);
  w.stop_generating();

  // --- drain, compare the clients, close, compare with the server
  const int64_t drain0 = ctl.now_ns();
  r.drained = w.drain(opt.drain_timeout);
  r.drain_s = seconds_since(ctl, drain0);
  w.compare_clients(r);
  w.shutdown();
  w.collect(r);
  // Every revision committed during the run is one of our acked ops; only
  // meaningful when everything was acked and nobody dropped out.
  r.accounting_checked = r.drained && r.failed_clients.empty();
  r.accounting_ok = !r.accounting_checked
                    || r.committed_revs == r.stats.total_acks;
  if (opt.verify_docs != 0)
    w.verify_http(r, opt.verify_docs);

  // --- verdict
  for (const auto& [code, n] : r.stats.errors) {
    if (std::find(opt.tolerate.begin(), opt.tolerate.end(), code)
        == opt.tolerate.end())
      r.untolerated_errors.push_back(code + "=" + std::to_string(n));
  }
  const bool bad = !r.divergences.empty() || !r.failed_clients.empty()
                   || !r.stats.anomalies.empty()
                   || !r.untolerated_errors.empty() || !r.drained
                   || !r.accounting_ok;
  r.exit_code = bad ? 1 : 0;
  if (opt.json)
    print_json(r);
  else
    print_human(r);
  return r.exit_code;
}
