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
    if (value == nullptr)
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
    if (opt->get_type_size() == 0) {  // a flag: COLLAB_DEV=1/true/0/false
      std::string_view v{value};
      if (v == "1" || v == "true" || v == "yes" || v == "on")
        args.insert(args.begin() + 1, flag);
    } else {
      args.insert(args.begin() + 1, flag + "=" + value);
    }
  }
  return args;
}

} // namespace

int parse_node_config(int argc, char** argv, node_config& cfg) {
  CLI::App app{"collabd: a node of the collab editing cluster"};
  app.set_config("--config", "", "config file (INI or TOML)");
  app.allow_config_extras(false);
  auto opt = [&](const char* name, auto& field, const char* env,
                 const char* help) {
    return app.add_option(std::string("--") + name, field, help)
      ->envname(env)
      ->capture_default_str();
  };
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
  opt("pg-url", cfg.pg_url, "COLLAB_PG_URL", "PostgreSQL connection URL");
  opt("redis-url", cfg.redis_url, "COLLAB_REDIS_URL", "Redis URL");
  opt("stream-maxlen", cfg.stream_maxlen, "COLLAB_STREAM_MAXLEN",
      "replay-log entries kept per document in Redis");
  opt("ops-retention", cfg.ops_retention, "COLLAB_OPS_RETENTION",
      "ops kept in PostgreSQL behind the latest snapshot (0: keep all)");
  opt("retention-interval-ms", cfg.retention_interval_ms,
      "COLLAB_RETENTION_INTERVAL_MS", "how often old ops are deleted")
    ->check(CLI::Range(int64_t{100}, int64_t{86'400'000}));
  opt("cluster-port", cfg.cluster_port, "COLLAB_CLUSTER_PORT",
      "cluster transport port (0: a single node)");
  opt("cluster-bind", cfg.cluster_bind, "COLLAB_CLUSTER_BIND",
      "cluster transport address (loopback or a private network only)");
  opt("seeds", cfg.seeds, "COLLAB_SEEDS", "seed nodes host:port (comma-separated)")
    ->delimiter(',');
  opt("cluster-tls-cert", cfg.cluster_tls_cert, "COLLAB_CLUSTER_TLS_CERT",
      "mutual TLS between nodes: this node's certificate (PEM)");
  opt("cluster-tls-key", cfg.cluster_tls_key, "COLLAB_CLUSTER_TLS_KEY",
      "mutual TLS between nodes: this node's private key (PEM)");
  opt("cluster-tls-ca", cfg.cluster_tls_ca, "COLLAB_CLUSTER_TLS_CA",
      "mutual TLS between nodes: the CA every node's certificate is from");
  opt("log-level", cfg.log_level, "COLLAB_LOG_LEVEL",
      "trace, debug, info, warn, error")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  try {
    auto args = with_environment(app, argc, argv);
    std::reverse(args.begin() + 1, args.end());  // CLI11 wants them reversed
    args.erase(args.begin());
    app.parse(std::move(args));
  } catch (const CLI::ParseError& e) {
    return app.exit(e);  // prints help or the error; 0 for --help
  }
  return -1;
}

} // namespace collab
