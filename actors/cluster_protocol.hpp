// The cluster protocol: what the nodes of a cluster say to each other
// (membership, placement, finding a document at its owner). Every type
// crosses nodes: registered in actors/messages.hpp, serialisable with
// `inspect`. A change of shape bumps cluster_protocol_version
// (actors/membership.hpp).
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
#include "actors/document_protocol.hpp"
#include "actors/inspection_protocol.hpp"

CAF_ADD_ATOM(collab, collab, member_join_atom, "mjoin")
CAF_ADD_ATOM(collab, collab, member_update_atom, "mupdate")
CAF_ADD_ATOM(collab, collab, members_atom, "members")
CAF_ADD_ATOM(collab, collab, seeds_atom, "seeds")
CAF_ADD_ATOM(collab, collab, stats_atom, "stats")
// Own timers (self-messages): membership dials a node again, the directory
// checks placement again.
CAF_ADD_ATOM(collab, collab, dial_atom, "dial")
CAF_ADD_ATOM(collab, collab, placement_check_atom, "plcheck")

namespace collab {

struct member_info;
struct placement_pin;

// One per node, the actor every cluster connection reaches first
// (actors/membership.hpp).
using membership_actor = caf::typed_actor<
  caf::replies_to<member_join_atom, member_info>::with<
    std::vector<member_info>>, // the joiner is a member; here are the others
  caf::reacts_to<member_update_atom, member_info>, // a newcomer, a drain
  caf::reacts_to<drain_atom>,
  caf::replies_to<members_atom>::with<std::vector<member_info>>,
  caf::replies_to<nodes_atom>::with<std::vector<member_info>>, // + the lost
  caf::reacts_to<dial_atom, std::string, uint16_t>,
  // The addresses ("ip:port") a DNS seed resolves to now (collabd's seed
  // resolver, every seed_refresh): those not yet members are dialled.
  caf::reacts_to<seeds_atom, std::vector<std::string>>>;

// One per node: finds (and activates) documents, here or at their owner
// (actors/directory.hpp).
using directory_actor = caf::typed_actor<
  caf::replies_to<resolve_atom, std::string>::with<document_actor>,
  caf::replies_to<resolve_atom, std::string, bool>::with< // activate?
    std::vector<document_actor>>,
  caf::replies_to<resolve_local_atom, std::string>::with<document_actor>,
  caf::replies_to<resolve_local_atom, std::string,
                  bool>::with<std::vector<document_actor>>,
  caf::reacts_to<members_atom, std::vector<member_info>>,
  caf::replies_to<pin_atom, std::string, std::string>::with<bool>,
  caf::reacts_to<pin_atom, std::vector<placement_pin>>,
  caf::replies_to<lookup_atom, std::string>::with<std::vector<document_actor>>,
  caf::replies_to<list_atom>::with<std::vector<document_actor>>,
  caf::replies_to<stats_atom>::with<uint64_t>, // live documents
  // The node drains: true when another member can own its documents (they
  // move as placement changes), false when it is alone.
  caf::replies_to<drain_atom>::with<bool>,
  // Passivate every local document (pending commits, a snapshot, stop) and
  // activate none from now on; answers how many were live.
  caf::replies_to<evict_atom>::with<uint64_t>,
  caf::reacts_to<placement_check_atom>>;

// What a node tells the others about itself.
struct member_info {
  std::string node; // COLLAB_NODE_ID, unique in the cluster
  std::string host; // cluster address others connect to
  uint16_t port = 0;
  member_state state = member_state::up;
  std::string version; // nodes of different versions refuse each other
  membership_actor membership; // monitored: node down
  directory_actor directory; // where documents it owns are resolved
  node_agent_actor agent; // answers operators' questions
  uint16_t client_port = 0; // where clients connect (HTTP + WebSocket)
  uint16_t admin_port = 0; // the admin API, 0 when off
};

// An operator's override of placement: `doc` lives on `node` while that
// node is up (collabctl move).
struct placement_pin {
  std::string doc;
  std::string node;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_info& x) {
  return detail::inspect_with_enum(f, x.state, "member_info", x.node, x.host,
                                   x.port, x.version, x.membership, x.directory,
                                   x.agent, x.client_port, x.admin_port);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, placement_pin& x) {
  return f(caf::meta::type_name("placement_pin"), x.doc, x.node);
}

} // namespace collab
