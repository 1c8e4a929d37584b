// Cluster membership: one membership actor per node, the actor every
// cluster connection reaches first (CAF's middleman, BASP, under the cluster
// tunnel: net/cluster_transport.hpp). A node starts with seed addresses,
// joins each seed it can reach, learns the member list from them and
// connects to every member directly (a full mesh: no reliance on CAF's
// automatic connections, which open an extra listener on every interface),
// one dial per pair of nodes (membership.cpp, answer_grace).
// It monitors every member's membership actor: a killed process gives a
// down message within milliseconds, a hung one after the middleman's
// connection timeout. Draining is a visible state: a draining member keeps
// serving, but placement gives it no documents.
//
// Every change of the live member list goes to the local directory as
// (members_atom, std::vector<member_info>), this node included.
//
// Thread-safety: an actor.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/io/middleman_actor.hpp>

#include "actors/cluster_protocol.hpp"

namespace collab {

// Bumped whenever a message crossing nodes changes shape.
constexpr const char* cluster_protocol_version = "collab-cluster/4";

struct membership_options {
  member_info self; // node, host, port of this node
  std::vector<std::string> seeds; // host:port of other nodes; a DNS name is
                                  // dialled at what it resolves to
                                  // (seeds_atom), not by name
  directory_actor directory; // this node's directory
  // What connects to other nodes: the cluster tunnel's middleman actor
  // (net/cluster_transport.hpp); null: CAF's own (tests).
  caf::io::middleman_actor transport;
  // Closes this node's connection to host:port (the cluster tunnel's), so
  // that the next connect dials anew; empty: nothing to close (tests).
  std::function<void(const std::string& host, uint16_t port)> hang_up;
};

// The membership_actor interface (actors/cluster_protocol.hpp): members
// answers every known member, this node included; nodes the same plus the
// members seen down, and this node as `joining` until it reached a seed;
// drain makes this node draining and tells everyone.
membership_actor spawn_membership(caf::actor_system& sys,
                                  membership_options opts);

} // namespace collab
