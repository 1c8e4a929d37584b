// collabd's cluster side (only with a cluster port): the tunnel that owns
// the cluster port (it authenticates every connection and checks every
// frame), the middleman that hands BASP its socketpairs, and the membership
// actor; and their stop at exit.
//
// The tunnel runs on an io_context of its own, run by one thread of its
// own ("collabd.tunnel"), not on the node's client io_context: a cluster
// frame must not wait behind the writes of a batch to thousands of client
// sockets (bench/BENCHMARKS.md, "Cross-node delivery").
//
// Thread-safety: main's thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <caf/actor_system.hpp>
#include <caf/io/middleman_actor.hpp>

#include "config/node_config.hpp"
#include "net/cluster_tunnel.hpp"
#include "net/server_context.hpp"

namespace collabd {

struct cluster {
  using work_guard
    = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;

  cluster() = default;
  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;
  ~cluster(); // stops and joins the thread if stop_cluster() did not

  // Declared in the order they must be destroyed in, last first: the
  // tunnel's sockets before their io_context.
  boost::asio::io_context ioc{1}; // the tunnel's I/O
  std::optional<work_guard> work; // keeps `thread` in ioc.run()
  std::unique_ptr<collab::net::cluster_tunnel> tunnel;
  std::thread thread; // runs `ioc`
  caf::io::middleman_actor transport;
};

// Opens the cluster port, spawns the transport and ctx.membership, and
// starts the tunnel's thread. `client_port`: the port the client listener
// got. False (logged) when the cluster port cannot be opened.
bool start_cluster(caf::actor_system& sys, const collab::node_config& cfg,
                   collab::net::server_context& ctx, uint16_t client_port,
                   bool cluster_tls, cluster& cl);

// In this order: stops the actors that use the tunnel (ctx.membership,
// which hangs up through it, and the transport, which dials through it) and
// waits until they are gone; then the tunnel (its port closes) and its
// thread. Nothing without a cluster.
void stop_cluster(caf::actor_system& sys, collab::net::server_context& ctx,
                  cluster& cl);

} // namespace collabd
