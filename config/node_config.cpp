// CLI11 binds each node_config field to a flag, an environment variable and
// a config-file key of the same name, so the three sources cannot drift.
#include "config/node_config.hpp"

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include <CLI/CLI.hpp>

namespace collab {
namespace {

// CLI11 lets a config file override environment variables; we want the
// environment to win over the file. So every COLLAB_* variable becomes a
// command-line argument, unless that option is on the real command line.
std::vector<std::string> with_environment(const CLI::App& app, int argc,
                                          char** argv) {
  std::vector<std::string> args{argv, argv + argc};
  for (const auto* opt : app.get_options()) {
    auto env = opt->get_envname();
    const char* value = env.empty() ? nullptr : std::getenv(env.c_str());
    // Empty is unset (COLLAB_SEEDS= means no seeds): "--seeds=" would take
    // the next argument as its value.
    if (value == nullptr || *value == '\0')
      continue;
    auto flag = "--" + opt->get_single_name();
    bool on_command_line = false;
    for (int i = 1; i < argc; ++i) {
      std::string_view a{argv[i]};
      if (a == flag || a.rfind(flag + "=", 0) == 0)
        on_command_line = true;
    }
    if (on_command_line)
      continue;
    if (opt->get_type_size() == 0) { // a flag: COLLAB_DEV=1/true/0/false
      std::string_view v{value};
      if (v == "1" || v == "true" || v == "yes" || v == "on")
        args.insert(args.begin() + 1, flag);
    } else {
      args.insert(args.begin() + 1, flag + "=" + value);
    }
  }
  return args;
}

// `--name` bound to a field, read from `env` too, its default shown in
// --help.
auto option_adder(CLI::App& app) {
  return
    [&app](const char* name, auto& field, const char* env, const char* help) {
      return app.add_option(std::string("--") + name, field, help)
        ->envname(env)
        ->capture_default_str();
    };
}

// The client and admin listeners, tokens, development mode.
void add_client_options(CLI::App& app, node_config& cfg) {
  auto opt = option_adder(app);
  opt("node-id", cfg.node_id, "COLLAB_NODE_ID", "node id shown to clients");
  opt("bind", cfg.bind, "COLLAB_BIND", "client listener address");
  opt("client-port", cfg.client_port, "COLLAB_CLIENT_PORT",
      "client (HTTP and WebSocket) port; 0 picks a free one");
  opt("tls-cert", cfg.tls_cert, "COLLAB_TLS_CERT",
      "certificate chain (PEM) for TLS on the client port (wss, https)");
  opt("tls-key", cfg.tls_key, "COLLAB_TLS_KEY",
      "private key (PEM) of --tls-cert");
  opt("io-threads", cfg.io_threads, "COLLAB_IO_THREADS",
      "threads running the network I/O")
    ->check(CLI::Range(1, 64));
  opt("actor-threads", cfg.actor_threads, "COLLAB_ACTOR_THREADS",
      "threads running actors")
    ->check(CLI::Range(1, 64));
  opt("scheduler", cfg.scheduler, "COLLAB_SCHEDULER",
      "how actor threads find work: sharing (one queue; idle threads "
      "sleep) or stealing (a queue per thread; idle threads poll)")
    ->check(CLI::IsMember({"sharing", "stealing"}));
  opt("jwt-secret", cfg.jwt_secret, "COLLAB_JWT_SECRET",
      "HS256 secret for client tokens (empty: random, development only)");
  opt("jwt-public-key", cfg.jwt_public_key, "COLLAB_JWT_PUBLIC_KEY",
      "PEM file of an RSA public key: RS256 tokens signed with its private "
      "key are accepted too");
  opt("jwt-leeway", cfg.jwt_leeway, "COLLAB_JWT_LEEWAY",
      "seconds of clock-skew leeway for exp/nbf")
    ->check(CLI::Range(0, 30));
  opt("allowed-origins", cfg.allowed_origins, "COLLAB_ALLOWED_ORIGINS",
      "Origins allowed to open WebSockets (comma-separated; * = any)")
    ->delimiter(',');
  opt("jwt-audience", cfg.jwt_audience, "COLLAB_JWT_AUDIENCE",
      "tokens must carry this `aud` (empty: not checked)");
  opt("jwt-issuer", cfg.jwt_issuer, "COLLAB_JWT_ISSUER",
      "tokens must carry this `iss` (empty: not checked)");
  app.add_flag("--dev", cfg.dev, "development mode: print a dev token")
    ->envname("COLLAB_DEV");
  opt("web-dir", cfg.web_dir, "COLLAB_WEB_DIR",
      "directory of the built demo page (empty: <collabd dir>/../web)");
  opt("admin-port", cfg.admin_port, "COLLAB_ADMIN_PORT",
      "admin API port (0: none); see docs/ADMIN.md");
  opt("admin-bind", cfg.admin_bind, "COLLAB_ADMIN_BIND",
      "admin API address (keep it private)");
  opt("admin-token", cfg.admin_token, "COLLAB_ADMIN_TOKEN",
      "bearer token of the admin API (required with an admin port)");
}

// Bounds of sockets, messages, documents and the node (docs/ISOLATION.md).
void add_limit_options(CLI::App& app, node_config& cfg) {
  auto opt = option_adder(app);
  opt("max-frame-bytes", cfg.max_frame_bytes, "COLLAB_MAX_FRAME_BYTES",
      "largest WebSocket frame (close 1009 above)");
  opt("max-doc-bytes", cfg.max_doc_bytes, "COLLAB_MAX_DOC_BYTES",
      "largest document in UTF-8 bytes (too_large above)");
  opt("rate-limit", cfg.rate_limit, "COLLAB_RATE_LIMIT",
      "messages per second per connection");
  opt("rate-burst", cfg.rate_burst, "COLLAB_RATE_BURST",
      "burst size of the per-connection rate limit");
  opt("send-queue-bytes", cfg.send_queue_bytes, "COLLAB_SEND_QUEUE_BYTES",
      "outbound bytes queued per socket before it is closed 1013");
  opt("max-op-components", cfg.max_op_components, "COLLAB_MAX_OP_COMPONENTS",
      "components of one op (too_large above)")
    ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));
  opt("max-transform-work", cfg.max_transform_work, "COLLAB_MAX_TRANSFORM_WORK",
      "op components x ops to transform over, per op (rev_too_old above)")
    ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 50));
  opt("max-input-bytes", cfg.max_input_bytes, "COLLAB_MAX_INPUT_BYTES",
      "a socket's received, unprocessed bytes before it stops reading");
  opt(
    "rate-limit-bytes", cfg.rate_limit_bytes, "COLLAB_RATE_LIMIT_BYTES",
    "inbound bytes per second per socket (over it, the socket is read slower)");
  opt("rate-burst-bytes", cfg.rate_burst_bytes, "COLLAB_RATE_BURST_BYTES",
      "burst size of the per-connection byte rate limit");
  opt("max-docs-per-socket", cfg.max_docs_per_socket,
      "COLLAB_MAX_DOCS_PER_SOCKET", "documents one socket may join at once")
    ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000}));
  opt("max-sockets-per-user", cfg.max_sockets_per_user,
      "COLLAB_MAX_SOCKETS_PER_USER", "open sockets of one user on this node")
    ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000}));
  opt("max-live-docs", cfg.max_live_docs, "COLLAB_MAX_LIVE_DOCS",
      "document actors live on this node")
    ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));
  opt("max-concurrent-activations", cfg.max_concurrent_activations,
      "COLLAB_MAX_CONCURRENT_ACTIVATIONS",
      "documents loading from the store at once on this node")
    ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000}));
  opt("history-bytes", cfg.history_bytes, "COLLAB_HISTORY_BYTES",
      "bytes of ops kept in memory per document for transform");
  opt("stream-max-bytes", cfg.stream_max_bytes, "COLLAB_STREAM_MAX_BYTES",
      "bytes of replay-log entries kept per document in Redis");
  opt("send-queue-node-bytes", cfg.send_queue_node_bytes,
      "COLLAB_SEND_QUEUE_NODE_BYTES",
      "outbound bytes queued on all sockets of the node (slowest close 1013)");
  opt("memory-budget-bytes", cfg.memory_budget_bytes,
      "COLLAB_MEMORY_BUDGET_BYTES",
      "accounted memory of the node: histories, input and output queues");
}

