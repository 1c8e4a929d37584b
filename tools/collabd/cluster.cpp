// collabd's cluster side (cluster.hpp).
#include "cluster.hpp"

#include <limits>
#include <string>

#include <boost/asio/ip/address.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/membership.hpp"
#include "net/cluster_transport.hpp"

namespace collabd {

namespace {

// How often seeds that are DNS names are resolved again (docs/CONFIG-KEYS.md).
constexpr auto seed_refresh = std::chrono::seconds(30);

// The largest BASP payload a cluster connection may announce: configured,
// else room for two documents of max_doc_bytes (a snapshot and its ops)
// plus 1 MiB.
uint64_t cluster_frame_limit(const collab::node_config& cfg) {
  if (cfg.cluster_max_frame_bytes != 0)
    return cfg.cluster_max_frame_bytes;
  constexpr uint64_t slack = 1u << 20;
  auto cap = std::numeric_limits<uint64_t>::max();
  if (cfg.max_doc_bytes > (cap - slack) / 2)
    return cap;
  return 2 * cfg.max_doc_bytes + slack;
}

// How cluster peers prove themselves, for the log.
const char* cluster_auth_mode(bool tls, const std::string& key) {
  if (tls)
    return key.empty() ? "tls" : "tls+key";
  return key.empty() ? "none" : "key";
}

} // namespace

bool start_cluster(caf::actor_system& sys, boost::asio::io_context& ioc,
                   const collab::node_config& cfg,
                   collab::net::server_context& ctx, uint16_t client_port,
                   bool cluster_tls, cluster& cl) {
  auto& tunnel = cl.tunnel;
  collab::membership_options mopts;
  mopts.self.node = cfg.node_id;
  mopts.self.host = cfg.cluster_bind;
  mopts.self.port = cfg.cluster_port;
  mopts.seeds = cfg.seeds;
  mopts.self.agent = ctx.agent;
  mopts.self.client_port = client_port;
  mopts.self.admin_port = cfg.admin_port;
  mopts.directory = ctx.directory;
  // The cluster port is the tunnel's: it authenticates every connection
  // and checks every frame; BASP gets socketpairs and listens on nothing.
  collab::net::cluster_tunnel_options topts;
  if (cluster_tls)
    topts.tls = collab::net::cluster_tls_files{
      cfg.cluster_tls_cert, cfg.cluster_tls_key, cfg.cluster_tls_ca};
  topts.key = cfg.cluster_key;
  topts.max_frame_bytes = cluster_frame_limit(cfg);
  try {
    boost::asio::ip::tcp::endpoint ep{
      boost::asio::ip::make_address(cfg.cluster_bind), cfg.cluster_port};
    tunnel = std::make_unique<collab::net::cluster_tunnel>(ioc, topts, ep);
  } catch (const std::exception& e) {
    spdlog::error("event=cluster_listen_failed bind={} port={} tls={} "
                  "error=\"{}\"",
                  cfg.cluster_bind, cfg.cluster_port, cluster_tls, e.what());
    return false;
  }
  cl.transport = collab::net::spawn_cluster_middleman(
    sys, [t = tunnel.get()](const std::string& host, uint16_t port, int fd) {
      t->dial(host, port, fd);
    });
  mopts.transport = cl.transport;
  mopts.hang_up = [t = tunnel.get()](const std::string& host, uint16_t port) {
    t->hang_up(host, port);
  };
  ctx.membership = collab::spawn_membership(sys, mopts);
  cl.seeds = std::make_unique<seed_resolver>(ioc, cfg.seeds, ctx.membership,
                                             seed_refresh);
  if (!cl.seeds->start())
    cl.seeds.reset();
  tunnel->start([&sys, m = ctx.membership, p = cfg.cluster_port](int fd) {
    collab::net::hand_to_basp(sys, fd, caf::actor_cast<caf::actor>(m), p);
  });
  spdlog::info("event=cluster_listening bind={} port={} tls={} auth={} "
               "max_frame_bytes={} max_handshakes={} seeds={}",
               cfg.cluster_bind, cfg.cluster_port, cluster_tls,
               cluster_auth_mode(cluster_tls, cfg.cluster_key),
               topts.max_frame_bytes, topts.max_handshakes,
               fmt::join(cfg.seeds, ","));
  return true;
}

void stop_transport(caf::actor_system& sys, cluster& cl) {
  if (cl.transport) {
    // It dials through the tunnel: gone before the tunnel is (it traps
    // every exit but a kill, like CAF's own middleman actor).
    caf::scoped_actor waiter{sys};
    waiter->monitor(cl.transport);
    waiter->send_exit(cl.transport, caf::exit_reason::kill);
    waiter->receive([](const caf::down_msg&) {});
  }
}

} // namespace collabd
