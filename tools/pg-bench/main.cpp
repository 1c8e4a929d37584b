// pg-bench: drives the PostgreSQL document store directly (no network, no
// document actors) and prints durable ops/s, commit latency percentiles and
// the group-commit batch sizes seen. Each of --docs driver actors stands in
// for a document actor: it loads its document, then keeps --inflight commits
// of --ops ops each in flight (1 = like a document actor, which sends its
// next batch when the previous one is durable).
//
// Usage: pg-bench [--url URL] [--docs 1000] [--ops 1] [--inflight 1]
//                 [--seconds 10] [--warmup 2] [--max-batch-ops 8192]
//                 [--schema collab_bench]
// URL defaults to $COLLAB_PG_URL (tools/services start DIR prints one).
//
// Threading: driver actors on CAF's scheduler; the store on its own threads;
// main waits with a scoped actor.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/core/committed_op.hpp"
#include "persistence/pg_store.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::chrono::steady_clock::time_point)
CAF_ADD_ATOM(collab, collab::bench, go_atom, "go")
CAF_ADD_ATOM(collab, collab::bench, done_atom, "done")

namespace {

using namespace collab;
using bench_clock = std::chrono::steady_clock;

struct settings {
  std::string url;
  std::string schema = "collab_bench";
  int docs = 1000;
  int ops = 1;
  int inflight = 1;
  double seconds = 10;
  double warmup = 2;
  size_t max_batch_ops = 8192;
};

struct driver_state {
  std::string doc;
  uint64_t epoch = 0;
  uint64_t next_rev = 1; // next revision to send
  uint64_t ops_done = 0; // durable ops after warmup
  uint64_t errors = 0;
  std::vector<uint32_t> latency_us; // after warmup
  bench_clock::time_point measure_from;
  bench_clock::time_point until;
  caf::actor reporter;
  int outstanding = 0;
  static inline const char* name = "pg_bench_driver";
};

committed_op make_op(const std::string& doc, uint64_t rev) {
  committed_op op;
  op.doc = doc;
  op.rev = rev;
  op.client = "bench";
  op.seq = rev;
  op.user = "bench";
  // Appends a short word, as typing does.
  if (rev > 1)
    op.op.push_back(ot::component::skip(5 * (rev - 1)));
  op.op.push_back(ot::component::insert("word "));
  return op;
}

void send_next(caf::stateful_actor<driver_state>* self,
               const document_store_actor& store, int ops) {
  auto& st = self->state;
  if (bench_clock::now() >= st.until) {
    if (st.outstanding == 0) {
      self->send(st.reporter, bench::done_atom_v, st.ops_done, st.errors,
                 std::move(st.latency_us));
      self->quit();
    }
    return;
  }
  std::vector<committed_op> batch;
  for (int i = 0; i < ops; ++i)
    batch.push_back(make_op(st.doc, st.next_rev++));
  auto sent = bench_clock::now();
  ++st.outstanding;
  self
    ->request(store, std::chrono::seconds{30}, commit_atom_v, st.doc, st.epoch,
              std::move(batch))
    .then(
      [=](uint64_t) {
        auto& s = self->state;
        --s.outstanding;
        auto now = bench_clock::now();
        if (sent >= s.measure_from) {
          s.ops_done += static_cast<uint64_t>(ops);
          s.latency_us.push_back(static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(now - sent)
              .count()));
        }
        send_next(self, store, ops);
      },
      [=](caf::error& err) {
        auto& s = self->state;
        --s.outstanding;
        if (s.errors++ == 0)
          spdlog::error("{}: {}", s.doc, caf::to_string(err));
        // A failed commit leaves a gap: stop this driver.
        s.until = bench_clock::now();
        send_next(self, store, ops);
      });
}

caf::behavior driver(caf::stateful_actor<driver_state>* self,
                     document_store_actor store, std::string doc,
                     settings cfg) {
  self->state.doc = std::move(doc);
  return {
    [=](bench::go_atom, caf::actor reporter, bench_clock::time_point from,
        bench_clock::time_point until) {
      auto& st = self->state;
      st.reporter = reporter;
      st.measure_from = from;
      st.until = until;
      self
        ->request(store, std::chrono::seconds{30}, load_atom_v, st.doc,
                  std::string{"pg-bench"}, uint64_t{0})
        .then(
          [=](doc_snapshot& snap) {
            self->state.epoch = snap.epoch;
            self->state.next_rev = snap.rev + 1;
            for (int i = 0; i < cfg.inflight; ++i)
              send_next(self, store, cfg.ops);
          },
          [=](caf::error& err) {
            spdlog::error("load {}: {}", self->state.doc, caf::to_string(err));
            self->send(self->state.reporter, bench::done_atom_v, uint64_t{0},
                       uint64_t{1}, std::vector<uint32_t>{});
            self->quit();
          });
    },
  };
}

double percentile(std::vector<uint32_t>& v, double p) {
  if (v.empty())
    return 0;
  auto k = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k] / 1000.0;
}

// What the drivers measured, and the store's counters around the window.
struct measurement {
  uint64_t ops = 0;
  uint64_t errors = 0;
  std::vector<uint32_t> lat;
  pg_status::counters before, at_end, after;
};

