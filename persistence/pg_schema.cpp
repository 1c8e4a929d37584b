// Schema of the PostgreSQL store and its versioned migrations.
//
// Migrations run when a store thread first connects: one transaction takes a
// transaction-level advisory lock (so nodes starting at once queue up behind
// each other instead of racing on CREATE), creates schema_migrations if
// missing, applies every migration newer than the recorded version and
// records it. DDL is transactional in PostgreSQL, so a failed migration
// leaves nothing half-applied. A database newer than this build is used as is
// (migrations only ever add), with a warning.
//
// Layout (version 1, and what later versions add):
//
//   documents: one row per document; the fence and the bookkeeping
//   +--------+-------+-------+----------+--------------+------------+
//   | doc_id | epoch | owner | head_rev | snapshot_rev | oldest_rev | ...
//   +--------+-------+-------+----------+--------------+------------+
//     epoch       bumped by every load (the loader becomes the one writer);
//                 a commit must carry the current epoch, checked under
//                 SELECT ... FOR UPDATE in the commit's own transaction
//     head_rev    the newest durable revision; ops 1..head_rev exist unless
//                 compacted
//     oldest_rev  ops (oldest_rev, head_rev] are in `ops` (retention moves it)
//
//   ops: the append-only op log, one row per revision
//   +--------+-----+--------+-----+---------+-------+--------------+
//   | doc_id | rev | client | seq | user_id | op    | committed_at |
//   +--------+-----+--------+-----+---------+-------+--------------+
//     PRIMARY KEY (doc_id, rev)         gapless history (contract 3)
//     UNIQUE (doc_id, client, seq)      each (client, seq) at most once
//     op is the text-unicode op as jsonb (op_json.hpp's JSON form)
//
//   client_seqs: per (doc, client) its last committed op, written in the
//   same transaction as the op; survives retention of `ops`, so a client's
//   duplicate is recognised however old the document is
//   +--------+--------+----------+----------+---------+
//   | doc_id | client | last_seq | last_rev | user_id |  PK (doc_id, client)
//   +--------+--------+----------+----------+---------+
//     user_id (version 2) the user of that op: who owns the client id (a
//                 client id used by another user is refused); NULL for rows
//                 written before version 2 (unowned)
//
//   snapshots: the text at a revision (a compaction of the op log, never the
//   truth); the store keeps the newest per document
//   +--------+-----+------+------------+
//   | doc_id | rev | text | created_at |        PRIMARY KEY (doc_id, rev)
//   +--------+-----+------+------------+
//
//   schema_migrations(version, applied_at)
//
// No foreign keys: ops are written only by the commit transaction that holds
// the documents row locked, and a foreign key would cost a lookup per op.
//
// Threading: migrate() runs on the calling store thread's connection.
#include "persistence/pg_internal.hpp"

#include <pqxx/transaction>

#include <spdlog/spdlog.h>

namespace collab::pg {

namespace {

struct migration {
  int version;
  const char* sql;
};

// Append only: never edit a migration that has shipped; add a new one.
const migration migrations[] = {
  {1, R"sql(
CREATE TABLE documents (
  doc_id       text PRIMARY KEY,
  epoch        bigint NOT NULL,
  owner        text NOT NULL,
  head_rev     bigint NOT NULL DEFAULT 0,
  snapshot_rev bigint NOT NULL DEFAULT 0,
  oldest_rev   bigint NOT NULL DEFAULT 0,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE ops (
  doc_id       text NOT NULL,
  rev          bigint NOT NULL,
  client       text NOT NULL,
  seq          bigint NOT NULL,
  user_id      text NOT NULL,
  op           jsonb NOT NULL,
  committed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (doc_id, rev),
  UNIQUE (doc_id, client, seq)
);
CREATE TABLE client_seqs (
  doc_id   text NOT NULL,
  client   text NOT NULL,
  last_seq bigint NOT NULL,
  last_rev bigint NOT NULL,
  PRIMARY KEY (doc_id, client)
);
CREATE TABLE snapshots (
  doc_id     text NOT NULL,
  rev        bigint NOT NULL,
  text       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (doc_id, rev)
);
)sql"},
  {2, R"sql(
ALTER TABLE client_seqs ADD COLUMN user_id text;
)sql"},
};

// Any constant works as long as every node uses the same one ("collab" in
// ASCII).
constexpr long long migration_lock_key = 0x636f6c6c6162LL;

} // namespace

int schema_version() {
  return std::end(migrations)[-1].version;
}

void migrate(pqxx::connection& c, const std::string& schema) {
  pqxx::work t{c, "migrate"};
  t.exec("SELECT pg_advisory_xact_lock(" + std::to_string(migration_lock_key)
         + ")");
  if (!schema.empty())
    t.exec("CREATE SCHEMA IF NOT EXISTS " + t.quote_name(schema));
  t.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
         " version integer PRIMARY KEY,"
         " applied_at timestamptz NOT NULL DEFAULT now())");
  auto current = t.exec("SELECT coalesce(max(version), 0) FROM "
                        "schema_migrations")[0][0]
                   .as<int>();
  if (current > schema_version())
    spdlog::warn("pg store: database schema version {} is newer than this "
                 "build's {}",
                 current, schema_version());
  for (auto& m : migrations) {
    if (m.version <= current)
      continue;
    t.exec(m.sql);
    t.exec("INSERT INTO schema_migrations (version) VALUES ("
           + std::to_string(m.version) + ")");
    spdlog::info("pg store: applied schema migration {}", m.version);
  }
  t.commit();
}

} // namespace collab::pg
