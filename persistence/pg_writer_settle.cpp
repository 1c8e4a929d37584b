// The group-commit writer (persistence/pg_writer.hpp): settling a batch
// whose COMMIT outcome is unknown. The old server process is ended first
// (so it can no longer commit late), then a new connection checks whether
// each document's last op is stored, and every request is answered.
//
// Threading: the writer's own thread.
#include "persistence/pg_writer.hpp"

#include <set>
#include <thread>

#include <pqxx/nontransaction>

#include <spdlog/spdlog.h>

#include "actors/core/log_escape.hpp"
#include "actors/ot/op_json.hpp"

namespace collab::pg::group_commit {

namespace {

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

} // namespace

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
      for (const auto& row :
           t.exec_prepared(verify_stmt.name, vd.str(), vr.str(), vc.str(),
                           vs.str(), vj.str()))
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
    spdlog::warn("pg store: cannot verify the unknown COMMIT yet: {}",
                 log_escape(f.text));
    return false;
  }
}

} // namespace collab::pg::group_commit
