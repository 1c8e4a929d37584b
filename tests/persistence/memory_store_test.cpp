// The conformance suite (conformance_tests.inc) against the in-memory store.
#define CAF_SUITE persistence.memory

#include "persistence/memory_store.hpp"

#include <thread>

#include "tests/caf_test_dsl.hpp"

#include "store_fixture.hpp"

using namespace collab;

namespace {

struct fixture : test::store_fixture {
  std::vector<document_store_actor> extra;
  fixture() { store = spawn_memory_store(sys); }
  ~fixture() {
    caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
    for (auto& s : extra)
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  }
  // The memory store has no retention.
  document_store_actor spawn_with_retention(uint64_t) { return {}; }
  // A store of its own (memory stores share no data).
  document_store_actor spawn_with_limits(store_limits limits) {
    extra.push_back(spawn_memory_store(sys, limits));
    return extra.back();
  }
  void stop_store(const document_store_actor&) {}
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(memory_store_conformance, fixture)

#include "conformance_tests.inc"

CAF_TEST_FIXTURE_SCOPE_END()