// Timers, health, resume and the documents' history and snapshots.
void add_document_options(CLI::App& app, node_config& cfg) {
  auto opt = option_adder(app);
  opt("presence-tick-ms", cfg.presence_tick_ms, "COLLAB_PRESENCE_TICK_MS",
      "presence is coalesced per document per tick (last per session wins)")
    ->check(CLI::Range(int64_t{0}, int64_t{10'000}));
  opt("batch-tick-max-ms", cfg.batch_tick_max_ms, "COLLAB_BATCH_TICK_MAX_MS",
      "batched delivery: the longest a document holds its ops for a batch")
    ->check(CLI::Range(int64_t{0}, int64_t{10'000}));
  opt("batch-frames-per-s", cfg.batch_frames_per_s, "COLLAB_BATCH_FRAMES_PER_S",
      "batched delivery: batch frames per second of one document, all "
      "subscribers together (sets its tick)")
    ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));
  opt("stall-ms", cfg.stall_ms, "COLLAB_STALL_MS",
      "/healthz fails when actor threads stalled this long")
    ->check(CLI::Range(int64_t{100}, int64_t{600'000}));
  opt("max-header-bytes", cfg.max_header_bytes, "COLLAB_MAX_HEADER_BYTES",
      "largest HTTP request head (431 above)")
    ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 20));
  opt("resume-page-ops", cfg.resume_page_ops, "COLLAB_RESUME_PAGE_OPS",
      "ops read from the store per request while resuming")
    ->check(CLI::Range(uint64_t{1}, uint64_t{100'000}));
  opt("history-window", cfg.history_window, "COLLAB_HISTORY_WINDOW",
      "ops kept in memory for transform (older base: rev_too_old)")
    ->check(CLI::Range(uint64_t{1}, uint64_t{10'000'000}));
  opt("doc-idle-ms", cfg.doc_idle_ms, "COLLAB_DOC_IDLE_MS",
      "passivate a document without subscribers after this long");
  opt("snapshot-every", cfg.snapshot_every, "COLLAB_SNAPSHOT_EVERY",
      "ops between snapshots of a document")
    ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}));
  opt("snapshot-quiet-ms", cfg.snapshot_quiet_ms, "COLLAB_SNAPSHOT_QUIET_MS",
      "snapshot a document after this long without commits");
}

// PostgreSQL, Redis and retention.
void add_storage_options(CLI::App& app, node_config& cfg) {
  auto opt = option_adder(app);
  opt("pg-url", cfg.pg_url, "COLLAB_PG_URL", "PostgreSQL connection URL");
  opt("redis-url", cfg.redis_url, "COLLAB_REDIS_URL", "Redis URL");
  opt("stream-maxlen", cfg.stream_maxlen, "COLLAB_STREAM_MAXLEN",
      "replay-log entries kept per document in Redis");
  opt("ops-retention", cfg.ops_retention, "COLLAB_OPS_RETENTION",
      "ops kept in PostgreSQL behind the latest snapshot (0: keep all)");
  opt("retention-interval-ms", cfg.retention_interval_ms,
      "COLLAB_RETENTION_INTERVAL_MS", "how often old ops are deleted")
    ->check(CLI::Range(int64_t{100}, int64_t{86'400'000}));
}

// The cluster transport and how peers prove themselves.
void add_cluster_options(CLI::App& app, node_config& cfg) {
  auto opt = option_adder(app);
  opt("cluster-port", cfg.cluster_port, "COLLAB_CLUSTER_PORT",
      "cluster transport port (0: a single node)");
  opt("cluster-bind", cfg.cluster_bind, "COLLAB_CLUSTER_BIND",
      "cluster transport address (loopback or a private network only)");
  opt("seeds", cfg.seeds, "COLLAB_SEEDS",
      "seed nodes host:port (comma-separated)")
    ->delimiter(',');
  opt("cluster-tls-cert", cfg.cluster_tls_cert, "COLLAB_CLUSTER_TLS_CERT",
      "mutual TLS between nodes: this node's certificate (PEM)");
  opt("cluster-tls-key", cfg.cluster_tls_key, "COLLAB_CLUSTER_TLS_KEY",
      "mutual TLS between nodes: this node's private key (PEM)");
  opt("cluster-tls-ca", cfg.cluster_tls_ca, "COLLAB_CLUSTER_TLS_CA",
      "mutual TLS between nodes: the CA every node's certificate is from");
  opt("cluster-key", cfg.cluster_key, "COLLAB_CLUSTER_KEY",
      "pre-shared key of a plain cluster: peers prove it before BASP");
  opt("cluster-max-frame-bytes", cfg.cluster_max_frame_bytes,
      "COLLAB_CLUSTER_MAX_FRAME_BYTES",
      "largest cluster message (0: 2 x max-doc-bytes + 1 MiB)");
}

} // namespace

int parse_node_config(int argc, char** argv, node_config& cfg) {
  CLI::App app{"collabd: a node of the collab editing cluster"};
  app.set_config("--config", "", "config file (INI or TOML)");
  app.allow_config_extras(false);
  add_client_options(app, cfg);
  add_limit_options(app, cfg);
  add_document_options(app, cfg);
  add_storage_options(app, cfg);
  add_cluster_options(app, cfg);
  auto opt = option_adder(app);
  opt("log-level", cfg.log_level, "COLLAB_LOG_LEVEL",
      "trace, debug, info, warn, error")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  try {
    auto args = with_environment(app, argc, argv);
    std::reverse(args.begin() + 1, args.end()); // CLI11 wants them reversed
    args.erase(args.begin());
    app.parse(std::move(args));
  } catch (const CLI::ParseError& e) {
    return app.exit(e); // prints help or the error; 0 for --help
  }
  return -1;
}

} // namespace collab
