#include "actors/relay.hpp"

#include <string>
#include <unordered_map>
#include <unordered_set>

#include <caf/all.hpp>

#include "actors/metrics.hpp"

namespace collab {
namespace {

struct relay_state {
  // The registered connections of each document, and the documents of each
  // connection (to forget it when it ends).
  std::unordered_map<std::string, std::unordered_set<caf::actor_addr>> subs;
  std::unordered_map<caf::actor_addr, std::unordered_set<std::string>> docs_of;
  std::unordered_map<caf::actor_addr, document_subscriber> handles;
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
  auto j = st.docs_of.find(conn);
  if (j == st.docs_of.end())
    return;
  j->second.erase(doc);
  if (j->second.empty()) {
    st.docs_of.erase(j);
    st.handles.erase(conn);
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
    self->send(st.handles[conn], ev);
  node_metrics().relay_deliveries.fetch_add(i->second.size(),
                                            std::memory_order_relaxed);
}

relay_actor::behavior_type relay(self_ptr self) {
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto j = st.docs_of.find(dm.source);
    if (j == st.docs_of.end())
      return;
    auto docs = std::move(j->second);
    for (auto& doc : docs)
      forget(self, doc, dm.source);
    st.docs_of.erase(dm.source);
    st.handles.erase(dm.source);
  });
  return {
    [=](ops_event& ev) { forward(self, ev.batch.get().doc, ev); },
    [=](presences_event& ev) { forward(self, ev.batch.get().doc, ev); },
    [=](relay_join_atom, std::string& doc, document_subscriber& conn) {
      auto& st = self->state;
      auto addr = conn.address();
      if (st.docs_of.count(addr) == 0) {
        self->monitor(conn);
        st.handles[addr] = conn;
      }
      st.docs_of[addr].insert(doc);
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
