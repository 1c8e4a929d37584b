// Deterministic tests of the directory's isolation bounds (docs/DESIGN.md,
// contract 6): at most `max_live_docs` document actors live on a node (a
// new one is refused, the live ones go on), at most
// max_concurrent_activations of them load at once, and a read that must not
// activate finds the live actor wherever it lives in the cluster, or none.
#define CAF_SUITE actors.directory

#include "actors/directory.hpp"

#include "tests/caf_test_dsl.hpp"

#include "actors/messages.hpp"
#include "actors/placement.hpp"
#include "persistence/memory_store.hpp"

using namespace caf;
using namespace collab;

namespace {

struct test_config : actor_system_config {
  test_config() { register_message_types(*this); }
};

// A store whose loads wait until the test answers them.
struct held_state {
  std::vector<response_promise> loads;
  static inline const char* name = "held_store";
};

behavior held_store(stateful_actor<held_state>* self) {
  return {
    [=](load_atom, const std::string&, const std::string&,
        uint64_t) -> result<doc_snapshot> {
      self->state.loads.push_back(self->make_response_promise());
      return delegated<doc_snapshot>{};
    },
    // Answers load number `i` (from inside the actor, as a promise must be).
    [=](size_t i) { self->state.loads.at(i).deliver(doc_snapshot{}); },
  };
}

struct fixture : test_coordinator_fixture<test_config> {
  document_store_actor store;
  std::vector<directory_actor> directories;

  fixture() {
    store = spawn_memory_store(sys);
    run_jobs();
  }

  // Ends the directories (and their documents, whose idle timers are
  // pending): CAF 0.17 hangs at shutdown when a timer holds the last
  // reference to a live actor.
  ~fixture() {
    for (auto& d : directories)
      self->send_exit(d, exit_reason::user_shutdown);
    run_jobs();
  }

  // Runs every pending job but fires no timer.
  void run_jobs() { sched.run(); }

  directory_actor directory(const std::string& node, uint64_t max_live_docs = 0,
                            std::shared_ptr<activation_gate> gate = nullptr,
                            document_store_actor with_store = {}) {
    document_options opts;
    opts.node = node;
    opts.activations = std::move(gate);
    directories.push_back(spawn_directory(sys, with_store ? with_store : store,
                                          opts, max_live_docs));
    run_jobs();
    return directories.back();
  }

  // The answer to a request, or the error it failed with.
  template<class T, class Handle, class... Ts>
  expected<T> ask(const Handle& who, Ts... xs) {
    auto answer = self->request(actor_cast<actor>(who), infinite, xs...);
    run_jobs();
    expected<T> out = make_error(sec::runtime_error, "no answer");
    answer.receive([&](T& x) { out = std::move(x); },
                   [&](error& err) { out = std::move(err); });
    return out;
  }

  expected<document_actor> resolve(const directory_actor& dir,
                                   const std::string& doc) {
    return ask<document_actor>(dir, collab::resolve_atom_v, doc);
  }

  // The non-activating resolve (HTTP reads).
  std::vector<document_actor> peek(const directory_actor& dir,
                                   const std::string& doc) {
    auto found = ask<std::vector<document_actor>>(dir, collab::resolve_atom_v,
                                                  doc, false);
    CAF_REQUIRE(found);
    return *found;
  }

