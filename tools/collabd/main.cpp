// collabd: one node of the collab cluster. The composition root: reads the
// configuration, picks the storage adapter, starts the actor system (the
// document directory and store) and the client listener (HTTP + WebSocket).
// Storage is set up in storage.cpp, the cluster side in cluster.cpp, the
// drain procedure in drain.cpp.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/core/log_escape.hpp"
#include "actors/directory.hpp"
#include "actors/heartbeat.hpp"
#include "actors/memory_budget.hpp"
#include "actors/messages.hpp"
#include "actors/node_agent.hpp"
#include "actors/relay.hpp"
#include "cluster.hpp"
#include "config/node_config.hpp"
#include "config/node_config_validate.hpp"
#include "drain.hpp"
#include "net/auth.hpp"
#include "net/cluster_auth.hpp"
#include "net/listener.hpp"
#include "net/server_context.hpp"
#include "persistence/redis_admin.hpp"
#include "storage.hpp"

namespace {

std::string random_secret() {
  std::random_device rd;
  std::string s;
  for (int i = 0; i < 32; ++i) {
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02x", rd() & 0xff);
    s += buf;
  }
  return s;
}

// <directory of this executable>/../web: where tools/build puts the page.
std::string default_web_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string{"web"} : (exe.parent_path() / ".." / "web").string();
}

void setup_logging(const collab::node_config& cfg) {
  auto logger = spdlog::stderr_color_mt("collabd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ node=" + cfg.node_id
                      + " %v");
  logger->set_level(spdlog::level::from_str(cfg.log_level));
  spdlog::set_default_logger(logger);
}

// Reads the RS256 public key file named by the configuration, if any. False
// (logged) when it cannot be read.
bool read_jwt_public_key(const collab::node_config& cfg, std::string& key) {
  if (!cfg.jwt_public_key.empty()) {
    std::ifstream in{cfg.jwt_public_key};
    std::ostringstream pem;
    pem << in.rdbuf();
    key = pem.str();
    if (!in || key.empty()) {
      spdlog::error("event=config_error message=\"cannot read "
                    "COLLAB_JWT_PUBLIC_KEY {}\"",
                    cfg.jwt_public_key);
      return false;
    }
  }
  return true;
}

// The secrets --dev leaves to the node, and a note on a node without
// PostgreSQL.
void complete_config(collab::node_config& cfg) {
  // With an RS256 key only, the node verifies tokens but mints none (no
  // development login, no collabctl token); validation refused the rest.
  if (cfg.jwt_secret.empty() && cfg.dev)
    cfg.jwt_secret = random_secret();
  if (cfg.admin_port != 0 && cfg.admin_token.empty())
    cfg.admin_token = random_secret(); // --dev (validated)
  if (cfg.pg_url.empty())
    spdlog::warn("event=config_note message=\"no COLLAB_PG_URL: documents "
                 "live in memory and are lost at exit\"");
}

// The actor system: message types, scheduler, and on a clustered node the
// middleman with its failure detection.
void configure_actor_system(caf::actor_system_config& sys_cfg,
                            const collab::node_config& cfg, bool clustered,
                            bool cluster_tls) {
  collab::register_message_types(sys_cfg);
  sys_cfg.add_message_type<collab::stream_info>("collab::stream_info");
  sys_cfg.set("scheduler.max-threads", cfg.actor_threads);
  sys_cfg.set("scheduler.policy", caf::atom_from_string(cfg.scheduler));
  // An actor gives its thread up after 16 messages (CAF's default is never
  // while its mailbox is not empty): a socket or document with a constant
  // stream of work must not starve the others (issue 10, defect 4).
  sys_cfg.set("scheduler.max-throughput", size_t{16});
  // Every cluster connection proves itself before BASP sees a byte: mutual
  // TLS and/or the pre-shared key (net/cluster_tunnel.hpp); without either
  // only --dev gets here (validated).
  if (clustered && !cluster_tls && cfg.cluster_key.empty()) {
    spdlog::warn("event=cluster_unauthenticated message=\"development "
                 "mode: the cluster port accepts any peer (no "
                 "COLLAB_CLUSTER_KEY, no cluster TLS); keep it on a private "
                 "machine\"");
  }
  static_assert(collab::min_cluster_key_bytes
                  == collab::net::cluster_auth::min_key_size,
                "config and the cluster proof must agree on the key size");
  if (clustered) {
    sys_cfg.load<caf::io::middleman>();
    // A hung or cut-off member is detected after about 2.5 s (a killed one
    // at once: its socket closes).
    sys_cfg.set("middleman.heartbeat-interval",
                caf::timespan{std::chrono::milliseconds(500)});
    sys_cfg.set("middleman.connection-timeout",
                caf::timespan{std::chrono::seconds(2)});
  }
}

