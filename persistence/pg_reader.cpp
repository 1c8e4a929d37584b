// Reader threads of the PostgreSQL store: load (with the fence bump),
// read_ops, peek, find_seq, save_snapshot, and the periodic retention job
// (reader 0 only). Each thread owns one connection (link) and runs one job at a
// time; a job is retried once on a fresh connection when an idle connection
// turned out to be dead.
//
// Threading: runs on its own std::thread; talks to the store actor only
// through engine::finish.
#include "persistence/pg_internal.hpp"

#include <algorithm>

#include <pqxx/except>
#include <pqxx/transaction>

#include <spdlog/spdlog.h>

#include "actors/core/log_escape.hpp"

namespace collab::pg {

namespace {

// The fence: the loader becomes the one writer (insert when unknown).
const statement load_fence{"load_fence", R"sql(
INSERT INTO documents AS d (doc_id, epoch, owner) VALUES ($1, 1, $2)
ON CONFLICT (doc_id) DO UPDATE
  SET epoch = d.epoch + 1, owner = EXCLUDED.owner, updated_at = now()
RETURNING epoch, head_rev, snapshot_rev, oldest_rev)sql"};

const statement load_snapshot{"load_snapshot", R"sql(
SELECT text FROM snapshots WHERE doc_id = $1 AND rev = $2)sql"};

// Ops after $2: each op after the snapshot ($3), and of the older ones only
// those within the newest $4 bytes (the tail's byte bound); the rest come
// without their op (NULL), so that a deep tail of huge ops is not read.
const statement load_ops{"load_ops", R"sql(
WITH o AS (
  SELECT rev, client, seq, user_id, op::text AS op FROM ops
  WHERE doc_id = $1 AND rev > $2),
w AS (SELECT *, sum(octet_length(op)) OVER (ORDER BY rev DESC) AS newer
      FROM o)
SELECT rev, client, seq, user_id,
       CASE WHEN rev > $3 OR newer <= $4 THEN op END
FROM w ORDER BY rev)sql"};

// peek: the document's bookkeeping and every op after its snapshot.
const statement peek_doc{"peek_doc", R"sql(
SELECT head_rev, snapshot_rev, oldest_rev FROM documents
WHERE doc_id = $1)sql"};

const statement peek_ops{"peek_ops", R"sql(
SELECT rev, client, seq, user_id, op::text FROM ops
WHERE doc_id = $1 AND rev > $2 ORDER BY rev)sql"};

const statement load_clients{"load_clients", R"sql(
SELECT last_rev, client, last_seq, user_id, NULL FROM client_seqs
WHERE doc_id = $1)sql"};

// One statement, so oldest_rev and the ops come from one snapshot even while
// retention runs. At most $3 ops, and only the first op or those within $4
// bytes in total (store_limits.hpp's oldest_within, in SQL).
const statement read_ops_stmt{"read_ops", R"sql(
SELECT d.oldest_rev, o.rev, o.client, o.seq, o.user_id, o.op
FROM documents d LEFT JOIN LATERAL (
  SELECT rev, client, seq, user_id, op FROM (
    SELECT *, row_number() OVER (ORDER BY rev) AS n,
           sum(octet_length(op)) OVER (ORDER BY rev) AS upto
    FROM (SELECT rev, client, seq, user_id, op::text AS op FROM ops
          WHERE ops.doc_id = d.doc_id AND rev > $2 ORDER BY rev LIMIT $3) l
    ) w
  WHERE n = 1 OR upto <= $4 ORDER BY rev) o ON true
WHERE d.doc_id = $1)sql"};

// The op itself, or (compacted away) its client_seqs record without the op.
const statement find_seq_stmt{"find_seq", R"sql(
SELECT rev, client, seq, user_id, op::text, 0 AS pick FROM ops
WHERE doc_id = $1 AND client = $2 AND seq = $3
UNION ALL
SELECT last_rev, client, last_seq, user_id, NULL, 1 FROM client_seqs
WHERE doc_id = $1 AND client = $2 AND last_seq = $3
ORDER BY pick LIMIT 1)sql"};

const statement snapshot_fence{"snapshot_fence", R"sql(
SELECT epoch, head_rev, snapshot_rev FROM documents WHERE doc_id = $1
FOR UPDATE)sql"};

const statement snapshot_put{"snapshot_put", R"sql(
WITH put AS (
  INSERT INTO snapshots (doc_id, rev, text) VALUES ($1, $2, $3)
  ON CONFLICT (doc_id, rev) DO UPDATE SET text = EXCLUDED.text),
old AS (DELETE FROM snapshots WHERE doc_id = $1 AND rev < $2)
UPDATE documents SET snapshot_rev = $2, updated_at = now()
WHERE doc_id = $1)sql"};

// Moves oldest_rev of up to 500 documents and deletes the ops behind it.
// SKIP LOCKED: never waits for a document the writer is committing to.
const statement retention_stmt{"retention", R"sql(
WITH moved AS (
  UPDATE documents d SET oldest_rev = d.snapshot_rev - $1
  WHERE d.doc_id IN (
    SELECT doc_id FROM documents WHERE snapshot_rev - $1 > oldest_rev
    LIMIT 500 FOR UPDATE SKIP LOCKED)
  RETURNING d.doc_id, d.oldest_rev),
gone AS (
  DELETE FROM ops o USING moved m
  WHERE o.doc_id = m.doc_id AND o.rev <= m.oldest_rev RETURNING 1)
SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM gone))sql"};

caf::error corrupt(std::string what) {
  spdlog::error("pg store: {}", log_escape(what));
  return make_error(store_errc::corrupt, std::move(what));
}

// ---- the jobs; each throws on database errors

void run_load(link& l, load_job& j, const store_limits& limits) {
  for (auto* s : {&load_fence, &load_snapshot, &load_ops, &load_clients})
    l.prepare(*s);
  pqxx::work t{l.conn(), "load"};
  auto d = t.exec_prepared1(load_fence.name, j.doc, j.node);
  auto& snap = j.value;
  snap.epoch = d[0].as<uint64_t>();
  snap.rev = d[1].as<uint64_t>();
  snap.snapshot_rev = d[2].as<uint64_t>();
  snap.oldest_rev = d[3].as<uint64_t>();
  if (snap.snapshot_rev < snap.oldest_rev || snap.snapshot_rev > snap.rev) {
    j.fail(corrupt(j.doc + ": snapshot_rev outside the op log"));
    return;
  }
  std::string text;
  if (snap.snapshot_rev > 0) {
    auto s = t.exec_prepared(load_snapshot.name, j.doc,
                             to_bigint(snap.snapshot_rev));
    if (s.empty()) {
      j.fail(corrupt(j.doc + ": snapshot " + std::to_string(snap.snapshot_rev)
                     + " is missing"));
      return;
    }
    text = s[0][0].as<std::string>();
  }
  // Ops from the snapshot on, or from the tail on if that starts earlier.
  auto tail = std::min(j.tail, snap.rev);
  auto start = std::max(std::min(snap.snapshot_rev, snap.rev - tail),
                        snap.oldest_rev);
  auto rows = t.exec_prepared(load_ops.name, j.doc, to_bigint(start),
                              to_bigint(snap.snapshot_rev),
                              to_bigint(limits.history_bytes));
  auto clients = t.exec_prepared(load_clients.name, j.doc);
  t.commit(); // the fence bump is durable before anyone hears of it
  if (rows.size() != snap.rev - start) {
    j.fail(corrupt(j.doc + ": op log has " + std::to_string(rows.size())
                   + " ops after rev " + std::to_string(start) + ", head is "
                   + std::to_string(snap.rev)));
    return;
  }
  snap.text = ot::rope{text};
  auto tail_from = snap.rev - tail;
  std::vector<uint64_t> tail_bytes; // of snap.tail; a missing op: too big
  for (size_t i = 0; i < rows.size(); ++i) {
    committed_op op;
    auto in_tail = start + 1 + i > tail_from;
    if (auto err = op_from_row(rows[i], j.doc, op); !err.empty()) {
      j.fail(corrupt(j.doc + ": " + err));
      return;
    }
    if (op.rev != start + 1 + i) {
      j.fail(corrupt(j.doc + ": op log gap at rev " + std::to_string(op.rev)));
      return;
    }
    if (op.rev > snap.snapshot_rev)
      if (auto err = ot::apply(snap.text, op.op); !err.empty()) {
        j.fail(corrupt(j.doc + ": op " + std::to_string(op.rev)
                       + " does not apply: " + err));
        return;
      }
    if (in_tail) {
      tail_bytes.push_back(rows[i][4].is_null() ? UINT64_MAX
                                                : rows[i][4].size());
      snap.tail.push_back(std::move(op));
    }
  }
  // The tail's byte bound: the newest ops first, the oldest dropped.
  auto keep = newest_within(snap.tail.size(), limits.history_bytes,
                            [&](size_t i) { return tail_bytes[i]; });
  snap.tail.erase(snap.tail.begin(),
                  snap.tail.end() - static_cast<ptrdiff_t>(keep));
  for (const auto& row : clients) {
    committed_op op;
    op_from_row(row, j.doc, op); // the op column is NULL: cannot fail
    snap.clients.push_back(std::move(op));
  }
}

void run_read_ops(link& l, read_ops_job& j, const store_limits& limits) {
  l.prepare(read_ops_stmt);
  pqxx::read_transaction t{l.conn(), "read_ops"};
  auto rows = t.exec_prepared(read_ops_stmt.name, j.doc, to_bigint(j.from),
                              to_bigint(std::min(j.limit, limits.read_max_ops)),
                              to_bigint(limits.read_max_bytes));
  t.commit();
  if (rows.empty() || j.limit == 0)
    return; // unknown document: no ops
  auto oldest = rows[0][0].as<uint64_t>();
  if (j.from < oldest) {
    j.fail(make_error(store_errc::compacted, j.doc + ": ops up to rev "
                                               + std::to_string(oldest)
                                               + " were removed"));
    return;
  }
  for (const auto& row : rows) {
    if (row[1].is_null())
      break; // past the end
    committed_op op;
    // Columns 1.. are (rev, client, seq, user_id, op).
    auto r = row.slice(1, 6);
    if (auto err = op_from_row(r, j.doc, op); !err.empty()) {
      j.fail(corrupt(j.doc + ": " + err));
      return;
    }
    if (op.rev != j.from + 1 + j.value.size()) {
      j.fail(corrupt(j.doc + ": op log gap at rev " + std::to_string(op.rev)));
      return;
    }
    j.value.push_back(std::move(op));
  }
}

// Reads only: no fence bump, no row created (an HTTP read of an unknown id
// costs nothing). One snapshot of the database for all three statements.
void run_peek(link& l, peek_job& j) {
  for (auto* s : {&peek_doc, &load_snapshot, &peek_ops})
    l.prepare(*s);
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> t{l.conn(), "peek"};
  auto d = t.exec_prepared(peek_doc.name, j.doc);
  if (d.empty())
    return; // unknown document: rev 0, empty
  auto& snap = j.value;
  auto head = d[0][0].as<uint64_t>();
  snap.rev = snap.snapshot_rev = d[0][1].as<uint64_t>();
  snap.oldest_rev = d[0][2].as<uint64_t>();
  if (snap.snapshot_rev < snap.oldest_rev || snap.snapshot_rev > head) {
    j.fail(corrupt(j.doc + ": snapshot_rev outside the op log"));
    return;
  }
  if (snap.snapshot_rev > 0) {
    auto s = t.exec_prepared(load_snapshot.name, j.doc,
                             to_bigint(snap.snapshot_rev));
    if (s.empty()) {
      j.fail(corrupt(j.doc + ": snapshot " + std::to_string(snap.snapshot_rev)
                     + " is missing"));
      return;
    }
    snap.text = ot::rope{s[0][0].as<std::string>()};
  }
  auto rows = t.exec_prepared(peek_ops.name, j.doc,
                              to_bigint(snap.snapshot_rev));
  t.commit();
  if (rows.size() != head - snap.snapshot_rev) {
    j.fail(corrupt(j.doc + ": op log has " + std::to_string(rows.size())
                   + " ops after the snapshot, head is "
                   + std::to_string(head)));
    return;
  }
  for (const auto& row : rows) {
    committed_op op;
    if (auto err = op_from_row(row, j.doc, op); !err.empty()) {
      j.fail(corrupt(j.doc + ": " + err));
      return;
    }
    if (op.rev != snap.snapshot_rev + 1 + snap.tail.size()) {
      j.fail(corrupt(j.doc + ": op log gap at rev " + std::to_string(op.rev)));
      return;
    }
    snap.tail.push_back(std::move(op));
  }
}

void run_find_seq(link& l, find_seq_job& j) {
  l.prepare(find_seq_stmt);
  pqxx::read_transaction t{l.conn(), "find_seq"};
  auto rows = t.exec_prepared(find_seq_stmt.name, j.doc, j.client,
                              to_bigint(j.seq));
  t.commit();
  if (rows.empty())
    return;
  committed_op op;
  if (auto err = op_from_row(rows[0], j.doc, op); !err.empty()) {
    j.fail(corrupt(j.doc + ": " + err));
    return;
  }
  j.value.push_back(std::move(op));
}

void run_snapshot(link& l, snapshot_job& j) {
  l.prepare(snapshot_fence);
  l.prepare(snapshot_put);
  pqxx::work t{l.conn(), "save_snapshot"};
  auto d = t.exec_prepared(snapshot_fence.name, j.doc);
  if (d.empty() || d[0][0].as<uint64_t>() != j.epoch) {
    j.fail(make_error(store_errc::fenced,
                      "document " + j.doc + " has another owner"));
    return;
  }
  if (j.rev > d[0][1].as<uint64_t>()) {
    j.fail(make_error(store_errc::corrupt, "snapshot ahead of the op log"));
    return;
  }
  j.value = true;
  if (j.rev <= d[0][2].as<uint64_t>())
    return; // not newer than the stored one: nothing to do
  t.exec_prepared(snapshot_put.name, j.doc, to_bigint(j.rev),
                  j.text.to_string());
  t.commit();
}

// One retention pass; returns the number of documents moved.
uint64_t run_retention(link& l, uint64_t keep) {
  l.prepare(retention_stmt);
  pqxx::work t{l.conn(), "retention"};
  auto r = t.exec_prepared1(retention_stmt.name, to_bigint(keep));
  t.commit();
  auto moved = r[0].as<uint64_t>();
  if (moved > 0)
    spdlog::info("pg store: retention: {} documents, {} ops removed", moved,
                 r[1].as<uint64_t>());
  return moved;
}

void dispatch(link& l, job& j, const store_limits& limits) {
  switch (j.kind) {
    case job_kind::load: run_load(l, static_cast<load_job&>(j), limits); break;
    case job_kind::read_ops:
      run_read_ops(l, static_cast<read_ops_job&>(j), limits);
      break;
    case job_kind::peek: run_peek(l, static_cast<peek_job&>(j)); break;
    case job_kind::find_seq:
      run_find_seq(l, static_cast<find_seq_job&>(j));
      break;
    case job_kind::snapshot:
      run_snapshot(l, static_cast<snapshot_job&>(j));
      break;
    case job_kind::commit:
      j.fail(make_error(store_errc::corrupt, "commit on a reader"));
      break;
  }
}

// Runs `j` on `l`; once more on a fresh connection when the first attempt
// found the connection dead (a server restart while we were idle). Load and
// save_snapshot are safe to repeat: a load only bumps the epoch once more.
void execute(link& l, job& j, const store_limits& limits) {
  for (int attempt = 0;; ++attempt) {
    if (!l.ensure()) {
      j.fail(
        make_error(store_errc::unavailable, "postgres: " + l.last_error()));
      return;
    }
    link::guard g{l, l.budget()};
    try {
      dispatch(l, j, limits);
      return;
    } catch (...) {
      auto f = classify_current_exception();
      bool cut = g.fired();
      bool lost = f.connection_lost || cut || !l.conn().is_open();
      if (lost)
        l.drop(cut ? "no answer within the deadline" : f.text);
      if (lost && !cut && attempt == 0)
        continue;
      j.fail(cut ? make_error(store_errc::unavailable,
                              "postgres: no answer within the deadline")
                 : f.error);
      return;
    }
  }
}

} // namespace

