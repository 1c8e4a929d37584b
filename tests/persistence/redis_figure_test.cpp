// The figure: time to resume-read 1,000 ops from Redis through the op log
// actor (request to answer, as a document actor sees it), p50/p99 over 300
// reads, and the raw XRANGE + decode part of it on one connection.
#define CAF_SUITE persistence.redis_figure

#include "persistence/redis_op_log.hpp"

#include <algorithm>
#include <iostream>

#include <caf/test/unit_test.hpp>

#include "persistence/redis_stream_codec.hpp"
#include "redis_test_support.hpp"

using namespace collab;
using namespace collab::test;

namespace {

struct fixture : redis_fixture {
  std::string url = test_redis_url();
};

using us = std::chrono::microseconds;

// A typing-like op: skip to a position, insert a few characters.
committed_op typing_op(const std::string& doc, uint64_t rev) {
  committed_op x;
  x.doc = doc;
  x.rev = rev;
  x.client = "k3v9q-tab-2";
  x.seq = rev;
  x.user = "user-4711";
  x.op = {ot::component::skip(100 + rev * 7), ot::component::insert("word ")};
  return x;
}

std::string summary(std::vector<us> xs) {
  std::sort(xs.begin(), xs.end());
  auto at = [&](double q) {
    return xs[std::min(xs.size() - 1, static_cast<size_t>(q * xs.size()))];
  };
  return "p50 " + std::to_string(at(0.50).count()) + " us, p99 "
         + std::to_string(at(0.99).count()) + " us, max "
         + std::to_string(xs.back().count())
         + " us (n=" + std::to_string(xs.size()) + ")";
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(redis_figure_tests, fixture)

CAF_TEST(resume read of 1000 ops) {
  constexpr uint64_t n = 1000;
  constexpr int rounds = 300;
  redis_options opts;
  opts.url = url;
  opts.read_timeout = std::chrono::milliseconds{2000}; // measure, not fail
  auto log = spawn_redis_op_log(sys, opts);
  auto d = unique_doc("figure");
  std::vector<committed_op> ops;
  for (uint64_t rev = 1; rev <= n; ++rev)
    ops.push_back(typing_op(d, rev));
  self->send(log.actor(), stream_append_atom_v, ops);
  CAF_REQUIRE(wait_settled(log, n));
  std::vector<us> via_actor;
  for (int i = 0; i < rounds; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    bool ok = false;
    self->request(log.actor(), 2s, stream_read_atom_v, d, uint64_t{0}, n)
      .receive([&](std::vector<committed_op>& xs) { ok = xs.size() == n; },
               [&](caf::error&) {});
    via_actor.push_back(
      std::chrono::duration_cast<us>(std::chrono::steady_clock::now() - t0));
    CAF_REQUIRE(ok);
  }
  redis_endpoint ep;
  parse_redis_url(url, ep);
  redis_connection conn{ep, {}};
  std::vector<us> raw_xrange, decode;
  for (int i = 0; i < rounds; ++i) {
    std::vector<redis_reply> replies;
    auto t0 = std::chrono::steady_clock::now();
    CAF_REQUIRE(!conn.run({xrange_command(d, 0, n)}, replies));
    auto t1 = std::chrono::steady_clock::now();
    std::vector<committed_op> out;
    CAF_REQUIRE(decode_range(replies.front().get(), d, 0, n, out).empty());
    auto t2 = std::chrono::steady_clock::now();
    raw_xrange.push_back(std::chrono::duration_cast<us>(t1 - t0));
    decode.push_back(std::chrono::duration_cast<us>(t2 - t1));
  }
  auto reply = raw(url, {"MEMORY", "USAGE", stream_key(d)});
  std::cerr << "FIGURE resume read of " << n
            << " ops through the actor: " << summary(via_actor) << "\n"
            << "FIGURE   of which XRANGE round trip: " << summary(raw_xrange)
            << "\n"
            << "FIGURE   of which decode:            " << summary(decode)
            << "\n"
            << "FIGURE stream memory for " << n << " ops: " << reply->integer
            << " bytes\n";
  CAF_CHECK_EQUAL(log.health()->reads.load(), static_cast<uint64_t>(rounds));
}

CAF_TEST_FIXTURE_SCOPE_END()
