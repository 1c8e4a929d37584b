// Command-line options of collab-bench and what is derived from them before
// the run starts: the list of WebSocket endpoints (several --url spread the
// clients over cluster nodes round-robin), the per-client op rate, the run's
// random document prefix and the bearer token (given with --token, or minted
// here as HS256 with libjwt from --secret / COLLAB_JWT_SECRET, with claims
// sub, iat, exp and docs: ["*"]).
//
// Thread-safety: parsed once in main before any I/O thread starts; read-only
// afterwards.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
} // namespace CLI

namespace collab::bench {

// One ws://host:port/path endpoint.
struct endpoint {
  std::string host;
  std::string port;
  std::string path; // e.g. /v1/ws
  std::string text() const { return "ws://" + host + ":" + port + path; }
};

// --hostile (hostile.hpp): which abuse patterns run next to the honest
// workload, the server they run against and the size of each abuse.
struct hostile_options {
  bool enabled = false;
  std::string patterns_text; // --hostile's value as given
  std::vector<std::string> patterns; // split at ','; empty: all
  std::string collabd; // start this binary (else --pid)
  std::vector<std::string> collabd_env; // KEY=VALUE for the started collabd
  std::string collabd_log; // copy its output to this file
  int fd_limit = 0; // RLIMIT_NOFILE of the started one
  int cluster_port = 0; // BASP port for `basp` (0: skipped)
  uint64_t memory_budget = 4294967296; // the node's COLLAB_MEMORY_BUDGET_BYTES
  bool budget_given = false; // pass it to the started collabd
  double baseline = -1; // seconds; < 0: --duration
  double settle = 60; // wait for the window's ops, seconds
  double p99_floor_ms = 5; // baselines below count as this
  // sizes of the abuses
  int churn_cycles = 100000;
  int sockets = 3000;
  int idle_sockets = 10000; // idle: sockets, each its own user
  int idle_docs = 2000; // idle: the documents they join
  int idle_concurrency = 256; // idle: sockets being set up at once
  double idle_ping_s = 0; // idle: each socket pings this often (0: never)
  std::string idle_phase = "join"; // idle: the last step (tcp, upgrade,
                                   // hello, join)
  int docs_per_socket = 20000;
  int http_gets = 3000;
  int slow_subscribers = 32;
  int slow_op_bytes = 65536;
  int presence_sessions = 32;
  int presence_rate = 200; // per session and second
  int flood_sockets = 4;
  int flood_frame_bytes = 800000;
  int big_ops = 2;
  int big_op_components = 300000;
  int big_op_history = 2000;
  int history_op_bytes = 900000;
  int nul_rate = 20; // ops/s of the poisoned client
};

struct bench_options {
  std::vector<endpoint> urls;
  std::string token; // bearer token for the upgrade and the HTTP API
  // Minted: the viewers' token (beyond --authors), which may only read.
  std::string viewer_token;
  std::string secret; // HS256 secret (--hostile mints more tokens)
  std::string sub = "collab-bench";
  // Local addresses every outgoing socket binds to, round-robin
  // (source_addrs.hpp); empty: the kernel picks.
  std::vector<std::string> source_addrs;
  int docs = 100;
  int clients = 4; // per document
  double rate = 10; // ops/s per client; 0 = saturation (closed loop)
  double total_rate = -1; // < 0: unset
  double duration = 10; // measured window, seconds
  double warmup = 1; // seconds before the window, not measured
  int op_size = 4; // code points per insert (deletes: 1..op_size)
  double delete_ratio = 0.2; // fraction of edits that delete
  uint64_t max_doc_chars = 20000; // above this every edit deletes
  bool ascii = false; // only [a-z] in inserts (default mixes in
                      // multi-byte and astral code points)
  std::string doc_prefix; // random per run unless given
  int threads = 1; // io threads
  uint64_t seed = 0; // 0: random
  bool json = false;
  int pid = 0; // server pid to sample CPU and RSS
  double connect_timeout = 30;
  double drain_timeout = 30;
  bool reconnect = true;
  bool batch = true; // hello asks for batched delivery (docs/PROTOCOL.md)
  // Clients per document that keep a replica of the text (-1: all). The
  // others are light: they insert at the start, follow revisions and
  // latencies, and apply nothing, so that one load-generator core can play
  // a crowd of a thousand authors on one document.
  int replicas = -1;
  // Clients per document that edit (-1: all); the others only read
  // (viewers of a lecture, an all-hands).
  int authors = -1;
  // Viewers per document that time every delivery (-1: all). The others
  // skim `ops` frames (revisions only, no parse), so that one load-
  // generator core can read for a crowd of ten thousand viewers; the
  // delivery latency is then a sample: the authors and these viewers.
  int probes = -1;
  int authors_per_doc() const {
    return authors < 0 ? clients : std::min(authors, clients);
  }
  int verify_docs = -1; // docs to fetch over HTTP; -1 = all, 0 = none
  std::vector<std::string> tolerate; // error codes that do not fail the run
  hostile_options hostile;

  // ops/s per client after resolving --total-rate; 0 = saturation.
  double per_client_rate() const;
  bool saturation() const { return per_client_rate() <= 0; }
};

// Registers the --hostile options (hostile_options.cpp), and after parsing
// fills in what --hostile changes in the honest workload's defaults.
void add_hostile_options(CLI::App& app, hostile_options& h);
void apply_hostile_defaults(const CLI::App& app, bench_options& o);

// Parses argv into `out`. Returns -1 to continue, otherwise the exit code
// (0 after --help, 2 on a usage error, with the message already printed).
int parse_options(int argc, char** argv, bench_options& out);

// Parses "ws://host[:port][/path]"; false with `why` on anything else.
bool parse_url(const std::string& url, endpoint& out, std::string& why);

// HS256 token with sub, iat, exp = now + ttl and `grants` (JSON: docs =
// ["*"] by default, or docs = [] and read = ["*"] for a reader). Empty string
// on failure.
std::string mint_token(const std::string& secret, const std::string& sub,
                       int64_t ttl_seconds,
                       const char* grants = R"({"docs":["*"]})");

} // namespace collab::bench
