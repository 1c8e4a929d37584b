// Deterministic tests of the document actor (CAF's test coordinator): the
// ordering, exactly-once, error, presence, resume, rollback and passivation
// rules of docs/PROTOCOL.md. Each test talks to the actor through `recorder`
// actors that stand in for connection actors and log every event they get
// (document_fixture.hpp). The isolation bounds: document_isolation_test.cpp.
#define CAF_SUITE actors.document

#include "document_fixture.hpp"

CAF_TEST_FIXTURE_SCOPE(document_tests, fixture)

CAF_TEST(a new document is empty at revision 0) {
  start();
  auto a = client();
  self->send(
    doc,
    join_request{
      actor_cast<document_subscriber>(a), "a", "c-a", "u-a", false, 0, {}});
  expect((join_request), from(self).to(doc));
  expect((joined_event), from(doc).to(a));
  CAF_CHECK_EQUAL(last(a), "joined rev=0 text=");
}

CAF_TEST(the sender gets an ack and every other subscriber the op) {
  start();
  auto a = client();
  auto b = client();
  join(a, "a");
  join(b, "b");
  submit(a, "a", 1, 0, R"(["hi"])");
  CAF_CHECK_EQUAL(last(a), "ack seq=1 rev=1");
  CAF_CHECK_EQUAL(last(b), R"(op rev=1 client=c-a seq=1 ["hi"])");
  CAF_CHECK_EQUAL(log(a).size(), 2u); // joined + ack, no echo
  CAF_CHECK_EQUAL(text(), "1:hi");
}

CAF_TEST(concurrent ops are transformed over the history since their base) {
  start();
  auto a = client();
  auto b = client();
  join(a, "a");
  join(b, "b");
  submit(a, "a", 1, 0, R"(["abc"])");
  // b made its op on revision 0 too: it is transformed over a's insert
  // (side left: b's insert at the same place goes first).
  submit(b, "b", 1, 0, R"(["X"])");
  CAF_CHECK_EQUAL(last(b), "ack seq=1 rev=2");
  CAF_CHECK_EQUAL(last(a), R"(op rev=2 client=c-b seq=1 ["X"])");
  submit(b, "b", 2, 1, R"([1,{"d":1}])"); // made on "abc": delete 'b'
  CAF_CHECK_EQUAL(last(a), R"(op rev=3 client=c-b seq=2 [2,{"d":1}])");
  CAF_CHECK_EQUAL(text(), "3:Xac");
}

CAF_TEST(a duplicate seq is re - acked with its revision and not re - applied) {
  start();
  auto a = client();
  auto b = client();
  join(a, "a");
  join(b, "b");
  submit(a, "a", 1, 0, R"(["x"])");
  submit(a, "a", 2, 1, R"(["y"])");
  submit(a, "a", 1, 0, R"(["x"])");
  CAF_CHECK_EQUAL(last(a), "ack seq=1 rev=1");
  submit(a, "a", 2, 1, R"(["y"])");
  CAF_CHECK_EQUAL(last(a), "ack seq=2 rev=2");
  CAF_CHECK_EQUAL(text(), "2:yx");
  CAF_CHECK_EQUAL(log(b).size(), 3u); // joined + two ops, no repeat
}

CAF_TEST(a duplicate of a pending op is acked once it is durable) {
  start();
  auto a = client();
  auto a2 = client(); // the same client on a second socket
  join(a, "a");
  join(a2, "a2");
  submit(a, "a", 1, 0, R"(["x"])", false);
  self->send(a2, doc,
             submit_request{"a2", "c-a", "u-a", 1, 0, parse(R"(["x"])")});
  run_jobs();
  CAF_CHECK_EQUAL(last(a), "ack seq=1 rev=1");
  CAF_CHECK_EQUAL(last(a2), "ack seq=1 rev=1");
  CAF_CHECK_EQUAL(text(), "1:x");
}

