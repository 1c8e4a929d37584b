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
  uint16_t client_port = 8080; // 0: pick a free port
  int io_threads = 1;
  std::string tls_cert; // PEM chain: the client port speaks TLS
  std::string tls_key; // its private key (PEM)
  int actor_threads = 2;
  // How actor threads find work: "sharing" (one queue; a thread sleeps
  // until work comes) or "stealing" (a queue per thread; idle threads poll
  // and steal: CAF's default, which at light load spends ~40 % of the
  // node's CPU polling: bench/BENCHMARKS.md, "The hot path").
  std::string scheduler = "sharing";

  // Authentication.
  std::string jwt_secret; // empty: a random one (development only)
  std::string jwt_public_key; // PEM file of an RS256 public key; empty: none
  int64_t jwt_leeway = 30; // seconds, 0..30
  std::vector<std::string> allowed_origins; // empty: this node's own URL
  bool dev = false; // development mode: prints a token
  std::string jwt_audience; // non-empty: tokens must carry this `aud`
  std::string jwt_issuer; // non-empty: tokens must carry this `iss`

  // The demo page and the admin endpoint.
  std::string web_dir; // built web assets; empty: <exe dir>/../web
  uint16_t admin_port = 0; // 0: no admin endpoint
  std::string admin_bind = "127.0.0.1";
  std::string admin_token; // required with an admin port (dev: random)

  // Limits and backpressure.
  uint64_t max_frame_bytes = 1 << 20;
  uint64_t max_doc_bytes = 64ull << 20;
  double rate_limit = 500; // messages per second per connection
  double rate_burst = 1000;
  uint64_t send_queue_bytes = 16ull << 20;

  // Isolation (docs/DESIGN.md contract 6): what one client, socket, user or
  // document may cost the node. Over a bound: a clear error for the one who
  // went over, never someone else's data or time.
  uint64_t max_op_components = 20000; // components of one op (too_large)
  uint64_t max_transform_work = 1'500'000; // work units of transforming one
                                           // op over the history (about op
                                           // components x ops; ~30 ns each,
                                           // rev_too_old above)
  uint64_t max_input_bytes = 4ull << 20; // a socket's unprocessed input
                                         // before it stops reading
  double rate_limit_bytes = 4 << 20; // inbound bytes per second per socket
  double rate_burst_bytes = 1 << 20; // one largest frame
  uint64_t max_docs_per_socket = 100; // joined at once (too_many)
  uint64_t max_sockets_per_user = 100; // open sockets of one `sub` (429)
  uint64_t max_live_docs = 20000; // document actors on this node
  uint64_t max_concurrent_activations = 256; // documents loading at once
  uint64_t history_bytes = 64ull << 20; // per document, history for
                                        // transform by bytes too
  uint64_t stream_max_bytes = 64ull << 20; // per document in the Redis stream
  uint64_t send_queue_node_bytes = 512ull
                                   << 20; // all sockets' queued output:
                                          // above, the slowest close 1013
  uint64_t memory_budget_bytes = 4ull << 30; // accounted memory of the node
                                             // (history, input, output queues)
  int64_t presence_tick_ms = 50; // presence coalesced per tick
  int64_t batch_tick_max_ms = 150; // batched delivery: the longest tick
  uint64_t batch_frames_per_s = 20000; // batched delivery: frames per
                                       // second of one document (its tick)
  int64_t stall_ms = 5000; // /healthz fails when actor
                           // threads stalled this long
  uint64_t max_header_bytes = 16384; // HTTP request head (431 above)
  uint64_t resume_page_ops = 1000; // ops read per store request

  // Documents.
  uint64_t history_window = 10000; // ops kept for transform
  int64_t doc_idle_ms = 60000; // passivate an unsubscribed doc after this
  uint64_t snapshot_every = 1000; // ops between snapshots
  int64_t snapshot_quiet_ms = 5000; // or a snapshot after this quiet

  // Storage and cluster (used from the durability and cluster issues on).
  std::string pg_url; // empty: documents live in memory only
  std::string redis_url; // empty: resume is served from the store
  uint64_t stream_maxlen = 10000; // Redis stream entries kept per document
  uint64_t ops_retention = 0; // ops kept behind the latest snapshot; 0: all
  int64_t retention_interval_ms = 60000; // how often retention runs
  uint16_t cluster_port = 0; // 0: a single node, no cluster
  std::string cluster_bind = "127.0.0.1"; // BASP has no auth: keep private
  std::vector<std::string> seeds;
  // Mutual TLS between nodes: all three, or none (plain BASP).
  std::string cluster_tls_cert; // this node's certificate chain (PEM)
  std::string cluster_tls_key; // its private key (PEM)
  std::string cluster_tls_ca; // the CA that signed every node (PEM)
  // Plain clusters: a pre-shared key every node proves it holds
  // (challenge-response) before a BASP byte reaches CAF. Required with a
  // cluster port and no TLS outside --dev.
  std::string cluster_key;
  uint64_t cluster_max_frame_bytes = 0; // largest BASP message; 0: derived,
                                        // 2 x max_doc_bytes + 1 MiB

  std::string log_level = "info";
};

// Parses argv, the environment and an optional config file into `cfg`.
// Returns -1 when the node should start, else the process exit code (0 after
// --help; CLI11's non-zero code for a bad option, with the message already
// printed). validate_node_config (node_config_validate.hpp) checks the rest.
int parse_node_config(int argc, char** argv, node_config& cfg);

} // namespace collab
