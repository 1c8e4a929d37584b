#include "actors/relay.hpp"

#include <string>
#include <unordered_map>
#include <unordered_set>

#include <caf/all.hpp>

#include "actors/metrics.hpp"

namespace collab {
namespace {

struct relay_state {
  // The registered connections of each document, and of each connection its
  // handle and documents (to forget it when it ends).
  struct connection {
    document_subscriber handle;
    std::unordered_set<std::string> docs;
  };
  std::unordered_map<std::string, std::unordered_set<caf::actor_addr>> subs;
  std::unordered_map<caf::actor_addr, connection> conns;
  static inline const char* name = "relay";
};

using self_ptr = relay_actor::stateful_pointer<relay_state>;

void forget(self_ptr self, const std::string& doc,
            const caf::actor_addr& conn) {
  auto& st = self->state;
  auto i = st.subs.find(doc);
  if (i != st.subs.end()) {
    i->second.erase(conn);
    if (i->second.empty())
      st.subs.erase(i);
  }
  auto j = st.conns.find(conn);
  if (j == st.conns.end())
    return;
  j->second.docs.erase(doc);
  if (j->second.docs.empty()) {
    st.conns.erase(j);
    self->demonitor(conn);
  }
}

template<class Event>
void forward(self_ptr self, const std::string& doc, const Event& ev) {
  auto& st = self->state;
  auto i = st.subs.find(doc);
  if (i == st.subs.end())
    return;
  for (auto& conn : i->second)
    self->send(st.conns.at(conn).handle, ev);
  node_metrics().relay_deliveries.fetch_add(i->second.size(),
                                            std::memory_order_relaxed);
}

relay_actor::behavior_type relay(self_ptr self) {
  self->set_down_handler([=](caf::down_msg& dm) {
    auto j = self->state.conns.find(dm.source);
    if (j == self->state.conns.end())
      return;
    auto docs = j->second.docs; // forget() erases the entry with the last
    for (auto& doc : docs)
      forget(self, doc, dm.source);
  });
  return {
    [=](ops_event& ev) { forward(self, ev.batch.get().doc, ev); },
    [=](presences_event& ev) { forward(self, ev.batch.get().doc, ev); },
    [=](relay_join_atom, std::string& doc, document_subscriber& conn) {
      auto& st = self->state;
      auto addr = conn.address();
      auto& entry = st.conns[addr];
      if (!entry.handle) {
        self->monitor(conn);
        entry.handle = conn;
      }
      entry.docs.insert(doc);
      st.subs[doc].insert(addr);
    },
    [=](relay_leave_atom, std::string& doc, document_subscriber& conn) {
      forget(self, doc, conn.address());
    },
  };
}

} // namespace

relay_actor spawn_relay(caf::actor_system& sys) {
  return sys.spawn(relay);
}

} // namespace collab
