// The document store: where a document actor's state is made durable. It is
// an actor interface so that an implementation may batch commits across
// documents and do blocking I/O on its own threads; the document actor only
// ever sends requests and never blocks.
//
// Contract (DESIGN.md):
// - `load` makes the caller the document's one writer: it bumps the fence
//   epoch, and every later commit must carry that epoch; a commit with an
//   older epoch fails with store_errc::fenced and changes nothing.
// - `commit` answers only once every op in the batch is durable, and fails
//   (leaving no op of the batch durable) when it cannot: unavailable, fenced.
//   Revisions of one document arrive gapless and in order; (client, seq)
//   is unique per document.
// - `read_ops` fails with store_errc::compacted when `from` is older than the
//   op log still holds.
// Errors are store_error.hpp's category.
//
// Implementations: memory_store (tests, single node without PostgreSQL),
// pg_store (PostgreSQL, group commit across documents).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/typed_actor.hpp>

#include "actors/messages.hpp"
#include "persistence/store_error.hpp"

namespace collab {

using document_store_actor = caf::typed_actor<
  // (doc, node, tail): takes ownership for `node`, answers the state to
  // start from with the last `tail` ops.
  caf::replies_to<load_atom, std::string, std::string,
                  uint64_t>::with<doc_snapshot>,
  // (doc, epoch, ops): makes consecutive ops durable; answers the highest
  // durable revision.
  caf::replies_to<commit_atom, std::string, uint64_t,
                  std::vector<committed_op>>::with<uint64_t>,
  // (doc, from, limit): committed ops from+1 .. from+limit (fewer past the end).
  caf::replies_to<read_ops_atom, std::string, uint64_t,
                  uint64_t>::with<std::vector<committed_op>>,
  // (doc, client, seq): the op (client, seq) committed as, or an empty list.
  caf::replies_to<find_seq_atom, std::string, std::string,
                  uint64_t>::with<std::vector<committed_op>>,
  // (doc, epoch, rev, text): stores a snapshot of the text at `rev`.
  caf::replies_to<save_snapshot_atom, std::string, uint64_t, uint64_t,
                  ot::rope>::with<bool>>;

} // namespace collab
