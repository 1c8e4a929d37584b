// Schema migrations of the PostgreSQL store: idempotent, and safe when
// several nodes start at once (each test uses a fresh schema, dropped after).
#define CAF_SUITE persistence.pg_schema

#include <atomic>
#include <thread>

#include "tests/caf_test_dsl.hpp"

#include <pqxx/pqxx>

#include "persistence/pg_internal.hpp"
#include "pg_fixture.hpp"

using namespace collab;

namespace {

struct fixture : test::pg_fixture {
  std::string schema = test::random_id("collab_mig_");
  ~fixture() {
    stop_all();
    try {
      pqxx::connection c{opts.url};
      pqxx::nontransaction t{c};
      t.exec("DROP SCHEMA IF EXISTS " + t.quote_name(schema) + " CASCADE");
    } catch (const std::exception& e) {
      CAF_MESSAGE("cannot drop " << schema << ": " << e.what());
    }
  }
  // (rows, max version) of the schema's schema_migrations.
  std::pair<int, int> versions() {
    pqxx::connection c{opts.url};
    pqxx::nontransaction t{c};
    auto r = t.exec("SELECT count(*), max(version) FROM " + t.quote_name(schema)
                    + ".schema_migrations");
    return {r[0][0].as<int>(), r[0][1].as<int>()};
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(pg_schema_tests, fixture)

CAF_TEST(migrations run once when nodes start at once) {
  constexpr int nodes = 4;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < nodes; ++i)
    threads.emplace_back([&] {
      try {
        pqxx::connection c{opts.url};
        {
          pqxx::nontransaction t{c};
          t.exec("SET client_min_messages = warning; SET search_path = "
                 + t.quote_name(schema));
        }
        pg::migrate(c, schema);
      } catch (const std::exception& e) {
        ++failures;
        CAF_MESSAGE("migrate failed: " << e.what());
      }
    });
  for (auto& t : threads)
    t.join();
  CAF_CHECK_EQUAL(failures.load(), 0);
  auto [rows, version] = versions();
  CAF_CHECK_EQUAL(rows, pg::schema_version());
  CAF_CHECK_EQUAL(version, pg::schema_version());
  // Once more: nothing to do.
  pqxx::connection c{opts.url};
  {
    pqxx::nontransaction t{c};
    t.exec("SET search_path = " + t.quote_name(schema));
  }
  pg::migrate(c, schema);
  CAF_CHECK_EQUAL(versions().first, pg::schema_version());
}

CAF_TEST(stores started at once on a fresh schema work) {
  auto o = opts;
  o.schema = schema;
  start(o);
  auto o2 = o;
  o2.status = std::make_shared<pg_status>();
  extra.push_back(spawn_pg_store(sys, o2));
  auto doc = test::random_id("fresh-");
  auto a = ask<doc_snapshot>(store, load_atom_v, doc, std::string{"a"},
                             uint64_t{10});
  CAF_REQUIRE_EQUAL(test::describe(a.err), "ok");
  auto b = ask<doc_snapshot>(extra[0], load_atom_v, doc, std::string{"b"},
                             uint64_t{10});
  CAF_REQUIRE_EQUAL(test::describe(b.err), "ok");
  CAF_CHECK_EQUAL(b.value.epoch, a.value.epoch + 1);
  CAF_CHECK_EQUAL(versions().first, pg::schema_version());
}

CAF_TEST(a version 1 database gains the owners of client ids) {
  auto o = opts;
  o.schema = schema;
  start(o);
  auto doc = test::random_id("v1-");
  auto s = load(doc);
  CAF_REQUIRE_EQUAL(test::describe(s.err), "ok");
  CAF_REQUIRE(append(doc, s.value.epoch, 0, 0, {"a"}, "c1").ok());
  stop_all();
  // Back to what a version 1 build left: no user_id column.
  {
    pqxx::connection c{opts.url};
    pqxx::work t{c};
    t.exec("SET search_path = " + t.quote_name(schema));
    t.exec("ALTER TABLE client_seqs DROP COLUMN user_id");
    t.exec("DELETE FROM schema_migrations WHERE version > 1");
    t.commit();
  }
  CAF_REQUIRE_EQUAL(versions().second, 1);
  // A new build migrates; the old record is unowned, new ones are owned.
  start(o);
  auto l = load(doc);
  CAF_REQUIRE_EQUAL(test::describe(l.err), "ok");
  CAF_CHECK_EQUAL(versions().second, pg::schema_version());
  CAF_REQUIRE_EQUAL(l.value.clients.size(), 1u);
  CAF_CHECK_EQUAL(l.value.clients[0].client, "c1");
  CAF_CHECK_EQUAL(l.value.clients[0].user, "");
  CAF_REQUIRE(append(doc, l.value.epoch, 1, 1, {"b"}, "c2").ok());
  auto f = find_seq(doc, "c2", 2);
  CAF_REQUIRE(f.ok());
  CAF_REQUIRE_EQUAL(f.value.size(), 1u);
  CAF_CHECK_EQUAL(f.value[0].user, "user-c2");
}

CAF_TEST_FIXTURE_SCOPE_END()
