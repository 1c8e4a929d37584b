// Deterministic tests of the connection actor (net/connection_actor.hpp):
// its state machines, driven frame by frame through CAF's test coordinator
// with a recording socket and scripted directory and document actors
// (connection_fakes.hpp). Covered: hello first, join -> resolve -> joined,
// an op submitted and acked, the message rate limit, a document actor going
// down (resolve again, silent resumed rejoin, the unacked op resent with
// the same seq), leave, and closed_atom ending the actor.
//
// The tests run jobs with sched.run() and move the clock only with
// advance_time(): the fixture's run() would also fire the token expiry
// timer, which re-arms itself while the token is valid.
#define CAF_SUITE net.connection
#define FAIL(msg) CAF_FAIL(msg) // 0.17.6: dsl.hpp uses an undefined FAIL

#include "net/connection_actor.hpp"

#include <caf/test/dsl.hpp>

#include <chrono>

#include "actors/directory.hpp"
#include "connection_fakes.hpp"
#include "net/codec.hpp"
#include "net/server_context.hpp"

using namespace caf;
using namespace collab;
using namespace collab::net;
using namespace std::chrono_literals;

namespace {

struct test_config : actor_system_config {
  test_config() { register_message_types(*this); }
};

struct fixture : test_coordinator_fixture<test_config> {
  node_config cfg;
  token_claims claims;
  std::unique_ptr<server_context> ctx;
  std::shared_ptr<recording_sink> sink = std::make_shared<recording_sink>();
  actor dir;
  collab::net::connection_actor conn;
  std::vector<actor> docs;

  fixture() {
    cfg.node_id = "n1";
    cfg.jwt_secret = "test secret";
    claims.sub = "u1";
    claims.exp = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count()
                 + 24 * 3600;
    claims.docs = {"d*"};
    claims.read = {"r*"};
    dir = sys.spawn(fake_directory);
    sched.run();
  }

  // Ends what the test left running: CAF 0.17 hangs at shutdown when a
  // pending timer holds the last reference to a live actor.
  ~fixture() {
    // Killed too, in case closed did not end it: it must not outlive ctx.
    if (conn) {
      self->send(conn, closed_atom_v);
      self->send_exit(conn, exit_reason::kill);
    }
    for (auto& d : docs)
      self->send_exit(d, exit_reason::user_shutdown);
    self->send_exit(dir, exit_reason::user_shutdown);
    sched.run();
  }

  // The connection of session s1, with the settings in `cfg`.
  void connect() {
    ctx = std::make_unique<server_context>(sys, cfg);
    ctx->directory = actor_cast<directory_actor>(dir);
    conn = spawn_connection(*ctx, sink, claims, "s1");
    sched.run();
  }

  void frame(const std::string& text) {
    self->send(conn, frame_atom_v, text);
    sched.run();
  }

  void hello() {
    frame(R"({"type":"hello","client":"c1","v":1})");
    CAF_REQUIRE_EQUAL(sink->last(), encode_welcome("n1", "s1"));
  }

  // A document actor for `doc` at `rev`, resolved by the directory from now on.
  actor document(const std::string& doc, uint64_t rev, std::string text) {
    auto d = sys.spawn(fake_document, doc, rev, std::move(text));
    docs.push_back(d);
    directory().answers[doc] = actor_cast<document_actor>(d);
    sched.run();
    return d;
  }

  directory_state& directory() {
    return deref<stateful_actor<directory_state>>(dir).state;
  }

  document_state& state_of(const actor& d) {
    return deref<stateful_actor<document_state>>(d).state;
  }

  std::vector<std::string>& log_of(const actor& d) { return state_of(d).log; }

  std::string last_log(const actor& d) {
    auto& l = log_of(d);
    return l.empty() ? "<none>" : l.back();
  }

  // hello, then join d1 (text "hello", rev 5) and check the joined frame.
  actor joined_d1() {
    hello();
    auto d = document("d1", 5, "hello");
    frame(R"({"type":"join","doc":"d1"})");
    ot::rope text{"hello"};
    CAF_REQUIRE_EQUAL(sink->last(), encode_joined("d1", 5, &text));
    return d;
  }