void run_reader(engine& e, size_t index) {
  link l{e, "reader-" + std::to_string(index)};
  bool retention = index == 0 && e.opts.ops_retention > 0;
  auto next_retention = clock::now() + e.opts.retention_interval;
  l.ensure(); // connect eagerly so that /readyz tells the truth early
  for (;;) {
    auto wake = clock::time_point::max();
    if (!l.connected())
      wake = l.next_attempt();
    if (retention)
      wake = std::min(wake, next_retention);
    auto jobs = e.reads.take(1, wake);
    if (e.stopping) {
      auto rest = e.reads.take_all();
      jobs.insert(jobs.end(), rest.begin(), rest.end());
      for (auto& j : jobs)
        j->fail(make_error(store_errc::unavailable, "store stopped"));
      e.finish(std::move(jobs));
      return;
    }
    auto now = clock::now();
    if (retention && now >= next_retention && l.ensure()) {
      link::guard g{l, l.budget()};
      try {
        for (int round = 0; round < 20; ++round)
          if (run_retention(l, e.opts.ops_retention) < 500)
            break;
      } catch (...) {
        auto f = classify_current_exception();
        spdlog::warn("pg store: retention failed: {}", log_escape(f.text));
        if (f.connection_lost || g.fired() || !l.conn().is_open())
          l.drop(f.text);
      }
      next_retention = clock::now() + e.opts.retention_interval;
    }
    if (jobs.empty()) {
      if (!l.connected())
        l.ensure();
      continue;
    }
    auto& j = *jobs.front();
    if (now - j.enqueued > e.opts.queue_timeout)
      j.fail(make_error(store_errc::unavailable, "postgres: queued too long"));
    else
      execute(l, j, e.opts.limits);
    e.finish(std::move(jobs));
  }
}

} // namespace collab::pg
