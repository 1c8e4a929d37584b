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

#include <cstdint>
#include <string>
#include <vector>

namespace collab::bench {

// One ws://host:port/path endpoint.
struct endpoint {
  std::string host;
  std::string port;
  std::string path;          // e.g. /v1/ws
  std::string text() const { return "ws://" + host + ":" + port + path; }
};

struct bench_options {
  std::vector<endpoint> urls;
  std::string token;         // bearer token for the upgrade and the HTTP API
  std::string sub = "collab-bench";
  int docs = 100;
  int clients = 4;           // per document
  double rate = 10;          // ops/s per client; 0 = saturation (closed loop)
  double total_rate = -1;    // < 0: unset
  double duration = 10;      // measured window, seconds
  double warmup = 1;         // seconds before the window, not measured
  int op_size = 4;           // code points per insert (deletes: 1..op_size)
  double delete_ratio = 0.2; // fraction of edits that delete
  uint64_t max_doc_chars = 20000; // above this every edit deletes
  bool ascii = false;        // only [a-z] in inserts (default mixes in
                             // multi-byte and astral code points)
  std::string doc_prefix;    // random per run unless given
  int threads = 1;           // io threads
  uint64_t seed = 0;         // 0: random
  bool json = false;
  int pid = 0;               // server pid to sample CPU and RSS
  double connect_timeout = 30;
  double drain_timeout = 30;
  bool reconnect = true;
  int verify_docs = -1;      // docs to fetch over HTTP; -1 = all, 0 = none
  std::vector<std::string> tolerate; // error codes that do not fail the run

  // ops/s per client after resolving --total-rate; 0 = saturation.
  double per_client_rate() const;
  bool saturation() const { return per_client_rate() <= 0; }
};

// Parses argv into `out`. Returns -1 to continue, otherwise the exit code
// (0 after --help, 2 on a usage error, with the message already printed).
int parse_options(int argc, char** argv, bench_options& out);

// Parses "ws://host[:port][/path]"; false with `why` on anything else.
bool parse_url(const std::string& url, endpoint& out, std::string& why);

// HS256 token with sub, iat, exp = now + ttl and docs = ["*"].
// Empty string on failure.
std::string mint_token(const std::string& secret, const std::string& sub,
                       int64_t ttl_seconds);

} // namespace collab::bench
