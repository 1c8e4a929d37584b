// Redis URL parsing and the stream codec's pure parts (no Redis needed).
#define CAF_SUITE persistence.redis_url

#include "persistence/redis_options.hpp"

#include <caf/test/unit_test.hpp>

#include "persistence/redis_errors.hpp"
#include "persistence/redis_stream_codec.hpp"
#include "persistence/store_error.hpp"

using namespace collab;

CAF_TEST(urls) {
  redis_endpoint ep;
  CAF_CHECK_EQUAL(parse_redis_url("redis://127.0.0.1:6380", ep), "");
  CAF_CHECK_EQUAL(ep.host, "127.0.0.1");
  CAF_CHECK_EQUAL(ep.port, 6380u);
  CAF_CHECK_EQUAL(ep.db, 0u);
  CAF_CHECK_EQUAL(ep.password, "");
  CAF_CHECK_EQUAL(parse_redis_url("redis://cache.internal/4", ep), "");
  CAF_CHECK_EQUAL(ep.host, "cache.internal");
  CAF_CHECK_EQUAL(ep.port, 6379u);
  CAF_CHECK_EQUAL(ep.db, 4u);
  CAF_CHECK_EQUAL(parse_redis_url("redis://:s3cr@t/x@h:1/2", ep), "");
  CAF_CHECK_EQUAL(ep.user, "");
  CAF_CHECK_EQUAL(ep.password, "s3cr@t/x");
  CAF_CHECK_EQUAL(ep.host, "h");
  CAF_CHECK_EQUAL(ep.port, 1u);
  CAF_CHECK_EQUAL(ep.db, 2u);
  CAF_CHECK_EQUAL(parse_redis_url("redis://app:pw@[::1]:7000/", ep), "");
  CAF_CHECK_EQUAL(ep.user, "app");
  CAF_CHECK_EQUAL(ep.password, "pw");
  CAF_CHECK_EQUAL(ep.host, "::1");
  CAF_CHECK_EQUAL(ep.port, 7000u);
  CAF_CHECK_EQUAL(ep.db, 0u);
  for (auto bad : {"", "http://h:1", "redis://", "redis://:1", "redis://h:",
                   "redis://h:0", "redis://h:65536", "redis://h:x",
                   "redis://h/x", "redis://[::1", "redis://[::1]x"})
    CAF_CHECK_NOT_EQUAL(parse_redis_url(bad, ep), "");
}

CAF_TEST(sentinel urls) {
  redis_endpoint ep;
  CAF_CHECK_EQUAL(
    parse_redis_url("redis-sentinel://:pw@s1:26380,[::1],s3/collab/2", ep), "");
  CAF_REQUIRE_EQUAL(ep.sentinels.size(), 3u);
  CAF_CHECK_EQUAL(ep.sentinels[0].host, "s1");
  CAF_CHECK_EQUAL(ep.sentinels[0].port, 26380u);
  CAF_CHECK_EQUAL(ep.sentinels[1].host, "::1");
  CAF_CHECK_EQUAL(ep.sentinels[1].port, 26379u);
  CAF_CHECK_EQUAL(ep.sentinels[2].host, "s3");
  CAF_CHECK_EQUAL(ep.master, "collab");
  CAF_CHECK_EQUAL(ep.db, 2u);
  CAF_CHECK_EQUAL(ep.password, "pw");
  CAF_CHECK_EQUAL(ep.host, ""); // asked at connect
  CAF_CHECK_EQUAL(parse_redis_url("redis-sentinel://s1/m", ep), "");
  CAF_CHECK_EQUAL(ep.master, "m");
  CAF_CHECK_EQUAL(ep.db, 0u);
  // A plain URL has no sentinels.
  CAF_CHECK_EQUAL(parse_redis_url("redis://h:1", ep), "");
  CAF_CHECK(ep.sentinels.empty());
  for (auto bad : {"redis-sentinel://s1", "redis-sentinel://s1/",
                   "redis-sentinel://s1,/m", "redis-sentinel://s1:0/m",
                   "redis-sentinel:///m", "redis-sentinel://s1/m/x"})
    CAF_CHECK_NOT_EQUAL(parse_redis_url(bad, ep), "");
}

CAF_TEST(stream layout) {
  committed_op op;
  op.doc = "acme/roadmap";
  op.rev = 42;
  op.client = "tab-7f3";
  op.seq = 12;
  op.user = "alice";
  op.op = {ot::component::skip(5), ot::component::insert("hi"),
           ot::component::del(2)};
  CAF_CHECK_EQUAL(stream_key(op.doc), "collab:{acme/roadmap}:ops");
  redis_command want{"XADD",   "collab:{acme/roadmap}:ops",
                     "MAXLEN", "~",
                     "10000",  "42-0",
                     "c",      "tab-7f3",
                     "s",      "12",
                     "u",      "alice",
                     "o",      "[5,\"hi\",{\"d\":2}]"};
  CAF_CHECK(xadd_command(op, 10000) == want);
  redis_command range{"XRANGE", "collab:{d}:ops", "8-0", "10-0", "COUNT", "3"};
  CAF_CHECK(xrange_command("d", 7, 10) == range);
}

CAF_TEST(xadd replies) {
  redisReply ok{};
  ok.type = REDIS_REPLY_STRING;
  char id[] = "42-0";
  ok.str = id;
  ok.len = 4;
  CAF_CHECK(classify_xadd(&ok) == xadd_result::appended);
  redisReply dup{};
  dup.type = REDIS_REPLY_ERROR;
  char dup_text[] = "ERR The ID specified in XADD is equal or smaller than "
                    "the target stream top item";
  dup.str = dup_text;
  dup.len = sizeof dup_text - 1;
  CAF_CHECK(classify_xadd(&dup) == xadd_result::duplicate);
  redisReply wrong{};
  wrong.type = REDIS_REPLY_ERROR;
  char wrong_text[] = "WRONGTYPE Operation against a key holding the wrong "
                      "kind of value";
  wrong.str = wrong_text;
  wrong.len = sizeof wrong_text - 1;
  CAF_CHECK(classify_xadd(&wrong) == xadd_result::refused);
}

// CAF 0.17.6's error::category(), code() and context() crash on an empty
// (default) error; is() and error_text() must not ask it.
CAF_TEST(error categories and an empty error) {
  const caf::error none;
  CAF_CHECK(!is(none, redis_errc::not_covered));
  CAF_CHECK(!is(none, redis_errc::unavailable));
  CAF_CHECK(!is(none, store_errc::unavailable));
  CAF_CHECK(!is(none, store_errc::rejected));
  CAF_CHECK_EQUAL(error_text(none), "");
  auto unavailable = make_error(redis_errc::unavailable, "down");
  CAF_CHECK(is(unavailable, redis_errc::unavailable));
  CAF_CHECK(!is(unavailable, redis_errc::not_covered));
  CAF_CHECK(!is(unavailable, store_errc::unavailable));
  CAF_CHECK_EQUAL(error_text(unavailable), "down");
  CAF_CHECK_EQUAL(error_text(make_error(redis_errc::not_covered)), "");
  auto fenced = make_error(store_errc::fenced);
  CAF_CHECK(is(fenced, store_errc::fenced));
  CAF_CHECK(!is(fenced, store_errc::compacted));
  CAF_CHECK(!is(fenced, redis_errc::not_covered));
}
