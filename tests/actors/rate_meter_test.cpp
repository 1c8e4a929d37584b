// Unit tests of rate_meter: ops/s over the last ten seconds.
#define CAF_SUITE actors.rate_meter
#include <caf/test/unit_test.hpp>

#include "actors/rate_meter.hpp"

using namespace collab;
using clk = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

CAF_TEST(a steady rate is measured over the window) {
  rate_meter m;
  clk::time_point t{seconds(1000)};
  for (int i = 0; i < 100; ++i) // 10 ops/s for 10 s
    m.add(t + milliseconds(i * 100));
  CAF_CHECK_EQUAL(m.rate(t + milliseconds(9999)), 10.0);
}

CAF_TEST(old events fall out of the window) {
  rate_meter m;
  clk::time_point t{seconds(1000)};
  m.add(t, 50);
  CAF_CHECK_EQUAL(m.rate(t + seconds(5)), 5.0);
  CAF_CHECK_EQUAL(m.rate(t + seconds(10)), 0.0);
  m.add(t + seconds(30), 20);
  CAF_CHECK_EQUAL(m.rate(t + seconds(31)), 2.0);
  CAF_CHECK_EQUAL(m.rate(t + seconds(100)), 0.0);
}
