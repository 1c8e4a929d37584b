// Deterministic tests of batched delivery (docs/PROTOCOL.md, hello `batch`):
// a batched subscriber hears the durable ops of one tick as one ops_event,
// its own op in it standing for the ack; unbatched subscribers keep the v1
// events; the tick grows with the batched subscribers; nothing held in a
// batch is lost when the document stops; presence ticks come as one event.
#define CAF_SUITE actors.document_batch

#include "document_fixture.hpp"

namespace {

size_t count_prefix(const std::vector<std::string>& log,
                    const std::string& prefix) {
  return static_cast<size_t>(
    std::count_if(log.begin(), log.end(), [&](const std::string& line) {
      return line.rfind(prefix, 0) == 0;
    }));
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(document_batch_tests, fixture)

CAF_TEST(a batched sender gets its op in the batch instead of an ack) {
  opts.batch_frames_per_s = 1000; // 2 batched: a tick of 2 ms
  start();
  auto a = client();
  auto b = client();
  auto v1 = client();
  join_batched(a, "a");
  join_batched(b, "b");
  join(v1, "v");
  submit(a, "a", 1, 0, R"(["x"])");
  // The first commit after a quiet tick goes out at once.
  CAF_CHECK_EQUAL(last(a), "ops 1:c-a/1");
  CAF_CHECK_EQUAL(last(b), "ops 1:c-a/1");
  CAF_CHECK_EQUAL(count_prefix(log(a), "ack"), 0u);
  // The v1 subscriber is served as before.
  CAF_CHECK_EQUAL(last(v1), R"(op rev=1 client=c-a seq=1 ["x"])");
}

CAF_TEST(ops committed within one tick go out as one batch) {
  opts.batch_frames_per_s = 1000;
  start();
  auto a = client();
  auto b = client();
  join_batched(a, "a");
  join_batched(b, "b");
  submit(a, "a", 1, 0, R"(["x"])"); // at once: opens the tick
  submit(a, "a", 2, 1, R"(["y"])");
  submit(b, "b", 1, 2, R"(["z"])");
  CAF_CHECK_EQUAL(last(b), "ops 1:c-a/1"); // the rest waits for the tick
  sched.trigger_timeouts();
  run_jobs();
  CAF_CHECK_EQUAL(last(a), "ops 2:c-a/2 3:c-b/1");
  CAF_CHECK_EQUAL(last(b), "ops 2:c-a/2 3:c-b/1");
  CAF_CHECK_EQUAL(count_prefix(log(b), "ops"), 2u);
  CAF_CHECK_EQUAL(count_prefix(log(b), "ack"), 0u);
  CAF_CHECK_EQUAL(text(), "3:zyx");
}

CAF_TEST(without batched subscribers nothing is held) {
  start();
  auto a = client();
  auto b = client();
  join(a, "a");
  join(b, "b");
  submit(a, "a", 1, 0, R"(["x"])");
  submit(a, "a", 2, 1, R"(["y"])");
  CAF_CHECK_EQUAL(last(a), "ack seq=2 rev=2");
  CAF_CHECK_EQUAL(last(b), R"(op rev=2 client=c-a seq=2 ["y"])");
  CAF_CHECK_EQUAL(count_prefix(log(b), "ops"), 0u);
}

CAF_TEST(a batch held for its tick is delivered before a hand off) {
  opts.batch_frames_per_s = 1000;
  start();
  auto a = client();
  auto b = client();
  join_batched(a, "a");
  join_batched(b, "b");
  submit(a, "a", 1, 0, R"(["x"])");
  submit(a, "a", 2, 1, R"(["y"])"); // held for the tick
  CAF_CHECK_EQUAL(last(b), "ops 1:c-a/1");
  self->monitor(doc);
  self->send(doc, release_atom_v);
  run_jobs();
  CAF_CHECK_EQUAL(last(b), "ops 2:c-a/2"); // not lost with the actor
  CAF_CHECK_EQUAL(last(a), "ops 2:c-a/2");
  expect((down_msg), from(doc).to(self));
}

CAF_TEST(a batched session catching up hears the replay op by op) {
  opts.batch_frames_per_s = 1000;
  start();
  auto a = client();
  join_batched(a, "a");
  for (uint64_t i = 1; i <= 3; ++i) {
    submit(a, "a", i, i - 1, R"(["x"])");
    sched.trigger_timeouts();
    run_jobs();
  }
  auto b = client();
  self->send(doc, join_request{actor_cast<document_subscriber>(b),
                               "b",
                               "c-b",
                               "u-b",
                               true,
                               1,
                               {},
                               true});
  run_jobs();
  auto& l = log(b);
  CAF_REQUIRE_EQUAL(l.size(), 3u);
  CAF_CHECK_EQUAL(l[0], R"(op rev=2 client=c-a seq=2 ["x"])");
  CAF_CHECK_EQUAL(l[1], R"(op rev=3 client=c-a seq=3 ["x"])");
  CAF_CHECK_EQUAL(l[2], "joined rev=3");
  sched.trigger_timeouts(); // a quiet tick
  run_jobs();
  submit(a, "a", 4, 3, R"(["y"])");
  sched.trigger_timeouts();
  run_jobs();
  CAF_CHECK_EQUAL(last(b), "ops 4:c-a/4"); // live ops in batches
}

CAF_TEST(presence of one tick reaches batched sessions as one event) {
  opts.presence_tick = std::chrono::milliseconds(50);
  start();
  auto a = client();
  auto b = client();
  auto c = client();
  join_batched(a, "a");
  join_batched(b, "b");
  join(c, "c");
  presence(a, "a", R"({"cursor":1})"); // at once: opens the tick
  CAF_CHECK_EQUAL(last(b), R"(presence client=c-a data={"cursor":1})");
  presence(a, "a", R"({"cursor":2})");
  presence(b, "b", R"({"cursor":7})");
  sched.trigger_timeouts();
  run_jobs();
  // One event for the tick, the last update of each session, the
  // receiver's own included (a shared frame).
  CAF_CHECK_EQUAL(last(b), R"(presences c-a={"cursor":2} c-b={"cursor":7})");
  CAF_CHECK_EQUAL(last(a), R"(presences c-a={"cursor":2} c-b={"cursor":7})");
  // The unbatched session gets one presence event per update, as in v1.
  CAF_CHECK_EQUAL(count_prefix(log(c), "presence client=c-a"), 2u);
  CAF_CHECK_EQUAL(count_prefix(log(c), "presence client=c-b"), 1u);
}

CAF_TEST(a batch goes once to each node relay and directly without one) {
  opts.batch_frames_per_s = 1000;
  start();
  auto relay1 = client(); // stands in for the relay of a node
  auto relay2 = client();
  auto a = client();
  auto b = client();
  auto c = client();
  auto d = client(); // no relay: its batches come to it
  join_batched(a, "a", relay1);
  join_batched(b, "b", relay1);
  join_batched(c, "c", relay2);
  join_batched(d, "d");
  submit(a, "a", 1, 0, R"(["x"])");
  CAF_CHECK_EQUAL(log(relay1), std::vector<std::string>{"ops 1:c-a/1"});
  CAF_CHECK_EQUAL(log(relay2), std::vector<std::string>{"ops 1:c-a/1"});
  CAF_CHECK_EQUAL(last(d), "ops 1:c-a/1");
  // The relay's subscribers hear of it through the relay only.
  CAF_CHECK_EQUAL(count_prefix(log(a), "ops"), 0u);
  CAF_CHECK_EQUAL(count_prefix(log(c), "ops"), 0u);
  // A relay whose last subscriber left gets nothing more.
  self->send(c, doc, leave_request{"c"});
  run_jobs();
  sched.trigger_timeouts();
  run_jobs();
  submit(b, "b", 1, 1, R"(["y"])");
  sched.trigger_timeouts();
  run_jobs();
  CAF_CHECK_EQUAL(log(relay1).size(), 2u);
  CAF_CHECK_EQUAL(log(relay2).size(), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
