// The Redis op log against a real Redis (COLLAB_TEST_REDIS_URL), in real
// time: append then read exact ranges, idempotent re-append, trimming (by
// entries and by bytes, re-learned after a restart), gaps, corrupt entries,
// many documents per batch, TTL, database selection, the disabled mode and
// the final flush on stop.
#define CAF_SUITE persistence.redis_op_log

#include "persistence/redis_op_log.hpp"

#include <caf/test/unit_test.hpp>

#include "redis_test_support.hpp"

using namespace collab;
using namespace collab::test;

namespace {

struct fixture : redis_fixture {
  std::string url = test_redis_url();

  redis_options options() const {
    redis_options opts;
    opts.url = url;
    // correctness, not latency, here: no 200 ms timeouts on a loaded machine
    opts.read_timeout = std::chrono::milliseconds{2000};
    return opts;
  }
  // Revision `rev` of `doc` with an insert of `n` bytes.
  static committed_op sized_op(const std::string& doc, uint64_t rev, size_t n) {
    auto x = make_op(doc, rev);
    x.op = {ot::component::skip(rev),
            ot::component::insert(std::string(n, 'b'))};
    return x;
  }
  // The bytes a stream holds: ids and fields of its entries (what the
  // appender counts).
  uint64_t held_bytes(const std::string& doc) {
    auto r = raw(url, {"XRANGE", stream_key(doc), "-", "+"});
    uint64_t n = 0;
    for (size_t i = 0; i < r->elements; ++i) {
      auto e = r->element[i];
      n += e->element[0]->len;
      for (size_t k = 0; k < e->element[1]->elements; ++k)
        n += e->element[1]->element[k]->len;
    }
    return n;
  }
  // Reads from+1..to and says whether exactly those revisions came.
  bool readable(const redis_op_log& log, const std::string& doc, uint64_t from,
                uint64_t to) {
    auto r = read(self, log, doc, from, to);
    if (r.err || r.ops.size() != to - from)
      return false;
    for (uint64_t i = 0; i < r.ops.size(); ++i)
      if (r.ops[i].rev != from + 1 + i)
        return false;
    return true;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(redis_op_log_tests, fixture)

CAF_TEST(append then read exact ranges) {
  auto log = spawn_redis_op_log(sys, options());
  auto a = unique_doc("a");
  auto b = unique_doc("b");
  append(log, make_ops(a, 1, 10));
  append(log, make_ops(b, 1, 5));
  CAF_REQUIRE(wait_settled(log, 15));
  CAF_CHECK_EQUAL(log.health()->appended.load(), 15u);
  CAF_CHECK(covered(read(self, log, a, 0, 10), a, 0, 10));
  CAF_CHECK(covered(read(self, log, a, 3, 7), a, 3, 7));
  CAF_CHECK(covered(read(self, log, a, 9, 10), a, 9, 10));
  CAF_CHECK(covered(read(self, log, b, 0, 5), b, 0, 5));
  auto empty = read(self, log, a, 10, 10);
  CAF_CHECK(!empty.err && empty.ops.empty());
  // beyond the head, an unknown document, a reversed range
  CAF_CHECK(is(read(self, log, a, 0, 11).err, redis_errc::not_covered));
  CAF_CHECK(is(read(self, log, a, 10, 11).err, redis_errc::not_covered));
  CAF_CHECK(
    is(read(self, log, unique_doc("none"), 0, 1).err, redis_errc::not_covered));
  CAF_CHECK(is(read(self, log, a, 5, 4).err, redis_errc::not_covered));
  CAF_CHECK(log.health()->healthy.load());
  CAF_CHECK_EQUAL(log.health()->errors.load(), 0u);
}

CAF_TEST(a re - append is a no - op) {
  auto log = spawn_redis_op_log(sys, options());
  auto d = unique_doc("dup");
  append(log, make_ops(d, 1, 3));
  CAF_REQUIRE(wait_settled(log, 3));
  auto changed = make_ops(d, 1, 5);
  for (auto& x : changed)
    x.client = "someone-else"; // must not replace what is there
  append(log, make_ops(d, 1, 3));
  append(log, changed);
  CAF_REQUIRE(wait_settled(log, 3 + 3 + 5));
  auto h = log.health()->snapshot();
  CAF_CHECK_EQUAL(h.appended, 5u);
  CAF_CHECK_EQUAL(h.duplicates, 6u);
  CAF_CHECK_EQUAL(h.dropped, 0u);
  auto r = read(self, log, d, 0, 5);
  CAF_REQUIRE(!r.err);
  CAF_REQUIRE_EQUAL(r.ops.size(), 5u);
  CAF_CHECK(covered(read(self, log, d, 0, 3), d, 0, 3));
  CAF_CHECK_EQUAL(r.ops[3].client, "someone-else"); // 4 and 5 were new
  CAF_CHECK_EQUAL(raw_int(url, {"XLEN", stream_key(d)}), 5);
}

CAF_TEST(trimming makes old ranges not covered) {
  auto opts = options();
  opts.maxlen = 10;
  auto log = spawn_redis_op_log(sys, opts);
  auto d = unique_doc("trim");
  for (uint64_t rev = 1; rev <= 1000; rev += 50)
    append(log, make_ops(d, rev, rev + 49));
  CAF_REQUIRE(wait_settled(log, 1000));
  auto len = raw_int(url, {"XLEN", stream_key(d)});
  CAF_MESSAGE("XLEN after 1000 appends with MAXLEN ~ 10: " << len);
  CAF_CHECK_GREATER_OR_EQUAL(len, 10);
  CAF_CHECK_LESS(len, 1000);
  CAF_CHECK(is(read(self, log, d, 0, 10).err, redis_errc::not_covered));
  CAF_CHECK(is(read(self, log, d, 0, 1000).err, redis_errc::not_covered));
  CAF_CHECK(covered(read(self, log, d, 990, 1000), d, 990, 1000));
  CAF_CHECK(covered(read(self, log, d, 1000 - static_cast<uint64_t>(len), 1000),
                    d, 1000 - static_cast<uint64_t>(len), 1000));
}

CAF_TEST(streams are trimmed by bytes) {
  auto opts = options();
  opts.max_bytes = 4000;
  auto log = spawn_redis_op_log(sys, opts);
  auto d = unique_doc("bytes");
  // 100 entries of about 220 bytes: about 22,000 bytes appended.
  for (uint64_t rev = 1; rev <= 100; rev += 10) {
    std::vector<committed_op> ops;
    for (auto r = rev; r < rev + 10; ++r)
      ops.push_back(sized_op(d, r, 180));
    append(log, std::move(ops));
  }
  CAF_REQUIRE(wait_settled(log, 100));
  CAF_REQUIRE(wait_until([&] { return held_bytes(d) <= 4000; }));
  auto held = held_bytes(d);
  auto len = raw_int(url, {"XLEN", stream_key(d)});
  CAF_MESSAGE("after 100 entries: " << len << " entries, " << held << " bytes");
  CAF_CHECK_GREATER(held, 2000u); // trimmed by chunks, not emptied
  CAF_CHECK_LESS(len, 100);
  CAF_CHECK_GREATER(log.health()->trims.load(), 0u);
  // What is left reads exactly; older ranges fall back to the store.
  auto first = 100 - static_cast<uint64_t>(len);
  CAF_CHECK(readable(log, d, first, 100));
  if (first > 0)
    CAF_CHECK(
      is(read(self, log, d, first - 1, 100).err, redis_errc::not_covered));
  CAF_CHECK(is(read(self, log, d, 0, 100).err, redis_errc::not_covered));
  // One entry over the bound by itself is not kept either.
  append(log, {sized_op(d, 101, 10000)});
  CAF_REQUIRE(wait_settled(log, 101));
  CAF_CHECK(wait_until([&] {
    return raw_int(url, {"XLEN", stream_key(d)}) == 0;
  }));
  CAF_CHECK(is(read(self, log, d, 100, 101).err, redis_errc::not_covered));
  // The stream goes on.
  append(log, {sized_op(d, 102, 10)});
  CAF_REQUIRE(wait_settled(log, 102));
  CAF_CHECK(readable(log, d, 101, 102));
}

CAF_TEST(a restart relearns how big a stream is) {
  auto d = unique_doc("relearn");
  {
    auto unbounded = spawn_redis_op_log(sys, options());
    std::vector<committed_op> ops;
    for (uint64_t rev = 1; rev <= 100; ++rev)
      ops.push_back(sized_op(d, rev, 180));
    append(unbounded, std::move(ops));
    CAF_REQUIRE(wait_settled(unbounded, 100));
  }
  CAF_REQUIRE_EQUAL(raw_int(url, {"XLEN", stream_key(d)}), 100);
  // A new appender (a restarted node) appends one small entry: it learns
  // the stream's size first and trims it.
  auto opts = options();
  opts.max_bytes = 4000;
  auto log = spawn_redis_op_log(sys, opts);
  append(log, {sized_op(d, 101, 10)});
  CAF_REQUIRE(wait_settled(log, 1));
  CAF_CHECK(wait_until([&] { return log.health()->trims.load() > 0; }));
  CAF_CHECK_LESS(raw_int(url, {"XLEN", stream_key(d)}), 100);
  CAF_CHECK_LESS_OR_EQUAL(held_bytes(d), 4000u);
  CAF_CHECK(readable(log, d, 100, 101));
}

CAF_TEST(a gap is detected) {
  auto log = spawn_redis_op_log(sys, options());
  auto d = unique_doc("gap");
  append(log, make_ops(d, 1, 3));
  append(log, make_ops(d, 5, 6));
  CAF_REQUIRE(wait_settled(log, 5));
  CAF_CHECK(is(read(self, log, d, 0, 6).err, redis_errc::not_covered));
  CAF_CHECK(is(read(self, log, d, 3, 6).err, redis_errc::not_covered));
  CAF_CHECK(is(read(self, log, d, 2, 5).err, redis_errc::not_covered));
  CAF_CHECK(covered(read(self, log, d, 4, 6), d, 4, 6));
  CAF_CHECK(covered(read(self, log, d, 0, 3), d, 0, 3));
  CAF_CHECK(covered(read(self, log, d, 5, 6), d, 5, 6));
}

CAF_TEST(corrupt entries are not covered) {
  auto log = spawn_redis_op_log(sys, options());
  auto d = unique_doc("corrupt");
  auto key = stream_key(d);
  raw(url, {"XADD", key, "1-0", "c", "x", "s", "1", "u", "", "o", "[1,"});
  raw(url, {"XADD", key, "2-0", "c", "x", "s", "2", "u", ""}); // no op
  raw(url, {"XADD", key, "3-0", "c", "x", "s", "3", "o", "[\"ok\"]"});
  raw(url, {"XADD", key, "4-1", "c", "x", "s", "4", "o", "[\"ok\"]"});
  CAF_CHECK(is(read(self, log, d, 0, 1).err, redis_errc::not_covered));
  CAF_CHECK(is(read(self, log, d, 1, 2).err, redis_errc::not_covered));
  auto r = read(self, log, d, 2, 3);
  CAF_REQUIRE(!r.err);
  CAF_CHECK_EQUAL(r.ops.front().user, "");
  CAF_CHECK(is(read(self, log, d, 3, 4).err, redis_errc::not_covered));
  CAF_CHECK_EQUAL(log.health()->read_misses.load(), 3u);
  // not a stream at all
  auto other = unique_doc("string");
  raw(url, {"SET", stream_key(other), "x"});
  CAF_CHECK(is(read(self, log, other, 0, 1).err, redis_errc::not_covered));
  append(log, make_ops(other, 1, 1));
  CAF_CHECK(wait_until([&] { return log.health()->dropped.load() == 1; }));
  CAF_CHECK(log.health()->last_error().find("WRONGTYPE") != std::string::npos);
}

CAF_TEST(one batch carries many documents) {
  auto opts = options();
  opts.batch = 64;
  auto log = spawn_redis_op_log(sys, opts);
  std::vector<std::string> docs;
  for (int i = 0; i < 50; ++i)
    docs.push_back(unique_doc("many-" + std::to_string(i)));
  for (uint64_t rev = 1; rev <= 20; ++rev)
    for (auto& d : docs)
      append(log, {make_op(d, rev)});
  CAF_REQUIRE(wait_settled(log, 1000));
  CAF_CHECK_EQUAL(log.health()->appended.load(), 1000u);
  for (auto& d : docs)
    CAF_CHECK(covered(read(self, log, d, 0, 20), d, 0, 20));
}

CAF_TEST(streams expire when a ttl is set) {
  auto opts = options();
  opts.stream_ttl = std::chrono::minutes{5};
  auto log = spawn_redis_op_log(sys, opts);
  auto d = unique_doc("ttl");
  append(log, make_ops(d, 1, 2));
  CAF_REQUIRE(wait_settled(log, 2));
  auto ttl = raw_int(url, {"PTTL", stream_key(d)});
  CAF_CHECK_GREATER(ttl, 4 * 60 * 1000);
  CAF_CHECK_LESS_OR_EQUAL(ttl, 5 * 60 * 1000);
  auto none = spawn_redis_op_log(sys, options());
  auto e = unique_doc("no-ttl");
  self->send(none.actor(), stream_append_atom_v, make_ops(e, 1, 1));
  CAF_REQUIRE(wait_settled(none, 1));
  CAF_CHECK_EQUAL(raw_int(url, {"PTTL", stream_key(e)}), -1);
}

CAF_TEST(the url selects the database) {
  redis_endpoint ep;
  CAF_REQUIRE_EQUAL(parse_redis_url(url, ep), "");
  auto opts = options();
  opts.url = "redis://" + ep.host + ":" + std::to_string(ep.port) + "/3";
  auto log = spawn_redis_op_log(sys, opts);
  auto d = unique_doc("db3");
  append(log, make_ops(d, 1, 2));
  CAF_REQUIRE(wait_settled(log, 2));
  CAF_CHECK(covered(read(self, log, d, 0, 2), d, 0, 2));
  CAF_CHECK_EQUAL(raw_int(opts.url, {"XLEN", stream_key(d)}), 2);
  CAF_CHECK_EQUAL(raw_int(url, {"EXISTS", stream_key(d)}), 0);
}

CAF_TEST(stop appends what is queued) {
  auto log = spawn_redis_op_log(sys, options());
  auto d = unique_doc("flush");
  for (uint64_t rev = 1; rev <= 5000; rev += 100)
    append(log, make_ops(d, rev, rev + 99));
  // the actor must have queued everything before stop: a read round trip
  // through it (after the appends in its mailbox) makes sure.
  read(self, log, d, 0, 1);
  auto health = log.health();
  log.stop();
  CAF_CHECK_EQUAL(health->appended.load(), 5000u);
  CAF_CHECK_EQUAL(health->dropped.load(), 0u);
  CAF_CHECK_EQUAL(health->backlog.load(), 0u);
  CAF_CHECK_EQUAL(raw_int(url, {"XLEN", stream_key(d)}), 5000);
  log.stop(); // idempotent
}

CAF_TEST(disabled mode) {
  auto log = spawn_redis_op_log(sys, redis_options{});
  CAF_CHECK(!log.health()->enabled.load());
  auto d = unique_doc("off");
  append(log, make_ops(d, 1, 3));
  auto r = read(self, log, d, 0, 3);
  CAF_CHECK(is(r.err, redis_errc::not_covered));
  CAF_CHECK_EQUAL(log.health()->appended.load(), 0u);
  CAF_CHECK(read(self, log, d, 3, 3).ops.empty());
}

CAF_TEST(a long range is not served) {
  auto opts = options();
  opts.max_read_ops = 100;
  auto log = spawn_redis_op_log(sys, opts);
  auto r = read(self, log, unique_doc("long"), 0, 101);
  CAF_CHECK(is(r.err, redis_errc::not_covered));
  CAF_CHECK_EQUAL(log.health()->read_misses.load(), 1u);
}

CAF_TEST(a bad url throws) {
  auto opts = options();
  opts.url = "http://localhost:6379";
  CAF_CHECK_EQUAL(
    [&] {
      try {
        spawn_redis_op_log(sys, opts);
      } catch (const std::invalid_argument&) {
        return true;
      }
      return false;
    }(),
    true);
}

CAF_TEST_FIXTURE_SCOPE_END()
