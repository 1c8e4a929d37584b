// The command-line options of --hostile (see hostile_options in
// options.hpp and docs/HOSTILE-BENCH.md), and the defaults --hostile gives
// the honest workload when the command line does not: 20 docs x 2 clients
// x 5 ops/s, 10 s windows. Parsed once at start-up, like the rest.
#include "options.hpp"

#include <algorithm>

#include <CLI/CLI.hpp>

namespace collab::bench {

namespace {

constexpr const char* hostile_group = "Hostile neighbours (--hostile)";

// The size of the idle crowd (`idle`).
void add_idle_options(CLI::App& app, hostile_options& h) {
  const char* g = hostile_group;
  app
    .add_option("--idle-sockets", h.idle_sockets,
                "idle: sockets held open, each of its own user and joined")
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--idle-docs", h.idle_docs,
                "idle: the documents the idle sockets join (round-robin)")
    ->check(CLI::PositiveNumber)
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--idle-concurrency", h.idle_concurrency,
                "idle: sockets being set up at once (connect, upgrade, "
                "hello, join in flight)")
    ->check(CLI::Range(1, 100000))
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--idle-ping-s", h.idle_ping_s,
                "idle: each joined socket sends a ping this often, seconds "
                "(the JS client: 25; 0: silent)")
    ->check(CLI::NonNegativeNumber)
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--idle-phase", h.idle_phase,
                "idle: the last step of each socket before it goes silent "
                "(tcp, upgrade, hello, join): what each step costs the node")
    ->check(CLI::IsMember({"tcp", "upgrade", "hello", "join"}))
    ->capture_default_str()
    ->group(g);
}

// The sizes of each abuse pattern (`--<pattern>-...`).
void add_pattern_options(CLI::App& app, hostile_options& h) {
  add_idle_options(app, h);
  const char* g = hostile_group;
  app
    .add_option("--churn-cycles", h.churn_cycles,
                "churn: connect/close cycles at most")
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--abuse-sockets", h.sockets,
                "sockets: sockets of one user at most")
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--abuse-docs", h.docs_per_socket,
                "docs: documents one socket joins at most")
    ->capture_default_str()
    ->group(g);
  app.add_option("--http-gets", h.http_gets, "http: GETs of new ids at most")
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--slow-subscribers", h.slow_subscribers,
                "slow: subscribers that stop reading")
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--slow-op-bytes", h.slow_op_bytes,
                "slow: bytes inserted by each op the typist sends")
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--presence-sessions", h.presence_sessions,
                "presence: sessions flooding presence")
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--presence-rate", h.presence_rate,
                "presence: frames per second and session")
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--flood-sockets", h.flood_sockets,
                "flood: sockets sending large frames without reading")
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--flood-frame-bytes", h.flood_frame_bytes,
                "flood: bytes per frame")
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--big-ops", h.big_ops,
                "big-op: large ops, each in its own honest document")
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--big-op-components", h.big_op_components,
                "big-op: components per op")
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--big-op-history", h.big_op_history,
                "big-op: ops committed after its base revision")
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--history-op-bytes", h.history_op_bytes,
                "history: bytes inserted per op")
    ->capture_default_str()
    ->group(g);
  app.add_option("--nul-rate", h.nul_rate, "nul: ops/s of the poisoned client")
    ->capture_default_str()
    ->group(g);
}

} // namespace

void add_hostile_options(CLI::App& app, hostile_options& h) {
  const char* g = hostile_group;
  // One string, split here: CLI11 counts a delimited value as several and
  // would refuse `--hostile=a,b` under expected(0, 1).
  app
    .add_option("--hostile", h.patterns_text,
                "run the honest workload next to each abuse pattern "
                "(comma-separated names; none or 'all': every pattern)")
    ->expected(0, 1)
    ->group(g);
  app
    .add_option("--collabd", h.collabd,
                "start this collabd (port 0, the secret, the environment) "
                "and stop it at the end")
    ->group(g);
  app
    .add_option("--collabd-env", h.collabd_env,
                "KEY=VALUE for the started collabd (repeat)")
    ->group(g);
  app
    .add_option("--collabd-log", h.collabd_log,
                "copy the started collabd's output to this file")
    ->group(g);
  app
    .add_option("--fd-limit", h.fd_limit,
                "RLIMIT_NOFILE of the started collabd (enables `fds`)")
    ->check(CLI::Range(64, 1 << 20))
    ->group(g);
  app
    .add_option("--cluster-port", h.cluster_port,
                "the node's cluster (BASP) port (enables `basp`; given to "
                "a started collabd)")
    ->check(CLI::Range(1, 65535))
    ->group(g);
  app
    .add_option("--memory-budget", h.memory_budget,
                "the node's memory budget in bytes (the RSS goal; given to "
                "a started collabd)")
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--baseline", h.baseline,
                "seconds of the window without abuse (default --duration)")
    ->group(g);
  app
    .add_option("--settle", h.settle,
                "seconds to wait for the honest ops of a window to be "
                "acked after the abuse stopped")
    ->capture_default_str()
    ->group(g);
  app
    .add_option("--p99-floor-ms", h.p99_floor_ms,
                "a baseline p99 below this counts as this in the 2x goal")
    ->capture_default_str()
    ->group(g);
  add_pattern_options(app, h);
}

void apply_hostile_defaults(const CLI::App& app, bench_options& o) {
  if (app.count("--docs") == 0)
    o.docs = 20;
  if (app.count("--clients") == 0)
    o.clients = 2;
  if (app.count("--rate") == 0 && app.count("--total-rate") == 0)
    o.rate = 5;
  o.hostile.patterns.clear();
  const std::string& t = o.hostile.patterns_text;
  for (size_t b = 0; b <= t.size();) {
    const size_t e = std::min(t.find(',', b), t.size());
    if (e > b)
      o.hostile.patterns.push_back(t.substr(b, e - b));
    b = e + 1;
  }
  o.hostile.budget_given = app.count("--memory-budget") > 0;
  if (o.hostile.baseline < 0)
    o.hostile.baseline = o.duration;
}

} // namespace collab::bench
