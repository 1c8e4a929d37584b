// Internals of the PostgreSQL store shared by its files (not for other
// layers): the jobs the store actor queues, the queues, the engine that owns
// the threads, a connection with its watchdog slot (link), the one helper
// that turns exceptions into store errors, migrations, and SQL array/row
// codecs.
//
// Threading rules:
// - A job is created on the store actor's thread, run on exactly one store
//   thread, and delivered back on the store actor's thread (engine::finish
//   sends it there). Only that actor ever touches a job's response promise.
// - A link and its pqxx::connection belong to the one thread that made it.
// - queue, watchdog, pg_status and engine::finish are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/error.hpp>
#include <caf/typed_response_promise.hpp>

#include <pqxx/connection>
#include <pqxx/errorhandler>
#include <pqxx/result>
#include <pqxx/row>

#include "actors/core/committed_op.hpp"
#include "persistence/pg_store.hpp"

namespace collab::pg {

using clock = std::chrono::steady_clock;

// ---- jobs

enum class job_kind : uint8_t {
  commit,
  load,
  read_ops,
  find_seq,
  snapshot,
  peek,
};

struct job {
  explicit job(job_kind k) : kind(k) {}
  virtual ~job() = default;
  const job_kind kind;
  clock::time_point enqueued = clock::now();
  // Sets the answer to an error (any thread; before finish()).
  virtual void fail(caf::error err) = 0;
  // Delivers the answer. REQUIRES: runs on the store actor's thread.
  virtual void deliver() = 0;
  // Queue weight (ops for commits, 1 otherwise).
  virtual size_t weight() const { return 1; }
};

using job_ptr = std::shared_ptr<job>;
using job_list = std::vector<job_ptr>;

template<class T>
struct reply_job : job {
  using job::job;
  caf::typed_response_promise<T> promise;
  T value{};
  caf::error err;
  void fail(caf::error e) override { err = std::move(e); }
  void deliver() override {
    if (err)
      promise.deliver(std::move(err));
    else
      promise.deliver(std::move(value));
  }
};

struct commit_job : reply_job<uint64_t> {
  commit_job() : reply_job(job_kind::commit) {}
  std::string doc;
  uint64_t epoch = 0;
  std::vector<committed_op> ops;
  size_t weight() const override { return ops.empty() ? 1 : ops.size(); }
  uint64_t bytes() const {
    uint64_t sum = 0;
    for (auto& o : ops)
      sum += op_bytes(o.op);
    return sum;
  }
};

struct load_job : reply_job<doc_snapshot> {
  load_job() : reply_job(job_kind::load) {}
  std::string doc;
  std::string node;
  uint64_t tail = 0;
};

struct peek_job : reply_job<doc_snapshot> {
  peek_job() : reply_job(job_kind::peek) {}
  std::string doc;
};

struct read_ops_job : reply_job<std::vector<committed_op>> {
  read_ops_job() : reply_job(job_kind::read_ops) {}
  std::string doc;
  uint64_t from = 0;
  uint64_t limit = 0;
};

struct find_seq_job : reply_job<std::vector<committed_op>> {
  find_seq_job() : reply_job(job_kind::find_seq) {}
  std::string doc;
  std::string client;
  uint64_t seq = 0;
};

struct snapshot_job : reply_job<bool> {
  snapshot_job() : reply_job(job_kind::snapshot) {}
  std::string doc;
  uint64_t epoch = 0;
  uint64_t rev = 0;
  ot::rope text;
};

// ---- a job queue (many producers, one or more consumer threads)

class queue {
public:
  // Appends unless the queue is closed or would exceed `max_weight` (a job
  // heavier than max_weight is still accepted into an empty queue).
  // Never blocks beyond a short mutex hold.
  bool push(job_ptr j, size_t max_weight);
  // Waits until a job is queued, the queue is closed, or `wake_at`; then takes
  // jobs in order up to `max_weight` in total (at least one).
  job_list take(size_t max_weight, clock::time_point wake_at);
  // Waits until a job is queued, the queue is closed, or `wake_at`.
  void wait(clock::time_point wake_at);
  // Takes everything without waiting.
  job_list take_all();
  // From now on push fails and take does not wait.
  void close();
  bool closed() const;
  void notify();

private:
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<job_ptr> items_;
  size_t weight_ = 0;
  bool closed_ = false;
};

// ---- the watchdog: cuts a connection whose current work overran its deadline

struct watch_slot {
  std::mutex mtx;
  clock::time_point deadline = clock::time_point::max();
  int fd = -1; // our dup() of the connection's socket, or -1
  std::string name;
  bool fired = false; // cut since armed
};

class watchdog {
public:
  void start();
  void stop(); // joins
  std::shared_ptr<watch_slot> add(std::string name);
  void remove(const std::shared_ptr<watch_slot>& s);

private:
  void run();
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<std::shared_ptr<watch_slot>> slots_;
  std::thread thread_;
};

// ---- the engine: everything the store actor and its threads share

struct engine {
  ~engine(); // shutdown()
  pg_store_options opts;
  std::shared_ptr<pg_status> status;
  std::string conninfo; // opts.url plus timeouts and keepalives
  queue writes;
  queue large_writes; // commits of at least opts.large_commit_bytes
  queue reads;
  std::atomic<bool> stopping{false};
  std::atomic<bool> schema_ready{false};
  watchdog dog;
  std::vector<std::thread> threads;

