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
// This file: the thread's loop, the batch checks and the splitting of
// refused batches. One transaction (steps 2.-4.) is in pg_writer_attempt.cpp,
// settling an unknown COMMIT in pg_writer_settle.cpp; the types they share
// in pg_writer.hpp.
//
// Threading: runs on its own std::thread; talks to the store actor only
// through engine::finish.
#include "persistence/pg_writer.hpp"

#include <algorithm>
#include <unordered_map>

#include <pqxx/except>

#include <spdlog/spdlog.h>

#include "actors/core/log_escape.hpp"

namespace collab::pg {

namespace group_commit {

caf::error unavailable(std::string why) {
  return make_error(store_errc::unavailable, "postgres: " + std::move(why));
}

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
      probe = true; // collided: find the culprits and redo
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
  spdlog::error("pg store: commit of document {} refused: {}", g.doc,
                log_escape(why.text));
  for (auto* it : g.items)
    if (!it->failed)
      it->fail(
        make_error(code, "postgres refused the document's data: " + why.text));
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

} // namespace group_commit

void run_writer(engine& e, queue& q, const char* name) {
  group_commit::writer w{e, q, name};
  w.run();
}

} // namespace collab::pg
