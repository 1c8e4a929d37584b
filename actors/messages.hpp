// Every message between actors, by protocol (each in its own header):
//
//   actors/document_protocol.hpp    subscriber <-> document actor
//   actors/cluster_protocol.hpp     membership, directory (between nodes)
//   actors/inspection_protocol.hpp  operators -> node agent
//   persistence/document_store.hpp  document actor -> document store
//
// The plain types every layer shares are in actors/core/. Every type of
// these protocols is registered here under the same name on every node
// (CAF 0.17.6 serialises by registered name; its type-ID blocks are not
// used yet), because these messages cross nodes.
#pragma once

#include <caf/actor_system_config.hpp>

#include "actors/cluster_protocol.hpp"
#include "actors/core/doc_snapshot.hpp"
#include "actors/document_protocol.hpp"
#include "actors/inspection_protocol.hpp"

namespace collab {

void register_message_types(caf::actor_system_config& cfg);

} // namespace collab
