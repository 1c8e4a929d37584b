// The group-commit writer of the PostgreSQL store: one thread, one
// connection. It takes every queued commit (up to max_batch_ops ops), from
// any number of documents, and makes them durable in ONE transaction, so a
// batch costs one WAL flush (synchronous_commit = on) however many documents
// it holds.
//
// One batch:
//   1. C++ checks: each request's revisions are consecutive; (client, seq)
//      unique within the batch; too-old requests fail (queue_timeout).
//   2. BEGIN; SELECT ... FROM documents WHERE doc_id = ANY(..) ORDER BY doc_id
//      FOR UPDATE: locks the fences in a fixed order (no deadlock between
//      nodes) and reads epoch and head_rev. Per request: wrong epoch ->
//      fenced; first rev != head + 1 -> corrupt (gap). Only those requests
//      fail; the rest go on.
//   3. One statement inserts every op (unnest of arrays), upserts
//      client_seqs and moves head_rev. If an op collided with a stored one
//      (a duplicate (client, seq)), the transaction is rolled back, the
//      colliding requests are found and refused, and the batch is redone.
//   4. COMMIT, then every request is answered.
// A batch that fails before COMMIT is retried once on a fresh connection
// when the connection was found dead, else answered unavailable. A batch
// the server refuses for a DATA reason (classify_current_exception: 22 data
// exception such as jsonb's "\u0000", 23, 54, anything that is not about
// the connection or the server's availability) is split: each half is
// committed in its own transaction, and a refused half is split again until
// the refused document stands alone and is answered store_errc::rejected.
// Every other document of the batch commits (docs/DESIGN.md contract 6); the
// cost is about 2 log2(documents) transactions per refused document. If the
// connection is lost during COMMIT the outcome is unknown: the writer then
// makes sure the old server process is gone (pg_terminate_backend, so it can
// no longer commit late), checks on a new connection whether each document's
// last op is stored, and answers success or unavailable accordingly. Until
// then it takes no new batch (queued requests fail with unavailable while
// PostgreSQL is unreachable).
//
// Threading: runs on its own std::thread; talks to the store actor only
// through engine::finish.
#include "persistence/pg_internal.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include <spdlog/spdlog.h>

#include "actors/core/log_escape.hpp"
#include "actors/ot/op_json.hpp"

namespace collab::pg {

namespace {

const statement fence_stmt{"gc_fence", R"sql(
SELECT doc_id, epoch, head_rev FROM documents
WHERE doc_id = ANY($1::text[]) ORDER BY doc_id FOR UPDATE)sql"};

const statement write_stmt{"gc_write", R"sql(
WITH ins AS (
  INSERT INTO ops (doc_id, rev, client, seq, user_id, op)
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[],
                       $5::text[], $6::jsonb[])
  ON CONFLICT DO NOTHING RETURNING 1),
cs AS (
  INSERT INTO client_seqs AS c (doc_id, client, last_seq, last_rev, user_id)
  SELECT * FROM unnest($7::text[], $8::text[], $9::bigint[], $10::bigint[],
                       $15::text[])
  ON CONFLICT (doc_id, client) DO UPDATE
    SET last_seq = EXCLUDED.last_seq, last_rev = EXCLUDED.last_rev,
        user_id = EXCLUDED.user_id),
up AS (
  UPDATE documents d SET head_rev = u.new_head, updated_at = now()
  FROM unnest($11::text[], $12::bigint[], $13::bigint[], $14::bigint[])
    AS u(doc_id, epoch, expected, new_head)
  WHERE d.doc_id = u.doc_id AND d.epoch = u.epoch AND d.head_rev = u.expected
  RETURNING 1)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM up))sql"};

// Which of these ops collide with stored ones (by rev or by (client, seq)).
const statement probe_stmt{"gc_probe", R"sql(
SELECT v.doc_id, v.rev
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[])
  AS v(doc_id, rev, client, seq)
