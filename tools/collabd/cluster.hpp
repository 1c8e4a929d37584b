// collabd's cluster side (only with a cluster port): the tunnel that owns
// the cluster port (it authenticates every connection and checks every
// frame), the middleman that hands BASP its socketpairs, the membership
// actor and the resolver of DNS seeds; and their stop at exit.
//
// Thread-safety: main's thread only.
#pragma once

#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <caf/actor_system.hpp>
#include <caf/io/middleman_actor.hpp>

#include "config/node_config.hpp"
#include "net/cluster_tunnel.hpp"
#include "net/server_context.hpp"
#include "seed_resolver.hpp"

namespace collabd {

struct cluster {
  std::unique_ptr<collab::net::cluster_tunnel> tunnel;
  caf::io::middleman_actor transport;
  std::unique_ptr<seed_resolver> seeds; // only with DNS names among them
};

// Opens the cluster port and spawns the transport and ctx.membership.
// `client_port`: the port the client listener got. False (logged) when the
// cluster port cannot be opened.
bool start_cluster(caf::actor_system& sys, boost::asio::io_context& ioc,
                   const collab::node_config& cfg,
                   collab::net::server_context& ctx, uint16_t client_port,
                   bool cluster_tls, cluster& cl);

// Kills the transport and waits until it is gone (before the tunnel it
// dials through). Nothing without a cluster.
void stop_transport(caf::actor_system& sys, cluster& cl);

} // namespace collabd
