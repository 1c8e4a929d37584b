// A store_fixture on a PostgreSQL store. The server comes from
// COLLAB_TEST_PG_URL; without it the test FAILS (a silently skipped
// PostgreSQL suite would hide a broken store). Tables live in the schema
// collab_test; every test uses random document ids, and its own
// application_name so that fault tests can find their own connections.
#pragma once

#include <cstdlib>
#include <memory>

#include "tests/caf_test_dsl.hpp"

#include "persistence/pg_store.hpp"
#include "store_fixture.hpp"

namespace collab::test {

inline std::string pg_url() {
  auto url = std::getenv("COLLAB_TEST_PG_URL");
  if (url == nullptr || *url == '\0')
    CAF_FAIL("COLLAB_TEST_PG_URL is not set: run tools/test, or "
             "tools/services start /tmp/pgtest and export "
             "COLLAB_TEST_PG_URL=<its COLLAB_PG_URL>");
  return url;
}

struct pg_fixture : store_fixture {
  pg_store_options opts;
  std::vector<document_store_actor> extra;

  pg_fixture() {
    opts.url = pg_url();
    opts.schema = "collab_test";
    opts.application_name = random_id("collab-test-");
    opts.status = std::make_shared<pg_status>();
  }

  ~pg_fixture() { stop_all(); }

  // Stops every store of the test (joins their threads). Derived fixtures
  // whose members a store uses (hooks, proxies) call it first.
  void stop_all() {
    for (auto& s : extra)
      stop_pg_store(s);
    extra.clear();
    if (store)
      stop_pg_store(store);
    store = nullptr;
  }

  void start(pg_store_options o) { store = spawn_pg_store(sys, std::move(o)); }

  document_store_actor spawn_with_retention(uint64_t keep) {
    auto o = opts;
    o.status = std::make_shared<pg_status>();
    o.ops_retention = keep;
    o.retention_interval = std::chrono::milliseconds{50};
    extra.push_back(spawn_pg_store(sys, o));
    return extra.back();
  }

  document_store_actor spawn_with_limits(store_limits limits) {
    auto o = opts;
    o.status = std::make_shared<pg_status>();
    o.limits = limits;
    extra.push_back(spawn_pg_store(sys, o));
    return extra.back();
  }

  void stop_store(const document_store_actor& s) { stop_pg_store(s); }

  // Waits up to `within` for status->ready().
  bool wait_ready(std::chrono::milliseconds within) {
    auto until = std::chrono::steady_clock::now() + within;
    while (!opts.status->ready()) {
      if (std::chrono::steady_clock::now() > until)
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    return true;
  }
};

} // namespace collab::test