// The client port's TLS context, when a certificate is configured. False
// (logged) when the certificate or key cannot be loaded.
bool setup_client_tls(collab::net::server_context& ctx,
                      const collab::node_config& cfg) {
  if (!cfg.tls_cert.empty()) {
    namespace ssl = boost::asio::ssl;
    ctx.tls = std::make_shared<ssl::context>(ssl::context::tls_server);
    try {
      ctx.tls->set_options(ssl::context::default_workarounds
                           | ssl::context::no_sslv2 | ssl::context::no_sslv3
                           | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1
                           | ssl::context::single_dh_use);
      ctx.tls->use_certificate_chain_file(cfg.tls_cert);
      ctx.tls->use_private_key_file(cfg.tls_key, ssl::context::pem);
    } catch (const std::exception& e) {
      spdlog::error("event=config_error message=\"TLS certificate or key: "
                    "{}\"",
                    e.what());
      return false;
    }
  }
  return true;
}

// The client listener (its port into ctx.client_port) and, with an admin
// port, the admin listener. False (logged) when a port cannot be opened.
bool open_listeners(boost::asio::io_context& ioc,
                    collab::net::server_context& ctx,
                    const collab::node_config& cfg,
                    std::shared_ptr<collab::net::listener>& lst,
                    std::shared_ptr<collab::net::listener>& admin_lst) {
  try {
    boost::asio::ip::tcp::endpoint ep{boost::asio::ip::make_address(cfg.bind),
                                      cfg.client_port};
    lst = std::make_shared<collab::net::listener>(ioc, ep, ctx);
  } catch (const std::exception& e) {
    spdlog::error("event=listen_failed bind={} port={} error=\"{}\"", cfg.bind,
                  cfg.client_port, e.what());
    return false;
  }
  ctx.client_port = lst->port();
  if (cfg.admin_port != 0) {
    try {
      boost::asio::ip::tcp::endpoint ep{
        boost::asio::ip::make_address(cfg.admin_bind), cfg.admin_port};
      admin_lst = std::make_shared<collab::net::listener>(
        ioc, ep, ctx, collab::net::port_kind::admin);
    } catch (const std::exception& e) {
      spdlog::error("event=listen_failed bind={} port={} error=\"{}\"",
                    cfg.admin_bind, cfg.admin_port, e.what());
      return false;
    }
  }
  return true;
}

// The node agent's hooks into the network layer: sockets, kick, drain,
// revocations.
collab::node_agent_options agent_options_of(const collab::node_config& cfg,
                                            collab::net::server_context& ctx,
                                            boost::asio::io_context& ioc,
                                            collabd::drain_procedure& drain,
                                            bool clustered, uint16_t port) {
  collab::node_agent_options agent_opts;
  agent_opts.node = cfg.node_id;
  if (clustered)
    agent_opts.cluster_addr = cfg.cluster_bind + ":"
                              + std::to_string(cfg.cluster_port);
  agent_opts.client_port = port;
  agent_opts.admin_port = cfg.admin_port;
  agent_opts.directory = ctx.directory;
  agent_opts.redis_admin = ctx.redis_admin;
  agent_opts.connections = [&ctx] {
    return ctx.sessions.connections();
  };
  agent_opts.kick = [&ctx](const std::string& session) {
    auto conn = ctx.sessions.find(session);
    if (conn)
      caf::anon_send(conn, collab::kick_atom_v);
    return static_cast<bool>(conn);
  };
  agent_opts.drain = [&ioc, &drain] {
    boost::asio::post(ioc, [&drain] { drain.begin(false); });
  };
  agent_opts.revoke = [&ctx](const collab::revocation& r) {
    return ctx.revocations.add(r);
  };
  return agent_opts;
}

