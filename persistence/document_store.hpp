// The document store: where a document actor's state is made durable. It is
// an actor interface so that an implementation may batch commits across
// documents and do blocking I/O on its own threads; the document actor only
// ever sends requests and never blocks.
//
// Contract (DESIGN.md): `commit` answers only once every op in the batch is
// durable, and fails (leaving no op of the batch durable) when it cannot.
// Revisions of one document arrive gapless and in order.
//
// Implementations: memory_store (tests, single-node development). PostgreSQL
// arrives with the durability issue behind the same interface.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/typed_actor.hpp>

#include "actors/messages.hpp"

namespace collab {

using document_store_actor = caf::typed_actor<
  // The snapshot to start `doc` from, with its last `tail` ops.
  caf::replies_to<load_atom, std::string, uint64_t>::with<doc_snapshot>,
  // Makes a batch of consecutive ops of one document durable; answers the
  // highest durable revision.
  caf::replies_to<commit_atom, std::string, std::vector<committed_op>>::with<
    uint64_t>,
  // Committed ops from+1 .. from+limit (fewer past the end).
  caf::replies_to<read_ops_atom, std::string, uint64_t,
                  uint64_t>::with<std::vector<committed_op>>,
  // The op (client, seq) committed as, or an empty list when there is none.
  caf::replies_to<find_seq_atom, std::string, std::string,
                  uint64_t>::with<std::vector<committed_op>>>;

} // namespace collab