WHERE EXISTS (SELECT 1 FROM ops o WHERE o.doc_id = v.doc_id AND o.rev = v.rev)
   OR EXISTS (SELECT 1 FROM ops o WHERE o.doc_id = v.doc_id
              AND o.client = v.client AND o.seq = v.seq))sql"};

// Which documents' probe ops are stored exactly as we sent them.
const statement verify_stmt{"gc_verify", R"sql(
SELECT v.doc_id
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::jsonb[])
  AS v(doc_id, rev, client, seq, op)
JOIN ops o ON o.doc_id = v.doc_id AND o.rev = v.rev AND o.client = v.client
  AND o.seq = v.seq AND o.op = v.op)sql"};

const statement backend_alive_stmt{"gc_backend_alive", R"sql(
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE pid = $1 AND backend_start = $2::timestamptz)sql"};

caf::error unavailable(std::string why) {
  return make_error(store_errc::unavailable, "postgres: " + std::move(why));
}

// One commit request in a batch.
struct item {
  commit_job* job;
  bool failed = false;     // answered with an error (final)
  bool accepted = false;   // part of the current attempt's transaction
  void fail(caf::error e) {
    job->fail(std::move(e));
    failed = true;
    accepted = false;
  }
  uint64_t first_rev() const { return job->ops.front().rev; }
  uint64_t last_rev() const { return job->ops.back().rev; }
};

struct group {
  std::string doc;
  std::vector<item*> items;  // in queue order
  uint64_t epoch = 0;
  uint64_t old_head = 0;
  uint64_t new_head = 0;
};

// A batch whose COMMIT outcome is unknown.
struct doubt {
  job_list jobs;             // every job of the batch (finished together)
  std::vector<item> items;
  std::vector<group> groups;
  int backend_pid = 0;
  std::string backend_start;
  clock::time_point since = clock::now();
};

// How one transaction over some groups ended.
struct outcome {
  enum kind_t : uint8_t {
    done,     // every request of the groups is answered
    in_doubt, // the COMMIT outcome is unknown; nothing answered
    refused,  // refused for a data reason (`why`); nothing answered
  };
  kind_t kind = done;
  failure why{};
  // in_doubt: the server process that may still be committing.
  int backend_pid = 0;
  std::string backend_start;
};

class writer {
public:
  writer(engine& e, queue& q, const char* name) : e_(e), q_(q), l_(e, name) {}
  void run();

private:
  void run_batch(job_list jobs);
  // One transaction over groups[lo, hi), redone after collisions (with a
  // probe) and once on a fresh connection when the old one was dead.
  outcome transact(std::vector<group>& groups, size_t lo, size_t hi);
  // groups[lo, hi) were refused as one transaction (`why`): commits each
  // half on its own, splitting refused halves further; a refused document
  // alone is answered rejected. In doubt: the groups not attempted yet are
  // answered unavailable and the doubt is returned.
  outcome split(std::vector<group>& groups, size_t lo, size_t hi,
                const failure& why);
  void reject(group& g, const failure& why);
  // One transaction over the accepted items; throws on database errors.
  // Returns false when ops collided (the caller redoes the batch with probe).
  // REQUIRES: l_.connected(); every item's ops are consecutive.
  bool attempt(std::vector<group>& groups, bool probe, bool& commit_sent);
  // Settles a doubt: answers every request of the batch and returns true,
  // or returns false (nothing answered) when it cannot tell yet.
  bool settle(doubt& d);
  void answer_committed(std::vector<group>& groups);
  void record(const std::vector<item>& items, size_t requests);
  void fail_queued(const std::string& why);

  engine& e_;
  queue& q_;  // this writer's commits
  link l_;
  std::optional<doubt> doubt_;
};

