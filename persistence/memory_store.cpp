#include "persistence/memory_store.hpp"

#include <algorithm>
#include <unordered_map>

#include <caf/all.hpp>

namespace collab {
namespace {

struct stored_doc {
  uint64_t epoch = 0;
  std::vector<committed_op> ops; // ops[i] is revision i + 1
  std::vector<uint64_t> sizes; // sizes[i]: op_bytes(ops[i].op)
  // The latest snapshot: the text at snapshot_rev. Loads replay the ops after
  // it (the op log is the truth; a snapshot is a compaction of it).
  ot::rope snapshot;
  uint64_t snapshot_rev = 0;
  std::unordered_map<std::string, size_t> last_by_client; // index into ops
};

struct memory_store_state {
  std::unordered_map<std::string, stored_doc> docs;
  store_limits limits;
  static inline const char* name = "memory_store";
};

using store_ptr = document_store_actor::stateful_pointer<memory_store_state>;

caf::error fenced(const std::string& doc) {
  return make_error(store_errc::fenced,
                    "document " + doc + " has another owner");
}

document_store_actor::behavior_type memory_store(store_ptr self,
                                                 store_limits limits) {
  self->state.limits = limits;
  return {
    [=](load_atom, const std::string& doc, const std::string&,
        uint64_t tail) -> caf::result<doc_snapshot> {
      auto& d = self->state.docs[doc];
      doc_snapshot snap;
      snap.epoch = ++d.epoch; // the caller is the one writer from now on
      snap.text = d.snapshot;
      for (auto r = d.snapshot_rev; r < d.ops.size(); ++r)
        if (auto err = ot::apply(snap.text, d.ops[r].op); !err.empty())
          return make_error(store_errc::corrupt, "op log: " + err);
      snap.rev = d.ops.size();
      snap.snapshot_rev = d.snapshot_rev;
      auto want = std::min<uint64_t>(tail, d.ops.size());
      auto first = d.ops.size() - want;
      auto n = newest_within(want, self->state.limits.history_bytes,
                             [&](size_t i) { return d.sizes[first + i]; });
      snap.tail.assign(d.ops.end() - static_cast<ptrdiff_t>(n), d.ops.end());
      for (auto& [client, idx] : d.last_by_client)
        snap.clients.push_back(d.ops[idx]);
      return snap;
    },
    [=](peek_atom, const std::string& doc) {
      doc_snapshot snap; // unknown: rev 0, empty (and nothing is created)
      auto it = self->state.docs.find(doc);
      if (it == self->state.docs.end())
        return snap;
      auto& d = it->second;
      snap.rev = snap.snapshot_rev = d.snapshot_rev;
      snap.text = d.snapshot;
      snap.tail.assign(d.ops.begin() + static_cast<ptrdiff_t>(d.snapshot_rev),
                       d.ops.end());
      return snap;
    },
    [=](commit_atom, const std::string& doc, uint64_t epoch,
        std::vector<committed_op>& batch) -> caf::result<uint64_t> {
      auto it = self->state.docs.find(doc);
      if (it == self->state.docs.end() || epoch != it->second.epoch)
        return fenced(doc);
      auto& d = it->second;
      // Check the whole batch first: a batch is all or nothing.
      auto next = d.ops.size() + 1;
      for (auto& op : batch) {
        if (op.rev != next++)
          return make_error(store_errc::corrupt, "revision gap in commit");
        auto last = d.last_by_client.find(op.client);
        if (last != d.last_by_client.end() && d.ops[last->second].seq >= op.seq)
          return make_error(store_errc::corrupt,
                            "duplicate (client, seq) in " + doc);
      }
      for (auto& op : batch) {
        d.last_by_client[op.client] = d.ops.size();
        d.sizes.push_back(op_bytes(op.op));
        d.ops.push_back(std::move(op));
      }
      return static_cast<uint64_t>(d.ops.size());
    },
    [=](read_ops_atom, const std::string& doc, uint64_t from, uint64_t limit) {
      std::vector<committed_op> out;
      auto it = self->state.docs.find(doc);
      if (it == self->state.docs.end())
        return out;
      auto& d = it->second;
      if (from >= d.ops.size())
        return out;
      auto n = std::min<uint64_t>(limit, d.ops.size() - from);
      n = oldest_within(n, self->state.limits,
                        [&](size_t i) { return d.sizes[from + i]; });
      auto begin = d.ops.begin() + static_cast<ptrdiff_t>(from);
      out.assign(begin, begin + static_cast<ptrdiff_t>(n));
      return out;
    },
    [=](find_seq_atom, const std::string& doc, const std::string& client,
        uint64_t seq) {
      std::vector<committed_op> out;
      auto it = self->state.docs.find(doc);
      if (it == self->state.docs.end())
        return out;
      // Newest first: a duplicate is almost always of a recent op.
      auto& ops = it->second.ops;
      for (auto i = ops.rbegin(); i != ops.rend(); ++i)
        if (i->client == client && i->seq == seq) {
          out.push_back(*i);
          break;
        }
      return out;
    },
    [=](save_snapshot_atom, const std::string& doc, uint64_t epoch,
        uint64_t rev, ot::rope& text) -> caf::result<bool> {
      auto it = self->state.docs.find(doc);
      if (it == self->state.docs.end() || epoch != it->second.epoch)
        return fenced(doc);
      auto& d = it->second;
      if (rev > d.ops.size())
        return make_error(store_errc::corrupt, "snapshot ahead of the op log");
      if (rev > d.snapshot_rev) {
        d.snapshot = std::move(text);
        d.snapshot_rev = rev;
      }
      return true;
    },
  };
}

} // namespace

document_store_actor spawn_memory_store(caf::actor_system& sys,
                                        store_limits limits) {
  limits.read_max_ops = std::max<uint64_t>(limits.read_max_ops, 1);
  return sys.spawn(memory_store, limits);
}

} // namespace collab
