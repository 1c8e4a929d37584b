// The node agent: one per node, the actor operators' questions reach (over
// the cluster transport: its handle is in every member_info). It answers for
// its own node only; the admin endpoint of whichever node an operator asked
// gathers the answers of every member's agent (docs/ADMIN.md).
//
// Its interface is node_agent_actor (actors/inspection_protocol.hpp);
// connection actors answer it through inspectable_connection.
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

#include "actors/cluster_protocol.hpp"
#include "persistence/redis_admin.hpp"

namespace collab {

struct node_agent_options {
  std::string node;
  std::string cluster_addr; // host:port, empty for a single node
  uint16_t client_port = 0;
  uint16_t admin_port = 0;
  directory_actor directory;
  std::function<std::vector<inspectable_connection>()> connections;
  std::function<bool(const std::string& session)> kick;
  std::function<void()> drain;
  // Adds a revocation to this node's list; false when known already.
  std::function<bool(const revocation&)> revoke;
  // The revocation list in Redis, re-read every 2 s (null: none).
  redis_admin_actor redis_admin;
};

node_agent_actor spawn_node_agent(caf::actor_system& sys,
                                  node_agent_options opts);

// The resident set size of this process in bytes (0 when unknown).
uint64_t resident_bytes();

} // namespace collab
