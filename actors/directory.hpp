// The directory of this node's document actors: resolves a document id to
// its actor, activating it on first use (virtual-actor style). An actor that
// passivates (or dies) is forgotten when its down message arrives, so the
// next resolve activates a fresh one from the store. The cluster issue puts
// placement behind this same `resolve` request. At most `max_live_docs`
// document actors live on a node (docs/DESIGN.md, contract 6): a resolve that
// would activate one more fails with directory_errc::full, and the live
// ones go on serving.
//
// Thread-safety: an actor.
#pragma once

#include <cstdint>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>

#include "actors/cluster_protocol.hpp"
#include "actors/document_actor.hpp"
#include "persistence/document_store.hpp"

namespace collab {

// Errors a resolve fails with (a CAF error category of our own).
//   full  the owner node has max_live_docs document actors live, so it
//         activates no other now; connections answer `unavailable`
//   busy  the owner node is loading max_concurrent_activations documents
//         (activation_gate.hpp); connections ask again shortly
//   closed  the node drains alone and passivated its documents (evict);
//         it activates none until it exits
enum class directory_errc : uint8_t {
  full = 1,
  busy = 2,
  closed = 3,
};

constexpr caf::atom_value directory_error_category = caf::atom("collab_dir");

caf::error make_error(directory_errc x, std::string message);
bool is(const caf::error& err, directory_errc x);
// The text a directory error carries, for the client (empty if none).
std::string directory_error_text(const caf::error& err);

// The directory_actor interface (actors/cluster_protocol.hpp): resolve
// answers the document's actor, activated at its owner if needed
// (directory_errc::full: the owner may not); resolve with `activate` false
// answers the live actor wherever it lives in the cluster, or none (for
// reads that must not activate, HTTP); lookup and list answer live local
// actors only (operators); pin sets an operator's placement override (empty
// node: back to hashing; send it to every member's directory).
// `max_live_docs` 0: no bound.
directory_actor
spawn_directory(caf::actor_system& sys, document_store_actor store,
                document_options opts, uint64_t max_live_docs = 0);

} // namespace collab
