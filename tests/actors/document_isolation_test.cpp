// Deterministic tests of the document actor's isolation bounds (docs/DESIGN.md,
// contract 6; issue "Isolation and hardening"): the work one op may cause,
// history by bytes and the node's memory budget, a commit the store rejects,
// client ids owned by their user, presence coalesced per tick and encoded
// once, and a deep resume read a page at a time. Each refusal is tested next
// to an honest request that is still served.
#define CAF_SUITE actors.document_isolation

#include "document_fixture.hpp"

#include "actors/op_history.hpp"

namespace {

// An op of `pairs` x (skip 1, insert "x"): 2 x pairs components.
ot::op comb(size_t pairs) {
  ot::op out;
  for (size_t i = 0; i < pairs; ++i) {
    out.push_back(ot::component::skip(1));
    out.push_back(ot::component::insert("x"));
  }
  return out;
}

ot::op insert_at(uint64_t pos, std::string text) {
  ot::op out;
  if (pos > 0)
    out.push_back(ot::component::skip(pos));
  out.push_back(ot::component::insert(std::move(text)));
  return out;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(document_isolation_tests, fixture)

// ---- the work of one op (defect 3)

CAF_TEST(an op with too many components is refused as too_large) {
  opts.max_op_components = 10;
  start();
  auto a = client();
  auto b = client();
  join(a, "a");
  join(b, "b");
  submit(a, "a", 1, 0, R"(["abcdef"])");
  submit_op(b, "b", 1, 1, comb(6)); // 12 components
  CAF_CHECK_EQUAL(last(b), "error too_large seq=1");
  CAF_CHECK(contains(last_error(b), "12 components"));
  CAF_CHECK_EQUAL(text(), "1:abcdef");
  submit_op(b, "b", 1, 1, comb(5)); // 10: at the limit, accepted
  CAF_CHECK_EQUAL(last(b), "ack seq=1 rev=2");
  CAF_CHECK_EQUAL(text(), "2:axbxcxdxexf");
}

CAF_TEST(an op too far behind for its size is refused as rev_too_old) {
  opts.max_transform_work = 300;
  start();
  auto a = client();
  auto b = client();
  join(a, "a");
  join(b, "b");
  submit(a, "a", 1, 0, R"(["abcdefghijklmnopqrst"])");
  for (uint64_t i = 2; i <= 21; ++i)
    submit(a, "a", i, i - 1, R"(["-"])"); // 20 ops to transform over
  // 16 components over 20 ops: 20 x (1 + 16) = 340 units.
  submit_op(b, "b", 1, 1, comb(8));
  CAF_CHECK_EQUAL(last(b), "error rev_too_old seq=1");
  CAF_CHECK(contains(last_error(b), "too far behind for its size"));
  // The same op based on a recent revision is cheap: accepted.
  submit_op(b, "b", 1, 20, comb(8));
  CAF_CHECK_EQUAL(last(b), "ack seq=1 rev=22");
  // A small op as far behind as the refused one: accepted.
  submit(b, "b", 2, 1, R"([20,"!"])");
  CAF_CHECK_EQUAL(last(b), "ack seq=2 rev=23");
}

CAF_TEST(
  an op that grows while it is transformed is refused when it grows too much) {
  // A delete of 100 code points, made on revision 1, is split by 20 inserts
  // committed meanwhile inside its range: 2 more components per step. As
  // sent, the work is 20 x (1 + 1) = 40 units; as it grows, 420.
  opts.max_transform_work = 200;
  opts.max_doc_bytes = 1000;
  start();
  auto a = client();
  auto b = client();
  join(a, "a");
  join(b, "b");
  submit_op(a, "a", 1, 0, insert_at(0, std::string(100, 'a')));
  for (uint64_t i = 0; i < 20; ++i)
    submit_op(a, "a", i + 2, i + 1, insert_at(5 * (i + 1) + i, "x"));
  submit(b, "b", 1, 1, R"([{"d":100}])");
  CAF_CHECK_EQUAL(last(b), "error rev_too_old seq=1");
  submit(b, "b", 1, 21, R"([{"d":120}])"); // rebased: accepted
  CAF_CHECK_EQUAL(last(b), "ack seq=1 rev=22");
  CAF_CHECK_EQUAL(text(), "22:");
}

CAF_TEST(transform work counts the text an op carries) {
  op_history history;
  ot::op small = insert_at(0, "x");
  for (uint64_t rev = 1; rev <= 10; ++rev)
    history.push(committed_op{"d", rev, "c", rev, "u", small});
  // One component, but 3200 bytes: 1 + 1 + 3200 / 32 = 102 units a step.
  auto big = insert_at(0, std::string(3200, 'y'));
  auto op = big;
  CAF_CHECK(!transform_within(op, history.begin(), history.end(), 1000));
  op = big;
  CAF_CHECK(transform_within(op, history.begin(), history.end(), 1100));
  CAF_CHECK_EQUAL(op, big); // side left: it stays in front of the inserts
}

// ---- history by bytes and the memory budget (defect 6)

CAF_TEST(the history is bounded by bytes as well as by ops) {
  auto one_op
    = memory_estimate(committed_op{"d", 1, "c-a", 1, "u-a", parse(R"(["x"])")});
  opts.history_bytes = 3 * one_op; // three such ops
  start();
  auto a = client();
  auto b = client();
  join(a, "a");
  join(b, "b");
  for (uint64_t i = 1; i <= 6; ++i)
    submit(a, "a", i, i - 1, R"(["x"])");
  submit(b, "b", 1, 2, R"(["y"])"); // needs ops 3..6: only 4..6 are kept
  CAF_CHECK_EQUAL(last(b), "error rev_too_old seq=1");
  submit(b, "b", 1, 3, R"(["y"])");
  CAF_CHECK_EQUAL(last(b), "ack seq=1 rev=7");
}

CAF_TEST(the history is charged to the node budget and released) {
  auto one_op
    = memory_estimate(committed_op{"d", 1, "c-a", 1, "u-a", parse(R"(["x"])")});
  auto budget = std::make_shared<memory_budget>(10 * one_op);
  opts.budget = budget;
  opts.history_window = 2;
  start();
  auto a = client();
  join(a, "a");
  for (uint64_t i = 1; i <= 5; ++i)
    submit(a, "a", i, i - 1, R"(["x"])");
  CAF_CHECK_EQUAL(budget->used(), 2 * one_op); // only the window is held
  // The rest of the node took the budget: the next op cannot be held, even
  // after its oldest op made room.
  budget->charge(9 * one_op);
  submit(a, "a", 6, 5, R"(["y"])");
  CAF_CHECK_EQUAL(last(a), "error overloaded seq=6");
  CAF_CHECK_EQUAL(text(), "5:xxxxx");
  budget->release(9 * one_op);
  submit(a, "a", 6, 5, R"(["y"])"); // the retry with the same seq
  CAF_CHECK_EQUAL(last(a), "ack seq=6 rev=6");
  // A document that stops gives its bytes back.
  self->send(a, doc, leave_request{"a"});
  run_jobs();
  self->monitor(doc);
  anon_send(doc, evict_atom_v);
  run_jobs();
  expect((down_msg), from(doc).to(self));
  CAF_CHECK_EQUAL(budget->used(), 0u);
}

CAF_TEST(a document at its bounds recycles its own bytes of the budget) {
  auto one_op
    = memory_estimate(committed_op{"d", 1, "c-a", 1, "u-a", parse(R"(["x"])")});
  auto budget = std::make_shared<memory_budget>(2 * one_op);
  opts.budget = budget;
  opts.history_window = 2;
  start();
  auto a = client();
  join(a, "a");
  for (uint64_t i = 1; i <= 5; ++i) {
    submit(a, "a", i, i - 1, R"(["x"])");
    CAF_CHECK_EQUAL(last(a), "ack seq=" + std::to_string(i)
                               + " rev=" + std::to_string(i));
  }
  CAF_CHECK_EQUAL(budget->used(), 2 * one_op);
}

// ---- a commit the store rejects for its data (defect 1)

CAF_TEST(a rejected op is answered internal and the document goes on) {
  start();
  auto a = client();
  auto b = client();
  join(a, "a");
  join(b, "b");
  self->send(store, reject_atom_v, std::string{"POISON"});
  submit(a, "a", 1, 0, R"(["ok "])");
  submit(b, "b", 1, 1, R"(["POISON"])");
  CAF_CHECK_EQUAL(last(b), "error internal seq=1");
  CAF_CHECK(contains(last_error(b), "correlation id "));
  CAF_CHECK_EQUAL(log(a).size(), 2u); // nobody heard of it
  CAF_CHECK_EQUAL(text(), "1:ok ");
  submit(b, "b", 1, 1, R"(["fine"])"); // seq 1 was not used up
  CAF_CHECK_EQUAL(last(b), "ack seq=1 rev=2");
  CAF_CHECK_EQUAL(last(a), R"(op rev=2 client=c-b seq=1 ["fine"])");
}

CAF_TEST(
  a rejected batch is retried one op at a time so only the bad op fails) {
  start();
  auto a = client();
  auto b = client();
  auto c = client();
  join(a, "a");
  join(b, "b");
  join(c, "c");
  self->send(store, reject_atom_v, std::string{"POISON"});
  run_jobs();
  // a's op is committed alone; c's and b's wait and form the next batch.
  submit(a, "a", 1, 0, R"(["a"])", false);
  submit(c, "c", 1, 0, R"(["c"])", false);
  submit(b, "b", 1, 0, R"(["POISON"])", false);
  run_jobs();
  CAF_CHECK(got(a, "ack seq=1 rev=1"));
  CAF_CHECK_EQUAL(last(a), R"(op rev=2 client=c-c seq=1 ["c"])");
  CAF_CHECK_EQUAL(last(c), "ack seq=1 rev=2");
  CAF_CHECK_EQUAL(last(b), "error internal seq=1");
  // The store saw a's op, the rejected batch, then c's op and b's alone.
  auto expected = std::vector<size_t>{1, 2, 1, 1};
  CAF_CHECK_EQUAL(store_state().commits, expected);
  CAF_CHECK_EQUAL(text(), "2:ca");
  // An op behind the refused one was transformed over it: it is answered
  // unavailable and its retry commits.
  submit(c, "c", 2, 2, R"(["C"])", false);
  submit(b, "b", 1, 2, R"(["POISON"])", false);
  submit(a, "a", 2, 2, R"(["A"])", false);
  run_jobs();
  CAF_CHECK_EQUAL(last(c), "ack seq=2 rev=3");
  CAF_CHECK_EQUAL(last(b), "error internal seq=1");
  CAF_CHECK_EQUAL(last(a), "error unavailable seq=2");
  submit(a, "a", 2, 3, R"(["A"])");
  CAF_CHECK_EQUAL(last(a), "ack seq=2 rev=4");
  CAF_CHECK_EQUAL(text(), "4:ACca");
}

// ---- client ids belong to their user (defect 8)

CAF_TEST(a client id used by another user is refused and no edit is lost) {
  start();
  auto a = client();
  auto x = client();
  join(a, "a");
  submit(a, "a", 1, 0, R"(["mine "])");
  // x knows a's client id (ops carry it) and says hello with it.
  join_as(x, "x", "c-a", "u-x");
  CAF_CHECK_EQUAL(last(x), "error forbidden");
  CAF_CHECK(contains(last_error(x), "belongs to another user"));
  self->send(x, doc,
             submit_request{"x", "c-a", "u-x", 2, 1, parse(R"(["theirs"])")});
  run_jobs();
  CAF_CHECK_EQUAL(last(x), "error not_joined seq=2");
  // a's next op is applied, not taken for a duplicate.
  submit(a, "a", 2, 1, R"([5,"again"])");
  CAF_CHECK_EQUAL(last(a), "ack seq=2 rev=2");
  CAF_CHECK_EQUAL(text(), "2:mine again");
}

CAF_TEST(a submit naming a client id of another user is refused) {
  start();
  auto a = client();
  auto x = client();
  join(a, "a");
  join(x, "x");
  submit(a, "a", 1, 0, R"(["a"])");
  self->send(x, doc,
             submit_request{"x", "c-a", "u-x", 2, 1, parse(R"(["x"])")});
  run_jobs();
  CAF_CHECK_EQUAL(last(x), "error forbidden seq=2");
  // While a's op is pending, too.
  submit(a, "a", 2, 1, R"(["b"])", false);
  self->send(x, doc,
             submit_request{"x", "c-a", "u-x", 3, 1, parse(R"(["x"])")});
  run_jobs();
  CAF_CHECK(got(x, "error forbidden seq=3"));
  CAF_CHECK_EQUAL(last(a), "ack seq=2 rev=2");
  CAF_CHECK_EQUAL(text(), "2:ba");
}

CAF_TEST(a client id held by a joined session is not taken by another user) {
  start();
  auto a = client();
  auto x = client();
  join(a, "a"); // no op yet: its presence would show the id
  join_as(x, "x", "c-a", "u-x");
  CAF_CHECK_EQUAL(last(x), "error forbidden");
  // The same user on a second socket with the same id is fine.
  auto a2 = client();
  join_as(a2, "a2", "c-a", "u-a");
  CAF_CHECK_EQUAL(last(a2), "joined rev=0 text=");
}

CAF_TEST(honest resends are re - acked once also from the store) {
  opts.history_window = 1;
  start();
  auto a = client();
  join(a, "a");
  for (uint64_t i = 1; i <= 3; ++i)
    submit(a, "a", i, i - 1, R"(["x"])");
  // The same user resends seq 1 from another socket: older than the
  // history, found in the store, re-acked with its revision.
  auto a2 = client();
  join_as(a2, "a2", "c-a", "u-a");
  self->send(a2, doc,
             submit_request{"a2", "c-a", "u-a", 1, 0, parse(R"(["x"])")});
  run_jobs();
  CAF_CHECK_EQUAL(last(a2), "ack seq=1 rev=1");
  CAF_CHECK_EQUAL(text(), "3:xxx");
}

CAF_TEST(a client id of ops without a user is not owned) {
  start();
  auto a = client();
  join(a, "a");
  // Ops from before users were recorded carry none.
  self->send(a, doc, submit_request{"a", "c-a", "", 1, 0, parse(R"(["x"])")});
  run_jobs();
  CAF_CHECK_EQUAL(last(a), "ack seq=1 rev=1");
  self->send(a, doc, leave_request{"a"});
  run_jobs();
  auto b = client();
  join_as(b, "b", "c-a", "u-b");
  CAF_CHECK_EQUAL(last(b), "joined rev=1 text=x");
}

// ---- presence: coalesced per tick, encoded once (defect 10)

CAF_TEST(presence is sent at once then coalesced per tick) {
  opts.presence_tick = std::chrono::milliseconds(50);
  start();
  auto a = client();
  auto b = client();
  auto c = client();
  join(a, "a");
  join(b, "b");
  join(c, "c");
  presence_encodes = 0;
  presence(a, "a", "1");
  CAF_CHECK_EQUAL(last(b), "presence client=c-a data=1");
  CAF_CHECK_EQUAL(last(c), "presence client=c-a data=1");
  CAF_CHECK_EQUAL(presence_encodes, 1); // one frame for both receivers
  presence(a, "a", "2");
  presence(a, "a", "3");
  presence(b, "b", "9");
  CAF_CHECK_EQUAL(log(c).size(), 2u); // held until the tick
  advance_time(std::chrono::milliseconds(50));
  run_jobs();
  // The last of each session: a's 3 (never 2), then b's 9.
  auto& lc = log(c);
  CAF_REQUIRE_EQUAL(lc.size(), 4u);
  CAF_CHECK_EQUAL(lc[2], "presence client=c-a data=3");
  CAF_CHECK_EQUAL(lc[3], "presence client=c-b data=9");
  CAF_CHECK_EQUAL(last(b), "presence client=c-a data=3");
  CAF_CHECK_EQUAL(last(a), "presence client=c-b data=9");
  CAF_CHECK_EQUAL(presence_encodes, 3);
  // A quiet tick ends the ticking: the next update goes out at once.
  advance_time(std::chrono::milliseconds(50));
  run_jobs();
  presence(a, "a", "4");
  CAF_CHECK_EQUAL(last(c), "presence client=c-a data=4");
}

CAF_TEST(a session that leaves or disconnects still clears its presence) {
  opts.presence_tick = std::chrono::milliseconds(50);
  start();
  auto a = client();
  auto b = client();
  auto c = client();
  join(a, "a");
  join(b, "b");
  join(c, "c");
  presence(c, "c", "0"); // starts a tick
  presence(a, "a", "1"); // waits for it
  self->send(a, doc, leave_request{"a"});
  run_jobs();
  CAF_CHECK_EQUAL(last(b), "presence client=c-a data=null");
  presence(b, "b", "2");
  anon_send_exit(b, exit_reason::user_shutdown); // b's connection dies
  run_jobs();
  CAF_CHECK_EQUAL(last(c), "presence client=c-b data=null");
  auto before = log(c).size();
  advance_time(std::chrono::milliseconds(50));
  run_jobs();
  CAF_CHECK_EQUAL(log(c).size(), before); // nothing of a or b after that
}

// ---- a deep resume reads a page at a time (resume paging)

CAF_TEST(a resume older than the history is read from the store in pages) {
  opts.history_window = 1;
  opts.resume_page_ops = 2;
  start();
  auto a = client();
  join(a, "a");
  for (uint64_t i = 1; i <= 7; ++i)
    submit(a, "a", i, i - 1, R"(["x"])");
  self->send(store, hold_atom_v, true);
  run_jobs();
  auto b = client();
  join(b, "b", true, 1);
  using page = std::pair<uint64_t, uint64_t>;
  auto reads = std::vector<page>{{1, 2}};
  CAF_CHECK_EQUAL(store_state().reads, reads);
  // Each page is sent on before the next one is read.
  auto next_page = [&] {
    self->send(store, next_atom_v);
    run_jobs();
  };
  next_page();
  reads.emplace_back(3, 2);
  CAF_CHECK_EQUAL(store_state().reads, reads);
  CAF_CHECK_EQUAL(log(b).size(), 2u);
  // An op commits while the pages are read: after `joined`, exactly once.
  submit(a, "a", 8, 7, R"(["y"])");
  CAF_CHECK_EQUAL(last(a), "ack seq=8 rev=8");
  CAF_CHECK_EQUAL(log(b).size(), 2u);
  next_page();
  reads.emplace_back(5, 2);
  CAF_CHECK_EQUAL(store_state().reads, reads);
  CAF_CHECK_EQUAL(log(b).size(), 4u);
  next_page();
  CAF_CHECK_EQUAL(store_state().reads, reads); // the last page: no more
  auto& l = log(b);
  CAF_REQUIRE_EQUAL(l.size(), 8u);
  for (uint64_t i = 0; i < 6; ++i)
    CAF_CHECK_EQUAL(l[i], "op rev=" + std::to_string(i + 2) + " client=c-a seq="
                            + std::to_string(i + 2) + R"( ["x"])");
  CAF_CHECK_EQUAL(l[6], "joined rev=7");
  CAF_CHECK_EQUAL(l[7], R"(op rev=8 client=c-a seq=8 ["y"])");
}

CAF_TEST_FIXTURE_SCOPE_END()
