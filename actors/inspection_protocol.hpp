// The inspection protocol: what operators ask a node (collabctl, through
// the admin API of any node: docs/ADMIN.md), answered by that node's agent
// (actors/node_agent.hpp) from its directory, document actors and
// connection actors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/type_id.hpp>
#include <caf/typed_actor.hpp>

#include "actors/core/inspect_helpers.hpp"
#include "actors/core/member_state.hpp"
#include "actors/core/revocation.hpp"
#include "actors/document_protocol.hpp"

CAF_ADD_ATOM(collab, collab, docs_atom, "docs")
CAF_ADD_ATOM(collab, collab, conns_atom, "conns")
CAF_ADD_ATOM(collab, collab, nodes_atom, "nodes")
CAF_ADD_ATOM(collab, collab, lookup_atom, "lookup")
CAF_ADD_ATOM(collab, collab, list_atom, "list")
CAF_ADD_ATOM(collab, collab, pin_atom, "pin")
CAF_ADD_ATOM(collab, collab, kick_atom, "kick")
CAF_ADD_ATOM(collab, collab, revoke_atom, "revoke")
CAF_ADD_ATOM(collab, collab, drain_atom, "drain")
// The node agent's own timers (self-messages; never sent by others).
CAF_ADD_ATOM(collab, collab, sample_atom, "sample")
CAF_ADD_ATOM(collab, collab, revocation_poll_atom, "revpoll")

namespace collab {

struct node_status {
  std::string node;
  member_state state = member_state::up;
  std::string cluster_addr;
  uint16_t client_port = 0;
  uint16_t admin_port = 0;
  int64_t uptime_ms = 0;
  int64_t connections = 0;
  int64_t sessions = 0;
  int64_t documents = 0;
  double ops_per_s = 0;
  uint64_t rss_bytes = 0;
  uint64_t ops_committed = 0;
  std::string version;
};

struct conn_status {
  std::string node;
  std::string session;
  std::string user;
  std::string client;
  std::string remote;
  std::vector<std::string> docs;
  uint64_t send_queue_bytes = 0;
  uint64_t messages_in = 0;
  uint64_t messages_out = 0;
  int64_t connected_ms = 0;
};

// What the node agent sees of a connection actor (net/connection_actor.hpp):
// its status, and a revocation check (true: it closed its socket).
using inspectable_connection
  = caf::typed_actor<caf::replies_to<inspect_atom>::with<conn_status>,
                     caf::replies_to<revoke_atom>::with<bool>,
                     caf::reacts_to<kick_atom>>;

// One per node: answers for its own node only (actors/node_agent.hpp).
using node_agent_actor = caf::typed_actor<
  caf::replies_to<inspect_atom>::with<node_status>,
  caf::replies_to<docs_atom>::with<std::vector<doc_status>>,
  caf::replies_to<inspect_atom, std::string, uint64_t>::with<doc_detail>,
  caf::replies_to<conns_atom>::with<std::vector<conn_status>>,
  caf::replies_to<lookup_atom, std::string>::with<bool>, // live here
  caf::replies_to<snapshot_now_atom, std::string>::with<uint64_t>,
  caf::replies_to<evict_atom, std::string>::with<uint64_t>,
  caf::replies_to<pin_atom, std::string, std::string>::with<bool>,
  caf::replies_to<resolve_local_atom, std::string>::with<document_actor>,
  caf::replies_to<kick_atom, std::string>::with<bool>,
  caf::replies_to<drain_atom>::with<bool>,
  caf::replies_to<revoke_atom, revocation>::with<uint64_t>, // sockets closed
  // Its own timers.
  caf::reacts_to<sample_atom>, caf::reacts_to<revocation_poll_atom>>;

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return detail::inspect_with_enum(f, x.state, "node_status", x.node,
                                   x.cluster_addr, x.client_port, x.admin_port,
                                   x.uptime_ms, x.connections, x.sessions,
                                   x.documents, x.ops_per_s, x.rss_bytes,
                                   x.ops_committed, x.version);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, conn_status& x) {
  return f(caf::meta::type_name("conn_status"), x.node, x.session, x.user,
           x.client, x.remote, x.docs, x.send_queue_bytes, x.messages_in,
           x.messages_out, x.connected_ms);
}

} // namespace collab
