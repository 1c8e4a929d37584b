// Deterministic tests of what operators see (collabctl): the node agent's
// answers about live documents, the directory's pins (collabctl move), and a
// document's snapshot and eviction on request. A recorder actor stands in
// for a connection.
#define CAF_SUITE actors.inspect

#include "actors/node_agent.hpp"

#include "tests/caf_test_dsl.hpp"

#include "actors/directory.hpp"
#include "actors/messages.hpp"
#include "persistence/memory_store.hpp"

using namespace caf;
using namespace collab;

namespace {

behavior recorder(event_based_actor* self) {
  return {
    [=](document_actor doc, submit_request& r) {
      self->send(doc, std::move(r));
    },
    [=](document_actor doc, presence_request& r) {
      self->send(doc, std::move(r));
    },
    [](const joined_event&) {},
    [](const op_event&) {},
    [](const ack_event&) {},
    [](const presence_event&) {},
    [](const error_event&) {},
  };
}

struct test_config : actor_system_config {
  test_config() { register_message_types(*this); }
};

struct fixture : test_coordinator_fixture<test_config> {
  document_store_actor store;
  directory_actor directory;
  node_agent_actor agent;
  actor conn;

  fixture() {
    store = spawn_memory_store(sys);
    document_options opts;
    opts.node = "n1";
    directory = spawn_directory(sys, store, opts);
    node_agent_options agent_opts;
    agent_opts.node = "n1";
    agent_opts.directory = directory;
    agent_opts.connections = [] {
      return std::vector<inspectable_connection>{};
    };
    agent_opts.kick = [](const std::string&) {
      return false;
    };
    agent_opts.drain = [] {
    };
    agent_opts.revoke = [](const revocation&) {
      return true;
    };
    agent = spawn_node_agent(sys, agent_opts);
    conn = sys.spawn(recorder);
    run_jobs();
  }

  // Ends the actors with timers pending (the agent's sampler, documents'
  // idle timers): CAF 0.17 hangs at shutdown when a timer holds the last
  // reference to a live actor.
  ~fixture() {
    self->send_exit(agent, exit_reason::user_shutdown);
    self->send_exit(directory, exit_reason::user_shutdown);
    run_jobs();
  }

  // Runs every pending job but fires no timer.
  void run_jobs() { sched.run(); }

  template<class T, class Handle, class... Ts>
  T ask(const Handle& who, Ts... xs) {
    auto answer = self->request(actor_cast<actor>(who), infinite, xs...);
    run_jobs();
    T out{};
    answer.receive([&](T& x) { out = std::move(x); },
                   [&](error& err) { CAF_FAIL(sys.render(err)); });
    return out;
  }

