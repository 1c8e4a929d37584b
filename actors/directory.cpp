#include "actors/directory.hpp"

#include <algorithm>
#include <optional>
#include <unordered_map>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/metrics.hpp"
#include "actors/placement.hpp"

namespace collab {
namespace {

constexpr auto placement_check = std::chrono::seconds(1);
constexpr auto evict_timeout = std::chrono::seconds(10);

struct directory_state {
  document_store_actor store;
  document_options opts;
  uint64_t max_live_docs = 0; // 0: no bound
  // The local document actors.
  std::unordered_map<std::string, document_actor> docs;
  std::unordered_map<caf::actor_addr, std::string> doc_of;
  // Placement: the members that may own documents (up, not draining), and
  // where each resolves. Empty until membership speaks: then all is local.
  std::vector<std::string> owners;
  std::unordered_map<std::string, directory_actor> directory_of;
  // Operators' overrides (collabctl move), the same on every node: a new
  // member gets them from every directory that sees it join.
  std::unordered_map<std::string, std::string> pins; // doc -> node
  bool checking_placement = false; // the periodic check runs
  bool closed = false; // evicted everything (a lone drain): no activation
  static inline const char* name = "directory";
};

using self_ptr = directory_actor::stateful_pointer<directory_state>;

// The live local actor of `doc`, if any: 0 or 1 handles, never activating.
std::vector<document_actor> live_document(self_ptr self,
                                          const std::string& doc) {
  std::vector<document_actor> out;
  if (auto i = self->state.docs.find(doc); i != self->state.docs.end())
    out.push_back(i->second);
  return out;
}

// The local actor of `doc`, activated unless max_live_docs are live.
caf::expected<document_actor> local_document(self_ptr self,
                                             const std::string& doc) {
  auto& st = self->state;
  if (auto i = st.docs.find(doc); i != st.docs.end())
    return i->second;
  if (st.closed)
    return make_error(directory_errc::closed,
                      "node " + st.opts.node + " is shutting down");
  if (st.max_live_docs > 0 && st.docs.size() >= st.max_live_docs) {
    spdlog::warn("doc={} event=activation_refused live={} limit={}", doc,
                 st.docs.size(), st.max_live_docs);
    return make_error(directory_errc::full,
                      "node " + st.opts.node + " has "
                        + std::to_string(st.max_live_docs)
                        + " live documents, its limit; try again later");
  }
  if (st.opts.activations && !st.opts.activations->try_enter()) {
    node_metrics().activations_deferred.fetch_add(1, std::memory_order_relaxed);
    return make_error(directory_errc::busy,
                      "node " + st.opts.node + " is loading "
                        + std::to_string(st.opts.activations->limit())
                        + " documents, its limit; try again shortly");
  }
  auto actor = spawn_document(self->system(), doc, st.store, st.opts);
  self->monitor(actor);
  st.doc_of[actor.address()] = doc;
  st.docs.emplace(doc, actor);
  return actor;
}

// Answers a local resolve as a list: the live actor (or none), or with
// `activate` the actor activated if needed.
caf::expected<std::vector<document_actor>>
resolve_list(self_ptr self, const std::string& doc, bool activate) {
  if (!activate)
    return live_document(self, doc);
  auto actor = local_document(self, doc);
  if (!actor)
    return std::move(actor.error());
  return std::vector<document_actor>{std::move(*actor)};
}

// The node that owns `doc` now; ours when nobody else is known.
std::string owner_of(self_ptr self, const std::string& doc) {
  auto& st = self->state;
  return document_owner(st.owners, st.pins, doc, st.opts.node);
}

// The directory of the node that owns `doc`, when that is another node.
std::optional<directory_actor> owner_directory(self_ptr self,
                                               const std::string& doc) {
  auto& st = self->state;
  auto owner = owner_of(self, doc);
  auto i = st.directory_of.find(owner);
  if (owner == st.opts.node || i == st.directory_of.end())
    return std::nullopt;
  return i->second;
}

// After a change of members: local documents now owned elsewhere are
// handed off (they finish their commit and stop; their subscribers resolve
// them again and resume at the new owner).
void hand_off_moved(self_ptr self) {
  auto& st = self->state;
  size_t moved = 0;
  for (auto& [doc, actor] : st.docs)
    if (owner_of(self, doc) != st.opts.node) {
      self->send(actor, release_atom_v);
      ++moved;
    }
  if (moved > 0)
    spdlog::info("event=hand_off docs={} owners={}", moved, st.owners.size());
}

std::vector<placement_pin> pin_list(self_ptr self) {
  std::vector<placement_pin> out;
  for (auto& [doc, node] : self->state.pins)
    out.push_back(placement_pin{doc, node});
  return out;
}

directory_actor::behavior_type
directory(self_ptr self, document_store_actor store, document_options opts,
          uint64_t max_live_docs) {
  self->state.store = std::move(store);
  self->state.opts = opts;
  self->state.max_live_docs = max_live_docs;
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto i = st.doc_of.find(dm.source);
    if (i == st.doc_of.end())
      return;
    st.docs.erase(i->second);
    st.doc_of.erase(i);
  });
  // Shutdown: end every document before the directory itself, so that no
  // document outlives the actor system (CAF 0.17 deadlocks when a pending
  // timer holds the last reference to a live actor at shutdown).
  self->set_exit_handler([=](caf::exit_msg& msg) {
    for (auto& [doc, actor] : self->state.docs)
      self->send_exit(actor, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [=](resolve_atom, const std::string& doc) -> caf::result<document_actor> {
      // Owned elsewhere: that node's directory answers the requester.
      if (auto other = owner_directory(self, doc))
        return self->delegate(*other, resolve_local_atom_v, doc);
      return local_document(self, doc);
    },
    [=](resolve_atom, const std::string& doc,
        bool activate) -> caf::result<std::vector<document_actor>> {
      if (auto other = owner_directory(self, doc))
        return self->delegate(*other, resolve_local_atom_v, doc, activate);
      return resolve_list(self, doc, activate);
    },
    [=](resolve_local_atom,
        const std::string& doc) -> caf::result<document_actor> {
      // Asked by another node that computed us as the owner. Even if our
      // view differs, activating is safe: the fence keeps one writer.
      return local_document(self, doc);
    },
    [=](resolve_local_atom, const std::string& doc,
        bool activate) -> caf::result<std::vector<document_actor>> {
      return resolve_list(self, doc, activate);
    },
    [=](placement_check_atom) {
      // Every second: a document activated here by a node whose view was
      // stale (resolve_local) or left behind by a move is handed off too.
      hand_off_moved(self);
      self->delayed_send(self, placement_check, placement_check_atom_v);
    },
    [=](members_atom, const std::vector<member_info>& members) {
      auto& st = self->state;
      if (!st.checking_placement && members.size() > 1) {
        st.checking_placement = true;
        self->delayed_send(self, placement_check, placement_check_atom_v);
      }
      auto known = std::move(st.directory_of);
      st.owners = placement_owners(members);
      st.directory_of.clear();
      for (auto& m : members) {
        st.directory_of[m.node] = m.directory;
        if (m.node != st.opts.node && known.count(m.node) == 0
            && !st.pins.empty())
          self->send(m.directory, pin_atom_v, pin_list(self));
      }
      hand_off_moved(self);
    },
    [=](pin_atom, const std::string& doc, const std::string& node) {
      // node empty: back to hashing.
      if (node.empty())
        self->state.pins.erase(doc);
      else
        self->state.pins[doc] = node;
      hand_off_moved(self);
      return true;
    },
    [=](pin_atom, const std::vector<placement_pin>& pins) {
      for (auto& p : pins)
        self->state.pins.emplace(p.doc, p.node); // ours are as new
      hand_off_moved(self);
    },
    [=](lookup_atom, const std::string& doc) {
      return live_document(self, doc);
    },
    [=](list_atom) {
      std::vector<document_actor> out;
      for (auto& [doc, actor] : self->state.docs)
        out.push_back(actor);
      return out;
    },
    [=](stats_atom) { return static_cast<uint64_t>(self->state.docs.size()); },
    [=](drain_atom) {
      auto& st = self->state;
      return std::any_of(st.owners.begin(), st.owners.end(),
                         [&](const std::string& n) {
                           return n != st.opts.node;
                         });
    },
    [=](evict_atom) {
      // A lone node's drain: nobody can take the documents, so each writes
      // a snapshot (the next start loads less) and stops.
      auto& st = self->state;
      st.closed = true;
      for (auto& [doc, actor] : st.docs)
        self->request(actor, evict_timeout, evict_atom_v)
          .then([](uint64_t) {}, [](caf::error&) {});
      spdlog::info("event=passivate_all docs={}", st.docs.size());
      return static_cast<uint64_t>(st.docs.size());
    },
  };
}

} // namespace

caf::error make_error(directory_errc x, std::string message) {
  return caf::error{static_cast<uint8_t>(x), directory_error_category,
                    caf::make_message(std::move(message))};
}

bool is(const caf::error& err, directory_errc x) {
  // CAF 0.17.6 crashes on category() of an empty error.
  return err && err.category() == directory_error_category
         && err.code() == static_cast<uint8_t>(x);
}

std::string directory_error_text(const caf::error& err) {
  if (!err || err.category() != directory_error_category)
    return {};
  auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return {};
}

directory_actor spawn_directory(caf::actor_system& sys,
                                document_store_actor store,
                                document_options opts, uint64_t max_live_docs) {
  return sys.spawn(directory, std::move(store), std::move(opts), max_live_docs);
}

} // namespace collab
