// The node relay of batched delivery (actors/relay.hpp): it hands a
// document's batch to the connections of this node registered for that
// document, and forgets a connection that leaves or ends.
#define CAF_SUITE actors.relay

#include "document_fixture.hpp"

#include "actors/relay.hpp"

namespace {

struct relay_fixture : fixture {
  relay_actor relay = spawn_relay(sys);

  void enroll(const actor& conn, const std::string& doc) {
    self->send(relay, relay_join_atom_v, doc,
               actor_cast<document_subscriber>(conn));
    run_jobs();
  }

  void batch(const std::string& doc, uint64_t rev) {
    committed_op op{doc, rev, "c-w", rev, "u-w", parse(R"(["x"])")};
    self->send(relay, ops_event{shared_ops{op_batch{doc, {op}}}});
    run_jobs();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(relay_tests, relay_fixture)

CAF_TEST(a batch reaches the connections registered for its document) {
  auto a = client();
  auto b = client();
  auto other = client();
  enroll(a, "d");
  enroll(b, "d");
  enroll(b, "d"); // a join again: still one registration
  enroll(other, "e");
  batch("d", 1);
  CAF_CHECK_EQUAL(log(a), std::vector<std::string>{"ops 1:c-w/1"});
  CAF_CHECK_EQUAL(log(b), std::vector<std::string>{"ops 1:c-w/1"});
  CAF_CHECK(log(other).empty());
  presence_batch p{"e", {{"e", "c-w", "u-w", "null"}}};
  self->send(relay, presences_event{shared_presences{std::move(p)}});
  run_jobs();
  CAF_CHECK_EQUAL(last(other), "presences c-w=null");
  CAF_CHECK_EQUAL(log(a).size(), 1u);
}

CAF_TEST(a connection that leaves or ends is forgotten) {
  auto a = client();
  auto b = client();
  enroll(a, "d");
  enroll(a, "e");
  enroll(b, "d");
  self->send(relay, relay_leave_atom_v, std::string{"d"},
             actor_cast<document_subscriber>(a));
  run_jobs();
  batch("d", 1);
  batch("e", 1);
  CAF_CHECK_EQUAL(log(a), std::vector<std::string>{"ops 1:c-w/1"}); // e only
  CAF_CHECK_EQUAL(log(b), std::vector<std::string>{"ops 1:c-w/1"});
  anon_send_exit(b, exit_reason::user_shutdown);
  run_jobs();
  batch("d", 2); // nobody left for d: nothing is sent
  CAF_CHECK_EQUAL(log(a).size(), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
