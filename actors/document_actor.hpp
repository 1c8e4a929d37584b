// The document actor: the one writer of one document. It orders edits
// (transform over the history since the op's base, apply, assign the next
// revision), makes them durable through the document store, and only then
// acks the sender and broadcasts to every other subscriber (docs/DESIGN.md,
// contract 1). It also keeps subscribers and their ephemeral presence.
//
//   loading --(store answers load)--> running --(idle, no subscribers)-->
//   snapshot, quit
//   running --(release_atom: hand-off; evict_atom)--> releasing
//   --(nothing pending)--> quit
//
// Each phase is a behaviour listing every message (document_actor.cpp); the
// sequencing rules are a plain class, document_sequencer.hpp.
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
// answers `unavailable` for every op that was not made durable. A commit the
// store refuses for its data (`rejected`) is repeated one op at a time, so
// that only the refused op is answered (`internal`, with a correlation id)
// and the others commit.
//
// Isolation (docs/DESIGN.md, contract 6): an op is bounded by its components
// and by the work of transforming it over the history (op_history.hpp); the
// history by ops and bytes, charged to the node's memory budget (a new op it
// cannot charge is answered `overloaded`); a client id belongs to the user
// who made its ops (or is joined with it): others get `forbidden`. Presence
// goes out at once and then at most once per tick, the last per session
// winning; a resume reads the store a page at a time.
//
// Thread-safety: an actor; state is touched only by its own handlers.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/duration.hpp>

#include "actors/activation_gate.hpp"
#include "actors/document_protocol.hpp"
#include "actors/memory_budget.hpp"
#include "persistence/document_store.hpp"
#include "persistence/redis_op_log.hpp"

namespace collab {

struct document_options {
  std::string node; // this node's id (the fence owner)
  uint64_t history_window = 10000; // ops kept in memory for transform
  uint64_t history_bytes = 64ull << 20; // and bytes of them (an estimate)
  uint64_t max_doc_bytes = 64ull << 20; // too_large above
  uint64_t max_op_components = 20000; // too_large above
  uint64_t max_transform_work = 1'500'000; // rev_too_old above (units:
                                           // op_history.hpp)
  // Charged with the history's bytes; null: no accounting.
  std::shared_ptr<memory_budget> budget;
  // Documents loading at once on this node: the directory takes a slot
  // before it spawns a document, which gives it back once loaded (null: no
  // bound; activation_gate.hpp).
  std::shared_ptr<activation_gate> activations;
  // Presence is sent at once, then at most once per tick (0: always at once).
  std::chrono::milliseconds presence_tick{50};
  // Batched delivery: a batch goes out at most once per tick, a tick of
  // (batched subscribers / batch_frames_per_s) seconds, at most
  // batch_tick_max: the frames per second of one document stay bounded
  // however crowded it is, and a small document's batches go out at once.
  // At 150 ms a crowd's p95 delivery stays within issue 12's 200 ms while a
  // document of 10,000 subscribers costs 67,000 frames a second, not the
  // 200,000 a 50 ms tick would (bench/BENCHMARKS.md, "Crowded documents").
  std::chrono::milliseconds batch_tick_max{150};
  uint64_t batch_frames_per_s = 20000;
  uint64_t resume_page_ops = 1000; // ops per store read while resuming
  std::chrono::milliseconds idle_timeout{60000};
  uint64_t snapshot_every = 1000; // ops between snapshots
  std::chrono::milliseconds snapshot_quiet{5000}; // or after this quiet
  // The replay log (Redis); a null handle: resume reads the store.
  redis_op_log_actor op_log;
  std::chrono::milliseconds op_log_timeout{300};
  // Both stores always answer (the PostgreSQL store bounds every request
  // with its statement/queue timeouts and a watchdog; a local actor that dies
  // answers request_receiver_down at once), so no timer per commit.
  caf::duration store_timeout = caf::infinite;
};

document_actor spawn_document(caf::actor_system& sys, std::string doc,
                              document_store_actor store,
                              document_options opts);

} // namespace collab
