// The PostgreSQL store under faults: PostgreSQL down, hung, unreachable from
// the start, and a connection lost around COMMIT (the outcome must be
// verified before anyone is answered). Outages are made with an in-process
// TCP proxy (tcp_proxy.hpp), so the shared test server is never stopped;
// COMMIT faults with the store's fault hook.
#define CAF_SUITE persistence.pg_faults

#include "persistence/pg_store.hpp"

#include <atomic>
#include <future>
#include <thread>

#include "tests/caf_test_dsl.hpp"

#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/pqxx>

#include "pg_fixture.hpp"
#include "tcp_proxy.hpp"

using namespace collab;
using namespace std::chrono_literals;
using std::chrono::steady_clock;

namespace {

// Terminates this test's writer connection while it is inside a transaction
// and waits until the server process is gone.
void kill_writer_backend(const std::string& url, const std::string& app) {
  pqxx::connection c{url};
  pqxx::nontransaction t{c};
  auto r = t.exec_params("SELECT pid FROM pg_stat_activity WHERE "
                         "application_name = $1 AND state LIKE 'idle in "
                         "transaction%'",
                         app);
  if (r.size() != 1)
    throw std::runtime_error("expected one writer in a transaction, found "
                             + std::to_string(r.size()));
  auto pid = r[0][0].as<int>();
  t.exec_params("SELECT pg_terminate_backend($1)", pid);
  for (int i = 0; i < 250; ++i) {
    if (t.exec_params("SELECT 1 FROM pg_stat_activity WHERE pid = $1", pid)
          .empty())
      return;
    std::this_thread::sleep_for(20ms);
  }
  throw std::runtime_error("writer backend did not go away");
}

struct fixture : test::pg_fixture {
  std::atomic<int> after_commit_faults{0};
  std::atomic<int> kill_before_commit{0};
  std::function<void()> before_commit_action;

  ~fixture() {
    stop_all(); // the hook uses this fixture
  }

  void start_with_hook(pg_store_options o) {
    o.fault_hook = [this](pg_fault f) {
      if (f == pg_fault::after_commit && after_commit_faults > 0) {
        --after_commit_faults;
        throw pqxx::in_doubt_error{"injected: connection lost during COMMIT"};
      }
      if (f == pg_fault::before_commit && kill_before_commit > 0) {
        --kill_before_commit;
        kill_writer_backend(opts.url, opts.application_name);
      }
      if (f == pg_fault::before_commit && before_commit_action) {
        auto a = std::move(before_commit_action);
        before_commit_action = nullptr;
        a();
      }
    };
    start(o);
  }

