// The document actor: the one writer of one document. It orders edits
// (transform over the history since the op's base, apply, assign the next
// revision), makes them durable through the document store, and only then
// acks the sender and broadcasts to every other subscriber (DESIGN.md,
// contract 1). It also keeps subscribers and their ephemeral presence.
//
//   loading --(store answers load)--> running --(idle, no subscribers)-->
//   snapshot, quit
//
// Loading makes this actor the document's one writer (the store bumps the
// fence epoch); a commit refused as `fenced` means another owner took over:
// the actor stops, and its subscribers' connections resolve the document
// again. Snapshots are written every `snapshot_every` ops and after
// `snapshot_quiet` without commits; they only shorten activation.
//
// Revisions: durable_rev <= head_rev. Ops in (durable_rev, head_rev] are
// applied and ordered, but not yet durable, so nobody hears of them; new ops
// are transformed over them. A failed commit rolls head back to durable and
// answers `unavailable` for every op that was not made durable.
//
// Thread-safety: an actor; state is touched only by its own handlers.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/duration.hpp>

#include "persistence/document_store.hpp"
#include "persistence/redis_op_log.hpp"

namespace collab {

struct document_options {
  std::string node;                     // this node's id (the fence owner)
  uint64_t history_window = 10000;      // ops kept in memory for transform
  uint64_t max_doc_bytes = 64ull << 20; // too_large above
  std::chrono::milliseconds idle_timeout{60000};
  uint64_t snapshot_every = 1000;       // ops between snapshots
  std::chrono::milliseconds snapshot_quiet{5000};  // or after this quiet
  // The replay log (Redis); a null handle: resume reads the store.
  redis_op_log_actor op_log;
  std::chrono::milliseconds op_log_timeout{300};
  // Both stores always answer (the PostgreSQL store bounds every request
  // with its statement/queue timeouts and a watchdog; a local actor that dies
  // answers request_receiver_down at once), so no timer per commit.
  caf::duration store_timeout = caf::infinite;
};

caf::actor spawn_document(caf::actor_system& sys, std::string doc,
                          document_store_actor store, document_options opts);

} // namespace collab