CAF_TEST(errors seq_gap rev_ahead bad_op too_large not_joined) {
  start();
  auto a = client();
  auto outsider = client();
  join(a, "a");
  submit(a, "a", 2, 0, R"(["x"])");
  CAF_CHECK_EQUAL(last(a), "error seq_gap seq=2");
  submit(a, "a", 1, 5, R"(["x"])");
  CAF_CHECK_EQUAL(last(a), "error rev_ahead seq=1");
  submit(a, "a", 1, 0, R"([{"d":1}])"); // delete past the end
  CAF_CHECK_EQUAL(last(a), "error bad_op seq=1");
  submit(a, "a", 1, 0, R"([3,"x"])"); // skip past the end
  CAF_CHECK_EQUAL(last(a), "error bad_op seq=1");
  std::string big = "[\"" + std::string(65, 'z') + "\"]";
  submit(a, "a", 1, 0, big.c_str());
  CAF_CHECK_EQUAL(last(a), "error too_large seq=1");
  submit(outsider, "o", 1, 0, R"(["x"])");
  CAF_CHECK_EQUAL(last(outsider), "error not_joined seq=1");
  // None of it changed the document, and seq 1 is still the next one.
  CAF_CHECK_EQUAL(text(), "0:");
  submit(a, "a", 1, 0, R"(["ok"])");
  CAF_CHECK_EQUAL(last(a), "ack seq=1 rev=1");
  self->send(doc, join_request{actor_cast<document_subscriber>(outsider),
                               "o",
                               "c-o",
                               "u-o",
                               true,
                               7,
                               {}});
  run_jobs();
  CAF_CHECK_EQUAL(last(outsider), "error rev_ahead");
}

CAF_TEST(an op older than the history window is refused as rev_too_old) {
  opts.history_window = 2;
  start();
  auto a = client();
  auto b = client();
  join(a, "a");
  join(b, "b");
  for (uint64_t i = 1; i <= 4; ++i)
    submit(a, "a", i, i - 1, R"(["x"])");
  submit(b, "b", 1, 1, R"(["y"])");
  CAF_CHECK_EQUAL(last(b), "error rev_too_old seq=1");
  submit(b, "b", 1, 2, R"(["y"])"); // within the window: fine
  CAF_CHECK_EQUAL(last(b), "ack seq=1 rev=5");
}

CAF_TEST(presence reaches others and is cleared on leave and disconnect) {
  opts.presence_tick = std::chrono::milliseconds(0); // at once: no ticks
  start();
  auto a = client();
  auto b = client();
  join(a, "a");
  join(b, "b");
  presence(a, "a", R"({"cursor":1})");
  CAF_CHECK_EQUAL(last(b), R"(presence client=c-a data={"cursor":1})");
  CAF_CHECK_EQUAL(log(a).size(), 1u); // not echoed
  auto c = client();
  join(c, "c"); // a late joiner learns the current presence
  CAF_CHECK_EQUAL(log(c).size(), 2u);
  CAF_CHECK_EQUAL(last(c), R"(presence client=c-a data={"cursor":1})");
  self->send(a, doc, leave_request{"a"});
  run_jobs();
  CAF_CHECK_EQUAL(last(b), "presence client=c-a data=null");
  presence(b, "b", R"({"cursor":0})");
  CAF_CHECK_EQUAL(last(c), R"(presence client=c-b data={"cursor":0})");
  anon_send_exit(b, exit_reason::user_shutdown); // b's connection dies
  run_jobs();
  CAF_CHECK_EQUAL(last(c), "presence client=c-b data=null");
}

CAF_TEST(resume replays exactly the missed ops then joins without text) {
  start();
  auto a = client();
  join(a, "a");
  for (uint64_t i = 1; i <= 3; ++i)
    submit(a, "a", i, i - 1, R"(["x"])");
  auto b = client();
  join(b, "b", true, 1);
  auto& l = log(b);
  CAF_REQUIRE_EQUAL(l.size(), 3u);
  CAF_CHECK_EQUAL(l[0], R"(op rev=2 client=c-a seq=2 ["x"])");
  CAF_CHECK_EQUAL(l[1], R"(op rev=3 client=c-a seq=3 ["x"])");
  CAF_CHECK_EQUAL(l[2], "joined rev=3");
  submit(a, "a", 4, 3, R"(["y"])"); // live after the seam
  CAF_CHECK_EQUAL(last(b), R"(op rev=4 client=c-a seq=4 ["y"])");
}

