// Unit tests of the session registry's bounds (net/session_registry.hpp):
// sockets per user, the node-wide send budget (biggest queues closed first,
// no more than it takes) and what is charged to the node's memory budget.
#define CAF_SUITE net.session_registry
#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "actors/memory_budget.hpp"
#include "net/session_registry.hpp"

using namespace collab;
using namespace collab::net;

namespace {

// A socket whose queue is whatever the test says; remembers how it was
// asked to close.
struct fake_sink : session_sink {
  explicit fake_sink(uint64_t q) : queued(q) {
    // nop
  }
  void send(std::shared_ptr<const std::string>) override {
    // nop
  }
  void close(uint16_t code, std::string) override { closed_with = code; }
  void drop(uint16_t code, std::string reason) override {
    dropped_with = code;
    drop_reason = std::move(reason);
  }
  uint64_t queued_bytes() const override { return queued; }
  const std::string& remote() const override { return addr; }

  uint64_t queued;
  uint16_t closed_with = 0;
  uint16_t dropped_with = 0;
  std::string drop_reason;
  std::string addr = "127.0.0.1:1";
};

struct fixture {
  session_registry reg;
  std::vector<std::shared_ptr<fake_sink>> sinks;

  // A registered session with `queued` bytes queued, counted node-wide.
  fake_sink& open(uint64_t queued) {
    auto s = std::make_shared<fake_sink>(queued);
    reg.add(s.get(), s, collab::inspectable_connection{},
            "s" + std::to_string(sinks.size()));
    reg.output_queued(queued);
    sinks.push_back(s);
    return *s;
  }
  void queue_more(fake_sink& s, uint64_t n) {
    s.queued += n;
    reg.output_queued(n);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(session_registry_tests, fixture)

CAF_TEST(a user gets max_sockets_per_user slots and each comes back) {
  reg.configure(nullptr, {session_registry::limits{}.send_queue_node_bytes, 2});
  auto a1 = reg.acquire_user("alice");
  auto a2 = reg.acquire_user("alice");
  CAF_CHECK(a1);
  CAF_CHECK(a2);
  CAF_CHECK(!reg.acquire_user("alice"));
  CAF_CHECK_EQUAL(reg.sockets_of("alice"), 2u);
  // Another user has slots of their own.
  auto b1 = reg.acquire_user("bob");
  CAF_CHECK(b1);
  // A released slot can be taken again; a moved one is released once.
  a1.release();
  CAF_CHECK_EQUAL(reg.sockets_of("alice"), 1u);
  auto a3 = reg.acquire_user("alice");
  CAF_CHECK(a3);
  {
    auto moved = std::move(a3);
    CAF_CHECK(!a3);
    CAF_CHECK_EQUAL(reg.sockets_of("alice"), 2u);
  } // destroyed: given back
  CAF_CHECK_EQUAL(reg.sockets_of("alice"), 1u);
  a2 = session_registry::user_slot{}; // assigned over: given back
  CAF_CHECK_EQUAL(reg.sockets_of("alice"), 0u);
  CAF_CHECK_EQUAL(reg.sockets_of("bob"), 1u);
}

CAF_TEST(a refused user is not counted) {
  reg.configure(nullptr, {session_registry::limits{}.send_queue_node_bytes, 0});
  CAF_CHECK(!reg.acquire_user("carol"));
  CAF_CHECK_EQUAL(reg.sockets_of("carol"), 0u);
}

CAF_TEST(under the send budget nobody is closed) {
  reg.configure(nullptr, {100, 10});
  auto& a = open(60);
  auto& b = open(40);
  reg.enforce_send_budget();
  CAF_CHECK_EQUAL(a.dropped_with, 0);
  CAF_CHECK_EQUAL(b.dropped_with, 0);
  CAF_CHECK_EQUAL(reg.queued_bytes(), 100u);
}

CAF_TEST(over the send budget the biggest queues close first) {
  reg.configure(nullptr, {100, 10});
  auto& small = open(30);
  auto& biggest = open(70);
  auto& middle = open(50);
  auto& idle = open(0);
  // 150 queued: closing the biggest (70) leaves 80, which fits.
  reg.enforce_send_budget();
  CAF_CHECK_EQUAL(biggest.dropped_with, 1013);
  CAF_CHECK_EQUAL(biggest.drop_reason, "the node is over its send budget");
  CAF_CHECK_EQUAL(middle.dropped_with, 0);
  CAF_CHECK_EQUAL(small.dropped_with, 0);
  // Until its queue is gone it still counts, but not twice: no one else.
  reg.enforce_send_budget();
  CAF_CHECK_EQUAL(middle.dropped_with, 0);
  CAF_CHECK_EQUAL(small.dropped_with, 0);
  // 60 more on the small one: 210 queued, 140 without the closing one;
  // the small one (90) is now the biggest left.
  queue_more(small, 60);
  reg.enforce_send_budget();
  CAF_CHECK_EQUAL(small.dropped_with, 1013);
  CAF_CHECK_EQUAL(middle.dropped_with, 0);
  CAF_CHECK_EQUAL(idle.dropped_with, 0);
}

CAF_TEST(far over the send budget several queues close) {
  reg.configure(nullptr, {10, 10});
  auto& a = open(20);
  auto& b = open(30);
  auto& c = open(5);
  reg.enforce_send_budget(); // 55: closing b and a leaves 5
  CAF_CHECK_EQUAL(a.dropped_with, 1013);
  CAF_CHECK_EQUAL(b.dropped_with, 1013);
  CAF_CHECK_EQUAL(c.dropped_with, 0);
}

CAF_TEST(a session gone is no longer counted or closed) {
  reg.configure(nullptr, {100, 10});
  auto& a = open(80);
  auto& b = open(50);
  // a closes by itself and gives its bytes back.
  reg.remove(&a);
  reg.output_released(80);
  reg.enforce_send_budget();
  CAF_CHECK_EQUAL(b.dropped_with, 0);
  CAF_CHECK_EQUAL(reg.queued_bytes(), 50u);
}

CAF_TEST(input and output are charged to the memory budget) {
  auto budget = std::make_shared<memory_budget>(100);
  reg.configure(budget, {1000, 10});
  reg.input_received(60);
  reg.output_queued(30);
  CAF_CHECK_EQUAL(budget->used(), 90u);
  CAF_CHECK(!reg.memory_tight());
  reg.input_received(20); // held already: charged over the budget
  CAF_CHECK_EQUAL(budget->used(), 110u);
  CAF_CHECK(reg.memory_tight());
  reg.input_consumed(80);
  reg.output_released(30);
  CAF_CHECK_EQUAL(budget->used(), 0u);
  CAF_CHECK_EQUAL(reg.input_bytes(), 0u);
  CAF_CHECK_EQUAL(reg.queued_bytes(), 0u);
  CAF_CHECK(!reg.memory_tight());
}

CAF_TEST(the gauges are in the metrics text) {
  auto budget = std::make_shared<memory_budget>(1000);
  reg.configure(budget, {1000, 10});
  reg.input_received(7);
  reg.output_queued(5);
  std::string out;
  reg.render_metrics(out);
  CAF_CHECK_NOT_EQUAL(out.find("collab_send_queue_bytes 5\n"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(out.find("collab_unprocessed_input_bytes 7\n"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(out.find("collab_memory_budget_used_bytes 12\n"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(out.find("collab_memory_budget_limit_bytes 1000\n"),
                      std::string::npos);
}

CAF_TEST(an unconfigured registry bounds nothing) {
  std::vector<session_registry::user_slot> slots;
  for (int i = 0; i < 1000; ++i)
    slots.push_back(reg.acquire_user("dave"));
  CAF_CHECK(std::all_of(slots.begin(), slots.end(),
                        [](auto& s) { return static_cast<bool>(s); }));
  auto& a = open(1ull << 40);
  reg.enforce_send_budget();
  CAF_CHECK_EQUAL(a.dropped_with, 0);
}

CAF_TEST_FIXTURE_SCOPE_END()