  uint64_t live(const directory_actor& dir) {
    auto n = ask<uint64_t>(dir, stats_atom_v);
    CAF_REQUIRE(n);
    return *n;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(directory_tests, fixture)

CAF_TEST(no document is activated over max_live_docs) {
  auto dir = directory("n1", 2);
  auto d1 = resolve(dir, "d1");
  CAF_REQUIRE(d1);
  CAF_REQUIRE(resolve(dir, "d2"));
  auto d3 = resolve(dir, "d3");
  CAF_REQUIRE(!d3);
  CAF_CHECK(is(d3.error(), directory_errc::full));
  CAF_CHECK_EQUAL(live(dir), 2u);
  // The live ones keep being resolved.
  auto again = resolve(dir, "d1");
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(*again, *d1);
  // When one passivates there is room again.
  self->monitor(*d1);
  anon_send(*d1, evict_atom_v);
  run_jobs();
  expect((down_msg), from(*d1).to(self));
  run_jobs();
  CAF_CHECK(resolve(dir, "d3"));
}

CAF_TEST(no more than max_concurrent_activations documents load at once) {
  auto held = sys.spawn(held_store);
  auto gate = std::make_shared<activation_gate>(2);
  auto dir = directory("n1", 0, gate, actor_cast<document_store_actor>(held));
  auto d1 = resolve(dir, "d1");
  auto d2 = resolve(dir, "d2");
  CAF_REQUIRE(d1 && d2);
  auto& loads = deref<stateful_actor<held_state>>(held).state.loads;
  CAF_REQUIRE_EQUAL(loads.size(), 2u);
  CAF_CHECK_EQUAL(gate->loading(), 2u);
  // A third waits for a slot: busy, with the reason for the client.
  auto d3 = resolve(dir, "d3");
  CAF_REQUIRE(!d3);
  CAF_CHECK(is(d3.error(), directory_errc::busy));
  CAF_CHECK(!is(d3.error(), directory_errc::full));
  CAF_CHECK_NOT_EQUAL(directory_error_text(d3.error()).find("loading 2"),
                      std::string::npos);
  CAF_CHECK_EQUAL(live(dir), 2u);
  // d1 is loaded: its slot is free for d3.
  self->send(held, size_t{0});
  run_jobs();
  CAF_CHECK_EQUAL(gate->loading(), 1u);
  CAF_REQUIRE(resolve(dir, "d3"));
  CAF_CHECK_EQUAL(gate->loading(), 2u);
  // A document that stops while loading gives its slot back too.
  self->monitor(*d2);
  anon_send_exit(*d2, exit_reason::user_shutdown);
  run_jobs();
  expect((down_msg), from(*d2).to(self));
  CAF_CHECK_EQUAL(gate->loading(), 1u);
  anon_send_exit(held, exit_reason::user_shutdown);
}

CAF_TEST(a read that must not activate finds only a live document) {
  auto dir = directory("n1");
  CAF_CHECK(peek(dir, "d").empty());
  CAF_CHECK_EQUAL(live(dir), 0u); // nothing activated
  auto d = resolve(dir, "d");
  CAF_REQUIRE(d);
  auto found = peek(dir, "d");
  CAF_REQUIRE_EQUAL(found.size(), 1u);
  CAF_CHECK_EQUAL(found[0], *d);
}

CAF_TEST(a read that must not activate is asked at the owner node) {
  auto dir1 = directory("n1");
  auto dir2 = directory("n2");
  std::vector<member_info> members(2);
  members[0].node = "n1";
  members[0].directory = dir1;
  members[1].node = "n2";
  members[1].directory = dir2;
  self->send(dir1, members_atom_v, members);
  self->send(dir2, members_atom_v, members);
  run_jobs();
  // A document that n2 owns, asked at n1.
  std::string doc;
  for (int i = 0; doc.empty(); ++i)
    if (rendezvous_owner({"n1", "n2"}, "doc" + std::to_string(i)) == "n2")
      doc = "doc" + std::to_string(i);
  CAF_CHECK(peek(dir1, doc).empty());
  CAF_CHECK_EQUAL(live(dir2), 0u);
  auto d = resolve(dir1, doc); // activates at n2
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(live(dir1), 0u);
  CAF_CHECK_EQUAL(live(dir2), 1u);
  auto found = peek(dir1, doc);
  CAF_REQUIRE_EQUAL(found.size(), 1u);
  CAF_CHECK_EQUAL(found[0], *d);
  // Asked to activate, it answers a list too.
  auto listed = ask<std::vector<document_actor>>(dir1, collab::resolve_atom_v,
                                                 doc, true);
  CAF_REQUIRE(listed);
  CAF_REQUIRE_EQUAL(listed->size(), 1u);
  CAF_CHECK_EQUAL(listed->front(), *d);
}

CAF_TEST(the limit holds for activations asked by other nodes) {
  auto dir1 = directory("n1");
  auto dir2 = directory("n2", 1);
  std::vector<member_info> members(2);
  members[0].node = "n1";
  members[0].directory = dir1;
  members[1].node = "n2";
  members[1].directory = dir2;
  self->send(dir1, members_atom_v, members);
  self->send(dir2, members_atom_v, members);
  run_jobs();
  std::vector<std::string> docs;
  for (int i = 0; docs.size() < 2; ++i)
    if (rendezvous_owner({"n1", "n2"}, "doc" + std::to_string(i)) == "n2")
      docs.push_back("doc" + std::to_string(i));
  CAF_CHECK(resolve(dir1, docs[0]));
  auto refused = resolve(dir1, docs[1]);
  CAF_REQUIRE(!refused);
  CAF_CHECK(is(refused.error(), directory_errc::full));
}

CAF_TEST(a drain moves documents only when another member is up) {
  auto dir1 = directory("n1");
  // Not told of any member (not clustered): nobody can take them.
  CAF_CHECK_EQUAL(ask<bool>(dir1, drain_atom_v), false);
  auto dir2 = directory("n2");
  std::vector<member_info> members(2);
  members[0].node = "n1";
  members[0].directory = dir1;
  members[1].node = "n2";
  members[1].directory = dir2;
  self->send(dir1, members_atom_v, members);
  run_jobs();
  CAF_CHECK_EQUAL(ask<bool>(dir1, drain_atom_v), true);
  // n1 drains, n2 is gone: n1 is alone.
  members[0].state = member_state::draining;
  members.pop_back();
  self->send(dir1, members_atom_v, members);
  run_jobs();
  CAF_CHECK_EQUAL(ask<bool>(dir1, drain_atom_v), false);
}

CAF_TEST(evict passivates every live document and activates none after) {
  auto dir = directory("n1");
  auto d1 = resolve(dir, "d1");
  auto d2 = resolve(dir, "d2");
  CAF_REQUIRE(d1 && d2);
  self->monitor(*d1);
  self->monitor(*d2);
  CAF_CHECK_EQUAL(ask<uint64_t>(dir, evict_atom_v), 2u);
  run_jobs();
  expect((down_msg), from(*d1).to(self));
  expect((down_msg), from(*d2).to(self));
  run_jobs();
  CAF_CHECK_EQUAL(live(dir), 0u);
  auto refused = resolve(dir, "d3");
  CAF_REQUIRE(!refused);
  CAF_CHECK(is(refused.error(), directory_errc::closed));
}

CAF_TEST_FIXTURE_SCOPE_END()
