#include "actors/directory.hpp"

#include <unordered_map>

#include <caf/all.hpp>

namespace collab {
namespace {

struct directory_state {
  document_store_actor store;
  document_options opts;
  std::unordered_map<std::string, caf::actor> docs;
  std::unordered_map<caf::actor_addr, std::string> doc_of;
  static inline const char* name = "directory";
};

caf::behavior directory(caf::stateful_actor<directory_state>* self,
                        document_store_actor store, document_options opts) {
  self->state.store = std::move(store);
  self->state.opts = opts;
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
    [=](resolve_atom, const std::string& doc) {
      auto& st = self->state;
      auto& actor = st.docs[doc];
      if (!actor) {
        actor = spawn_document(self->system(), doc, st.store, st.opts);
        self->monitor(actor);
        st.doc_of[actor.address()] = doc;
      }
      return actor;
    },
    [=](stats_atom) { return static_cast<uint64_t>(self->state.docs.size()); },
  };
}

} // namespace

caf::actor spawn_directory(caf::actor_system& sys, document_store_actor store,
                           document_options opts) {
  return sys.spawn(directory, std::move(store), opts);
}

} // namespace collab