// Without configured origins: this node's own, as a browser names them.
void set_allowed_origins(collab::net::server_context& ctx,
                         const collab::node_config& cfg, uint16_t port) {
  ctx.allowed_origins = cfg.allowed_origins;
  if (ctx.allowed_origins.empty()) {
    auto p = std::to_string(port);
    std::string scheme = ctx.tls ? "https://" : "http://";
    ctx.allowed_origins = {scheme + "localhost:" + p,
                           scheme + "127.0.0.1:" + p};
    auto own = scheme + cfg.bind + ":" + p;
    if (own != ctx.allowed_origins[1])
      ctx.allowed_origins.push_back(own);
  }
}

// The log line and what an operator reads on stdout.
void announce(const collab::net::server_context& ctx,
              const collab::node_config& cfg, uint16_t port,
              const std::shared_ptr<collab::net::listener>& admin_lst) {
  auto url = (ctx.tls ? "https://" : "http://") + cfg.bind + ":"
             + std::to_string(port);
  spdlog::info("event=listening url={} origins={}", url,
               fmt::join(ctx.allowed_origins, ","));
  std::cout << "collabd listening on " << url << " node=" << cfg.node_id
            << std::endl;
  if (admin_lst)
    std::cout << "admin API on http://" << cfg.admin_bind << ":"
              << admin_lst->port()
              << (cfg.dev ? " token=" + cfg.admin_token : "") << std::endl;
  if (cfg.dev)
    std::cout << "development token (user dev, all documents, 24 h): "
              << collab::net::mint_token(cfg.jwt_secret, "dev", {"*"}, {},
                                         24 * 3600)
              << std::endl;
}

// Runs the I/O context on `io_threads` threads (this one included) until
// it stops.
void run_io(boost::asio::io_context& ioc, int io_threads) {
  std::vector<std::thread> threads;
  for (int i = 1; i < io_threads; ++i)
    threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : threads)
    t.join();
}

// Parses and validates the configuration (setting up logging on the way),
// reads the JWT public key and completes the configuration. Returns -1 to
// go on, else the process's exit code.
int load_config(int argc, char** argv, collab::node_config& cfg,
                std::string& jwt_public_key) {
  if (auto rc = collab::parse_node_config(argc, argv, cfg); rc >= 0)
    return rc;
  setup_logging(cfg);
  if (auto errors = collab::validate_node_config(cfg); !errors.empty()) {
    for (auto& e : errors)
      spdlog::error("event=config_error message=\"{}\"", collab::log_escape(e));
    return 2;
  }
  if (!read_jwt_public_key(cfg, jwt_public_key))
    return 2;
  complete_config(cfg);
  return -1;
}

// Liveness (/healthz): a heartbeat of the actor threads.
collab::heartbeat_actor start_heartbeat(caf::actor_system& sys,
                                        collab::net::server_context& ctx,
                                        const collab::node_config& cfg) {
  auto monitor = std::make_shared<collab::heartbeat_monitor>(
    std::chrono::milliseconds(cfg.stall_ms),
    caf::actor_clock::clock_type::now());
  ctx.liveness_checks.push_back([monitor] { return monitor->check(); });
  return collab::spawn_heartbeat(sys, monitor);
}

