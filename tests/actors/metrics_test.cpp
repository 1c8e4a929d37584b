// The Prometheus text writer every /metrics source uses (append_metric) and
// the node's own counters through it.
#define CAF_SUITE actors.metrics
#include <caf/test/unit_test.hpp>

#include "actors/metrics.hpp"

#include <cstdint>
#include <string>

using namespace collab;

CAF_TEST(one metric is its help and type lines and its sample) {
  std::string out;
  append_metric(out, "counter", "x_total", "things done", UINT64_MAX);
  CAF_CHECK_EQUAL(out, "# HELP x_total things done\n"
                       "# TYPE x_total counter\n"
                       "x_total 18446744073709551615\n");
  out.clear();
  append_metric(out, "gauge", "lag_seconds", "lag", 0.25);
  append_metric(out, "gauge", "up", "reachable", 1.0);
  append_metric(out, "gauge", "zero", "nothing", 0.0);
  CAF_CHECK_EQUAL(out, "# HELP lag_seconds lag\n# TYPE lag_seconds gauge\n"
                       "lag_seconds 0.25\n"
                       "# HELP up reachable\n# TYPE up gauge\nup 1\n"
                       "# HELP zero nothing\n# TYPE zero gauge\nzero 0\n");
}

CAF_TEST(the node counters render through the same writer) {
  metrics m;
  m.ops_committed = 3;
  m.connections = 2;
  auto text = m.render();
  CAF_CHECK_NOT_EQUAL(text.find(
                        "# HELP collab_ops_committed_total ops committed\n"
                        "# TYPE collab_ops_committed_total counter\n"
                        "collab_ops_committed_total 3\n"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("# TYPE collab_connections gauge\n"
                                "collab_connections 2\n"),
                      std::string::npos);
}
