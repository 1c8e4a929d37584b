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
// For operators: (lookup_atom, doc) -> std::vector<caf::actor> (the live
// local actor, never activating), (list_atom) -> every live local actor,
// (pin_atom, doc, node) -> bool pins a document to a node (empty node: back
// to hashing; send it to every member's directory).
caf::actor spawn_directory(caf::actor_system& sys, document_store_actor store,
                           document_options opts);

} // namespace collab