  template<class F>
  static std::chrono::milliseconds timed(F f) {
    auto t0 = steady_clock::now();
    f();
    return std::chrono::duration_cast<std::chrono::milliseconds>(
      steady_clock::now() - t0);
  }
};

struct proxied_fixture : fixture {
  std::unique_ptr<test::tcp_proxy> proxy;
  proxied_fixture() {
    std::string host;
    uint16_t port = 0;
    if (!test::split_pg_url(opts.url, host, port))
      CAF_FAIL("COLLAB_TEST_PG_URL needs an explicit host:port: " << opts.url);
    proxy = std::make_unique<test::tcp_proxy>(host, port);
    auto o = opts;
    o.url = test::with_port(opts.url, proxy->port());
    o.statement_timeout = 500ms;
    o.connect_timeout = 2000ms;
    o.queue_timeout = 3000ms;
    o.max_backoff = 500ms;
    start_with_hook(o);
  }
  ~proxied_fixture() {
    proxy->set_mode(test::tcp_proxy::mode::forward);
    stop_all();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(pg_commit_faults, fixture)

CAF_TEST(an unknown COMMIT outcome that committed is answered success) {
  start_with_hook(opts);
  auto doc = test::random_id("doubt-yes-");
  auto s = load(doc);
  CAF_REQUIRE(s.ok());
  after_commit_faults = 1;
  auto c = append(doc, s.value.epoch, 0, 0, {"kept"});
  CAF_CHECK_EQUAL(test::describe(c.err), "ok");
  CAF_CHECK_EQUAL(c.value, 1u);
  CAF_CHECK_EQUAL(opts.status->snapshot().in_doubt, 1u);
  auto r = read_ops(doc, 0, 10);
  CAF_REQUIRE(r.ok());
  CAF_CHECK_EQUAL(r.value.size(), 1u);
  // The writer carries on with a new connection.
  CAF_CHECK(append(doc, s.value.epoch, 1, 4, {"!"}).ok());
}

CAF_TEST(
  an unknown COMMIT outcome that did not commit is answered unavailable) {
  start_with_hook(opts);
  auto doc = test::random_id("doubt-no-");
  auto s = load(doc);
  CAF_REQUIRE(s.ok());
  kill_before_commit = 1;
  auto c = append(doc, s.value.epoch, 0, 0, {"lost"});
  CAF_CHECK(c.is(store_errc::unavailable));
  CAF_MESSAGE("answered " << test::describe(c.err));
  CAF_CHECK_EQUAL(opts.status->snapshot().in_doubt, 1u);
  auto r = read_ops(doc, 0, 10);
  CAF_REQUIRE(r.ok());
  CAF_CHECK_EQUAL(r.value.size(), 0u);
  // Nothing was stored: the same revision commits now.
  auto again = append(doc, s.value.epoch, 0, 0, {"kept"});
  CAF_CHECK_EQUAL(test::describe(again.err), "ok");
}

// A batch carrying a large op takes long to commit (PostgreSQL parses and
// writes every byte); the large writer takes it, so a small commit of
// another document is not held up behind it. Held here for as long as the
// test wants: with one writer the small commit would wait for it.
CAF_TEST(a large commit does not hold up the small commits of other documents) {
  auto o = opts;
  o.large_commit_bytes = 1000;
  start_with_hook(o);
  auto big = test::random_id("large-");
  auto small = test::random_id("small-");
  auto sb = load(big);
  auto ss = load(small);
  CAF_REQUIRE(sb.ok() && ss.ok());
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<bool> held{false};
  before_commit_action = [&held, released] {
    held = true;
    released.wait();
  };
  std::vector<test::commit_handle> pending;
  pending.push_back(
    send_commit(big, sb.value.epoch,
                {test::make_op(big, 1, "c1", 1,
                               test::insert_at(0, std::string(2000, 'x')))}));
  for (int i = 0; i < 500 && !held; ++i)
    std::this_thread::sleep_for(10ms);
  CAF_REQUIRE(held);
  auto c = append(small, ss.value.epoch, 0, 0, {"quick"});
  CAF_CHECK_EQUAL(test::describe(c.err), "ok");
  CAF_CHECK_EQUAL(c.value, 1u);
  release.set_value();
  auto r = collect(pending);
  CAF_CHECK_EQUAL(test::describe(r[0].err), "ok");
  CAF_CHECK_EQUAL(r[0].value, 1u);
  CAF_CHECK_EQUAL(read_ops(big, 0, 10).value.size(), 1u);
}

CAF_TEST(an unreachable server fails requests fast) {
  auto o = opts;
  o.url = "postgresql://collab@127.0.0.1:1/collab"; // nothing listens
  o.connect_timeout = 2000ms;
  start(o);
  auto took = timed([&] {
    auto l = load(test::random_id("nowhere-"));
    CAF_CHECK(l.is(store_errc::unavailable));
    CAF_MESSAGE("load answered " << test::describe(l.err));
    std::vector<committed_op> ops{
      test::make_op("d", 1, "c1", 1, test::insert_at(0, "x"))};
    CAF_CHECK(commit("d", 1, ops).is(store_errc::unavailable));
  });
  CAF_CHECK_LESS(took, 3000ms);
  CAF_CHECK(!opts.status->ready());
  auto why = opts.status->reason();
  CAF_MESSAGE("reason: " << why);
  CAF_CHECK_NOT_EQUAL(why, "ok");
  CAF_CHECK_NOT_EQUAL(why, "starting");
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST_FIXTURE_SCOPE(pg_outages, proxied_fixture)

CAF_TEST(postgres down then back) {
  auto doc = test::random_id("down-");
  auto s = load(doc);
  CAF_REQUIRE(s.ok());
  CAF_REQUIRE(append(doc, s.value.epoch, 0, 0, {"a"}).ok());
  CAF_CHECK(wait_ready(2s));
  proxy->set_mode(test::tcp_proxy::mode::down);
  std::this_thread::sleep_for(100ms);
  auto took = timed([&] {
    auto c = append(doc, s.value.epoch, 1, 1, {"b"});
    CAF_CHECK(c.is(store_errc::unavailable));
    CAF_MESSAGE("commit answered " << test::describe(c.err));
    CAF_CHECK(read_ops(doc, 0, 10).is(store_errc::unavailable));
    CAF_CHECK(load(doc).is(store_errc::unavailable));
  });
  CAF_CHECK_LESS(took, 3000ms);
  CAF_CHECK(!opts.status->ready());
  CAF_MESSAGE("reason while down: " << opts.status->reason());
  proxy->set_mode(test::tcp_proxy::mode::forward);
  // Back within the capped backoff: the store reconnects by itself.
  CAF_CHECK(wait_ready(3s));
  auto l = load(doc);
  CAF_REQUIRE_EQUAL(test::describe(l.err), "ok");
  CAF_CHECK_EQUAL(l.value.text.to_string(), "a");
  CAF_CHECK_EQUAL(test::describe(append(doc, l.value.epoch, 1, 1, {"b"}).err),
                  "ok");
}

CAF_TEST(postgres hung : the watchdog answers unavailable) {
  auto doc = test::random_id("hung-");
  auto s = load(doc);
  CAF_REQUIRE(s.ok());
  proxy->set_mode(test::tcp_proxy::mode::frozen);
  auto took = timed([&] {
    CAF_CHECK(read_ops(doc, 0, 10).is(store_errc::unavailable));
    auto c = append(doc, s.value.epoch, 0, 0, {"a"});
    CAF_CHECK(c.is(store_errc::unavailable));
    CAF_MESSAGE("commit answered " << test::describe(c.err));
  });
  CAF_MESSAGE("hung answers took " << took.count() << " ms");
  CAF_CHECK_LESS(took, 8000ms);
  proxy->set_mode(test::tcp_proxy::mode::forward);
  CAF_CHECK(wait_ready(5s));
  // The commit above never began: the same revision commits now.
  auto again = append(doc, s.value.epoch, 0, 0, {"a"});
  CAF_CHECK_EQUAL(test::describe(again.err), "ok");
}

CAF_TEST(connection lost during COMMIT : the answer matches what is stored) {
  auto doc = test::random_id("cut-");
  auto s = load(doc);
  CAF_REQUIRE(s.ok());
  // Right before COMMIT the network hangs; it comes back 3 s later.
  std::thread thaw;
  before_commit_action = [&] {
    proxy->set_mode(test::tcp_proxy::mode::frozen);
    thaw = std::thread{[&] {
      std::this_thread::sleep_for(3s);
      proxy->set_mode(test::tcp_proxy::mode::forward);
    }};
  };
  auto c = append(doc, s.value.epoch, 0, 0, {"maybe"});
  thaw.join();
  CAF_MESSAGE("commit answered " << test::describe(c.err));
  CAF_CHECK(c.ok() || c.is(store_errc::unavailable));
  CAF_CHECK_EQUAL(opts.status->snapshot().in_doubt, 1u);
  auto r = read_ops(doc, 0, 10);
  CAF_REQUIRE_EQUAL(test::describe(r.err), "ok");
  CAF_CHECK_EQUAL(r.value.size(), c.ok() ? 1u : 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
