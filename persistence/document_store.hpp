// The document store: where a document actor's state is made durable. It is
// an actor interface so that an implementation may batch commits across
// documents and do blocking I/O on its own threads; the document actor only
// ever sends requests and never blocks.
//
// Contract (docs/DESIGN.md):
// - `load` makes the caller the document's one writer: it bumps the fence
//   epoch, and every later commit must carry that epoch; a commit with an
//   older epoch fails with store_errc::fenced and changes nothing.
// - `commit` answers only once every op in the batch is durable, and fails
//   (leaving no op of the batch durable) when it cannot: unavailable, fenced.
//   Revisions of one document arrive gapless and in order; (client, seq)
//   is unique per document.
// - `commit` fails with store_errc::rejected when the store refuses that
//   document's data (retrying will not help); other documents' commits are
//   never failed by it.
// - `read_ops` fails with store_errc::compacted when `from` is older than the
//   op log still holds.
// - No single answer is unbounded (store_limits.hpp): `load`'s tail is cut
//   to history_bytes, `read_ops` answers at most read_max_ops ops and stops
//   after read_max_bytes (but answers at least one op when there is one).
// - `peek` reads without taking ownership and creates nothing: a document
//   that does not exist is rev 0 and empty.
// - (client, seq) ops carry the user who made them; `load`'s clients and
//   `find_seq` say it even once the op itself was removed by retention
//   (empty: recorded before the store kept it, so unowned).
// Errors are store_error.hpp's category.
//
// Implementations: memory_store (tests, single node without PostgreSQL),
// pg_store (PostgreSQL, group commit across documents).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/type_id.hpp>
#include <caf/typed_actor.hpp>

#include "actors/core/committed_op.hpp"
#include "actors/core/doc_snapshot.hpp"
#include "actors/ot/rope.hpp"
#include "persistence/store_error.hpp"
#include "persistence/store_limits.hpp"

// The store protocol's atoms (one meaning each).
CAF_ADD_ATOM(collab, collab, load_atom, "load")
CAF_ADD_ATOM(collab, collab, commit_atom, "commit")
CAF_ADD_ATOM(collab, collab, read_ops_atom, "readops")
CAF_ADD_ATOM(collab, collab, find_seq_atom, "findseq")
CAF_ADD_ATOM(collab, collab, peek_atom, "peek")
CAF_ADD_ATOM(collab, collab, save_snapshot_atom, "savesnap")

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
  // (doc, from, limit): committed ops from+1 .. from+limit (fewer past the
  // end, or over the store's per-read bounds).
  caf::replies_to<read_ops_atom, std::string, uint64_t,
                  uint64_t>::with<std::vector<committed_op>>,
  // (doc): the durable state without taking ownership: epoch 0, rev and text
  // of the latest snapshot, tail = every op after it (apply them for the
  // current text), oldest_rev. Unknown document: rev 0, empty, nothing
  // created.
  caf::replies_to<peek_atom, std::string>::with<doc_snapshot>,
  // (doc, client, seq): the op (client, seq) committed as, or an empty list.
  caf::replies_to<find_seq_atom, std::string, std::string,
                  uint64_t>::with<std::vector<committed_op>>,
  // (doc, epoch, rev, text): stores a snapshot of the text at `rev`.
  caf::replies_to<save_snapshot_atom, std::string, uint64_t, uint64_t,
                  ot::rope>::with<bool>>;

} // namespace collab
