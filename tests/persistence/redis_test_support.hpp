// Shared helpers of the Redis op log suites: the Redis under test (from
// COLLAB_TEST_REDIS_URL; a suite FAILS without it), the fixture base (a
// real-time actor system with a scoped actor), op builders, polling, a raw
// connection for looking at streams directly, and a private Redis
// (tools/services) for outage tests.
//
// Threading: test-thread only (scoped_actor blocks it, by design).
#pragma once

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/test/unit_test.hpp>

#include "actors/messages.hpp"
#include "persistence/redis_connection.hpp"
#include "persistence/redis_op_log.hpp"
#include "persistence/redis_stream_codec.hpp"

namespace collab::test {

using namespace std::chrono_literals;

inline std::string test_redis_url() {
  auto url = std::getenv("COLLAB_TEST_REDIS_URL");
  if (url == nullptr || *url == '\0')
    CAF_FAIL("COLLAB_TEST_REDIS_URL is not set: these suites need a Redis "
             "(tools/test sets it; or tools/services start DIR)");
  return url;
}

// The base of the Redis suites' fixtures: a real-time actor system and a
// scoped actor on the test thread.
struct redis_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  // Hands `ops` to the op log's appender (asynchronous: wait_settled).
  void append(const redis_op_log& log, std::vector<committed_op> ops) {
    self->send(log.actor(), stream_append_atom_v, std::move(ops));
  }
};

// A document id no other run uses.
inline std::string unique_doc(const std::string& name) {
  static std::mt19937_64 rng{std::random_device{}()};
  return "test/redis-" + std::to_string(rng() % 1000000000) + "/" + name;
}

// Revision `rev` of `doc`: client c-<doc>, seq = rev, a small unicode insert.
inline committed_op make_op(const std::string& doc, uint64_t rev) {
  committed_op x;
  x.doc = doc;
  x.rev = rev;
  x.client = "client-1";
  x.seq = rev;
  x.user = "alice";
  x.op = {ot::component::skip(rev), ot::component::insert("h\xc3\xa9"
                                                          "y")};
  return x;
}

inline std::vector<committed_op> make_ops(const std::string& doc,
                                          uint64_t first, uint64_t last) {
  std::vector<committed_op> xs;
  for (auto rev = first; rev <= last; ++rev)
    xs.push_back(make_op(doc, rev));
  return xs;
}

inline bool same(const committed_op& a, const committed_op& b) {
  return a.doc == b.doc && a.rev == b.rev && a.client == b.client
         && a.seq == b.seq && a.user == b.user && a.op == b.op;
}

inline bool wait_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = 5s) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// appended + duplicates reached n
inline bool wait_settled(const redis_op_log& log, uint64_t n,
                         std::chrono::milliseconds timeout = 5s) {
  return wait_until(
    [&] {
      auto& h = *log.health();
      return h.appended.load() + h.duplicates.load() >= n;
    },
    timeout);
}

struct read_result {
  std::vector<committed_op> ops;
  caf::error err;
  std::chrono::microseconds took{0};
};

inline read_result read(caf::scoped_actor& self, const redis_op_log& log,
                        const std::string& doc, uint64_t from, uint64_t to) {
  read_result res;
  auto t0 = std::chrono::steady_clock::now();
  self->request(log.actor(), 5s, stream_read_atom_v, doc, from, to)
    .receive([&](std::vector<committed_op>& ops) { res.ops = std::move(ops); },
             [&](caf::error& err) { res.err = std::move(err); });
  res.took = std::chrono::duration_cast<std::chrono::microseconds>(
    std::chrono::steady_clock::now() - t0);
  return res;
}

// True when the read answered exactly revisions from+1..to of make_op.
inline bool covered(const read_result& r, const std::string& doc, uint64_t from,
                    uint64_t to) {
  if (r.err) {
    CAF_MESSAGE("read " << doc << " (" << from << ", " << to
                        << "]: " << caf::to_string(r.err) << " after "
                        << r.took.count() << " us");
    return false;
  }
  if (r.ops.size() != to - from)
    return false;
  for (uint64_t i = 0; i < r.ops.size(); ++i)
    if (!same(r.ops[i], make_op(doc, from + 1 + i)))
      return false;
  return true;
}

// One raw command on a fresh connection (looking at streams directly).
inline redis_reply raw(const std::string& url, const redis_command& cmd) {
  redis_endpoint ep;
  parse_redis_url(url, ep);
  redis_connection conn{ep, {}};
  std::vector<redis_reply> replies;
  if (auto err = conn.run({cmd}, replies))
    CAF_FAIL("raw Redis command failed: " << error_text(err));
  return std::move(replies.front());
}

// The integer reply of one raw command.
inline long long raw_int(const std::string& url, const redis_command& cmd) {
  auto r = raw(url, cmd);
  if (r->type != REDIS_REPLY_INTEGER)
    CAF_FAIL("raw Redis command gave no integer");
  return r->integer;
}

// A private Redis under a temporary folder, through tools/services.
class private_redis {
public:
  private_redis() {
    char tmpl[] = "/tmp/collab-redis-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr)
      CAF_FAIL("mkdtemp failed");
    dir_ = tmpl;
    start();
    std::ifstream in{dir_ + "/redis.port"};
    std::string port;
    in >> port;
    url_ = "redis://127.0.0.1:" + port;
  }
  ~private_redis() {
    std::ifstream in{dir_ + "/redis/redis.pid"};
    pid_t pid = 0;
    if (in >> pid && pid > 0)
      ::kill(pid, SIGCONT); // in case a test left it paused
    services("stop-redis");
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  const std::string& url() const { return url_; }
  void start() {
    if (!services("start-redis"))
      CAF_FAIL("tools/services start-redis failed");
  }
  void stop() {
    if (!services("stop-redis"))
      CAF_FAIL("tools/services stop-redis failed");
  }
  // Freezes / thaws the server process (a hung Redis: connects succeed,
  // nothing answers).
  void pause() { signal_server(SIGSTOP); }
  void resume() { signal_server(SIGCONT); }

private:
  void signal_server(int sig) {
    std::ifstream in{dir_ + "/redis/redis.pid"};
    pid_t pid = 0;
    if (!(in >> pid) || pid <= 0 || ::kill(pid, sig) != 0)
      CAF_FAIL("cannot signal the private Redis");
  }
  bool services(const std::string& cmd) {
    auto line = std::string{COLLAB_SOURCE_DIR} + "/tools/services " + cmd + " '"
                + dir_ + "' >/dev/null";
    return std::system(line.c_str()) == 0;
  }
  std::string dir_;
  std::string url_;
};

} // namespace collab::test
