// Unit tests of document_sequencer: the sequencing rules without an actor
// (exactly once, transform since base, the order of the checks).
#define CAF_SUITE actors.document_sequencer
#include <caf/test/unit_test.hpp>

#include <memory>

#include "actors/document_sequencer.hpp"

using namespace collab;
using outcome = sequenced::outcome;

namespace {

ot::op insert_at(uint64_t pos, std::string text) {
  ot::op op;
  if (pos > 0)
    op.push_back(ot::component::skip(pos));
  op.push_back(ot::component::insert(std::move(text)));
  return op;
}

ot::op delete_at(uint64_t pos, uint64_t n) {
  ot::op op;
  if (pos > 0)
    op.push_back(ot::component::skip(pos));
  op.push_back(ot::component::del(n));
  return op;
}

submission sub(std::string client, uint64_t seq, uint64_t base, ot::op op,
               std::string user = "u1") {
  return submission{std::move(client), std::move(user), seq, base,
                    std::move(op)};
}

struct fixture {
  document_sequencer order{"d", sequencer_limits{}};

  fixture() { order.load(0, ot::rope{}, {}, {}); }

  // Submits and makes the op durable at once (a commit that succeeded).
  sequenced commit(submission s) {
    auto r = order.submit(std::move(s), "");
    if (r.what == outcome::accepted)
      order.mark_durable(r.op, r.text_after);
    return r;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(document_sequencer_tests, fixture)

CAF_TEST(an accepted op gets the next revision and stays pending) {
  auto r = order.submit(sub("c1", 1, 0, insert_at(0, "abc")), "");
  CAF_REQUIRE(r.what == outcome::accepted);
  CAF_CHECK_EQUAL(r.op.rev, 1u);
  CAF_CHECK_EQUAL(r.op.doc, "d");
  CAF_CHECK_EQUAL(r.text_after.to_string(), "abc");
  CAF_CHECK_EQUAL(order.head_rev(), 1u);
  CAF_CHECK_EQUAL(order.durable_rev(), 0u);
  CAF_CHECK_EQUAL(order.durable_text().to_string(), "");
  order.mark_durable(r.op, r.text_after);
  CAF_CHECK_EQUAL(order.durable_rev(), 1u);
  CAF_CHECK_EQUAL(order.durable_text().to_string(), "abc");
}

CAF_TEST(an op is transformed over every op since its base) {
  CAF_REQUIRE(commit(sub("c1", 1, 0, insert_at(0, "abc"))).what
              == outcome::accepted);
  CAF_REQUIRE(commit(sub("c1", 2, 1, insert_at(0, "X"))).what
              == outcome::accepted);
  // Based on rev 1 ("abc"): lands after "c" once moved over "X".
  auto r = order.submit(sub("c2", 1, 1, insert_at(3, "!"), "u2"), "");
  CAF_REQUIRE(r.what == outcome::accepted);
  CAF_CHECK_EQUAL(r.op.rev, 3u);
  CAF_CHECK_EQUAL(r.text_after.to_string(), "Xabc!");
}

CAF_TEST(new ops are transformed over pending ones too) {
  document_sequencer loaded{"d", sequencer_limits{}};
  loaded.load(0, ot::rope{"xy"}, {}, {});
  auto first = loaded.submit(sub("c1", 1, 0, insert_at(0, "ab")), "");
  CAF_REQUIRE(first.what == outcome::accepted);
  auto second = loaded.submit(sub("c2", 1, 0, insert_at(2, "Z"), "u2"), "");
  CAF_REQUIRE(second.what == outcome::accepted);
  CAF_CHECK_EQUAL(second.op.rev, 2u);
  CAF_CHECK_EQUAL(second.text_after.to_string(), "abxyZ");
}

CAF_TEST(a duplicate seq is pending durable or known only to the store) {
  auto pending = order.submit(sub("c1", 1, 0, insert_at(0, "a")), "");
  CAF_REQUIRE(pending.what == outcome::accepted);
  auto dup = order.submit(sub("c1", 1, 0, insert_at(0, "a")), "");
  CAF_CHECK(dup.what == outcome::duplicate_pending);
  CAF_CHECK_EQUAL(dup.rev, 1u);
  CAF_CHECK_EQUAL(order.head_rev(), 1u); // never applied twice
  order.mark_durable(pending.op, pending.text_after);
  dup = order.submit(sub("c1", 1, 0, insert_at(0, "a")), "");
  CAF_CHECK(dup.what == outcome::duplicate_durable);
  CAF_CHECK_EQUAL(dup.rev, 1u);
  CAF_CHECK_EQUAL(order.head_text().to_string(), "a");
}

CAF_TEST(a duplicate older than the history needs the store) {
  document_sequencer loaded{"d", sequencer_limits{}};
  committed_op last{"d", 40, "c1", 7, "u1", insert_at(0, "x")};
  loaded.load(40, ot::rope{"x"}, {}, {last});
  auto r = loaded.submit(sub("c1", 5, 40, insert_at(0, "y")), "");
  CAF_CHECK(r.what == outcome::duplicate_unknown);
  r = loaded.submit(sub("c1", 9, 40, insert_at(0, "y")), "");
  CAF_CHECK(r.what == outcome::refused);
  CAF_CHECK(r.code == errc::seq_gap);
  CAF_CHECK_EQUAL(r.message, "expected seq 8");
  CAF_CHECK(loaded.submit(sub("c1", 8, 40, insert_at(0, "y")), "").what
            == outcome::accepted);
}

CAF_TEST(a client id belongs to the user of its ops or of its join) {
  CAF_REQUIRE(commit(sub("c1", 1, 0, insert_at(0, "a"), "alice")).what
              == outcome::accepted);
  // Checked before the duplicate: another user learns nothing of c1's ops.
  auto r = order.submit(sub("c1", 1, 0, insert_at(0, "a"), "mallory"), "");
  CAF_CHECK(r.what == outcome::refused);
  CAF_CHECK(r.code == errc::forbidden);
  CAF_CHECK(order.owned_by_other("c1", "mallory", ""));
  CAF_CHECK(!order.owned_by_other("c1", "alice", "mallory"));
  // No ops yet: whoever is joined with it owns it.
  r = order.submit(sub("c2", 1, 1, insert_at(0, "b"), "mallory"), "bob");
  CAF_CHECK(r.code == errc::forbidden);
  CAF_CHECK(order.submit(sub("c2", 1, 1, insert_at(0, "b"), "bob"), "bob").what
            == outcome::accepted);
}

CAF_TEST(a base ahead of the durable revision is reported as ahead) {
  auto pending = order.submit(sub("c1", 1, 0, insert_at(0, "a")), "");
  CAF_REQUIRE(pending.what == outcome::accepted);
  // Head is 1 but nobody heard of it: base 1 is ahead.
  auto r = order.submit(sub("c2", 1, 1, insert_at(0, "b"), "u2"), "");
  CAF_CHECK(r.what == outcome::ahead);
  CAF_CHECK(r.code == errc::rev_ahead);
  CAF_CHECK_EQUAL(r.message, "base revision 1 is ahead of the document");
}

CAF_TEST(the checks run in their documented order) {
  sequencer_limits limits;
  limits.history_window = 2;
  limits.max_op_components = 3;
  document_sequencer small{"d", limits};
  small.load(0, ot::rope{}, {}, {});
  for (uint64_t seq = 1; seq <= 4; ++seq) {
    auto r = small.submit(sub("c1", seq, seq - 1, insert_at(0, "a")), "");
    CAF_REQUIRE(r.what == outcome::accepted);
    small.mark_durable(r.op, r.text_after);
  }
  CAF_REQUIRE_EQUAL(small.oldest_rev(), 2u);
  ot::op big{ot::component::insert("x"), ot::component::skip(1),
             ot::component::insert("y"), ot::component::skip(1),
             ot::component::insert("z")};
  // seq_gap before the base; the base before the op's size.
  auto r = small.submit(sub("c2", 2, 0, big, "u2"), "");
  CAF_CHECK(r.code == errc::seq_gap);
  r = small.submit(sub("c2", 1, 0, big, "u2"), "");
  CAF_CHECK(r.code == errc::rev_too_old);
  r = small.submit(sub("c2", 1, 4, big, "u2"), "");
  CAF_CHECK(r.code == errc::too_large);
  // The size before whether it fits the text.
  r = small.submit(sub("c2", 1, 4, delete_at(2, 10), "u2"), "");
  CAF_CHECK(r.code == errc::bad_op);
  CAF_CHECK_EQUAL(small.head_rev(), 4u); // nothing applied
  CAF_CHECK_EQUAL(small.head_text().to_string(), "aaaa");
}

CAF_TEST(transforming past the work bound is rev_too_old) {
  sequencer_limits limits;
  limits.max_transform_work = 10;
  document_sequencer bounded{"d", limits};
  bounded.load(0, ot::rope{}, {}, {});
  for (uint64_t seq = 1; seq <= 20; ++seq) {
    auto r = bounded.submit(sub("c1", seq, seq - 1, insert_at(0, "a")), "");
    CAF_REQUIRE(r.what == outcome::accepted);
    bounded.mark_durable(r.op, r.text_after);
  }
  auto r = bounded.submit(sub("c2", 1, 0, insert_at(0, "b"), "u2"), "");
  CAF_CHECK(r.code == errc::rev_too_old);
  CAF_CHECK_EQUAL(r.message, "the op is too far behind for its size (1 "
                             "components, 20 revisions behind); rejoin and "
                             "rebase");
  // The same op based on the head needs no transform.
  CAF_CHECK(bounded.submit(sub("c2", 1, 20, insert_at(0, "b"), "u2"), "").what
            == outcome::accepted);
}

CAF_TEST(a document may not grow past max_doc_bytes but may shrink) {
  sequencer_limits limits;
  limits.max_doc_bytes = 4;
  document_sequencer capped{"d", limits};
  capped.load(0, ot::rope{"abcdef"}, {}, {}); // already over
  auto r = capped.submit(sub("c1", 1, 0, insert_at(0, "x")), "");
  CAF_CHECK(r.code == errc::too_large);
  CAF_CHECK_EQUAL(r.message, "the document would exceed 4 bytes");
  r = capped.submit(sub("c1", 1, 0, delete_at(0, 1)), "");
  CAF_CHECK(r.what == outcome::accepted);
}

CAF_TEST(an op the memory budget cannot take is overloaded) {
  auto budget = std::make_shared<memory_budget>(1);
  order.set_budget(budget);
  auto r = order.submit(sub("c1", 1, 0, insert_at(0, "a")), "");
  CAF_CHECK(r.code == errc::overloaded);
  CAF_CHECK_EQUAL(order.head_rev(), 0u);
  CAF_CHECK(order.last_of("c1") == nullptr); // the same seq may come again
  order.set_budget(nullptr);
  CAF_CHECK(order.submit(sub("c1", 1, 0, insert_at(0, "a")), "").what
            == outcome::accepted);
}

CAF_TEST(a roll back drops every pending op and their seqs) {
  CAF_REQUIRE(commit(sub("c1", 1, 0, insert_at(0, "a"))).what
              == outcome::accepted);
  CAF_REQUIRE(order.submit(sub("c1", 2, 1, insert_at(1, "b")), "").what
              == outcome::accepted);
  CAF_REQUIRE(order.submit(sub("c1", 3, 1, insert_at(1, "c")), "").what
              == outcome::accepted);
  CAF_CHECK_EQUAL(order.head_rev(), 3u);
  order.roll_back();
  CAF_CHECK_EQUAL(order.head_rev(), 1u);
  CAF_CHECK_EQUAL(order.head_text().to_string(), "a");
  CAF_CHECK_EQUAL(order.history().size(), 1u);
  // The client retries with the same seq: not a duplicate any more.
  auto r = order.submit(sub("c1", 2, 1, insert_at(1, "b")), "");
  CAF_CHECK(r.what == outcome::accepted);
  CAF_CHECK_EQUAL(r.op.rev, 2u);
}

CAF_TEST(load restores revisions and the last seq of every client) {
  document_sequencer loaded{"d", sequencer_limits{}};
  std::vector<committed_op> tail{
    committed_op{"d", 9, "c1", 3, "u1", insert_at(0, "x")},
    committed_op{"d", 10, "c2", 1, "u2", insert_at(1, "y")}};
  loaded.load(10, ot::rope{"xy"}, tail, {tail[0], tail[1]});
  CAF_CHECK_EQUAL(loaded.durable_rev(), 10u);
  CAF_CHECK_EQUAL(loaded.head_rev(), 10u);
  CAF_CHECK_EQUAL(loaded.oldest_rev(), 8u);
  CAF_REQUIRE(loaded.last_of("c1") != nullptr);
  CAF_CHECK_EQUAL(loaded.last_of("c1")->seq, 3u);
  auto r = loaded.submit(sub("c2", 1, 9, insert_at(0, "z"), "u2"), "");
  CAF_CHECK(r.what == outcome::duplicate_durable);
  CAF_CHECK_EQUAL(r.rev, 10u);
}

CAF_TEST_FIXTURE_SCOPE_END()
