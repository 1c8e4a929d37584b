// The Redis op log while Redis is down: reads fail fast, appends never block
// and drop beyond the backlog bound, health turns unhealthy; when Redis
// returns, appends resume and reads see the gap. Uses a private Redis
// (tools/services in a temporary folder), never the shared one.
#define CAF_SUITE persistence.redis_outage

#include "persistence/redis_op_log.hpp"

#include <caf/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "redis_test_support.hpp"

using namespace collab;
using namespace collab::test;

namespace {

struct fixture : redis_fixture {
  static redis_options options(std::string url) {
    redis_options opts;
    opts.url = std::move(url);
    opts.max_backlog = 5;
    opts.probe_interval = std::chrono::milliseconds{100};
    opts.backoff_max = std::chrono::milliseconds{200};
    return opts;
  }
};

// A loopback port nobody listens on.
std::string dead_url() {
  auto fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return "redis://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(redis_outage_tests, fixture)

CAF_TEST(redis stopped and restarted) {
  test_redis_url(); // these suites require a Redis configured, as all do
  private_redis redis;
  auto log = spawn_redis_op_log(sys, options(redis.url()));
  auto& h = *log.health();
  auto d = unique_doc("outage");
  append(log, make_ops(d, 1, 3));
  CAF_REQUIRE(wait_settled(log, 3));
  // (retried: on a loaded machine a read may exceed its 200 ms)
  CAF_REQUIRE(
    wait_until([&] { return covered(read(self, log, d, 0, 3), d, 0, 3); }, 3s));
  CAF_REQUIRE(h.healthy.load());

  redis.stop();
  // reads fail fast: the first on a stale connection, then during backoff
  for (int i = 0; i < 5; ++i) {
    auto r = read(self, log, d, 0, 3);
    CAF_CHECK(is(r.err, redis_errc::unavailable));
    CAF_CHECK_LESS(r.took, std::chrono::milliseconds{150});
    CAF_MESSAGE("read with Redis down: " << r.took.count() << " us");
  }
  CAF_CHECK(wait_until([&] { return !h.healthy.load(); }, 2s));
  CAF_CHECK(!h.last_error().empty());
  CAF_MESSAGE("last error: " << h.last_error());

  // appends neither block nor grow without bound
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t rev = 4; rev <= 23; ++rev)
    append(log, {make_op(d, rev)});
  auto r = read(self, log, d, 0, 3); // the actor answers at once
  CAF_CHECK(is(r.err, redis_errc::unavailable));
  CAF_CHECK_LESS(std::chrono::steady_clock::now() - t0, 300ms);
  CAF_CHECK(wait_until([&] { return h.dropped.load() == 15; }, 2s));
  CAF_CHECK_LESS_OR_EQUAL(h.backlog.load(), 5u);
  CAF_CHECK_EQUAL(h.appended.load(), 3u);

  redis.start(); // empty: the private Redis keeps nothing across restarts
  CAF_CHECK(wait_until([&] { return h.healthy.load(); }, 3s));
  CAF_CHECK(wait_settled(log, 3 + 5, 3s)); // the kept backlog: 19..23
  append(log, make_ops(d, 24, 25));
  CAF_REQUIRE(wait_settled(log, 3 + 5 + 2, 3s));
  CAF_CHECK_EQUAL(h.dropped.load(), 15u);
  CAF_CHECK_EQUAL(h.backlog.load(), 0u);
  // reads recover (their connections may still back off for a moment):
  // two in a row, since reads go to the two readers in turn
  CAF_CHECK(wait_until(
    [&] {
      return covered(read(self, log, d, 18, 25), d, 18, 25)
             && covered(read(self, log, d, 18, 25), d, 18, 25);
    },
    3s));
  CAF_CHECK(is(read(self, log, d, 0, 25).err, redis_errc::not_covered));
  CAF_CHECK(is(read(self, log, d, 17, 25).err, redis_errc::not_covered));
  auto stop0 = std::chrono::steady_clock::now();
  log.stop();
  CAF_CHECK_LESS(std::chrono::steady_clock::now() - stop0, 1s);
}

CAF_TEST(redis unreachable from the start) {
  test_redis_url();
  auto log = spawn_redis_op_log(sys, options(dead_url()));
  auto& h = *log.health();
  auto d = unique_doc("never");
  for (uint64_t rev = 1; rev <= 10; ++rev)
    append(log, {make_op(d, rev)});
  for (int i = 0; i < 5; ++i) {
    auto r = read(self, log, d, 0, 10);
    CAF_CHECK(is(r.err, redis_errc::unavailable));
    CAF_CHECK_LESS(r.took, std::chrono::milliseconds{150});
  }
  CAF_CHECK(wait_until([&] { return h.errors.load() > 0; }, 2s));
  CAF_CHECK(!h.healthy.load());
  CAF_CHECK(h.last_error().find("connect") != std::string::npos);
  CAF_CHECK_EQUAL(h.dropped.load() + h.backlog.load(), 10u);
  auto stop0 = std::chrono::steady_clock::now();
  log.stop();
  CAF_CHECK_LESS(std::chrono::steady_clock::now() - stop0, 1s);
  CAF_CHECK_EQUAL(h.dropped.load(), 10u); // given up at stop
}

CAF_TEST(reads time out against a hung redis) {
  test_redis_url();
  private_redis redis;
  auto opts = options(redis.url());
  auto log = spawn_redis_op_log(sys, opts);
  auto d = unique_doc("hung");
  append(log, make_ops(d, 1, 3));
  CAF_REQUIRE(wait_settled(log, 3));
  // (retried: on a loaded machine a read may exceed its 200 ms)
  CAF_REQUIRE(
    wait_until([&] { return covered(read(self, log, d, 0, 3), d, 0, 3); }, 3s));
  redis.pause();
  auto r = read(self, log, d, 0, 3);
  CAF_CHECK(is(r.err, redis_errc::unavailable));
  CAF_CHECK_LESS(r.took, opts.read_timeout + 300ms);
  CAF_MESSAGE("read against a hung Redis: " << r.took.count() << " us");
  // reads queued behind a hanging one are answered by their deadline, not
  // one read_timeout after another
  std::this_thread::sleep_for(opts.backoff_max * 2); // past the backoff
  auto t1 = std::chrono::steady_clock::now();
  std::vector<decltype(self->request(log.actor(), 5s, stream_read_atom_v, d,
                                     uint64_t{0}, uint64_t{3}))>
    pending;
  for (int i = 0; i < 6; ++i)
    pending.push_back(self->request(log.actor(), 5s, stream_read_atom_v, d,
                                    uint64_t{0}, uint64_t{3}));
  for (auto& p : pending)
    p.receive([&](std::vector<committed_op>&) { CAF_FAIL("Redis answered"); },
              [&](caf::error& err) {
                CAF_CHECK(is(err, redis_errc::unavailable));
              });
  auto all = std::chrono::steady_clock::now() - t1;
  CAF_MESSAGE(
    "6 reads (2 readers) against a hung Redis: "
    << std::chrono::duration_cast<std::chrono::milliseconds>(all).count()
    << " ms");
  CAF_CHECK_LESS(all, opts.read_timeout + 300ms);
  // appends wait on the appender thread, not on the caller
  auto t0 = std::chrono::steady_clock::now();
  append(log, make_ops(d, 4, 5));
  CAF_CHECK(is(read(self, log, d, 0, 3).err, redis_errc::unavailable));
  CAF_CHECK_LESS(std::chrono::steady_clock::now() - t0, 500ms);
  redis.resume();
  CAF_CHECK(
    wait_until([&] { return covered(read(self, log, d, 0, 5), d, 0, 5); }, 3s));
}

CAF_TEST_FIXTURE_SCOPE_END()
