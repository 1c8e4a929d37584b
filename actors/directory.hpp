// The directory of this node's document actors: resolves a document id to
// its actor, activating it on first use (virtual-actor style). An actor that
// passivates (or dies) is forgotten when its down message arrives, so the
// next resolve activates a fresh one from the store. The cluster issue puts
// placement behind this same `resolve` request.
//
// Thread-safety: an actor.
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/document_actor.hpp"
#include "persistence/document_store.hpp"

namespace collab {

// Answers (resolve_atom, std::string doc) with the document's caf::actor.
caf::actor spawn_directory(caf::actor_system& sys, document_store_actor store,
                           document_options opts);

} // namespace collab
