// Unit tests of ws_session's write-queue container (drained_fifo in
// net/ws_session.hpp): first in, first out through compactions, and no
// memory held once it runs empty (what an idle socket's queue costs).
#define CAF_SUITE net.drained_fifo
#include <caf/test/unit_test.hpp>

#include <memory>
#include <string>

#include "net/ws_session.hpp"

using collab::net::drained_fifo;

CAF_TEST(first in first out across compactions) {
  drained_fifo<int> q;
  CAF_CHECK(q.empty());
  int next_in = 0, next_out = 0;
  // Pushes 3, pops 2, over and over: the consumed front grows past the
  // compaction threshold many times while the queue never runs empty.
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 3; ++i)
      q.push_back(next_in++);
    for (int i = 0; i < 2; ++i) {
      CAF_REQUIRE_EQUAL(q.front(), next_out);
      q.pop_front();
      ++next_out;
    }
    CAF_REQUIRE_EQUAL(q.size(), size_t(next_in - next_out));
  }
  while (!q.empty()) {
    CAF_REQUIRE_EQUAL(q.front(), next_out++);
    q.pop_front();
  }
  CAF_CHECK_EQUAL(next_out, next_in);
}

CAF_TEST(pop back keeps the front) {
  drained_fifo<int> q;
  for (int i = 0; i < 5; ++i)
    q.push_back(i);
  q.pop_front();
  while (q.size() > 1)
    q.pop_back();
  CAF_CHECK_EQUAL(q.front(), 1);
  CAF_CHECK_EQUAL(q.back(), 1);
  q.pop_back();
  CAF_CHECK(q.empty());
}

CAF_TEST(popped items are released at once) {
  drained_fifo<std::shared_ptr<std::string>> q;
  auto a = std::make_shared<std::string>("a");
  auto b = std::make_shared<std::string>("b");
  q.push_back(a);
  q.push_back(b);
  q.pop_front();
  CAF_CHECK_EQUAL(a.use_count(), 1); // not kept in the consumed slot
  CAF_CHECK_EQUAL(b.use_count(), 2);
  q.pop_front();
  CAF_CHECK(q.empty());
  CAF_CHECK_EQUAL(b.use_count(), 1);
}
