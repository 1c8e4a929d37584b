// The configuration of one collabd node: every setting with its default.
// Sources, strongest first: command line, environment (COLLAB_*), a config
// file (--config FILE, INI/TOML), the defaults below. collabd starts with
// no file at all. See config/collabd.example.toml for the documented file.
//
// Thread-safety: filled once at start-up, then read-only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace collab {

struct node_config {
  // Identity and listeners.
  std::string node_id = "node-1";
  std::string bind = "127.0.0.1";
  uint16_t client_port = 8080;  // 0: pick a free port
  int io_threads = 1;
  std::string tls_cert;         // PEM chain: the client port speaks TLS
  std::string tls_key;          // its private key (PEM)
  int actor_threads = 2;

  // Authentication.
  std::string jwt_secret;       // empty: a random one (development only)
  std::string jwt_public_key;   // PEM file of an RS256 public key; empty: none
  int64_t jwt_leeway = 30;      // seconds, 0..30
  std::vector<std::string> allowed_origins;  // empty: this node's own URL
  bool dev = false;             // development mode: prints a token

  // The demo page and the admin endpoint.
  std::string web_dir;          // built web assets; empty: <exe dir>/../web
  uint16_t admin_port = 0;      // 0: no admin endpoint
  std::string admin_bind = "127.0.0.1";
  std::string admin_token;      // required with an admin port (dev: random)

  // Limits and backpressure.
  uint64_t max_frame_bytes = 1 << 20;
  uint64_t max_doc_bytes = 64ull << 20;
  double rate_limit = 500;      // messages per second per connection
  double rate_burst = 1000;
  uint64_t send_queue_bytes = 16ull << 20;

  // Documents.
  uint64_t history_window = 10000;  // ops kept for transform
  int64_t doc_idle_ms = 60000;      // passivate an unsubscribed doc after this
  uint64_t snapshot_every = 1000;   // ops between snapshots
  int64_t snapshot_quiet_ms = 5000; // or a snapshot after this quiet

  // Storage and cluster (used from the durability and cluster issues on).
  std::string pg_url;              // empty: documents live in memory only
  std::string redis_url;           // empty: resume is served from the store
  uint64_t stream_maxlen = 10000;  // Redis stream entries kept per document
  uint64_t ops_retention = 0;      // ops kept behind the latest snapshot; 0: all
  int64_t retention_interval_ms = 60000;  // how often retention runs
  uint16_t cluster_port = 0;       // 0: a single node, no cluster
  std::string cluster_bind = "127.0.0.1";  // BASP has no auth: keep private
  std::vector<std::string> seeds;
  // Mutual TLS between nodes: all three, or none (plain BASP).
  std::string cluster_tls_cert;    // this node's certificate chain (PEM)
  std::string cluster_tls_key;     // its private key (PEM)
  std::string cluster_tls_ca;      // the CA that signed every node (PEM)

  std::string log_level = "info";
};

// Parses argv, the environment and an optional config file into `cfg`.
// Returns -1 when the node should start, else the process exit code (0 after
// --help, 2 on a bad option, with the message already printed).
int parse_node_config(int argc, char** argv, node_config& cfg);

} // namespace collab