void writer::run() {
  l_.ensure();
  for (;;) {
    if (doubt_) {
      if (settle(*doubt_)) {
        doubt_.reset();
        continue;
      }
      if (e_.stopping) {
        std::string docs;
        for (auto& g : doubt_->groups)
          docs += " " + g.doc;
        spdlog::error("pg store: stopping with a batch of unknown outcome "
                      "(documents{}); its requests stay unanswered",
                      docs);
        doubt_.reset();
        fail_queued("store stopped");
        return;
      }
      // Not settled yet: fail what waits (never attempted), retry soon.
      auto wake = std::max(l_.next_attempt(),
                           clock::now() + std::chrono::milliseconds{100});
      auto jobs = q_.take(SIZE_MAX, wake);
      auto why = l_.connected() ? std::string{"settling an unknown COMMIT"}
                                : l_.last_error();
      for (auto& j : jobs)
        j->fail(unavailable(why));
      e_.finish(std::move(jobs));
      continue;
    }
    auto wake = l_.connected() ? clock::time_point::max() : l_.next_attempt();
    q_.wait(wake);
    if (e_.opts.fault_hook && !e_.stopping)
      e_.opts.fault_hook(pg_fault::before_take);
    auto jobs = q_.take(e_.opts.max_batch_ops, clock::now());
    if (jobs.empty()) {
      if (e_.stopping)
        return;
      if (!l_.connected())
        l_.ensure();
      continue;
    }
    run_batch(std::move(jobs));
  }
}

void writer::fail_queued(const std::string& why) {
  auto jobs = q_.take_all();
  for (auto& j : jobs)
    j->fail(unavailable(why));
  e_.finish(std::move(jobs));
}

void writer::record(const std::vector<item>& items, size_t requests) {
  uint64_t ok = 0;
  uint64_t ops = 0;
  uint64_t failed = 0;
  for (auto& it : items) {
    if (it.failed) {
      ++failed;
    } else {
      ++ok;
      ops += it.job->ops.size();
    }
  }
  e_.status->record_batch(requests, ok, ops, failed);
}

void writer::run_batch(job_list jobs) {
  std::vector<item> items;
  items.reserve(jobs.size());
  for (auto& j : jobs)
    items.push_back(item{static_cast<commit_job*>(j.get())});
  // 1. Checks that need no database.
  auto now = clock::now();
  std::vector<group> groups;
  std::unordered_map<std::string, size_t> group_of;
  for (auto& it : items) {
    auto& j = *it.job;
    if (now - j.enqueued > e_.opts.queue_timeout) {
      it.fail(unavailable("queued too long"));
      continue;
    }
    bool consecutive = j.ops.empty() || j.ops.front().rev >= 1;
    for (size_t i = 1; i < j.ops.size() && consecutive; ++i)
      consecutive = j.ops[i].rev == j.ops[0].rev + i;
    if (!consecutive) {
      it.fail(make_error(store_errc::corrupt, "revision gap in commit"));
      continue;
    }
    for (auto& op : j.ops)
      op.doc = j.doc;
    auto [pos, added] = group_of.emplace(j.doc, groups.size());
    if (added)
      groups.push_back(group{j.doc, {}, 0, 0, 0});
    groups[pos->second].items.push_back(&it);
  }
  if (groups.empty()) {
    record(items, items.size());
    e_.finish(std::move(jobs));
    return;
  }
  // 2.-4. The transaction; a batch refused for its data is split.
  auto out = transact(groups, 0, groups.size());
  if (out.kind == outcome::refused) {
    if (groups.size() > 1)
      spdlog::warn("pg store: a batch of {} documents was refused ({}); "
                   "committing them apart",
                   groups.size(), log_escape(out.why.text));
    out = split(groups, 0, groups.size(), out.why);
    uint64_t rejected = 0;
    for (auto& it : items)
      rejected += it.failed && is(it.job->err, store_errc::rejected) ? 1 : 0;
    e_.status->record_refused(rejected);
  }
  if (out.kind == outcome::in_doubt) {
    e_.status->record_in_doubt();
    spdlog::warn("pg store: connection lost during COMMIT ({}); "
                 "verifying the outcome",
                 log_escape(out.why.text));
    doubt_.emplace();
    doubt_->backend_pid = out.backend_pid;
    doubt_->backend_start = std::move(out.backend_start);
    doubt_->jobs = std::move(jobs);
    // Moving a vector keeps its buffer: the groups' item pointers stay
    // valid.
    doubt_->items = std::move(items);
    doubt_->groups = std::move(groups);
    return;
  }
  record(items, items.size());
  e_.finish(std::move(jobs));
}