  // Resolves `doc`, joins it as session `s` and commits `n` one-char ops.
  document_actor edit(const std::string& doc, const std::string& s, int n) {
    auto actor_of = ask<document_actor>(directory, collab::resolve_atom_v, doc);
    self->send(actor_of, join_request{actor_cast<document_subscriber>(conn), s,
                                      "c-" + s, "u-" + s, false, 0, "n1"});
    run_jobs();
    for (int i = 1; i <= n; ++i) {
      ot::op op;
      op.push_back(ot::component::insert("x"));
      self->send(conn, actor_of,
                 submit_request{s, "c-" + s, "u-" + s, uint64_t(i),
                                uint64_t(i - 1), op});
      run_jobs();
    }
    return actor_of;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(inspect_tests, fixture)

CAF_TEST(the agent lists live documents with revisions and subscribers) {
  edit("a", "s1", 3);
  edit("b", "s2", 1);
  auto docs = ask<std::vector<doc_status>>(agent, docs_atom_v);
  CAF_REQUIRE_EQUAL(docs.size(), 2u);
  std::sort(docs.begin(), docs.end(),
            [](auto& x, auto& y) { return x.doc < y.doc; });
  CAF_CHECK_EQUAL(docs[0].doc, "a");
  CAF_CHECK_EQUAL(docs[0].node, "n1");
  CAF_CHECK_EQUAL(docs[0].rev, 3u);
  CAF_CHECK_EQUAL(docs[0].durable_rev, 3u);
  CAF_CHECK_EQUAL(docs[0].subscribers, 1u);
  CAF_CHECK_EQUAL(docs[1].doc, "b");
  CAF_CHECK_EQUAL(docs[1].rev, 1u);
}

CAF_TEST(a document in depth shows subscribers presence and recent ops) {
  auto doc = edit("a", "s1", 2);
  self->send(conn, doc,
             presence_request{"s1", "c-s1", "u-s1", R"({"index":1})"});
  run_jobs();
  auto d = ask<doc_detail>(agent, inspect_atom_v, std::string{"a"},
                           uint64_t{20});
  CAF_CHECK_EQUAL(d.status.rev, 2u);
  CAF_CHECK_EQUAL(d.epoch, 1u);
  CAF_REQUIRE_EQUAL(d.subscribers.size(), 1u);
  CAF_CHECK_EQUAL(d.subscribers[0].client, "c-s1");
  CAF_CHECK_EQUAL(d.subscribers[0].user, "u-s1");
  CAF_CHECK_EQUAL(d.subscribers[0].node, "n1");
  CAF_CHECK_EQUAL(d.subscribers[0].presence, R"({"index":1})");
  CAF_REQUIRE_EQUAL(d.recent_ops.size(), 2u);
  CAF_CHECK_EQUAL(d.recent_ops[1].rev, 2u);
  CAF_CHECK_EQUAL(d.recent_ops[1].seq, 2u);
}

CAF_TEST(a document not live here is not found and not activated) {
  auto answer = self->request(agent, infinite, inspect_atom_v,
                              std::string{"nope"}, uint64_t{20});
  run_jobs();
  answer.receive([](doc_detail&) { CAF_FAIL("expected an error"); },
                 [](error&) { /* not live */ });
  CAF_CHECK_EQUAL(ask<bool>(agent, lookup_atom_v, std::string{"nope"}), false);
  CAF_CHECK(ask<std::vector<doc_status>>(agent, docs_atom_v).empty());
}

CAF_TEST(snapshot on request stores the current revision) {
  edit("a", "s1", 4);
  CAF_CHECK_EQUAL(ask<uint64_t>(agent, snapshot_now_atom_v, std::string{"a"}),
                  4u);
  auto docs = ask<std::vector<doc_status>>(agent, docs_atom_v);
  CAF_REQUIRE_EQUAL(docs.size(), 1u);
  CAF_CHECK_EQUAL(docs[0].snapshot_rev, 4u);
}

CAF_TEST(evict passivates the document and keeps its history) {
  edit("a", "s1", 2);
  CAF_CHECK_EQUAL(ask<uint64_t>(agent, evict_atom_v, std::string{"a"}), 2u);
  CAF_CHECK_EQUAL(ask<bool>(agent, lookup_atom_v, std::string{"a"}), false);
  // Activated again from the store: same revision.
  auto doc = ask<document_actor>(directory, collab::resolve_atom_v,
                                 std::string{"a"});
  auto d = ask<doc_status>(doc, inspect_atom_v);
  CAF_CHECK_EQUAL(d.durable_rev, 2u);
  CAF_CHECK_EQUAL(d.snapshot_rev, 2u);
}

CAF_TEST(a pin to another member hands the document off) {
  auto doc = edit("a", "s1", 1);
  // Two members: n1 (us) and n2 (a stand-in directory that is never asked
  // here). Whatever hashing says, a pin to n2 moves "a" away from n1.
  auto other = sys.spawn([](event_based_actor*) -> behavior {
    return {[](resolve_local_atom, const std::string&) {
    }};
  });
  member_info n1, n2;
  n1.node = "n1";
  n1.directory = directory;
  n2.node = "n2";
  n2.directory = actor_cast<directory_actor>(other);
  self->send(directory, members_atom_v, std::vector<member_info>{n1, n2});
  run_jobs();
  CAF_CHECK(ask<bool>(agent, pin_atom_v, std::string{"a"}, std::string{"n2"}));
  CAF_CHECK_EQUAL(ask<bool>(agent, lookup_atom_v, std::string{"a"}), false);
  // Pinned back to us: resolved locally again.
  CAF_CHECK(ask<bool>(agent, pin_atom_v, std::string{"a"}, std::string{"n1"}));
  auto again = ask<document_actor>(directory, collab::resolve_atom_v,
                                   std::string{"a"});
  CAF_CHECK_NOT_EQUAL(again, doc);
  CAF_CHECK_EQUAL(ask<bool>(agent, lookup_atom_v, std::string{"a"}), true);
}

CAF_TEST_FIXTURE_SCOPE_END()
