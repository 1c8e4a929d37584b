// Option parsing (CLI11) and token minting (libjwt) for collab-bench; see
// options.hpp. CLI11 reports usage errors by exception: that happens once,
// at start-up, never in the measured loop.
#include "options.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>

#include <CLI/CLI.hpp>
#include <jwt.h>

#include "source_addrs.hpp"

namespace collab::bench {

double bench_options::per_client_rate() const {
  if (total_rate >= 0) {
    const double n = double(docs) * double(authors_per_doc());
    return (total_rate <= 0 || n <= 0) ? 0.0 : total_rate / n;
  }
  return rate;
}

bool parse_url(const std::string& url, endpoint& out, std::string& why) {
  const std::string scheme = "ws://";
  if (url.rfind("wss://", 0) == 0) {
    why = "wss:// is not supported by collab-bench (no TLS): " + url;
    return false;
  }
  if (url.rfind(scheme, 0) != 0) {
    why = "url must start with ws://: " + url;
    return false;
  }
  std::string rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  out.path = slash == std::string::npos ? "/v1/ws" : rest.substr(slash);
  if (hostport.empty()) {
    why = "url has no host: " + url;
    return false;
  }
  if (hostport.front() == '[') { // [v6]:port
    const auto close = hostport.find(']');
    if (close == std::string::npos) {
      why = "bad IPv6 literal: " + url;
      return false;
    }
    out.host = hostport.substr(1, close - 1);
    out.port = close + 1 < hostport.size() && hostport[close + 1] == ':'
                 ? hostport.substr(close + 2)
                 : "80";
  } else {
    const auto colon = hostport.rfind(':');
    out.host = hostport.substr(0, colon);
    out.port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  }
  if (out.host.empty() || out.port.empty()
      || out.port.find_first_not_of("0123456789") != std::string::npos) {
    why = "bad host or port: " + url;
    return false;
  }
  return true;
}

std::string mint_token(const std::string& secret, const std::string& sub,
                       int64_t ttl_seconds, const char* grants) {
  jwt_t* j = nullptr;
  if (jwt_new(&j) != 0 || j == nullptr)
    return {};
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::string out;
  const bool ok
    = jwt_set_alg(j, JWT_ALG_HS256,
                  reinterpret_cast<const unsigned char*>(secret.data()),
                  static_cast<int>(secret.size()))
        == 0
      && jwt_add_grant(j, "sub", sub.c_str()) == 0
      && jwt_add_grant_int(j, "iat", static_cast<long>(now)) == 0
      && jwt_add_grant_int(j, "exp", static_cast<long>(now + ttl_seconds)) == 0
      && jwt_add_grants_json(j, grants) == 0;
  if (ok) {
    char* s = jwt_encode_str(j);
    if (s != nullptr) {
      out = s;
      std::free(s); // libjwt 1.10 has no jwt_free_str
    }
  }
  jwt_free(j);
  return out;
}

namespace {

// What the command line says about the server, before it becomes o.urls,
// o.secret and o.token.
struct server_args {
  std::vector<std::string> urls;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string secret;
  bool no_reconnect = false;
  bool no_batch = false;
};

// Where the server is and how to authenticate.
void add_server_options(CLI::App& app, bench_options& o, server_args& a) {
  app.add_option("--url", a.urls,
                 "ws://host:port/v1/ws endpoint; repeat to spread clients "
                 "over nodes round-robin (default from --host/--port)");
  app.add_option("--host", a.host, "server host when no --url")
    ->capture_default_str();
  app.add_option("--port", a.port, "server client port when no --url")
    ->capture_default_str();
  app.add_option("--secret", a.secret, "HS256 secret to mint the token")
    ->envname("COLLAB_JWT_SECRET");
  app.add_option("--token", o.token,
                 "use this bearer token instead of minting");
  app.add_option("--sub", o.sub, "token subject when minting")
    ->capture_default_str();
  app
    .add_option("--source-addrs", o.source_addrs,
                "bind outgoing sockets to these local addresses, "
                "round-robin: a list, IPv4 ranges allowed (e.g. "
                "127.0.0.1,127.0.0.2 or 127.0.0.1-127.0.0.32). Each adds "
                "~28,000 ephemeral ports towards one server address, and "
                "the kernel finds a free port faster when each address "
                "holds a few hundred connections, not thousands")
    ->delimiter(',');
}

// The load: documents, clients, rates, edits.
void add_load_options(CLI::App& app, bench_options& o) {
  app.add_option("--docs,-d", o.docs, "documents")
    ->check(CLI::Range(1, 1000000))
    ->capture_default_str();
  app.add_option("--clients,-c", o.clients, "clients per document")
    ->check(CLI::Range(1, 100000))
    ->capture_default_str();
  auto* rate = app
                 .add_option("--rate,-r", o.rate,
                             "ops/s per client (0 = saturation: next op as "
                             "soon as the previous one is acked)")
                 ->check(CLI::NonNegativeNumber)
                 ->capture_default_str();
  app
    .add_option("--total-rate", o.total_rate,
                "ops/s over all clients, spread evenly (0 = saturation)")
    ->check(CLI::NonNegativeNumber)
    ->excludes(rate);
  app
    .add_option("--replicas", o.replicas,
                "clients per document keeping a text replica, checked for "
                "convergence (-1 = all); the others insert at the start and "
                "apply nothing (crowds)")
    ->check(CLI::Range(-1, 100000))
    ->capture_default_str();
  app
    .add_option("--authors", o.authors,
                "clients per document that edit (-1 = all); the others only "
                "read (viewers)")
    ->check(CLI::Range(-1, 100000))
    ->capture_default_str();
  app
    .add_option("--probes", o.probes,
                "viewers per document that time every delivery (-1 = all); "
                "the others read only the revisions of `ops` frames (crowds)")
    ->check(CLI::Range(-1, 100000))
    ->capture_default_str();
  app.add_option("--duration", o.duration, "measured seconds")
    ->check(CLI::PositiveNumber)
    ->capture_default_str();
  app.add_option("--warmup", o.warmup, "unmeasured seconds before the window")
    ->check(CLI::NonNegativeNumber)
    ->capture_default_str();
  app.add_option("--op-size", o.op_size, "code points per insert")
    ->check(CLI::Range(1, 1000000))
    ->capture_default_str();
  app
    .add_option("--delete-ratio", o.delete_ratio, "fraction of edits deleting")
    ->check(CLI::Range(0.0, 1.0))
    ->capture_default_str();
  app
    .add_option("--max-doc-chars", o.max_doc_chars,
                "above this length every edit deletes")
    ->capture_default_str();
  app.add_flag("--ascii", o.ascii,
               "insert only [a-z] (default also inserts 2-, 3- and 4-byte "
               "UTF-8 code points)");
  app.add_option("--doc-prefix", o.doc_prefix,
                 "document ids are PREFIX<n> (default bench-<random>/d)");
  app.add_option("--threads,-t", o.threads, "io threads")
    ->check(CLI::Range(1, 64))
    ->capture_default_str();
  app.add_option("--seed", o.seed, "random seed (0 = random)");
}

// Output, timeouts, reconnection, verification.
void add_run_options(CLI::App& app, bench_options& o, server_args& a) {
  app.add_flag("--json", o.json, "print one JSON object instead of the report");
  app.add_option("--pid,--server-pid", o.pid,
                 "sample this server process's CPU and RSS");
  app
    .add_option("--connect-timeout", o.connect_timeout,
                "seconds for all clients to join")
    ->capture_default_str();
  app
    .add_option("--drain-timeout", o.drain_timeout,
                "seconds to wait for acks and convergence after the run")
    ->capture_default_str();
  app.add_flag("--no-reconnect", a.no_reconnect,
               "do not reconnect (and resume) after a disconnect");
  app.add_flag("--no-batch", a.no_batch,
               "one frame per op (v1) instead of batched delivery");
  app
    .add_option("--verify-docs", o.verify_docs,
                "docs to compare with GET /v1/docs/{id} (-1 = all, 0 = none)")
    ->capture_default_str();
  app
    .add_option("--tolerate", o.tolerate,
                "error codes that are reported but do not fail the run "
                "(e.g. rate_limited,unavailable)")
    ->delimiter(',');
}

// The options the parsed ones imply: endpoints, seed, document prefix,
// token. Returns -1 to go on, else the exit code (after a message).
int complete_options(bench_options& o, server_args& a) {
  if (a.urls.empty())
    a.urls.push_back("ws://" + a.host + ":" + std::to_string(a.port)
                     + "/v1/ws");
  for (const auto& u : a.urls) {
    endpoint ep;
    std::string why;
    if (!parse_url(u, ep, why)) {
      std::fprintf(stderr, "collab-bench: %s\n", why.c_str());
      return 2;
    }
    o.urls.push_back(ep);
  }
  if (o.seed == 0)
    o.seed = std::random_device{}() | (uint64_t(std::random_device{}()) << 32);
  if (o.doc_prefix.empty()) {
    std::mt19937_64 rng(o.seed);
    char buf[32];
    std::snprintf(buf, sizeof buf, "bench-%08llx/d",
                  static_cast<unsigned long long>(rng() & 0xffffffffULL));
    o.doc_prefix = buf;
  }
  o.secret = a.secret;
  std::string why;
  if (!set_source_addrs(o.source_addrs, why)) {
    std::fprintf(stderr, "collab-bench: %s\n", why.c_str());
    return 2;
  }
  if (o.hostile.enabled) {
    // Tokens are minted per role once the server runs (hostile_run.cpp).
    if (a.secret.empty() && o.hostile.collabd.empty()) {
      std::fprintf(stderr, "collab-bench: --hostile needs --secret (or "
                           "COLLAB_JWT_SECRET) or --collabd\n");
      return 2;
    }
    return -1;
  }
  if (o.token.empty()) {
    if (a.secret.empty()) {
      std::fprintf(stderr, "collab-bench: need --secret, COLLAB_JWT_SECRET or "
                           "--token\n");
      return 2;
    }
    const auto ttl = static_cast<int64_t>(o.warmup + o.duration
                                          + o.connect_timeout + o.drain_timeout)
                     + 3600;
    o.token = mint_token(a.secret, o.sub, ttl);
    o.viewer_token = mint_token(a.secret, o.sub, ttl,
                                R"({"docs":[],"read":["*"]})");
    if (o.token.empty() || o.viewer_token.empty()) {
      std::fprintf(stderr, "collab-bench: could not mint a token\n");
      return 2;
    }
  }
  return -1;
}

} // namespace

int parse_options(int argc, char** argv, bench_options& o) {
  CLI::App app{"collab-bench: load generator and convergence checker for "
               "collabd (PROTOCOL.md v1)"};
  server_args a;
  add_server_options(app, o, a);
  add_load_options(app, o);
  add_run_options(app, o, a);
  add_hostile_options(app, o.hostile);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  o.reconnect = !a.no_reconnect;
  o.batch = !a.no_batch;
  o.hostile.enabled = app.count("--hostile") > 0;
  if (o.hostile.enabled)
    apply_hostile_defaults(app, o);

  return complete_options(o, a);
}

} // namespace collab::bench
