// The group-commit writer (persistence/pg_writer.hpp): one transaction over
// a batch's groups, steps 2.-4. of persistence/pg_writer.cpp:
//
//   fence   SELECT ... FOR UPDATE of the groups' fence rows, in doc_id order
//   probe   after a collision only: which pending ops are already stored
//   decide  per request, under the locks: fenced, gap, duplicate, or accepted
//   write   one statement inserts the accepted ops, upserts client_seqs and
//           moves head_rev; a collision rolls back (the caller redoes)
//   COMMIT
//
// Threading: the writer's own thread.
#include "persistence/pg_writer.hpp"

#include <map>
#include <set>
#include <unordered_map>

#include <pqxx/except>
#include <pqxx/transaction>

#include <spdlog/spdlog.h>

#include "actors/ot/op_json.hpp"

namespace collab::pg::group_commit {

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

// doc -> (epoch, head_rev) of the locked fence rows.
using fence_map
  = std::unordered_map<std::string, std::pair<uint64_t, uint64_t>>;
// (doc, rev) of pending ops that collide with stored ones.
using collision_set = std::set<std::pair<std::string, uint64_t>>;

// Locks the groups' fence rows in doc_id order (no deadlock between nodes)
// and reads their epoch and head.
fence_map lock_fences(pqxx::work& t, const std::vector<group>& groups) {
  array_builder docs;
  for (auto& g : groups)
    docs.add(g.doc);
  auto fences = t.exec_prepared(fence_stmt.name, docs.str());
  fence_map fence;
  for (const auto& row : fences)
    fence.emplace(row[0].as<std::string>(),
                  std::make_pair(row[1].as<uint64_t>(), row[2].as<uint64_t>()));
  return fence;
}

// After a collision: which ops of the requests not answered yet are stored
// already (by rev or by (client, seq)).
collision_set probe_collisions(pqxx::work& t,
                               const std::vector<group>& groups) {
  collision_set colliding;
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
       t.exec_prepared(probe_stmt.name, pd.str(), pr.str(), pc.str(), ps.str()))
    colliding.emplace(row[0].as<std::string>(), row[1].as<uint64_t>());
  return colliding;
}

// What the accepted requests add up to.
struct decision {
  size_t total_ops = 0;
  size_t changed_docs = 0;
};

// Decides per request under the fence locks: wrong epoch -> fenced; first
// rev != head + 1 -> corrupt (gap); an op colliding with a stored one or a
// (client, seq) twice in the document -> corrupt; else accepted. Sets each
// group's epoch and heads and each item's `accepted`.
decision decide(std::vector<group>& groups, const fence_map& fence,
                const collision_set& colliding) {
  decision d;
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
      d.total_ops += j.ops.size();
    }
    if (g.new_head != g.old_head)
      ++d.changed_docs;
  }
  return d;
}

// One statement for the accepted ops of every group whose head moves: the
// ops, the clients' last seqs, the new heads. Returns false (the transaction
// aborted) when some ops collided with stored ones; throws (XX001) when a
// document changed under the fence lock.
bool write_ops(pqxx::work& t, const std::vector<group>& groups,
               const decision& d) {
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
  if (inserted != d.total_ops) {
    t.abort();
    spdlog::warn("pg store: {} of {} ops collide with stored ones; redoing "
                 "the batch without them",
                 d.total_ops - inserted, d.total_ops);
    return false;
  }
  if (updated != d.changed_docs)
    throw pqxx::data_exception{"documents changed under the fence lock", "",
                               "XX001"};
  return true;
}

} // namespace

bool writer::attempt(std::vector<group>& groups, bool probe,
                     bool& commit_sent) {
  for (auto* s : {&fence_stmt, &write_stmt, &probe_stmt})
    l_.prepare(*s);
  pqxx::work t{l_.conn(), "group_commit"};
  auto fence = lock_fences(t, groups);
  // After a collision: refuse the requests whose ops are already stored.
  collision_set colliding;
  if (probe)
    colliding = probe_collisions(t, groups);
  auto d = decide(groups, fence, colliding);
  if (d.total_ops > 0 && !write_ops(t, groups, d))
    return false;
  if (e_.opts.fault_hook)
    e_.opts.fault_hook(pg_fault::before_commit);
  commit_sent = true;
  t.commit();
  if (e_.opts.fault_hook)
    e_.opts.fault_hook(pg_fault::after_commit);
  return true;
}

} // namespace collab::pg::group_commit
