// The node's relay for batched delivery (docs/PROTOCOL.md, hello `batch`):
// a document sends each batch once to the relay of every node that has
// batched subscribers (join_request::relay), and the relay hands it to the
// connection actors of this node registered for that document. A crowded
// document spread over three nodes thus sends three cluster messages per
// batch, not one per subscriber, and each node decodes the batch once.
//
// Connection actors register when they join a document with batching
// (relay_join_atom) and unregister when they leave it (relay_leave_atom);
// the relay monitors them, so one that ends is forgotten. A connection
// drops what it has seen already and what comes before its join is
// answered, so the relay needs to know nothing of revisions.
//
// Thread-safety: an actor.
#pragma once

#include <caf/actor_system.hpp>

#include "actors/document_protocol.hpp"

namespace collab {

relay_actor spawn_relay(caf::actor_system& sys);

} // namespace collab
