// Deterministic tests of the actor threads' heartbeat (actors/heartbeat.hpp):
// on the test clock, a heartbeat that runs keeps the monitor healthy; one
// that is not run for longer than `stall` (every actor thread busy) is a
// stall, and the next tick that runs clears it.
#define CAF_SUITE actors.heartbeat
#include "tests/caf_test_dsl.hpp"

#include "actors/heartbeat.hpp"

#include <chrono>
#include <memory>

using namespace collab;
using std::chrono::milliseconds;

namespace {

struct fixture : test_coordinator_fixture<> {
  std::shared_ptr<heartbeat_monitor> monitor;
  heartbeat_actor heartbeat;

  fixture() {
    monitor = std::make_shared<heartbeat_monitor>(milliseconds(1000),
                                                  sched.clock().now());
    heartbeat = spawn_heartbeat(sys, monitor);
    sched.run(); // messages only: run() would also fire the ticks forever
  }

  ~fixture() {
    caf::anon_send_exit(heartbeat, caf::exit_reason::user_shutdown);
    sched.run();
  }

  std::string check() const { return monitor->check(sched.clock().now()); }
};

} // namespace

CAF_TEST(the tick interval is a fraction of the stall bound) {
  auto interval_ms = [](int64_t stall_ms) {
    heartbeat_monitor m{milliseconds(stall_ms),
                        heartbeat_monitor::clock::time_point{}};
    return m.interval().count();
  };
  CAF_CHECK_EQUAL(interval_ms(1000), 200);
  CAF_CHECK_EQUAL(interval_ms(100), 20);
  CAF_CHECK_EQUAL(interval_ms(5000), 250);
  CAF_CHECK_EQUAL(interval_ms(20), 10);
}

CAF_TEST_FIXTURE_SCOPE(heartbeat_tests, fixture)

CAF_TEST(a running heartbeat keeps the monitor healthy) {
  CAF_CHECK_EQUAL(check(), "");
  // Ten seconds of ticks that run on time.
  for (int i = 0; i < 50; ++i) {
    advance_time(monitor->interval());
    sched.run();
    CAF_CHECK_EQUAL(check(), "");
  }
}

CAF_TEST(a tick that does not run for stall ms is a stall until it runs) {
  // Time passes and the tick is due, but no thread runs it.
  sched.clock().current_time += milliseconds(1000);
  CAF_CHECK_EQUAL(check(), ""); // exactly at the bound: not yet
  sched.clock().current_time += milliseconds(500);
  auto why = check();
  CAF_MESSAGE("stalled: " << why);
  CAF_CHECK_EQUAL(why, "actor threads stalled: no heartbeat for 1500 ms "
                       "(limit 1000 ms)");
  // The threads run again: the pending tick is delivered and handled.
  sched.clock().trigger_timeouts();
  sched.run();
  CAF_CHECK_EQUAL(check(), "");
  // And it goes on ticking.
  advance_time(milliseconds(900));
  sched.run();
  CAF_CHECK_EQUAL(check(), "");
}

CAF_TEST(a heartbeat that ended is a stall) {
  caf::anon_send_exit(heartbeat, caf::exit_reason::kill);
  sched.run();
  advance_time(milliseconds(1200));
  sched.run();
  CAF_CHECK_NOT_EQUAL(check(), "");
}

CAF_TEST_FIXTURE_SCOPE_END()
