// The --hostile runner: the pattern table, the node (started here with
// --collabd, or watched with --pid), and per pattern the sequence
//
//   fresh honest workload -> connect -> warmup -> baseline window
//   -> pattern thread prepares, calls begin() -> abused window
//   -> stop: the pattern closes what it opened -> wait (--settle) until
//      every honest op sent in the window is acked -> drain -> compare the
//      clients and GET /v1/docs -> close the workload -> RSS after 1 s
//
// A window counts the honest ops *sent* in it; one still unacked when the
// window is taken is "stuck" and enters the histogram with its age.
//
// Thread-safety: this is the only thread that drives the workload; the
// pattern runs on its own thread and shares only its abuse_env.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include "hostile.hpp"
#include "hostile_report.hpp"
#include "hostile_server.hpp"
#include "stats.hpp"
#include "workload.hpp"

namespace collab::bench {

const std::vector<pattern>& all_patterns() {
  static const std::vector<pattern> list = {
    {"nul", "ops with U+0000 in one document", abuse_nul, false, false},
    {"churn", "connect/close cycles with day-long tokens", abuse_churn, false,
     false},
    {"big-op", "ops of many components based far back in honest docs",
     abuse_big_op, false, false},
    {"flood", "large frames sent without reading", abuse_flood, false, false},
    {"basp", "a BASP header announcing 1 GiB to the cluster port", abuse_basp,
     true, false},
    {"history", "large ops piling up in one document's history", abuse_history,
     false, false},
    {"docs", "one socket joining thousands of documents", abuse_docs, false,
     false},
    {"sockets", "thousands of sockets of one user", abuse_sockets, false,
     false},
    {"idle", "ten thousand idle sockets of as many users, each joined",
     abuse_idle, false, false},
    {"http", "thousands of GETs of new document ids", abuse_http, false, false},
    {"spoof", "another user's client id", abuse_spoof, false, false},
    {"fds", "TCP connections until the node's fd limit", abuse_fds, false,
     true},
    {"slow", "subscribers that stop reading while another types", abuse_slow,
     false, false},
    {"presence", "presence floods from many sessions", abuse_presence, false,
     false},
  };
  return list;
}

namespace {

std::string random_hex(size_t bytes) {
  std::random_device rd;
  std::string s;
  for (size_t i = 0; i < bytes; ++i) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", unsigned(rd() & 0xff));
    s += b;
  }
  return s;
}

// The node's /proc figures over a window. Its open fds are counted once a
// second by a thread of the lowest priority (SCHED_IDLE): listing
// /proc/<pid>/fd of a node with 19,000 sockets takes ~15 ms of kernel time,
// and doing that every 100 ms on the bench's main thread took CPU from the
// node and the honest clients on a 2-core machine (their ack p99 went from
// 0.7 to 4 ms beside an idle crowd, and beside 18,000 bare TCP connections
// held by another process).
class node_probe {
public:
  explicit node_probe(int pid) : pid_(pid) {
    if (pid_ != 0)
      fd_counter_ = std::thread([this] { count_fds(); });
  }
  ~node_probe() {
    stop_ = true;
    if (fd_counter_.joinable())
      fd_counter_.join();
  }
  node_probe(const node_probe&) = delete;
  node_probe& operator=(const node_probe&) = delete;
  void start() {
    peak_ = 0;
    cpu0_ = pid_ ? proc_cpu_seconds(pid_) : -1;
    t0_ = std::chrono::steady_clock::now();
    sample();
  }
  void sample() {
    if (pid_ == 0)
      return;
    peak_ = std::max(peak_, proc_rss_bytes(pid_));
  }
  double cpu_percent() const {
    const double cpu1 = pid_ ? proc_cpu_seconds(pid_) : -1;
    const double s
      = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_)
          .count();
    return cpu0_ < 0 || cpu1 < 0 || s <= 0 ? -1 : 100 * (cpu1 - cpu0_) / s;
  }
  uint64_t rss() const { return pid_ ? proc_rss_bytes(pid_) : 0; }
  uint64_t peak() const { return peak_; }
  int fds_peak() const { return fds_peak_.load(); }
  int pid() const { return pid_; }

private:
  void count_fds() {
    sched_param none{};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &none);
    for (int tick = 0; !stop_.load(); ++tick) {
      if (tick % 10 == 0) {
        const int n = proc_open_fds(pid_);
        if (n > fds_peak_.load())
          fds_peak_ = n;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  int pid_;
  uint64_t peak_ = 0;
  double cpu0_ = -1;
  std::chrono::steady_clock::time_point t0_;
  std::atomic<int> fds_peak_{-1};
  std::atomic<bool> stop_{false};
  std::thread fd_counter_; // last: started once the rest is set
};

struct run_context {
  const bench_options* opt = nullptr;
  std::vector<std::vector<tcp::endpoint>> resolved;
  target client;
  std::string secret;
  std::string run_prefix; // documents: <run_prefix><pattern>/...
  std::string client_tag; // client ids: h<tag>-<pattern>-...
  server_process* server = nullptr; // null: not started here
  int pid = 0;
};

// One window: open it, sleep through it sampling the node, call at_end (the
// abuse stops), wait until its honest ops are acked (--settle), take it.
window_figures measure(workload& w, double seconds, node_probe& probe,
                       const std::function<void()>& at_end, double& settle_s,
                       bool& settled, double settle_max) {
  auto& ctl = w.ctl();
  const int64_t start = ctl.now_ns();
  const int64_t end = start + int64_t(seconds * 1e9);
  w.open_window(start, end);
  probe.start();
  while (ctl.now_ns() < end) {
    probe.sample();
    sleep_until_ns(ctl, std::min<int64_t>(end, ctl.now_ns() + 100000000));
  }
  window_figures f;
  f.server_cpu_pct = probe.cpu_percent();
  at_end();
  const int64_t s0 = ctl.now_ns();
  settled = true;
  while (w.pending_in_window() > 0) {
    if (seconds_since(ctl, s0) > settle_max) {
      settled = false;
      break;
    }
    probe.sample();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  settle_s = seconds_since(ctl, s0);
  const window_stats ws = w.take_window();
  const auto& h = ws.stats.ack_latency;
  f.measured = true;
  f.seconds = seconds;
  f.sent = ws.stats.window_sends;
  f.stuck = ws.stuck;
  f.acked = h.count() - ws.stuck;
  f.p50_ms = double(h.quantile(0.5)) / 1e6;
  f.p99_ms = double(h.quantile(0.99)) / 1e6;
  f.max_ms = double(h.max()) / 1e6;
  f.remote_p99_ms = double(ws.stats.remote_latency.quantile(0.99)) / 1e6;
  f.errors = ws.stats.errors;
  f.disconnects = ws.stats.disconnects;
  f.anomalies = ws.stats.anomalies;
  f.failed_clients = ws.failed_clients;
  return f;
}

// Runs the pattern on its thread next to an abused window.
void abused_window(const run_context& rc, const pattern& p, workload& w,
                   node_probe& probe, pattern_row& row) {
  const auto& opt = *rc.opt;
  abuse_env env;
  env.opt = &opt;
  env.client = rc.client;
  env.token_for = [secret = rc.secret](const std::string& sub) {
    return mint_token(secret, sub, 86400);
  };
  env.token = env.token_for("hostile-" + std::string(p.name));
  env.honest_docs = w.doc_ids();
  env.prefix = rc.run_prefix + p.name + "/x-";
  env.client_prefix = "h" + rc.client_tag + "-" + p.name + "-";
  std::atomic<bool> finished{false};
  std::thread t([&] {
    p.run(env);
    finished = true;
  });
  const auto t0 = std::chrono::steady_clock::now();
  while (!env.begun.load() && !finished.load())
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  row.prepare_s
    = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
        .count();
  if (!env.begun.load()) {
    t.join();
    row.skipped = env.skipped.empty() ? "ended before it began" : env.skipped;
    row.counts = env.counts;
    return;
  }
  row.rss_before = probe.rss();
  row.peak_is_hwm = rc.pid != 0 && proc_reset_peak(rc.pid);
  const uint64_t lines0 = rc.server ? rc.server->log_lines() : 0;
  const uint64_t bytes0 = rc.server ? rc.server->log_bytes() : 0;
  row.abuse = measure(
    w, opt.duration, probe,
    [&] {
      env.stop = true;
      t.join();
    },
    row.settle_s, row.settled, opt.hostile.settle);
  row.rss_peak = probe.peak();
  if (row.peak_is_hwm)
    row.rss_peak = std::max(row.rss_peak, proc_status_bytes(rc.pid, "VmHWM"));
  row.fds_peak = probe.fds_peak();
  if (rc.server) {
    row.log_lines = rc.server->log_lines() - lines0;
    row.log_bytes = rc.server->log_bytes() - bytes0;
  }
  row.counts = env.counts;
  if (!env.skipped.empty())
    row.skipped = env.skipped;
}

pattern_row run_pattern(const run_context& rc, const pattern& p,
                        uint64_t index) {
  const auto& opt = *rc.opt;
  pattern_row row;
  row.name = p.name;
  row.what = p.what;
  if (p.needs_cluster_port && opt.hostile.cluster_port == 0) {
    row.skipped = "no --cluster-port";
    return row;
  }
  if (p.needs_fd_limit && (rc.server == nullptr || opt.hostile.fd_limit == 0)) {
    row.skipped = "needs --collabd with --fd-limit";
    return row;
  }
  workload w(opt, rc.resolved, rc.run_prefix + p.name + "/h", opt.seed + index,
             true);
  double connect_s = 0;
  if (!w.connect(opt.connect_timeout, connect_s, row.setup_error))
    return row;
  w.start_generating();
  std::this_thread::sleep_for(
    std::chrono::microseconds(int64_t(opt.warmup * 1e6) + 1000));
  node_probe probe(rc.pid);
  double settle_s = 0;
  bool settled = true;
  std::fprintf(stderr, "hostile: %s: baseline\n", p.name);
  row.base = measure(
    w, opt.hostile.baseline, probe, [] {}, settle_s, settled,
    opt.hostile.settle);
  std::fprintf(stderr, "hostile: %s: abuse (%s)\n", p.name, p.what);
  abused_window(rc, p, w, probe, row);
  w.stop_generating();
  bench_result conv;
  conv.opt = &opt;
  // Documents with ops still in flight differ between their clients by
  // those ops: comparing them would report the stall as divergence.
  row.quiet = w.drain(opt.hostile.settle);
  if (row.quiet)
    w.compare_clients(conv);
  w.shutdown();
  if (row.quiet)
    w.verify_http(conv, -1);
  else
    conv.divergences.push_back("honest documents not quiet after "
                               + std::to_string(int(opt.hostile.settle))
                               + " s: not compared");
  row.problems = conv.divergences;
  std::this_thread::sleep_for(std::chrono::seconds(1));
  row.rss_after = probe.rss();
  judge(row, opt);
  return row;
}

// The patterns named by --hostile (none or "all": every one); false with
// the unknown name printed.
bool choose(const bench_options& opt, std::vector<const pattern*>& out) {
  const auto& all = all_patterns();
  const auto& names = opt.hostile.patterns;
  const bool every = names.empty()
                     || std::find(names.begin(), names.end(), "all")
                          != names.end();
  for (const auto& p : all)
    if (every || std::find(names.begin(), names.end(), p.name) != names.end())
      out.push_back(&p);
  for (const auto& n : names) {
    const bool known
      = n == "all" || n.empty()
        || std::any_of(all.begin(), all.end(),
                       [&n](const pattern& p) { return n == p.name; });
    if (!known) {
      std::fprintf(stderr,
                   "collab-bench: unknown --hostile pattern '%s'; "
                   "known:",
                   n.c_str());
      for (const auto& p : all)
        std::fprintf(stderr, " %s", p.name);
      std::fprintf(stderr, "\n");
      return false;
    }
  }
  return true;
}

bool start_server(bench_options& opt, server_process& server,
                  const std::string& secret) {
  const auto& h = opt.hostile;
  server_process::spec s;
  s.path = h.collabd;
  s.fd_limit = h.fd_limit;
  s.log_file = h.collabd_log;
  s.env = {"COLLAB_BIND=" + opt.urls.front().host, "COLLAB_CLIENT_PORT=0",
           "COLLAB_JWT_SECRET=" + secret};
  if (std::getenv("COLLAB_LOG_LEVEL") == nullptr)
    s.env.push_back("COLLAB_LOG_LEVEL=warn");
  if (h.budget_given)
    s.env.push_back("COLLAB_MEMORY_BUDGET_BYTES="
                    + std::to_string(h.memory_budget));
  if (h.cluster_port) {
    s.env.push_back("COLLAB_CLUSTER_PORT=" + std::to_string(h.cluster_port));
    if (std::getenv("COLLAB_CLUSTER_KEY") == nullptr)
      s.env.push_back("COLLAB_CLUSTER_KEY=" + random_hex(32));
  }
  s.env.insert(s.env.end(), h.collabd_env.begin(), h.collabd_env.end());
  std::string why;
  if (!server.start(s, 30, why)) {
    std::fprintf(stderr, "collab-bench: %s\n", why.c_str());
    return false;
  }
  opt.urls = {endpoint{server.host(), std::to_string(server.port()), "/v1/ws"}};
  opt.pid = server.pid();
  return true;
}

bool node_alive(const run_context& rc) {
  if (rc.server)
    return rc.server->alive();
  return rc.pid == 0 || proc_rss_bytes(rc.pid) > 0;
}

} // namespace

int run_hostile(const bench_options& in) {
  bench_options opt = in; // the node's URL, pid and token are filled in here
  std::vector<const pattern*> chosen;
  if (!choose(opt, chosen))
    return 2;
  server_process server;
  run_context rc;
  rc.secret = opt.secret.empty() ? random_hex(32) : opt.secret;
  if (!opt.hostile.collabd.empty()) {
    if (!start_server(opt, server, rc.secret))
      return 3;
    rc.server = &server;
  }
  opt.token = mint_token(rc.secret, opt.sub, 86400);
  if (opt.token.empty()) {
    std::fprintf(stderr, "collab-bench: could not mint a token\n");
    return 2;
  }
  {
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    for (const auto& u : opt.urls) {
      boost::system::error_code ec;
      const auto r = resolver.resolve(u.host, u.port, ec);
      if (ec || r.empty()) {
        std::fprintf(stderr, "collab-bench: cannot resolve %s\n",
                     u.text().c_str());
        return 3;
      }
      rc.resolved.emplace_back(r.begin(), r.end());
    }
  }
  rc.opt = &opt;
  rc.pid = opt.pid;
  rc.client = target{opt.urls.front(), rc.resolved.front()};
  rc.run_prefix = opt.doc_prefix + "/";
  rc.client_tag = random_hex(3);

  hostile_report rep;
  rep.opt = &opt;
  rep.server_pid = opt.pid;
  rep.started_server = rc.server != nullptr;
  rep.fd_limit = rc.server ? opt.hostile.fd_limit : 0;
  for (size_t i = 0; i < chosen.size(); ++i) {
    if (!node_alive(rc)) {
      pattern_row row;
      row.name = chosen[i]->name;
      row.what = chosen[i]->what;
      row.setup_error = "the node is gone";
      rep.rows.push_back(row);
      continue;
    }
    rep.rows.push_back(run_pattern(rc, *chosen[i], i + 1));
  }
  if (rc.server) {
    const bool alive = server.alive();
    rep.server_end = (alive ? "stopped: " : "DIED: ") + server.stop();
  }
  if (rc.server && rep.server_end.rfind("DIED", 0) == 0)
    std::fprintf(stderr, "collab-bench: last lines of collabd:\n%s",
                 server.last_lines().c_str());
  rep.exit_code = 0;
  for (const auto& row : rep.rows)
    if (row.ran() ? !row.met() : !row.setup_error.empty())
      rep.exit_code = 1;
  if (opt.json)
    print_hostile_json(rep);
  else
    print_hostile_table(rep);
  return rep.exit_code;
}

} // namespace collab::bench