// Starts one driver per document, waits out the warm-up and the window and
// collects the drivers' answers.
measurement measure(caf::actor_system& sys, caf::scoped_actor& self,
                    const document_store_actor& store, const settings& cfg,
                    const pg_status& status) {
  auto run_id = std::to_string(
    std::chrono::system_clock::now().time_since_epoch().count());
  auto start = bench_clock::now();
  auto from = start
              + std::chrono::duration_cast<bench_clock::duration>(
                std::chrono::duration<double>(cfg.warmup));
  auto until = from
               + std::chrono::duration_cast<bench_clock::duration>(
                 std::chrono::duration<double>(cfg.seconds));
  for (int d = 0; d < cfg.docs; ++d) {
    auto a = sys.spawn(driver, store,
                       "bench-" + run_id + "-" + std::to_string(d), cfg);
    self->send(a, bench::go_atom_v, caf::actor_cast<caf::actor>(self), from,
               until);
  }
  measurement m;
  std::this_thread::sleep_until(from);
  m.before = status.snapshot();
  std::this_thread::sleep_until(until);
  m.at_end = status.snapshot();
  for (int d = 0; d < cfg.docs; ++d) {
    self->receive(
      [&](bench::done_atom, uint64_t n, uint64_t e, std::vector<uint32_t>& l) {
        m.ops += n;
        m.errors += e;
        m.lat.insert(m.lat.end(), l.begin(), l.end());
      });
  }
  m.after = status.snapshot();
  return m;
}

void print_report(const settings& cfg, measurement& m) {
  auto& lat = m.lat;
  const auto& before = m.before;
  const auto& at_end = m.at_end;
  const auto& after = m.after;
  auto commits = lat.size();
  std::printf("pg-bench: %d docs, %d op(s)/commit, %d in flight/doc, "
              "%.0f s measured (after %.0f s warm-up)\n",
              cfg.docs, cfg.ops, cfg.inflight, cfg.seconds, cfg.warmup);
  std::printf("durable ops/s      %.0f\n", m.ops / cfg.seconds);
  std::printf("commit requests/s  %.0f\n", commits / cfg.seconds);
  std::printf("latency ms         p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
              percentile(lat, 0.50), percentile(lat, 0.90),
              percentile(lat, 0.99), percentile(lat, 1.0));
  std::printf("errors             %llu\n",
              static_cast<unsigned long long>(m.errors));
  // Transactions in the measured window; the histogram covers the whole
  // run (it has no time axis).
  auto txns = at_end.batches - before.batches;
  auto reqs = (at_end.commits + at_end.failed)
              - (before.commits + before.failed);
  std::printf("transactions/s     %.0f, %.1f requests and %.1f ops per "
              "transaction, largest %llu requests\n",
              txns / cfg.seconds, txns ? double(reqs) / txns : 0.0,
              txns ? double(at_end.ops - before.ops) / txns : 0.0,
              static_cast<unsigned long long>(after.max_batch));
  std::printf("requests/txn       ");
  for (size_t k = 0; k < after.batch_hist.size(); ++k)
    if (after.batch_hist[k] > 0)
      std::printf("%llu-%llu: %llu  ", 1ull << k, (2ull << k) - 1,
                  static_cast<unsigned long long>(after.batch_hist[k]));
  std::printf("\n");
}

} // namespace

int main(int argc, char** argv) {
  settings cfg;
  if (auto env = std::getenv("COLLAB_PG_URL"))
    cfg.url = env;
  CLI::App app{"pg-bench: durable ops/s of the PostgreSQL document store"};
  app.add_option("--url", cfg.url, "libpq URI (default $COLLAB_PG_URL)");
  app.add_option("--schema", cfg.schema, "schema for the bench's tables");
  app.add_option("--docs", cfg.docs, "documents, one driver each");
  app.add_option("--ops", cfg.ops, "ops per commit request");
  app.add_option("--inflight", cfg.inflight,
                 "commit requests in flight per doc");
  app.add_option("--seconds", cfg.seconds, "measured duration");
  app.add_option("--warmup", cfg.warmup, "unmeasured start");
  app.add_option("--max-batch-ops", cfg.max_batch_ops, "ops per transaction");
  CLI11_PARSE(app, argc, argv);
  if (cfg.url.empty()) {
    std::fprintf(stderr, "pg-bench: no --url and no COLLAB_PG_URL\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  caf::actor_system_config sys_cfg;
  caf::actor_system sys{sys_cfg};
  pg_store_options opts;
  opts.url = cfg.url;
  opts.schema = cfg.schema;
  opts.application_name = "pg-bench";
  opts.max_batch_ops = cfg.max_batch_ops;
  opts.max_queued_ops
    = std::max<size_t>(200000, 4u * cfg.docs * cfg.ops * cfg.inflight);
  opts.status = std::make_shared<pg_status>();
  auto store = spawn_pg_store(sys, opts);
  {
    caf::scoped_actor self{sys};
    // Wait for the connections (and migrations) first.
    auto ready_by = bench_clock::now() + std::chrono::seconds{15};
    while (!opts.status->ready() && bench_clock::now() < ready_by)
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    if (!opts.status->ready()) {
      std::fprintf(stderr, "pg-bench: store not ready: %s\n",
                   opts.status->reason().c_str());
      stop_pg_store(store);
      return 1;
    }
    auto m = measure(sys, self, store, cfg, *opts.status);
    print_report(cfg, m);
  }
  stop_pg_store(store);
  return 0;
}
