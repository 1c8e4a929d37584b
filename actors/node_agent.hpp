// The node agent: one per node, the actor operators' questions reach (over
// the cluster transport: its handle is in every member_info). It answers for
// its own node only; the admin endpoint of whichever node an operator asked
// gathers the answers of every member's agent (docs/ADMIN.md).
//
//   (inspect_atom)                       -> node_status
//   (docs_atom)                          -> std::vector<doc_status>
//   (inspect_atom, doc, uint64_t recent) -> doc_detail   (error: not live here)
//   (conns_atom)                         -> std::vector<conn_status>
//   (lookup_atom, doc)                   -> bool   (live here)
//   (snapshot_now_atom, doc)             -> uint64_t snapshot_rev
//   (evict_atom, doc)                    -> uint64_t rev
//   (pin_atom, doc, node)                -> bool   (this node's directory)
//   (resolve_local_atom, doc)            -> caf::actor (activates here)
//   (kick_atom, session)                 -> bool   (closed here)
//   (drain_atom)                         -> bool
//   (revoke_atom, revocation)            -> uint64_t sockets closed here
//
// Connection actors answer (inspect_atom) -> conn_status and (revoke_atom)
// -> bool (true: it closed its socket, its token being revoked).
//
// What lives in the network layer (sockets, the drain procedure, the token
// check) is reached through the hooks in node_agent_options.
//
// Thread-safety: an actor; the hooks must be thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/messages.hpp"

namespace collab {

struct node_agent_options {
  std::string node;
  std::string cluster_addr;   // host:port, empty for a single node
  uint16_t client_port = 0;
  uint16_t admin_port = 0;
  caf::actor directory;
  std::function<std::vector<caf::actor>()> connections;  // connection actors
  std::function<bool(const std::string& session)> kick;
  std::function<void()> drain;
  // Adds a revocation to this node's list; false when known already.
  std::function<bool(const revocation&)> revoke;
  // The revocation list in Redis, re-read every 2 s (null: none).
  caf::actor redis_admin;
};

caf::actor spawn_node_agent(caf::actor_system& sys, node_agent_options opts);

// The resident set size of this process in bytes (0 when unknown).
uint64_t resident_bytes();

} // namespace collab
