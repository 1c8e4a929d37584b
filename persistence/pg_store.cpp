// The PostgreSQL store's actor, engine and lifecycle (see pg_store.hpp for
// the shape). The actor turns each request into a job holding its response
// promise and queues it: commits to the writer thread (pg_writer.cpp), the
// rest to the reader threads (pg_reader.cpp). Threads send finished jobs back
// in one message per batch and the actor delivers the promises, so a promise
// is only ever touched on the actor's own thread.
//
// Threading: the actor's handlers never block (a queue push holds a mutex for
// a few instructions). spawn_pg_store/stop_pg_store run on main's thread.
#include "persistence/pg_internal.hpp"

#include <unordered_map>

#include <caf/all.hpp>

#include <spdlog/spdlog.h>

CAF_ADD_ATOM(collab, collab::pg, done_atom, "pgdone")

namespace collab {

// ---- pg_status

std::string pg_status::reason() const {
  std::lock_guard<std::mutex> lk{mtx_};
  if (!down_.empty()) {
    // The writer's trouble first: it is what stops editing.
    auto i = down_.find("writer");
    if (i == down_.end())
      i = down_.begin();
    return i->first + ": " + i->second;
  }
  if (!started_)
    return "starting";
  return "ok";
}

void pg_status::report_up(const std::string& source) {
  std::lock_guard<std::mutex> lk{mtx_};
  down_.erase(source);
  started_ = true;
  ready_ = down_.empty();
}

void pg_status::report_down(const std::string& source, const std::string& why) {
  std::lock_guard<std::mutex> lk{mtx_};
  down_[source] = why;
  last_error_ = source + ": " + why;
  ready_ = false;
}

pg_status::counters pg_status::snapshot() const {
  std::lock_guard<std::mutex> lk{mtx_};
  return counters_;
}

void pg_status::record_batch(uint64_t requests, uint64_t ok, uint64_t ops,
                             uint64_t failed) {
  std::lock_guard<std::mutex> lk{mtx_};
  counters_.batches++;
  counters_.commits += ok;
  counters_.ops += ops;
  counters_.failed += failed;
  counters_.max_batch = std::max(counters_.max_batch, requests);
  size_t k = 0;
  while ((requests >> (k + 1)) != 0 && k + 1 < counters_.batch_hist.size())
    ++k;
  counters_.batch_hist[k]++;
}

void pg_status::record_in_doubt() {
  std::lock_guard<std::mutex> lk{mtx_};
  counters_.in_doubt++;
}

void pg_status::record_refused(uint64_t rejected) {
  std::lock_guard<std::mutex> lk{mtx_};
  counters_.refused++;
  counters_.rejected += rejected;
}

namespace pg {

// ---- queue

bool queue::push(job_ptr j, size_t max_weight) {
  {
    std::lock_guard<std::mutex> lk{mtx_};
    auto w = j->weight();
    if (closed_ || (!items_.empty() && weight_ + w > max_weight))
      return false;
    weight_ += w;
    items_.push_back(std::move(j));
  }
  cv_.notify_one();
  return true;
}

job_list queue::take(size_t max_weight, clock::time_point wake_at) {
  std::unique_lock<std::mutex> lk{mtx_};
  wake_at = std::min(wake_at, clock::now() + std::chrono::hours{1});
  cv_.wait_until(lk, wake_at, [&] { return !items_.empty() || closed_; });
  job_list out;
  size_t w = 0;
  while (!items_.empty()) {
    auto jw = items_.front()->weight();
    if (!out.empty() && w + jw > max_weight)
      break;
    w += jw;
    out.push_back(std::move(items_.front()));
    items_.pop_front();
  }
  weight_ -= w;
  return out;
}

void queue::wait(clock::time_point wake_at) {
  std::unique_lock<std::mutex> lk{mtx_};
  wake_at = std::min(wake_at, clock::now() + std::chrono::hours{1});
  cv_.wait_until(lk, wake_at, [&] { return !items_.empty() || closed_; });
}

job_list queue::take_all() {
  std::lock_guard<std::mutex> lk{mtx_};
  job_list out{std::make_move_iterator(items_.begin()),
               std::make_move_iterator(items_.end())};
  items_.clear();
  weight_ = 0;
  return out;
}

void queue::close() {
  {
    std::lock_guard<std::mutex> lk{mtx_};
    closed_ = true;
  }
  cv_.notify_all();
}

bool queue::closed() const {
  std::lock_guard<std::mutex> lk{mtx_};
  return closed_;
}

void queue::notify() {
  cv_.notify_all();
}

// ---- engine

void engine::finish(job_list jobs) {
  if (jobs.empty())
    return;
  std::lock_guard<std::mutex> lk{actor_mtx_};
  if (actor_)
    caf::anon_send(actor_, done_atom_v, std::move(jobs));
}

void engine::set_actor(caf::actor a) {
  std::lock_guard<std::mutex> lk{actor_mtx_};
  actor_ = std::move(a);
}

void engine::clear_actor() {
  std::lock_guard<std::mutex> lk{actor_mtx_};
  actor_ = nullptr;
}

void engine::request_stop() {
  stopping = true;
  writes.close();
  large_writes.close();
  reads.close();
}

engine::~engine() {
  shutdown();
}

void engine::shutdown() {
  request_stop();
  std::lock_guard<std::mutex> lk{join_mtx_};
  for (auto& t : threads)
    if (t.joinable())
      t.join();
  threads.clear();
  dog.stop();
}

namespace {

using pg_store_actor
  = document_store_actor::extend<caf::reacts_to<done_atom, job_list>>;

struct store_state {
  std::shared_ptr<engine> eng;
  static inline const char* name = "pg_store";
};

using store_ptr = pg_store_actor::stateful_pointer<store_state>;

template<class Job>
bool large(const Job& j, const pg_store_options& opts) {
  if constexpr (std::is_same_v<Job, commit_job>)
    return opts.large_commit_bytes > 0 && j.bytes() >= opts.large_commit_bytes;
  else
    return false;
}

// Queues `j` or answers at once when the store is stopping or overloaded.
template<class T, class Job>
caf::typed_response_promise<T> submit(store_ptr self, std::shared_ptr<Job> j) {
  auto& e = *self->state.eng;
  j->promise = self->template make_response_promise<T>();
  bool write = j->kind == job_kind::commit;
  auto& q = !write ? e.reads : large(*j, e.opts) ? e.large_writes : e.writes;
  auto bound = write ? e.opts.max_queued_ops
                     : std::max<size_t>(1000, 1000 * e.opts.readers);
  if (!q.push(j, bound)) {
    j->fail(make_error(store_errc::unavailable,
                       q.closed()
                         ? "store stopped"
                         : (write ? "commit queue full" : "read queue full")));
    j->deliver();
  }
  return j->promise;
}

pg_store_actor::behavior_type pg_store(store_ptr self,
                                       std::shared_ptr<engine> eng) {
  self->state.eng = eng;
  // However the actor ends, the threads stop and stop sending to it.
  self->attach_functor([eng] {
    eng->request_stop();
    eng->clear_actor();
  });
  return {
    [=](load_atom, std::string& doc, std::string& node, uint64_t tail) {
      auto j = std::make_shared<load_job>();
      j->doc = std::move(doc);
      j->node = std::move(node);
      j->tail = tail;
      return submit<doc_snapshot>(self, std::move(j));
    },
    [=](peek_atom, std::string& doc) {
      auto j = std::make_shared<peek_job>();
      j->doc = std::move(doc);
      return submit<doc_snapshot>(self, std::move(j));
    },
    [=](commit_atom, std::string& doc, uint64_t epoch,
        std::vector<committed_op>& ops) {
      auto j = std::make_shared<commit_job>();
      j->doc = std::move(doc);
      j->epoch = epoch;
      j->ops = std::move(ops);
      return submit<uint64_t>(self, std::move(j));
    },
    [=](read_ops_atom, std::string& doc, uint64_t from, uint64_t limit) {
      auto j = std::make_shared<read_ops_job>();
      j->doc = std::move(doc);
      j->from = from;
      j->limit = limit;
      return submit<std::vector<committed_op>>(self, std::move(j));
    },
    [=](find_seq_atom, std::string& doc, std::string& client, uint64_t seq) {
      auto j = std::make_shared<find_seq_job>();
      j->doc = std::move(doc);
      j->client = std::move(client);
      j->seq = seq;
      return submit<std::vector<committed_op>>(self, std::move(j));
    },
    [=](save_snapshot_atom, std::string& doc, uint64_t epoch, uint64_t rev,
        ot::rope& text) {
      auto j = std::make_shared<snapshot_job>();
      j->doc = std::move(doc);
      j->epoch = epoch;
      j->rev = rev;
      j->text = std::move(text);
      return submit<bool>(self, std::move(j));
    },
    [=](done_atom, job_list& jobs) {
      for (auto& j : jobs)
        j->deliver();
    },
  };
}

// Engines by actor, for stop_pg_store. An engine left here (its actor ended
// without stop_pg_store) is joined when the process exits.
struct registry {
  std::mutex mtx;
  std::unordered_map<const void*, std::shared_ptr<engine>> engines;
  ~registry() {
    for (auto& [key, e] : engines)
      e->shutdown();
  }
};

registry& engines() {
  static registry r;
  return r;
}

const void* key_of(const document_store_actor& a) {
  return caf::actor_cast<caf::strong_actor_ptr>(a).get();
}

} // namespace
} // namespace pg

document_store_actor spawn_pg_store(caf::actor_system& sys,
                                    pg_store_options opts) {
  auto e = std::make_shared<pg::engine>();
  if (!opts.status)
    opts.status = std::make_shared<pg_status>();
  opts.readers = std::max<size_t>(1, opts.readers);
  opts.max_batch_ops = std::max<size_t>(1, opts.max_batch_ops);
  opts.limits.read_max_ops = std::max<uint64_t>(1, opts.limits.read_max_ops);
  e->status = opts.status;
  e->conninfo = pg::make_conninfo(opts);
  e->opts = std::move(opts);
  auto a = sys.spawn(pg::pg_store, e);
  e->set_actor(caf::actor_cast<caf::actor>(a));
  e->dog.start();
  // The threads use the engine by reference: the registry (or
  // stop_pg_store) keeps it alive until they are joined.
  auto* raw = e.get();
  e->threads.emplace_back(
    [raw] { pg::run_writer(*raw, raw->writes, "writer"); });
  if (e->opts.large_commit_bytes > 0)
    e->threads.emplace_back(
      [raw] { pg::run_writer(*raw, raw->large_writes, "large-writer"); });
  for (size_t i = 0; i < e->opts.readers; ++i)
    e->threads.emplace_back([raw, i] { pg::run_reader(*raw, i); });
  document_store_actor result = a;
  auto& r = pg::engines();
  std::lock_guard<std::mutex> lk{r.mtx};
  r.engines[pg::key_of(result)] = e;
  return result;
}

void stop_pg_store(const document_store_actor& store) {
  std::shared_ptr<pg::engine> e;
  {
    auto& r = pg::engines();
    std::lock_guard<std::mutex> lk{r.mtx};
    auto i = r.engines.find(pg::key_of(store));
    if (i == r.engines.end())
      return;
    e = std::move(i->second);
    r.engines.erase(i);
  }
  e->shutdown();
  // The threads' last answers are already in the actor's mailbox, ahead of
  // this exit message: the actor delivers them, then ends.
  caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
  e->clear_actor();
}

} // namespace collab