CAF_TEST(resume older than the history is served from the store) {
  opts.history_window = 1;
  start();
  auto a = client();
  join(a, "a");
  for (uint64_t i = 1; i <= 4; ++i)
    submit(a, "a", i, i - 1, R"(["x"])");
  auto b = client();
  self->send(
    doc, join_request{
           actor_cast<document_subscriber>(b), "b", "c-b", "u-b", true, 1, {}});
  // An op commits while the store read is in flight: it must come after
  // the replay and `joined`, exactly once.
  expect((join_request), from(self).to(doc));
  submit(a, "a", 5, 4, R"(["y"])");
  auto& l = log(b);
  CAF_REQUIRE_EQUAL(l.size(), 5u);
  CAF_CHECK_EQUAL(l[0], R"(op rev=2 client=c-a seq=2 ["x"])");
  CAF_CHECK_EQUAL(l[2], R"(op rev=4 client=c-a seq=4 ["x"])");
  CAF_CHECK_EQUAL(l[3], "joined rev=4");
  CAF_CHECK_EQUAL(l[4], R"(op rev=5 client=c-a seq=5 ["y"])");
}

CAF_TEST(a failed commit answers unavailable and rolls the head back) {
  start();
  auto a = client();
  auto b = client();
  join(a, "a");
  join(b, "b");
  submit(a, "a", 1, 0, R"(["one"])");
  self->send(store, fail_atom_v, true);
  run_jobs();
  submit(a, "a", 2, 1, R"(["two"])");
  CAF_CHECK_EQUAL(last(a), "error unavailable seq=2");
  CAF_CHECK_EQUAL(log(b).size(), 2u); // nobody heard of seq 2
  CAF_CHECK_EQUAL(text(), "1:one");
  self->send(store, fail_atom_v, false);
  run_jobs();
  submit(a, "a", 2, 1, R"(["two"])"); // the retry with the same seq
  CAF_CHECK_EQUAL(last(a), "ack seq=2 rev=2");
  CAF_CHECK_EQUAL(text(), "2:twoone");
}

CAF_TEST(an idle document passivates and comes back with its history) {
  opts.idle_timeout = std::chrono::milliseconds(100);
  start();
  auto a = client();
  join(a, "a");
  submit(a, "a", 1, 0, R"(["x"])");
  self->send(a, doc, leave_request{"a"});
  run_jobs();
  self->monitor(doc);
  sched.trigger_timeouts();
  run_jobs();
  expect((down_msg), from(doc).to(self));
  start(); // reactivated from the store
  CAF_CHECK_EQUAL(text(), "1:x");
  join(a, "a");
  submit(a, "a", 1, 0, R"(["x"])"); // exactly once survives passivation
  CAF_CHECK_EQUAL(last(a), "ack seq=1 rev=1");
  CAF_CHECK_EQUAL(text(), "1:x");
}

CAF_TEST(a document that lost the fence stops and commits nothing) {
  start();
  auto a = client();
  join(a, "a");
  submit(a, "a", 1, 0, R"(["x"])");
  auto old_doc = doc;
  self->monitor(old_doc);
  start(); // a second owner loads the document: the epoch moves on
  auto b = client();
  join(b, "b");
  self->send(a, old_doc, // through the old owner
             submit_request{"a", "c-a", "u-a", 2, 1, parse(R"(["lost"])")});
  run_jobs();
  // No answer: the connection sees the old owner go down and resubmits
  // to the new one (a late ack for its client, never an error).
  CAF_CHECK_EQUAL(last(a), "ack seq=1 rev=1");
  expect((down_msg), from(old_doc).to(self));
  submit(b, "b", 1, 1, R"(["kept"])");
  CAF_CHECK_EQUAL(last(b), "ack seq=1 rev=2");
  CAF_CHECK_EQUAL(text(), "2:keptx");
}

CAF_TEST(snapshots are written every N ops and activation starts from them) {
  opts.snapshot_every = 2;
  start();
  auto a = client();
  join(a, "a");
  for (uint64_t i = 1; i <= 5; ++i)
    submit(a, "a", i, i - 1, R"(["x"])");
  auto snap = request<doc_snapshot>(store, load_atom_v, std::string{"d"},
                                    std::string{"probe"}, uint64_t{0});
  CAF_CHECK_EQUAL(snap.snapshot_rev, 4u);
  CAF_CHECK_EQUAL(snap.rev, 5u);
  CAF_CHECK_EQUAL(snap.text.to_string(), "xxxxx");
}

CAF_TEST_FIXTURE_SCOPE_END()