  // Sends finished jobs to the store actor, which delivers them. Drops them
  // once the actor is gone.
  void finish(job_list jobs);
  void set_actor(caf::actor a);
  void clear_actor();
  // Signals every thread to stop (non-blocking, idempotent).
  void request_stop();
  // request_stop, then joins every thread (idempotent).
  // REQUIRES: not called from a store thread or the store actor.
  void shutdown();

private:
  std::mutex actor_mtx_;
  caf::actor actor_;
  std::mutex join_mtx_;
};

// The threads' bodies; return once e.stopping is set and their work is done.
void run_writer(engine& e, queue& q, const char* name);
void run_reader(engine& e, size_t index);

// ---- one connection, owned by one thread

// A named SQL statement, prepared once per connection.
struct statement {
  const char* name;
  const char* sql;
};

// opts.url plus connect_timeout, TCP keepalives and application_name.
std::string make_conninfo(const pg_store_options& opts);

class link {
public:
  link(engine& e, std::string name);
  ~link();
  link(const link&) = delete;
  link& operator=(const link&) = delete;

  // True when connected. Otherwise connects if the backoff delay has passed
  // (blocking at most about connect_timeout), else returns false at once;
  // last_error() says why.
  bool ensure();
  bool connected() const { return conn_ != nullptr; }
  // REQUIRES: connected().
  pqxx::connection& conn() { return *conn_; }
  // Prepares `s` on this connection unless it already was.
  // REQUIRES: connected(); no transaction open (call it before opening the
  // transaction that uses `s`).
  void prepare(const statement& s);
  // Forgets the connection after a failure and schedules a reconnect.
  void drop(const std::string& why);
  clock::time_point next_attempt() const { return next_attempt_; }
  const std::string& last_error() const { return last_error_; }
  const std::string& name() const { return name_; }
  // The server process behind the connection (to settle an unknown COMMIT).
  int backend_pid() const { return backend_pid_; }
  const std::string& backend_start() const { return backend_start_; }

  // Arms the watchdog for one unit of work: past `budget` the connection's
  // socket is shut down, so a blocked libpq call returns with an error.
  class guard {
  public:
    guard(link& l, clock::duration budget);
    ~guard();
    // True when the watchdog cut the connection during this unit.
    bool fired() const;

  private:
    link& link_;
  };
  // The budget for one unit of work (statement_timeout plus some slack).
  clock::duration budget() const;

private:
  void close();
  engine& engine_;
  std::string name_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<pqxx::errorhandler> notices_;
  std::shared_ptr<watch_slot> slot_;
  clock::duration backoff_;
  clock::time_point next_attempt_;
  std::string last_error_ = "not connected yet";
  int backend_pid_ = 0;
  std::string backend_start_;
  std::vector<const char*> prepared_;
};

// ---- the one exception -> store error helper

struct failure {
  caf::error error; // unavailable, corrupt, ...
  bool connection_lost; // the connection is unusable: drop it
  std::string text; // one line, for logs and /readyz
  // The server (or libpqxx) refused what we sent, not a connection or
  // availability problem: the same request would fail again. The writer
  // then retries a batch per document (pg_writer.cpp).
  bool data = false;
  std::string sqlstate; // when the server said so
};
// REQUIRES: called inside a catch block (uses std::current_exception).
failure classify_current_exception();

// ---- schema (pg_schema.cpp)

// Applies missing migrations under an advisory lock (safe when several nodes
// start at once). Creates `schema` first when not empty. Throws on failure.
// REQUIRES: no transaction open on `c`; when `schema` is not empty, c's
// search_path is that schema.
void migrate(pqxx::connection& c, const std::string& schema);
// The newest schema version this build knows.
int schema_version();

// ---- SQL codecs (pg_codec.cpp)

// Builds a PostgreSQL array literal: {"a","b"} / {1,2}.
class array_builder {
public:
  void add(std::string_view text); // quoted and escaped
  void add(uint64_t n);
  const std::string& str();
  size_t size() const { return n_; }

private:
  std::string buf_ = "{";
  size_t n_ = 0;
  bool closed_ = false;
};

// Reads an ops row (rev, client, seq, user_id, op as text). Returns a
// non-empty reason when the stored op is not valid JSON op.
std::string op_from_row(const pqxx::row& r, const std::string& doc,
                        committed_op& out);

// Clamps a uint64 to PostgreSQL's bigint range.
inline int64_t to_bigint(uint64_t x) {
  return x > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX
                                              : static_cast<int64_t>(x);
}

} // namespace collab::pg

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(collab::pg::job_list)