  // An op of d1 at `rev` by `client`, as its document broadcasts it.
  void broadcast(uint64_t rev, const char* op, const std::string& client = "c2",
                 uint64_t seq = 1) {
    committed_op c{"d1", rev, client, seq, "u-" + client, parse_op(op)};
    self->send(conn, op_event{shared_op{std::move(c)}});
    sched.run();
  }

  bool watched_down(const actor& w) {
    return deref<stateful_actor<watcher_state>>(w).state.down;
  }
};

// The retry_after_ms of an error frame (0 when it has none).
uint64_t retry_after(const std::string& frame) {
  const std::string key = "\"retry_after_ms\":";
  auto at = frame.find(key);
  return at == std::string::npos ? 0
                                 : std::stoull(frame.substr(at + key.size()));
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(connection_tests, fixture)

// ---- hello

CAF_TEST(hello must come first) {
  connect();
  frame(R"({"type":"join","doc":"d1"})");
  CAF_CHECK_EQUAL(sink->last(),
                  encode_error(errc::bad_request, "send hello first", "d1"));
  frame(R"({"type":"ping"})");
  CAF_CHECK_EQUAL(sink->last(),
                  encode_error(errc::bad_request, "send hello first"));
  CAF_CHECK(directory().asked.empty());
  frame(R"({"type":"hello","client":"c1","v":1})");
  CAF_CHECK_EQUAL(sink->last(), encode_welcome("n1", "s1"));
  frame(R"({"type":"ping"})");
  CAF_CHECK_EQUAL(sink->last(), encode_pong());
  frame(R"({"type":"hello","client":"c1","v":1})");
  CAF_CHECK_EQUAL(sink->last(),
                  encode_error(errc::bad_request, "hello was already sent"));
  CAF_CHECK_EQUAL(sink->frames.size(), 5u);
  CAF_CHECK(sink->closes.empty());
}

CAF_TEST(hello of another protocol version is refused) {
  connect();
  frame(R"({"type":"hello","client":"c1","v":2})");
  CAF_CHECK_EQUAL(sink->last(), encode_error(errc::bad_request,
                                             "unsupported protocol version"));
  // Still no hello: the session did not start.
  frame(R"({"type":"ping"})");
  CAF_CHECK_EQUAL(sink->last(),
                  encode_error(errc::bad_request, "send hello first"));
}

CAF_TEST(every frame is reported consumed whatever became of it) {
  connect();
  std::vector<std::string> frames{
    R"({"type":"ping"})", // before hello
    R"({"type":"hello","client":"c1","v":1})",
    R"(not json)", // undecodable
    R"({"type":"ping"})",
  };
  uint64_t bytes = 0;
  for (auto& f : frames) {
    bytes += f.size();
    frame(f);
  }
  CAF_CHECK_EQUAL(sink->consumed_frames, frames.size());
  CAF_CHECK_EQUAL(sink->consumed_bytes, bytes);
}

// ---- join

CAF_TEST(a join resolves the document through the directory and joins it) {
  connect();
  hello();
  auto d = document("d1", 5, "hello");
  self->send(conn, frame_atom_v, std::string{R"({"type":"join","doc":"d1"})"});
  expect((frame_atom, std::string), from(self).to(conn));
  expect((resolve_atom, std::string), from(conn).to(dir).with(_, "d1"));
  expect((document_actor),
         from(dir).to(conn).with(actor_cast<document_actor>(d)));
  expect((join_request), from(conn).to(d));
  CAF_CHECK_EQUAL(last_log(d), "join session=s1 client=c1 resume=0 rev=0");
  expect((joined_event), from(d).to(conn));
  ot::rope text{"hello"};
  CAF_CHECK_EQUAL(sink->last(), encode_joined("d1", 5, &text));
}

CAF_TEST(a join with a revision resumes) {
  connect();
  hello();
  auto d = document("d1", 5, "hello");
  frame(R"({"type":"join","doc":"d1","rev":3})");
  CAF_CHECK_EQUAL(last_log(d), "join session=s1 client=c1 resume=1 rev=3");
  CAF_CHECK_EQUAL(sink->last(), encode_joined("d1", 5, nullptr));
}

CAF_TEST(a join the token does not allow is refused without a resolve) {
  connect();
  hello();
  frame(R"({"type":"join","doc":"x1"})");
  CAF_CHECK_EQUAL(sink->last(),
                  encode_error(errc::forbidden,
                               "the token does not allow this document", "x1"));
  CAF_CHECK(directory().asked.empty());
}

CAF_TEST(a second join while the first is in progress is refused) {
  connect();
  hello();
  auto d = document("d1", 5, "hello");
  state_of(d).answer_joins = false;
  frame(R"({"type":"join","doc":"d1"})");
  frame(R"({"type":"join","doc":"d1"})");
  CAF_CHECK_EQUAL(sink->last(), encode_error(errc::bad_request,
                                             "a join is in progress", "d1"));
  CAF_CHECK_EQUAL(log_of(d).size(), 1u);
}

CAF_TEST(a document the directory cannot find is unavailable after retries) {
  connect();
  hello();
  frame(R"({"type":"join","doc":"d9"})");
  CAF_CHECK_EQUAL(directory().asked.size(), 1u);
  // Retried every 250 ms, 40 attempts in all, then one error that says
  // when to try again (about a second, jittered).
  for (int i = 1; i < 40; ++i) {
    advance_time(250ms);
    sched.run();
  }
  CAF_CHECK_EQUAL(directory().asked.size(), 40u);
  auto after = retry_after(sink->last());
  CAF_CHECK_EQUAL(sink->last(),
                  encode_error(errc::unavailable, "document unavailable", "d9",
                               {}, after));
  CAF_CHECK_GREATER_OR_EQUAL(after, 500u);
  CAF_CHECK_LESS_OR_EQUAL(after, 1500u);
  advance_time(250ms);
  sched.run();
  CAF_CHECK_EQUAL(directory().asked.size(), 40u);
}

CAF_TEST(a node loading its limit of documents is asked again then unavailable
           with a retry after) {
  connect();
  hello();
  directory().refusals["d9"] = make_error(
    directory_errc::busy,
    "node n2 is loading 4 documents, its limit; try again shortly");
  frame(R"({"type":"join","doc":"d9"})");
  // Asked again after jittered pauses (at most 375 ms), 40 times in all.
  for (int i = 1; i < 40; ++i) {
    advance_time(375ms);
    sched.run();
  }
  CAF_CHECK_EQUAL(directory().asked.size(), 40u);
  auto after = retry_after(sink->last());
  CAF_CHECK_EQUAL(sink->last(),
                  encode_error(errc::unavailable,
                               "node n2 is loading 4 documents, its limit; try "
                               "again shortly",
                               "d9", {}, after));
  CAF_CHECK_GREATER_OR_EQUAL(after, 1000u);
  CAF_CHECK_LESS_OR_EQUAL(after, 3000u);
}

CAF_TEST(a node at its limit of live documents is unavailable at once for longer) {
  connect();
  hello();
  directory().refusals["d9"]
    = make_error(directory_errc::full,
                 "node n2 has 9 live documents, its limit; try again later");
  frame(R"({"type":"join","doc":"d9"})");
  CAF_CHECK_EQUAL(directory().asked.size(), 1u);
  auto after = retry_after(sink->last());
  CAF_CHECK_EQUAL(sink->last(),
                  encode_error(errc::unavailable,
                               "node n2 has 9 live documents, its limit; try "
                               "again later",
                               "d9", {}, after));
  CAF_CHECK_GREATER_OR_EQUAL(after, 5000u);
  CAF_CHECK_LESS_OR_EQUAL(after, 15000u);
}

// ---- ops

CAF_TEST(an op is submitted to the document and acked) {
  connect();
  auto d = joined_d1();
  frame(R"({"type":"op","doc":"d1","rev":5,"seq":1,"op":[5," world"]})");
  CAF_CHECK_EQUAL(last_log(d), R"(submit seq=1 base=5 op=[5," world"])");
  CAF_CHECK_EQUAL(sink->last(), encode_ack("d1", 1, 6));
  // Another client's op is forwarded as it is.
  broadcast(7, R"([11,"!"])");
  CAF_CHECK_EQUAL(sink->last(),
                  encode_op("d1", 7, "c2", 1, parse_op(R"([11,"!"])")));
}

CAF_TEST(an op needs a joined document and write access) {
  connect();
  hello();
  frame(R"({"type":"op","doc":"d1","rev":0,"seq":1,"op":["x"]})");
  CAF_CHECK_EQUAL(sink->last(),
                  encode_error(errc::not_joined, "join the document first",
                               "d1", 1));
  auto r = document("r1", 2, "ab");
  frame(R"({"type":"join","doc":"r1"})");
  frame(R"({"type":"op","doc":"r1","rev":2,"seq":1,"op":["x"]})");
  CAF_CHECK_EQUAL(sink->last(),
                  encode_error(errc::forbidden, "the token allows reading only",
                               "r1", 1));
  CAF_CHECK_EQUAL(log_of(r).size(), 1u); // the join only
}

CAF_TEST(ops of other clients are forwarded once and in order) {
  connect();
  auto d = joined_d1();
  auto before = sink->frames.size();
  broadcast(7, R"(["a"])"); // a gap (6 is missing): dropped
  broadcast(6, R"(["b"])");
  broadcast(6, R"(["b"])"); // seen already: dropped
  CAF_CHECK_EQUAL(sink->frames.size(), before + 1);
  CAF_CHECK_EQUAL(sink->last(),
                  encode_op("d1", 6, "c2", 1, parse_op(R"(["b"])")));
}

// ---- batched delivery

CAF_TEST(a batched session gets each batch as one frame its own op acking) {
  connect();
  frame(R"({"type":"hello","client":"c1","v":1,"batch":true})");
  CAF_REQUIRE_EQUAL(sink->last(), encode_welcome("n1", "s1", true));
  auto d = document("d1", 5, "hello");
  state_of(d).answer_submits = false; // a batched sender gets no ack_event
  frame(R"({"type":"join","doc":"d1"})");
  CAF_CHECK_EQUAL(last_log(d), "join session=s1 client=c1 resume=0 rev=0 "
                               "batch=1");
  frame(R"({"type":"op","doc":"d1","rev":5,"seq":1,"op":[5,"!"]})");
  auto batch = [&](std::vector<committed_op> ops) {
    self->send(conn, ops_event{shared_ops{op_batch{"d1", std::move(ops)}}});
    sched.run();
  };
  auto op = [](uint64_t rev, const std::string& client, uint64_t seq) {
    return committed_op{"d1", rev, client, seq, "u", parse_op(R"(["x"])")};
  };
  batch({op(6, "c1", 1), op(7, "c2", 4)});
  CAF_CHECK_EQUAL(sink->last(),
                  encode_ops("d1", {op(6, "c1", 1), op(7, "c2", 4)}));
  // Our next op, answered in a batch that overlaps what we saw.
  frame(R"({"type":"op","doc":"d1","rev":7,"seq":2,"op":["y"]})");
  CAF_CHECK_EQUAL(last_log(d), R"(submit seq=2 base=7 op=["y"])");
  auto before = sink->frames.size();
  batch({op(5, "c2", 3), op(6, "c1", 1)}); // seen already: dropped
  CAF_CHECK_EQUAL(sink->frames.size(), before);
  // Overlapping what was seen (a join's seam): only the unseen ops, one by
  // one, our own as its ack.
  batch({op(7, "c2", 4), op(8, "c1", 2), op(9, "c2", 6)});
  CAF_REQUIRE_EQUAL(sink->frames.size(), before + 2);
  CAF_CHECK_EQUAL(sink->frames[before], encode_ack("d1", 2, 8));
  CAF_CHECK_EQUAL(sink->last(),
                  encode_op("d1", 9, "c2", 6, parse_op(R"(["x"])")));
  // A gap never stays: the session resumes silently from what it has.
  state_of(d).answer_joins = false;
  batch({op(11, "c2", 8)});
  CAF_CHECK_EQUAL(sink->frames.size(), before + 2);
  CAF_CHECK_EQUAL(last_log(d), "join session=s1 client=c1 resume=1 rev=9 "
                               "batch=1");
}

CAF_TEST(a batched session hears a tick of presence as one frame) {
  connect();
  frame(R"({"type":"hello","client":"c1","v":1,"batch":true})");
  document("d1", 5, "hello");
  frame(R"({"type":"join","doc":"d1"})");
  presence_batch b{
    "d1", {{"d1", "c2", "u2", R"({"at":1})"}, {"d1", "c3", "u3", "null"}}};
  self->send(conn, presences_event{shared_presences{std::move(b)}});
  sched.run();
  CAF_CHECK_EQUAL(sink->last(),
                  encode_presences("d1", {{"c2", "u2", R"({"at":1})"},
                                          {"c3", "u3", "null"}}));
}

// ---- rate limit

CAF_TEST(frames over the message rate limit are refused undecoded) {
  cfg.rate_limit = 0.001; // no refill during the test
  cfg.rate_burst = 3;
  connect();
  auto d = joined_d1(); // hello and join: 2 of 3
  frame(R"({"type":"op","doc":"d1","rev":5,"seq":1,"op":["a"]})");
  CAF_CHECK_EQUAL(sink->last(), encode_ack("d1", 1, 6));
  frame(R"({"type":"op","doc":"d1","rev":6,"seq":2,"op":["b"]})");
  // The error carries the doc and seq a bounded look at the frame found.
  // retry_after_ms: when the bucket holds a message again (at 0.001 a
  // second, about 1,000 s).
  auto after = retry_after(sink->last());
  CAF_CHECK_EQUAL(sink->last(), encode_error(errc::rate_limited,
                                             "too many messages; not applied",
                                             "d1", 2, after));
  CAF_CHECK_GREATER(after, 990'000u);
  CAF_CHECK_LESS_OR_EQUAL(after, 1'000'001u);
  frame(R"({"type":"ping"})");
  after = retry_after(sink->last());
  CAF_CHECK_EQUAL(sink->last(), encode_error(errc::rate_limited,
                                             "too many messages; not applied",
                                             {}, {}, after));
  CAF_CHECK_EQUAL(log_of(d).size(), 2u); // the join and op 1
  CAF_CHECK(sink->closes.empty());
}

// ---- a document actor going down

CAF_TEST(a document handed off is resolved again and rejoined silently) {
  connect();
  auto d = joined_d1();
  state_of(d).answer_submits = false;
  frame(R"({"type":"op","doc":"d1","rev":5,"seq":1,"op":["x"]})");
  broadcast(6, R"(["y"])");
  auto frames = sink->frames.size();
  // The new owner had op 1 committed as rev 7: it replays it, then answers.
  auto moved = document("d1", 7, "yxhello");
  state_of(moved).answer_joins = false;
  state_of(moved).answer_submits = false;
  self->send(d, release_atom_v); // ends normally: resolved at once
  sched.run();
  CAF_CHECK_EQUAL(directory().asked.size(), 2u);
  // Resumed from the last revision seen, and the unacked op resent with
  // the same seq, in that order.
  CAF_REQUIRE_EQUAL(log_of(moved).size(), 2u);
  CAF_CHECK_EQUAL(log_of(moved)[0], "join session=s1 client=c1 resume=1 rev=6");
  CAF_CHECK_EQUAL(log_of(moved)[1], R"(submit seq=1 base=5 op=["x"])");
  // The client hears nothing of the move.
  CAF_CHECK_EQUAL(sink->frames.size(), frames);
  // The replay of its own op is its ack; the joined answer stays silent and
  // the ack of the resent op is not repeated.
  broadcast(7, R"(["x"])", "c1", 1);
  CAF_CHECK_EQUAL(sink->last(), encode_ack("d1", 1, 7));
  self->send(conn, joined_event{"d1", 7, false, {}});
  self->send(conn, ack_event{"d1", 1, 7});
  sched.run();
  CAF_CHECK_EQUAL(sink->frames.size(), frames + 1);
  // Joined again: live ops flow.
  broadcast(8, R"(["z"])");
  CAF_CHECK_EQUAL(sink->last(),
                  encode_op("d1", 8, "c2", 1, parse_op(R"(["z"])")));
}

CAF_TEST(a crashed document is resolved again after a pause) {
  connect();
  auto d = joined_d1();
  state_of(d).answer_submits = false;
  frame(R"({"type":"op","doc":"d1","rev":5,"seq":1,"op":["x"]})");
  auto moved = document("d1", 6, "xhello");
  self->send_exit(d, exit_reason::kill);
  sched.run();
  CAF_CHECK_EQUAL(directory().asked.size(), 1u); // not yet
  advance_time(200ms);
  sched.run();
  CAF_CHECK_EQUAL(directory().asked.size(), 1u);
  advance_time(50ms); // resolve_retry: 250 ms
  sched.run();
  CAF_CHECK_EQUAL(directory().asked.size(), 2u);
  CAF_REQUIRE_EQUAL(log_of(moved).size(), 2u);
  CAF_CHECK_EQUAL(log_of(moved)[0], "join session=s1 client=c1 resume=1 rev=5");
  CAF_CHECK_EQUAL(log_of(moved)[1], R"(submit seq=1 base=5 op=["x"])");
  // The new owner acks the resent op: the client gets its (late) ack.
  CAF_CHECK_EQUAL(sink->last(), encode_ack("d1", 1, 7));
}

CAF_TEST(a document on a lost node is resolved after membership settles) {
  connect();
  auto d = joined_d1();
  auto moved = document("d1", 5, "hello");
  self->send_exit(d, exit_reason::remote_link_unreachable);
  sched.run();
  advance_time(100ms);
  sched.run();
  CAF_CHECK_EQUAL(directory().asked.size(), 1u);
  advance_time(50ms); // crash_settle: 150 ms
  sched.run();
  CAF_CHECK_EQUAL(directory().asked.size(), 2u);
  CAF_CHECK_EQUAL(last_log(moved), "join session=s1 client=c1 resume=1 rev=5");
}

CAF_TEST(an op sent while the document is being rejoined waits for it) {
  connect();
  auto d = joined_d1();
  auto moved = document("d1", 5, "hello");
  self->send_exit(d, exit_reason::kill);
  sched.run();
  frame(R"({"type":"op","doc":"d1","rev":5,"seq":1,"op":["x"]})");
  CAF_CHECK(log_of(moved).empty());
  auto frames = sink->frames.size(); // no error for the op
  advance_time(250ms);
  sched.run();
  CAF_REQUIRE_EQUAL(log_of(moved).size(), 2u);
  CAF_CHECK_EQUAL(log_of(moved)[0], "join session=s1 client=c1 resume=1 rev=5");
  CAF_CHECK_EQUAL(log_of(moved)[1], R"(submit seq=1 base=5 op=["x"])");
  CAF_CHECK_EQUAL(sink->frames.size(), frames + 1);
  CAF_CHECK_EQUAL(sink->last(), encode_ack("d1", 1, 6));
}

// ---- leave and close

CAF_TEST(leave tells the document and stops watching it) {
  connect();
  auto d = joined_d1();
  frame(R"({"type":"leave","doc":"d1"})");
  CAF_CHECK_EQUAL(last_log(d), "leave session=s1");
  CAF_CHECK_EQUAL(sink->last(), encode_left("d1"));
  // Its end is no concern of this session any more: not even watched.
  self->send(d, release_atom_v);
  expect((release_atom), from(self).to(d));
  disallow((down_msg), from(d).to(conn));
  sched.run();
  CAF_CHECK_EQUAL(directory().asked.size(), 1u);
  frame(R"({"type":"leave","doc":"d1"})");
  CAF_CHECK_EQUAL(sink->last(),
                  encode_error(errc::not_joined, "not joined", "d1"));
}

CAF_TEST(closed ends the actor and leaves nothing behind) {
  auto before = connection_actors_in_memory();
  connect();
  CAF_CHECK_EQUAL(connection_actors_in_memory(), before + 1);
  auto d = joined_d1();
  auto w = sys.spawn(watcher, actor_cast<actor>(conn));
  sched.run();
  self->send(conn, closed_atom_v);
  sched.run();
  CAF_CHECK(watched_down(w));
  // No timer (token expiry) or monitor keeps its memory.
  conn = nullptr;
  sched.run();
  CAF_CHECK_EQUAL(connection_actors_in_memory(), before);
  self->send_exit(w, exit_reason::user_shutdown);
  sched.run();
  (void)d;
}

CAF_TEST_FIXTURE_SCOPE_END()