void fail_groups(std::vector<group>& groups, size_t lo, size_t hi,
                 const caf::error& err) {
  for (auto k = lo; k < hi; ++k)
    for (auto* it : groups[k].items)
      if (!it->failed)
        it->fail(err);
}

outcome writer::transact(std::vector<group>& all, size_t lo, size_t hi) {
  // attempt() works on a whole vector: lend it the range.
  std::vector<group> groups(std::make_move_iterator(all.begin() + lo),
                            std::make_move_iterator(all.begin() + hi));
  auto give_back = [&](outcome out) {
    std::move(groups.begin(), groups.end(), all.begin() + lo);
    return out;
  };
  bool probe = false;
  bool retried_connection = false;
  for (int round = 0;; ++round) {
    if (!l_.ensure()) {
      fail_groups(groups, 0, groups.size(), unavailable(l_.last_error()));
      return give_back({});
    }
    bool commit_sent = false;
    link::guard g{l_, l_.budget()};
    try {
      if (attempt(groups, probe, commit_sent)) {
        answer_committed(groups);
        return give_back({});
      }
      if (round >= 2) {
        fail_groups(groups, 0, groups.size(),
                    make_error(store_errc::corrupt, "ops collide again"));
        return give_back({});
      }
      probe = true;  // collided: find the culprits and redo
    } catch (...) {
      auto f = classify_current_exception();
      bool cut = g.fired();
      bool lost = f.connection_lost || cut || !l_.conn().is_open();
      if (cut)
        f.text = "no answer within the deadline";
      if (commit_sent && lost) {
        outcome out{outcome::in_doubt, f, l_.backend_pid(), l_.backend_start()};
        l_.drop(f.text);
        return give_back(std::move(out));
      }
      if (lost)
        l_.drop(f.text);
      if (lost && !cut && !retried_connection) {
        retried_connection = true;
        continue;
      }
      if (!lost && f.data)
        return give_back({outcome::refused, std::move(f), 0, {}});
      fail_groups(groups, 0, groups.size(),
                  cut ? unavailable(f.text) : f.error);
      return give_back({});
    }
  }
}

outcome writer::split(std::vector<group>& groups, size_t lo, size_t hi,
                      const failure& why) {
  if (hi - lo == 1) {
    reject(groups[lo], why);
    return {};
  }
  auto mid = lo + (hi - lo) / 2;
  for (auto [a, b] : {std::make_pair(lo, mid), std::make_pair(mid, hi)}) {
    auto out = transact(groups, a, b);
    if (out.kind == outcome::refused)
      out = split(groups, a, b, out.why);
    if (out.kind == outcome::in_doubt) {
      fail_groups(groups, b, hi,
                  unavailable("not attempted (connection lost during "
                              "COMMIT)"));
      return out;
    }
  }
  return {};
}

void writer::reject(group& g, const failure& why) {
  // XX: our own consistency check (or the server's) failed: a bug, not the
  // client's data.
  auto code = why.sqlstate.rfind("XX", 0) == 0 ? store_errc::corrupt
                                               : store_errc::rejected;
  spdlog::error("pg store: commit of document {} refused: {}", g.doc, log_escape(why.text));
  for (auto* it : g.items)
    if (!it->failed)
      it->fail(make_error(code,
                          "postgres refused the document's data: " + why.text));
}

