// An in-memory document store: every op and the current text of every
// document, in this process. For tests and single-node development; it is
// also the reference behaviour the PostgreSQL store must match, bounds
// (store_limits.hpp) included.
//
// Thread-safety: an actor; its state is touched only by its own handlers.
#pragma once

#include <caf/actor_system.hpp>

#include "persistence/document_store.hpp"

namespace collab {

document_store_actor spawn_memory_store(caf::actor_system& sys,
                                        store_limits limits = {});

} // namespace collab
