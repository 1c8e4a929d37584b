// collabd's storage: the document store (PostgreSQL when configured, the
// truth; else memory), the Redis op log (the fast path of resume, never the
// durability path) and the Redis admin actor, their /metrics counters and
// /readyz check, and their orderly stop at exit.
//
// Thread-safety: main's thread only.
#pragma once

#include <memory>

#include <caf/actor_system.hpp>

#include "actors/directory.hpp"
#include "actors/memory_budget.hpp"
#include "config/node_config.hpp"
#include "net/server_context.hpp"
#include "persistence/pg_store.hpp"
#include "persistence/redis_op_log.hpp"

namespace collabd {

struct storage {
  std::shared_ptr<collab::pg_status> pg_status; // null: the memory store
  collab::redis_options redis_opts;
  collab::redis_op_log op_log;
};

// Spawns the store into ctx.store, the op log into `st` and (with a Redis
// URL) the Redis admin actor into ctx.redis_admin. False (logged) when the
// Redis options are refused.
bool start_storage(caf::actor_system& sys, const collab::node_config& cfg,
                   collab::net::server_context& ctx, storage& st);

// The document actors' options: limits from `cfg`, the node's memory
// budget, the op log when Redis is configured.
collab::document_options
document_options_of(const collab::node_config& cfg,
                    std::shared_ptr<collab::memory_budget> budget,
                    const storage& st);

// Flushes what is queued: the op log appends while Redis answers, the
// PostgreSQL store commits; a memory store just exits.
void stop_storage(collab::net::server_context& ctx, storage& st);

} // namespace collabd