bool writer::attempt(std::vector<group>& groups, bool probe,
                     bool& commit_sent) {
  for (auto* s : {&fence_stmt, &write_stmt, &probe_stmt})
    l_.prepare(*s);
  pqxx::work t{l_.conn(), "group_commit"};
  array_builder docs;
  for (auto& g : groups)
    docs.add(g.doc);
  auto fences = t.exec_prepared(fence_stmt.name, docs.str());
  std::unordered_map<std::string, std::pair<uint64_t, uint64_t>> fence;
  for (const auto& row : fences)
    fence.emplace(row[0].as<std::string>(),
                  std::make_pair(row[1].as<uint64_t>(), row[2].as<uint64_t>()));
  // After a collision: refuse the requests whose ops are already stored.
  std::set<std::pair<std::string, uint64_t>> colliding;
  if (probe) {
    array_builder pd, pr, pc, ps;
    for (auto& g : groups)
      for (auto* it : g.items)
        if (!it->failed)
          for (auto& op : it->job->ops) {
            pd.add(g.doc);
            pr.add(op.rev);
            pc.add(op.client);
            ps.add(op.seq);
          }
    for (const auto& row :
         t.exec_prepared(probe_stmt.name, pd.str(), pr.str(), pc.str(),
                         ps.str()))
      colliding.emplace(row[0].as<std::string>(), row[1].as<uint64_t>());
  }
  // Decide per request under the fence locks.
  size_t total_ops = 0;
  size_t changed_docs = 0;
  for (auto& g : groups) {
    auto f = fence.find(g.doc);
    g.epoch = f == fence.end() ? 0 : f->second.first;
    g.old_head = f == fence.end() ? 0 : f->second.second;
    g.new_head = g.old_head;
    std::set<std::pair<std::string, uint64_t>> seqs;
    for (auto* it : g.items) {
      it->accepted = false;
      if (it->failed)
        continue;
      auto& j = *it->job;
      if (f == fence.end() || j.epoch != g.epoch) {
        it->fail(make_error(store_errc::fenced,
                            "document " + g.doc + " has another owner"));
        continue;
      }
      if (j.ops.empty()) {
        it->accepted = true;
        continue;
      }
      if (it->first_rev() != g.new_head + 1) {
        it->fail(make_error(store_errc::corrupt,
                            "revision gap in commit: head is "
                              + std::to_string(g.new_head) + ", got "
                              + std::to_string(it->first_rev())));
        continue;
      }
      bool dup = false;
      for (auto& op : j.ops)
        dup = dup || colliding.count({g.doc, op.rev}) > 0
              || !seqs.emplace(op.client, op.seq).second;
      if (dup) {
        it->fail(make_error(store_errc::corrupt,
                            "duplicate (client, seq) in " + g.doc));
        continue;
      }
      it->accepted = true;
      g.new_head = it->last_rev();
      total_ops += j.ops.size();
    }
    if (g.new_head != g.old_head)
      ++changed_docs;
  }
  if (total_ops > 0) {
    array_builder od, orv, oc, os, ou, oj;
    array_builder cd, cc, cs, cr, cu;
    array_builder ud, ue, ux, un;
    for (auto& g : groups) {
      if (g.new_head == g.old_head)
        continue;
      std::map<std::string, const committed_op*> last_by_client;
      for (auto* it : g.items) {
        if (!it->accepted)
          continue;
        for (auto& op : it->job->ops) {
          od.add(g.doc);
          orv.add(op.rev);
          oc.add(op.client);
          os.add(op.seq);
          ou.add(op.user);
          oj.add(ot::op_to_json(op.op));
          last_by_client[op.client] = &op;
        }
      }
      for (auto& [client, op] : last_by_client) {
        cd.add(g.doc);
        cc.add(client);
        cs.add(op->seq);
        cr.add(op->rev);
        cu.add(op->user);
      }
      ud.add(g.doc);
      ue.add(g.epoch);
      ux.add(g.old_head);
      un.add(g.new_head);
    }
    auto r = t.exec_prepared1(write_stmt.name, od.str(), orv.str(), oc.str(),
                              os.str(), ou.str(), oj.str(), cd.str(), cc.str(),
                              cs.str(), cr.str(), ud.str(), ue.str(), ux.str(),
                              un.str(), cu.str());
    auto inserted = r[0].as<uint64_t>();
    auto updated = r[1].as<uint64_t>();
    if (inserted != total_ops) {
      t.abort();
      spdlog::warn("pg store: {} of {} ops collide with stored ones; redoing "
                   "the batch without them",
                   total_ops - inserted, total_ops);
      return false;
    }
    if (updated != changed_docs)
      throw pqxx::data_exception{"documents changed under the fence lock", "",
                                 "XX001"};
  }
  if (e_.opts.fault_hook)
    e_.opts.fault_hook(pg_fault::before_commit);
  commit_sent = true;
  t.commit();
  if (e_.opts.fault_hook)
    e_.opts.fault_hook(pg_fault::after_commit);
  return true;
}