// Stops in reverse, once the I/O threads ended: the sockets, the actors,
// then the storage flushes what is queued (from main, never from an actor).
void shut_down(caf::actor_system& sys, collab::net::server_context& ctx,
               const collab::heartbeat_actor& heartbeat, collabd::cluster& cl,
               collabd::storage& st) {
  ctx.sessions.kill_all();
  caf::anon_send_exit(heartbeat, caf::exit_reason::user_shutdown);
  if (ctx.membership)
    caf::anon_send_exit(ctx.membership, caf::exit_reason::user_shutdown);
  collabd::stop_transport(sys, cl);
  caf::anon_send_exit(ctx.agent, caf::exit_reason::user_shutdown);
  if (ctx.redis_admin)
    caf::anon_send_exit(ctx.redis_admin, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(ctx.directory, caf::exit_reason::user_shutdown);
  // Told explicitly like the others: an actor whose handle went to another
  // node stays in CAF's registry (it could be addressed from there), so
  // dropping our handle does not end it, and ~actor_system would wait for
  // it forever (a relay that served another node's batches did just that).
  caf::anon_send_exit(ctx.relay, caf::exit_reason::user_shutdown);
  collabd::stop_storage(ctx, st);
}

} // namespace

int main(int argc, char** argv) {
  collab::net::grow_fd_table(); // first: while the process has one thread
  collab::node_config cfg;
  std::string jwt_public_key;
  if (auto rc = load_config(argc, argv, cfg, jwt_public_key); rc >= 0)
    return rc;

  caf::actor_system_config sys_cfg;
  bool clustered = cfg.cluster_port != 0;
  // All three or none (validated).
  bool cluster_tls = clustered && !cfg.cluster_tls_cert.empty();
  configure_actor_system(sys_cfg, cfg, clustered, cluster_tls);
  caf::actor_system sys{sys_cfg};

  std::unique_ptr<collab::net::server_context> ctx_ptr;
  try {
    ctx_ptr = std::make_unique<collab::net::server_context>(sys, cfg,
                                                            jwt_public_key);
  } catch (const std::exception& e) {
    spdlog::error("event=config_error message=\"{}\"", e.what());
    return 2;
  }
  auto& ctx = *ctx_ptr;
  auto budget
    = std::make_shared<collab::memory_budget>(cfg.memory_budget_bytes);
  ctx.sessions.configure(budget,
                         {cfg.send_queue_node_bytes, cfg.max_sockets_per_user});
  ctx.metrics_sources.push_back(
    [&ctx](std::string& out) { ctx.sessions.render_metrics(out); });
  if (!setup_client_tls(ctx, cfg))
    return 2;
  collabd::storage st;
  if (!collabd::start_storage(sys, cfg, ctx, st))
    return 2;
  ctx.directory = collab::spawn_directory(
    sys, ctx.store, collabd::document_options_of(cfg, budget, st),
    cfg.max_live_docs);
  ctx.relay = collab::spawn_relay(sys);

  boost::asio::io_context ioc{cfg.io_threads};
  std::shared_ptr<collab::net::listener> lst;
  std::shared_ptr<collab::net::listener> admin_lst;
  if (!open_listeners(ioc, ctx, cfg, lst, admin_lst))
    return 1;
  auto port = ctx.client_port;
  auto web_dir = cfg.web_dir.empty() ? default_web_dir() : cfg.web_dir;
  if (!ctx.site.load(web_dir))
    spdlog::info("event=no_demo_page dir={} message=\"run tools/build to "
                 "build the demo page\"",
                 web_dir);

  collabd::drain_procedure drain{ioc, ctx, [&] {
                                   lst->stop();
                                   if (admin_lst)
                                     admin_lst->stop();
                                   ioc.stop();
                                 }};
  ctx.agent = collab::spawn_node_agent(
    sys, agent_options_of(cfg, ctx, ioc, drain, clustered, port));
  collabd::cluster cl;
  if (clustered
      && !collabd::start_cluster(sys, ioc, cfg, ctx, port, cluster_tls, cl))
    return 1;

  set_allowed_origins(ctx, cfg, port);
  auto heartbeat_actor = start_heartbeat(sys, ctx, cfg);
  lst->run();
  if (admin_lst)
    admin_lst->run();
  boost::asio::signal_set signals{ioc, SIGINT, SIGTERM};
  signals.async_wait([&](boost::system::error_code, int sig) {
    spdlog::info("event=shutdown signal={} sockets={}", sig,
                 ctx.sessions.size());
    drain.begin(true);
  });
  announce(ctx, cfg, port, admin_lst);

  run_io(ioc, cfg.io_threads);
  shut_down(sys, ctx, heartbeat_actor, cl, st);
  return 0;
}
