// The conformance suite (conformance_tests.inc) against the PostgreSQL
// store, plus its group commit: one transaction for many documents, where a
// fenced, gapped or duplicate request fails alone, and where a document
// whose data PostgreSQL refuses fails alone too (store_errc::rejected).
#define CAF_SUITE persistence.pg

#include "persistence/pg_store.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "tests/caf_test_dsl.hpp"

#include <pqxx/pqxx>

#include "pg_fixture.hpp"

using namespace collab;

namespace {

struct fixture : test::pg_fixture {
  fixture() { start(opts); }
  // One number from the test schema.
  int64_t sql_count(const std::string& query, const std::string& doc) {
    pqxx::connection c{opts.url};
    pqxx::nontransaction t{c};
    t.exec("SET search_path = collab_test");
    return t.exec_params(query, doc)[0][0].as<int64_t>();
  }
};

// Holds the writer before it takes queued commits, so that requests sent
// meanwhile end up in one batch; can also lose the outcome of a COMMIT.
struct writer_gate {
  std::mutex mtx;
  std::condition_variable cv;
  bool closed = false;
  std::atomic<int> lose_commits{0}; // COMMITs to answer "in doubt"
  void hook(pg_fault f) {
    if (f == pg_fault::after_commit && lose_commits > 0) {
      --lose_commits;
      throw pqxx::in_doubt_error{"injected: connection lost during COMMIT"};
    }
    if (f != pg_fault::before_take)
      return;
    std::unique_lock<std::mutex> lk{mtx};
    cv.wait(lk, [&] { return !closed; });
  }
  void set_closed(bool x) {
    {
      std::lock_guard<std::mutex> lk{mtx};
      closed = x;
    }
    cv.notify_all();
  }
};

struct gated_fixture : test::pg_fixture {
  std::shared_ptr<writer_gate> gate = std::make_shared<writer_gate>();
  gated_fixture() {
    auto o = opts;
    o.fault_hook = [g = gate](pg_fault f) {
      g->hook(f);
    };
    start(o);
  }
  ~gated_fixture() {
    gate->set_closed(false);
    stop_all();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(pg_store_conformance, fixture)

#include "conformance_tests.inc"

CAF_TEST(peek of an unknown document creates no row) {
  auto doc = test::random_id("peek-nothing-");
  for (int i = 0; i < 3; ++i) {
    auto p = peek(doc);
    CAF_REQUIRE_EQUAL(test::describe(p.err), "ok");
    CAF_CHECK_EQUAL(p.value.rev, 0u);
  }
  CAF_CHECK_EQUAL(
    sql_count("SELECT count(*) FROM documents WHERE doc_id = $1", doc), 0);
  CAF_CHECK_EQUAL(sql_count("SELECT count(*) FROM ops WHERE doc_id = $1", doc),
                  0);
}

CAF_TEST(client records from before the user column are unowned) {
  auto doc = test::random_id("unowned-");
  auto s = load(doc);
  CAF_REQUIRE(s.ok());
  CAF_REQUIRE(append(doc, s.value.epoch, 0, 0, {"a"}, "c1").ok());
  CAF_CHECK_EQUAL(sql_count("SELECT count(*) FROM client_seqs WHERE doc_id = "
                            "$1 AND user_id = 'user-c1'",
                            doc),
                  1);
  // What a row written by a build before schema version 2 looks like.
  sql_count("WITH u AS (UPDATE client_seqs SET user_id = NULL WHERE doc_id = "
            "$1 RETURNING 1) SELECT count(*) FROM u",
            doc);
  auto l = load(doc);
  CAF_REQUIRE(l.ok());
  CAF_REQUIRE_EQUAL(l.value.clients.size(), 1u);
  CAF_CHECK_EQUAL(l.value.clients[0].client, "c1");
  CAF_CHECK_EQUAL(l.value.clients[0].user, "");
  // The client's next op records its user again.
  CAF_REQUIRE(append(doc, l.value.epoch, 1, 1, {"b"}, "c1").ok());
  l = load(doc);
  CAF_REQUIRE(l.ok());
  CAF_REQUIRE_EQUAL(l.value.clients.size(), 1u);
  CAF_CHECK_EQUAL(l.value.clients[0].user, "user-c1");
}

CAF_TEST(the store reports ready) {
  CAF_CHECK(load(test::random_id("ready-")).ok());
  CAF_CHECK(wait_ready(std::chrono::seconds{5}));
  CAF_CHECK_EQUAL(opts.status->reason(), "ok");
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST_FIXTURE_SCOPE(pg_group_commit, gated_fixture)

CAF_TEST(one batch in which some requests fail alone) {
  // Five documents: ok, fenced, ok, duplicate (client, seq), gap.
  std::vector<std::string> docs;
  std::vector<uint64_t> epochs;
  for (int i = 0; i < 5; ++i) {
    docs.push_back(test::random_id("batch-"));
    auto s = load(docs.back());
    CAF_REQUIRE(s.ok());
    epochs.push_back(s.value.epoch);
  }
  CAF_REQUIRE(append(docs[3], epochs[3], 0, 0, {"a"}).ok()); // c1 seq 1
  auto fenced_epoch = epochs[1];
  CAF_REQUIRE(load(docs[1]).ok()); // another owner took docs[1]
  auto before = opts.status->snapshot();
  gate->set_closed(true);
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  std::vector<test::commit_handle> pending;
  auto send = [&](const std::string& doc, uint64_t epoch, uint64_t rev,
                  const std::string& client, uint64_t seq) {
    std::vector<committed_op> ops{
      test::make_op(doc, rev, client, seq, test::insert_at(0, "x"))};
    pending.push_back(send_commit(doc, epoch, std::move(ops)));
  };
  send(docs[0], epochs[0], 1, "c1", 1);
  send(docs[1], fenced_epoch, 1, "c1", 1);
  send(docs[2], epochs[2], 1, "c1", 1);
  send(docs[3], epochs[3], 2, "c1", 1); // seq 1 is already rev 1
  send(docs[4], epochs[4], 2, "c1", 1); // head is 0
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
  gate->set_closed(false);
  auto answers = collect(pending);
  auto says = [&](size_t i, const char* what) {
    CAF_MESSAGE(docs[i] << " answered " << test::describe(answers[i].err));
    return test::describe(answers[i].err).find(what) != std::string::npos;
  };
  CAF_CHECK(answers[0].ok() && answers[0].value == 1);
  CAF_CHECK(answers[1].is(store_errc::fenced));
  CAF_CHECK(answers[2].ok() && answers[2].value == 1);
  CAF_CHECK(answers[3].is(store_errc::corrupt) && says(3, "duplicate"));
  CAF_CHECK(answers[4].is(store_errc::corrupt) && says(4, "gap"));
  auto after = opts.status->snapshot();
  CAF_CHECK_EQUAL(after.batches, before.batches + 1);
  CAF_CHECK_EQUAL(after.max_batch, 5u);
  // What is stored: docs 0 and 2 have their op, the others are unchanged.
  auto count = [&](const std::string& doc) {
    auto r = read_ops(doc, 0, 10);
    CAF_CHECK(r.ok());
    return r.value.size();
  };
  CAF_CHECK_EQUAL(count(docs[0]), 1u);
  CAF_CHECK_EQUAL(count(docs[1]), 0u);
  CAF_CHECK_EQUAL(count(docs[2]), 1u);
  CAF_CHECK_EQUAL(count(docs[3]), 1u);
  CAF_CHECK_EQUAL(count(docs[4]), 0u);
}

CAF_TEST(a document whose data postgres refuses fails alone) {
  // Five documents in one batch: ok, ok, an op holding U+0000 (jsonb refuses
  // "\u0000"), ok, fenced.
  std::vector<std::string> docs;
  std::vector<uint64_t> epochs;
  for (int i = 0; i < 5; ++i) {
    docs.push_back(test::random_id("refused-"));
    auto s = load(docs.back());
    CAF_REQUIRE(s.ok());
    epochs.push_back(s.value.epoch);
  }
  auto fenced_epoch = epochs[4];
  CAF_REQUIRE(load(docs[4]).ok());
  auto before = opts.status->snapshot();
  gate->set_closed(true);
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  std::vector<test::commit_handle> pending;
  for (size_t i = 0; i < docs.size(); ++i) {
    auto text = i == 2 ? std::string("a\0b", 3) : std::string{"x"};
    std::vector<committed_op> ops{
      test::make_op(docs[i], 1, "c1", 1, test::insert_at(0, text))};
    pending.push_back(
      send_commit(docs[i], i == 4 ? fenced_epoch : epochs[i], std::move(ops)));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
  gate->set_closed(false);
  auto answers = collect(pending);
  for (size_t i = 0; i < docs.size(); ++i)
    CAF_MESSAGE(docs[i] << " answered " << test::describe(answers[i].err));
  CAF_CHECK(answers[0].ok() && answers[0].value == 1);
  CAF_CHECK(answers[1].ok() && answers[1].value == 1);
  CAF_CHECK(answers[2].is(store_errc::rejected));
  CAF_CHECK(answers[3].ok() && answers[3].value == 1);
  CAF_CHECK(answers[4].is(store_errc::fenced));
  auto after = opts.status->snapshot();
  CAF_CHECK_EQUAL(after.max_batch, 5u);
  CAF_CHECK_EQUAL(after.refused, before.refused + 1);
  CAF_CHECK_EQUAL(after.rejected, before.rejected + 1);
  // Stored: one op each for the good documents, nothing for the others.
  auto count = [&](const std::string& doc) {
    auto r = read_ops(doc, 0, 10);
    CAF_CHECK(r.ok());
    return r.value.size();
  };
  CAF_CHECK_EQUAL(count(docs[0]), 1u);
  CAF_CHECK_EQUAL(count(docs[1]), 1u);
  CAF_CHECK_EQUAL(count(docs[2]), 0u);
  CAF_CHECK_EQUAL(count(docs[3]), 1u);
  CAF_CHECK_EQUAL(count(docs[4]), 0u);
  // The writer keeps working, the refused document included.
  CAF_CHECK_EQUAL(test::describe(append(docs[2], epochs[2], 0, 0, {"ok"}).err),
                  "ok");
  CAF_CHECK_EQUAL(test::describe(append(docs[0], epochs[0], 1, 1, {"y"}).err),
                  "ok");
  // A refused op alone in its batch: rejected as well, never unavailable.
  std::vector<committed_op> lone{test::make_op(
    docs[1], 2, "c1", 2, test::insert_at(1, std::string(1, '\0')))};
  auto r = commit(docs[1], epochs[1], lone);
  CAF_CHECK(r.is(store_errc::rejected));
  CAF_MESSAGE("lone refused op answered " << test::describe(r.err));
  auto l = load(docs[1]);
  CAF_REQUIRE(l.ok());
  CAF_CHECK_EQUAL(l.value.rev, 1u);
  CAF_CHECK_EQUAL(l.value.text.to_string(), "x");
}

CAF_TEST(a COMMIT lost while a refused batch is committed apart) {
  // Four documents in one batch, the first one's op holds U+0000: the batch
  // is refused and committed apart, and the first COMMIT of that goes in
  // doubt. The doubt is settled as ever: every answer matches what is
  // stored, the refused document is still rejected, nothing is unavailable
  // forever.
  std::vector<std::string> docs;
  std::vector<uint64_t> epochs;
  for (int i = 0; i < 4; ++i) {
    docs.push_back(test::random_id("refused-doubt-"));
    auto s = load(docs.back());
    CAF_REQUIRE(s.ok());
    epochs.push_back(s.value.epoch);
  }
  auto before = opts.status->snapshot();
  gate->set_closed(true);
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  gate->lose_commits = 1;
  std::vector<test::commit_handle> pending;
  for (size_t i = 0; i < docs.size(); ++i) {
    auto text = i == 0 ? std::string("a\0b", 3) : std::string{"x"};
    pending.push_back(send_commit(
      docs[i], epochs[i],
      {test::make_op(docs[i], 1, "c1", 1, test::insert_at(0, text))}));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
  gate->set_closed(false);
  auto answers = collect(pending);
  for (size_t i = 0; i < docs.size(); ++i)
    CAF_MESSAGE(docs[i] << " answered " << test::describe(answers[i].err));
  CAF_CHECK(answers[0].is(store_errc::rejected));
  auto after = opts.status->snapshot();
  CAF_CHECK_EQUAL(after.in_doubt, before.in_doubt + 1);
  CAF_CHECK_EQUAL(gate->lose_commits.load(), 0);
  size_t committed = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    auto r = read_ops(docs[i], 0, 10);
    CAF_REQUIRE(r.ok());
    if (answers[i].ok()) {
      ++committed;
      CAF_CHECK_EQUAL(answers[i].value, 1u);
      CAF_CHECK_EQUAL(r.value.size(), 1u);
    } else {
      CAF_CHECK(i == 0 || answers[i].is(store_errc::unavailable));
      CAF_CHECK_EQUAL(r.value.size(), 0u);
    }
  }
  CAF_CHECK_GREATER(committed, 0u); // the COMMIT in doubt had committed
  // The writer carries on: what was not committed commits now.
  for (size_t i = 1; i < docs.size(); ++i)
    if (!answers[i].ok())
      CAF_CHECK_EQUAL(
        test::describe(append(docs[i], epochs[i], 0, 0, {"x"}).err), "ok");
}

CAF_TEST(several requests of one document in one batch) {
  auto doc = test::random_id("multi-");
  auto s = load(doc);
  CAF_REQUIRE(s.ok());
  gate->set_closed(true);
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  std::vector<test::commit_handle> pending;
  for (uint64_t rev = 1; rev <= 4; ++rev) {
    std::vector<committed_op> ops{
      test::make_op(doc, rev, "c1", rev, test::insert_at(rev - 1, "x"))};
    pending.push_back(send_commit(doc, s.value.epoch, std::move(ops)));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
  gate->set_closed(false);
  std::vector<uint64_t> revs;
  for (auto& a : collect(pending)) {
    CAF_CHECK_EQUAL(test::describe(a.err), "ok");
    revs.push_back(a.value);
  }
  std::sort(revs.begin(), revs.end());
  CAF_CHECK_EQUAL(revs, std::vector<uint64_t>({1, 2, 3, 4}));
  auto l = load(doc);
  CAF_REQUIRE(l.ok());
  CAF_CHECK_EQUAL(l.value.text.to_string(), "xxxx");
  CAF_REQUIRE_EQUAL(l.value.clients.size(), 1u);
  CAF_CHECK_EQUAL(l.value.clients[0].seq, 4u);
  CAF_CHECK_EQUAL(l.value.clients[0].rev, 4u);
}

CAF_TEST_FIXTURE_SCOPE_END()