void writer::answer_committed(std::vector<group>& groups) {
  for (auto& g : groups) {
    auto head = g.old_head;
    for (auto* it : g.items) {
      if (!it->accepted)
        continue;
      if (!it->job->ops.empty())
        head = it->last_rev();
      it->job->value = head;
    }
  }
}

bool writer::settle(doubt& d) {
  if (!l_.ensure())
    return false;
  for (auto* s : {&verify_stmt, &backend_alive_stmt})
    l_.prepare(*s);
  link::guard g{l_, l_.budget()};
  try {
    pqxx::nontransaction t{l_.conn(), "settle"};
    // The old server process could still be finishing our COMMIT: end it
    // and wait until it is gone, so the outcome can no longer change.
    if (d.backend_pid != 0) {
      auto until = clock::now() + e_.opts.statement_timeout;
      for (;;) {
        // Each statement of a nontransaction sees fresh activity data.
        auto r = t.exec_prepared(backend_alive_stmt.name, d.backend_pid,
                                 d.backend_start);
        if (r.empty())
          break;
        if (clock::now() > until) {
          spdlog::warn("pg store: the server process of the unknown COMMIT "
                       "is still running");
          return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
      }
    }
    array_builder vd, vr, vc, vs, vj;
    for (auto& grp : d.groups) {
      const committed_op* last = nullptr;
      for (auto* it : grp.items)
        if (it->accepted && !it->job->ops.empty())
          last = &it->job->ops.back();
      if (last) {
        vd.add(grp.doc);
        vr.add(last->rev);
        vc.add(last->client);
        vs.add(last->seq);
        vj.add(ot::op_to_json(last->op));
      }
    }
    std::set<std::string> stored;
    if (vd.size() > 0)
      for (const auto& row : t.exec_prepared(verify_stmt.name, vd.str(),
                                             vr.str(), vc.str(), vs.str(),
                                             vj.str()))
        stored.insert(row[0].as<std::string>());
    size_t committed = 0;
    size_t lost = 0;
    for (auto& grp : d.groups) {
      bool has_ops = false;
      for (auto* it : grp.items)
        has_ops = has_ops || (it->accepted && !it->job->ops.empty());
      if (!has_ops || stored.count(grp.doc) > 0) {
        committed += has_ops ? 1 : 0;
        continue;
      }
      ++lost;
      for (auto* it : grp.items)
        if (it->accepted)
          it->fail(unavailable("not committed (connection lost during "
                               "COMMIT)"));
    }
    answer_committed(d.groups);
    spdlog::warn("pg store: unknown COMMIT settled: {} documents committed, "
                 "{} not",
                 committed, lost);
    record(d.items, d.items.size());
    e_.finish(std::move(d.jobs));
    return true;
  } catch (...) {
    auto f = classify_current_exception();
    bool cut = g.fired();
    if (f.connection_lost || cut || !l_.conn().is_open())
      l_.drop(cut ? "no answer within the deadline" : f.text);
    spdlog::warn("pg store: cannot verify the unknown COMMIT yet: {}", log_escape(f.text));
    return false;
  }
}

} // namespace

void run_writer(engine& e, queue& q, const char* name) {
  writer w{e, q, name};
  w.run();
}

} // namespace collab::pg
