// CAF's side of the cluster tunnel (net/cluster_tunnel.hpp): BASP (CAF
// 0.17.6's cluster protocol) gets its connections as socketpairs from the
// tunnel and never opens a network socket of its own.
//
//   - Outgoing: a middleman actor (CAF's own middleman_actor_impl, the
//     extension point CAF's OpenSSL module uses) whose connect() makes a
//     socketpair, gives one end to BASP as its scribe and the other to the
//     tunnel to dial; its open() refuses (BASP must not listen). Everything
//     else (the connection cache, the BASP handshake) is CAF's.
//   - Incoming: each authenticated connection is handed to the BASP broker
//     as a scribe with `(publish_atom, scribe_ptr, port, actor, ifs)`, the
//     broker's handler that adds a connection and answers it with the
//     server handshake of the actor published at `port` (CAF 0.17.6,
//     libcaf_io/src/io/basp_broker.cpp).
//
// Thread-safety: both functions may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/io/middleman_actor.hpp>

namespace collab::net {

// Dials host:port for BASP over `fd` (ownership passes on).
using cluster_dial_fn
  = std::function<void(const std::string& host, uint16_t port, int fd)>;

// The middleman actor to connect through (membership_options::transport).
caf::io::middleman_actor spawn_cluster_middleman(caf::actor_system& sys,
                                                 cluster_dial_fn dial);

// Makes `fd` (an authenticated connection) a BASP connection that sees
// `published` as the actor published at `port`. Takes ownership of `fd`.
void hand_to_basp(caf::actor_system& sys, int fd, const caf::actor& published,
                  uint16_t port);

} // namespace collab::net
