// The PostgreSQL document store (libpqxx 6.4): the durable implementation of
// document_store.hpp. Schema and migrations: pg_schema.cpp. Group commit:
// pg_writer.cpp. Reads, snapshots and retention: pg_reader.cpp. Connections,
// timeouts, backoff and the watchdog: pg_connection.cpp.
//
// Shape:
//
//   document actors ──request──> store actor ──queue──> writer thread (1 conn)
//                                    ^        ├─queue──> large-commit writer (1
//                                    conn) ^        └─queue──> reader threads
//                                    (N conns) └──── anon_send(done, jobs)
//                                    ────┘
//
// The two writers commit different documents (a document actor has one
// commit in flight at a time), so they never wait for each other's locks.
//
// The store actor never touches libpqxx: it wraps each request in a job that
// carries its response promise, queues it, and delivers the promise when a
// thread sends the finished job back. Every libpqxx call runs on the store's
// own threads, so a slow or dead PostgreSQL never blocks an actor thread.
//
// Outages: a request fails with store_errc::unavailable (never hangs) when
// PostgreSQL is down, slow (statement_timeout; a watchdog cuts a connection
// stuck past its deadline), or the queue is too long or too old. Connections
// come back with capped exponential backoff. A commit whose COMMIT outcome is
// unknown is answered only after it was verified on a new connection.
//
// Thread-safety: spawn_pg_store and stop_pg_store are called from main (or any
// non-actor thread); pg_status may be read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>

#include "persistence/document_store.hpp"

namespace collab {

// Health and counters of one pg store, shared with /readyz and benchmarks.
// Thread-safety: every member function may be called from any thread.
class pg_status {
public:
  // True once a connection was established and the schema is current, and no
  // connection of the store is failing right now.
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  // "ok", "starting", or the last failure, e.g. "writer: connection refused".
  std::string reason() const;

  // Called by the store's threads. `source` names a connection ("writer",
  // "reader-0"); a source is failing from report_down until report_up.
  void report_up(const std::string& source);
  void report_down(const std::string& source, const std::string& why);

  // Group-commit counters (monotonic). batch_hist[k] counts batches of
  // 2^k .. 2^(k+1)-1 requests.
  struct counters {
    uint64_t batches = 0;
    uint64_t commits = 0; // answered successfully
    uint64_t ops = 0; // made durable
    uint64_t failed = 0; // commit requests answered with an error
    uint64_t in_doubt = 0; // batches whose COMMIT outcome was unknown
    uint64_t refused = 0; // batches refused for their data (then split)
    uint64_t rejected = 0; // commit requests answered rejected
    uint64_t max_batch = 0; // most requests in one batch
    std::vector<uint64_t> batch_hist = std::vector<uint64_t>(20, 0);
  };
  counters snapshot() const;
  void record_batch(uint64_t requests, uint64_t ok, uint64_t ops,
                    uint64_t failed);
  void record_in_doubt();
  void record_refused(uint64_t rejected);

private:
  mutable std::mutex mtx_;
  std::atomic<bool> ready_{false};
  bool started_ = false; // first connection up
  std::map<std::string, std::string> down_; // failing sources
  std::string last_error_;
  counters counters_;
};

// Test-only fault points (pg_store_options::fault_hook). The hook runs on the
// writer thread; it may block (to hold a batch) or throw a pqxx exception.
enum class pg_fault : uint8_t {
  before_take, // commits are queued; the writer is about to take them
  before_commit, // the batch's rows are written, COMMIT not sent yet
  after_commit, // COMMIT returned success
};

struct pg_store_options {
  // libpq URI, e.g. postgresql://collab@127.0.0.1:5432/collab (keyword form
  // "host=... dbname=..." works too). connect_timeout and TCP keepalives are
  // appended by the store.
  std::string url;
  // Empty: tables live in the connection's default schema. Otherwise the
  // schema is created if missing and used (tests use a fresh one each).
  std::string schema;
  // application_name of the store's connections (pg_stat_activity).
  std::string application_name = "collab";
  size_t readers = 2; // reader threads (one connection each)
  size_t max_batch_ops = 8192; // ops in one group-commit transaction
  // A commit whose ops are this large (op_bytes, summed) goes to a writer
  // of its own: a batch carrying a megabyte of ops takes tens of ms to
  // commit, and the small commits of every other document must not wait
  // behind it (docs/DESIGN.md contract 6). 0: one writer for everything.
  uint64_t large_commit_bytes = 64 * 1024;
  size_t max_queued_ops = 200000; // refuse commits beyond (unavailable)
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds statement_timeout{5000};
  // A request still queued after this long fails with unavailable without
  // being executed (so it can never commit after its caller gave up).
  std::chrono::milliseconds queue_timeout{5000};
  std::chrono::milliseconds min_backoff{50};
  std::chrono::milliseconds max_backoff{2000};
  // Keep this many revisions of ops before each document's latest snapshot;
  // older ops are deleted every retention_interval. 0 = keep everything.
  uint64_t ops_retention = 0;
  std::chrono::milliseconds retention_interval{60000};
  // Bounds of one load's tail and one read_ops answer (store_limits.hpp).
  store_limits limits;
  // Shared health and counters; created by spawn_pg_store when null.
  std::shared_ptr<pg_status> status;
  // Tests only: fault injection on the writer thread.
  std::function<void(pg_fault)> fault_hook;
};

// Starts the store's threads and actor. Connects lazily: the call does not
// block on PostgreSQL; status->ready() says when it is up.
document_store_actor spawn_pg_store(caf::actor_system& sys,
                                    pg_store_options opts);

// Stops a store made by spawn_pg_store: lets the writer commit what is queued
// (if PostgreSQL is reachable), fails every other queued request with
// unavailable, joins the threads, delivers the last answers and stops the
// actor. Blocks for at most a few seconds (the connect and statement
// timeouts) when PostgreSQL hangs; a batch whose COMMIT outcome is still
// unknown then stays unanswered (logged), never answered wrongly.
// REQUIRES: not called from an actor thread; called before the actor system is
// destroyed. Calling it twice, or with another actor, does nothing.
void stop_pg_store(const document_store_actor& store);

} // namespace collab
