// collabd: one node of the collab cluster. The composition root: reads the
// configuration, picks the storage adapter, starts the actor system (the
// document directory and store) and the client listener (HTTP + WebSocket).
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <functional>
#include <cstdio>
#include <iostream>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/signal_set.hpp>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/directory.hpp"
#include "actors/heartbeat.hpp"
#include "actors/core/log_escape.hpp"
#include "actors/membership.hpp"
#include "actors/memory_budget.hpp"
#include "actors/metrics.hpp"
#include "actors/node_agent.hpp"
#include "actors/messages.hpp"
#include "config/node_config.hpp"
#include "config/node_config_validate.hpp"
#include "drain.hpp"
#include "net/auth.hpp"
#include "net/cluster_auth.hpp"
#include "net/cluster_transport.hpp"
#include "net/cluster_tunnel.hpp"
#include "net/listener.hpp"
#include "net/server_context.hpp"
#include "persistence/memory_store.hpp"
#include "persistence/pg_store.hpp"
#include "persistence/redis_admin.hpp"
#include "persistence/redis_op_log.hpp"

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

// Storage counters for /metrics: PostgreSQL group commit, Redis stream.
void add_storage_metrics(collab::net::server_context& ctx,
                         std::shared_ptr<collab::pg_status> pg,
                         std::shared_ptr<const collab::redis_health> redis) {
  using collab::append_metric;
  if (pg)
    ctx.metrics_sources.push_back([pg](std::string& out) {
      auto c = pg->snapshot();
      append_metric(out, "gauge", "collab_pg_up", "PostgreSQL reachable",
                    uint64_t{pg->ready()});
      append_metric(out, "counter", "collab_pg_commit_batches_total",
                    "group-commit transactions", c.batches);
      append_metric(out, "counter", "collab_pg_ops_total", "ops made durable",
                    c.ops);
      append_metric(out, "counter", "collab_pg_commit_failures_total",
                    "commit requests answered with an error", c.failed);
      append_metric(out, "counter", "collab_pg_in_doubt_total",
                    "batches whose COMMIT outcome had to be verified",
                    c.in_doubt);
      append_metric(out, "gauge", "collab_pg_max_batch",
                    "most commit requests in one transaction", c.max_batch);
    });
  if (redis && redis->enabled)
    ctx.metrics_sources.push_back([redis](std::string& out) {
      auto h = redis->snapshot();
      append_metric(out, "gauge", "collab_redis_up", "Redis reachable",
                    uint64_t{h.healthy});
      append_metric(out, "counter", "collab_stream_appended_total",
                    "ops appended to replay streams", h.appended);
      append_metric(out, "counter", "collab_stream_dropped_total",
                    "ops not appended (backlog overflow)", h.dropped);
      append_metric(out, "gauge", "collab_stream_backlog",
                    "ops waiting to be appended", h.backlog);
      append_metric(out, "gauge", "collab_stream_lag_seconds",
                    "queue time of the last appended op", h.lag_ms / 1000.0);
      append_metric(out, "counter", "collab_stream_read_misses_total",
                    "resume reads the stream could not serve", h.read_misses);
    });
}

// <directory of this executable>/../web: where tools/build puts the page.
std::string default_web_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string{"web"} : (exe.parent_path() / ".." / "web").string();
}

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

void setup_logging(const collab::node_config& cfg) {
  auto logger = spdlog::stderr_color_mt("collabd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ node=" + cfg.node_id
                      + " %v");
  logger->set_level(spdlog::level::from_str(cfg.log_level));
  spdlog::set_default_logger(logger);
}

} // namespace

int main(int argc, char** argv) {
  collab::net::grow_fd_table();  // first: while the process has one thread
  collab::node_config cfg;
  if (auto rc = collab::parse_node_config(argc, argv, cfg); rc >= 0)
    return rc;
  setup_logging(cfg);
  if (auto errors = collab::validate_node_config(cfg); !errors.empty()) {
    for (auto& e : errors)
      spdlog::error("event=config_error message=\"{}\"", collab::log_escape(e));
    return 2;
  }
  std::string jwt_public_key;
  if (!cfg.jwt_public_key.empty()) {
    std::ifstream in{cfg.jwt_public_key};
    std::ostringstream pem;
    pem << in.rdbuf();
    jwt_public_key = pem.str();
    if (!in || jwt_public_key.empty()) {
      spdlog::error("event=config_error message=\"cannot read "
                    "COLLAB_JWT_PUBLIC_KEY {}\"", cfg.jwt_public_key);
      return 2;
    }
  }
  // With an RS256 key only, the node verifies tokens but mints none (no
  // development login, no collabctl token); validation refused the rest.
  if (cfg.jwt_secret.empty() && cfg.dev)
    cfg.jwt_secret = random_secret();
  if (cfg.admin_port != 0 && cfg.admin_token.empty())
    cfg.admin_token = random_secret();  // --dev (validated)
  if (cfg.pg_url.empty())
    spdlog::warn("event=config_note message=\"no COLLAB_PG_URL: documents "
                 "live in memory and are lost at exit\"");

  caf::actor_system_config sys_cfg;
  collab::register_message_types(sys_cfg);
  sys_cfg.add_message_type<collab::stream_info>("collab::stream_info");
  sys_cfg.set("scheduler.max-threads", cfg.actor_threads);
  // An actor gives its thread up after 16 messages (CAF's default is never
  // while its mailbox is not empty): a socket or document with a constant
  // stream of work must not starve the others (issue 10, defect 4).
  sys_cfg.set("scheduler.max-throughput", size_t{16});
  bool clustered = cfg.cluster_port != 0;
  // All three or none (validated).
  bool cluster_tls = clustered && !cfg.cluster_tls_cert.empty();
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
  auto budget = std::make_shared<collab::memory_budget>(cfg.memory_budget_bytes);
  ctx.sessions.configure(budget, {cfg.send_queue_node_bytes,
                                  cfg.max_sockets_per_user});
  ctx.metrics_sources.push_back(
    [&ctx](std::string& out) { ctx.sessions.render_metrics(out); });
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
                    "{}\"", e.what());
      return 2;
    }
  }
  // Storage: PostgreSQL when configured (the truth), else memory; the Redis
  // stream is the fast path of resume, never the durability path.
  std::shared_ptr<collab::pg_status> pg_status;
  collab::store_limits store_limits;
  store_limits.history_bytes = cfg.history_bytes;
  if (cfg.pg_url.empty()) {
    ctx.store = collab::spawn_memory_store(sys, store_limits);
  } else {
    collab::pg_store_options pg_opts;
    pg_opts.url = cfg.pg_url;
    pg_opts.application_name = "collabd-" + cfg.node_id;
    pg_opts.ops_retention = cfg.ops_retention;
    pg_opts.retention_interval
      = std::chrono::milliseconds(cfg.retention_interval_ms);
    pg_opts.limits = store_limits;
    pg_status = pg_opts.status = std::make_shared<collab::pg_status>();
    ctx.store = collab::spawn_pg_store(sys, pg_opts);
    ctx.readiness_checks.push_back([pg_status] {
      return pg_status->ready() ? std::string{}
                                : "postgres: " + pg_status->reason();
    });
  }
  collab::redis_options redis_opts;
  redis_opts.url = cfg.redis_url;
  redis_opts.maxlen = cfg.stream_maxlen;
  redis_opts.max_bytes = cfg.stream_max_bytes;
  collab::redis_op_log op_log;
  try {
    op_log = collab::spawn_redis_op_log(sys, redis_opts);
  } catch (const std::exception& e) {
    spdlog::error("event=config_error message=\"{}\"", e.what());
    return 2;
  }

  if (!cfg.redis_url.empty())
    ctx.redis_admin = collab::spawn_redis_admin(sys, redis_opts);
  add_storage_metrics(ctx, pg_status, op_log.health());

  collab::document_options doc_opts;
  doc_opts.node = cfg.node_id;
  doc_opts.snapshot_every = cfg.snapshot_every;
  doc_opts.snapshot_quiet = std::chrono::milliseconds(cfg.snapshot_quiet_ms);
  doc_opts.history_window = cfg.history_window;
  doc_opts.max_doc_bytes = cfg.max_doc_bytes;
  doc_opts.idle_timeout = std::chrono::milliseconds(cfg.doc_idle_ms);
  // Isolation (docs/DESIGN.md, contract 6): the work of one op, the history's
  // bytes (charged to the node's memory budget, shared with the sessions),
  // presence per tick, resume pages.
  doc_opts.max_op_components = cfg.max_op_components;
  doc_opts.max_transform_work = cfg.max_transform_work;
  doc_opts.history_bytes = cfg.history_bytes;
  doc_opts.budget = budget;
  doc_opts.presence_tick = std::chrono::milliseconds(cfg.presence_tick_ms);
  doc_opts.resume_page_ops = cfg.resume_page_ops;
  if (!cfg.redis_url.empty()) {
    doc_opts.op_log = op_log.actor();
    doc_opts.op_log_timeout = redis_opts.read_timeout
                              + std::chrono::milliseconds(100);
  }
  ctx.directory = collab::spawn_directory(sys, ctx.store, doc_opts,
                                          cfg.max_live_docs);
  boost::asio::io_context ioc{cfg.io_threads};
  std::shared_ptr<collab::net::listener> lst;
  try {
    boost::asio::ip::tcp::endpoint ep{
      boost::asio::ip::make_address(cfg.bind), cfg.client_port};
    lst = std::make_shared<collab::net::listener>(ioc, ep, ctx);
  } catch (const std::exception& e) {
    spdlog::error("event=listen_failed bind={} port={} error=\"{}\"", cfg.bind,
                  cfg.client_port, e.what());
    return 1;
  }
  auto port = lst->port();
  ctx.client_port = port;
  std::shared_ptr<collab::net::listener> admin_lst;
  if (cfg.admin_port != 0) {
    try {
      boost::asio::ip::tcp::endpoint ep{
        boost::asio::ip::make_address(cfg.admin_bind), cfg.admin_port};
      admin_lst = std::make_shared<collab::net::listener>(
        ioc, ep, ctx, collab::net::port_kind::admin);
    } catch (const std::exception& e) {
      spdlog::error("event=listen_failed bind={} port={} error=\"{}\"",
                    cfg.admin_bind, cfg.admin_port, e.what());
      return 1;
    }
  }
  auto web_dir = cfg.web_dir.empty() ? default_web_dir() : cfg.web_dir;
  if (!ctx.site.load(web_dir))
    spdlog::info("event=no_demo_page dir={} message=\"run tools/build to "
                 "build the demo page\"", web_dir);

  collabd::drain_procedure drain{ioc, ctx, [&] {
                                   lst->stop();
                                   if (admin_lst)
                                     admin_lst->stop();
                                   ioc.stop();
                                 }};

  collab::node_agent_options agent_opts;
  agent_opts.node = cfg.node_id;
  if (clustered)
    agent_opts.cluster_addr
      = cfg.cluster_bind + ":" + std::to_string(cfg.cluster_port);
  agent_opts.client_port = port;
  agent_opts.admin_port = cfg.admin_port;
  agent_opts.directory = ctx.directory;
  agent_opts.redis_admin = ctx.redis_admin;
  agent_opts.connections = [&ctx] { return ctx.sessions.connections(); };
  agent_opts.kick = [&ctx](const std::string& session) {
    auto conn = ctx.sessions.find(session);
    if (conn)
      caf::anon_send(conn, collab::kick_atom_v);
    return static_cast<bool>(conn);
  };
  agent_opts.drain = [&] {
    boost::asio::post(ioc, [&] { drain.begin(false); });
  };
  agent_opts.revoke = [&ctx](const collab::revocation& r) {
    return ctx.revocations.add(r);
  };
  ctx.agent = collab::spawn_node_agent(sys, agent_opts);
  std::unique_ptr<collab::net::cluster_tunnel> tunnel;
  caf::io::middleman_actor transport;
  if (clustered) {
    collab::membership_options mopts;
    mopts.self.node = cfg.node_id;
    mopts.self.host = cfg.cluster_bind;
    mopts.self.port = cfg.cluster_port;
    mopts.seeds = cfg.seeds;
    mopts.self.agent = ctx.agent;
    mopts.self.client_port = port;
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
      return 1;
    }
    transport = collab::net::spawn_cluster_middleman(
      sys, [t = tunnel.get()](const std::string& host, uint16_t port,
                              int fd) { t->dial(host, port, fd); });
    mopts.transport = transport;
    mopts.hang_up = [t = tunnel.get()](const std::string& host,
                                       uint16_t port) {
      t->hang_up(host, port);
    };
    ctx.membership = collab::spawn_membership(sys, mopts);
    tunnel->start([&sys, m = ctx.membership, p = cfg.cluster_port](int fd) {
      collab::net::hand_to_basp(sys, fd, caf::actor_cast<caf::actor>(m), p);
    });
    spdlog::info("event=cluster_listening bind={} port={} tls={} auth={} "
                 "max_frame_bytes={} max_handshakes={} seeds={}",
                 cfg.cluster_bind, cfg.cluster_port, cluster_tls,
                 cluster_auth_mode(cluster_tls, cfg.cluster_key),
                 topts.max_frame_bytes, topts.max_handshakes,
                 fmt::join(cfg.seeds, ","));
  }

  ctx.allowed_origins = cfg.allowed_origins;
  if (ctx.allowed_origins.empty()) {
    auto p = std::to_string(port);
    std::string scheme = ctx.tls ? "https://" : "http://";
    ctx.allowed_origins = {scheme + "localhost:" + p, scheme + "127.0.0.1:" + p};
    auto own = scheme + cfg.bind + ":" + p;
    if (own != ctx.allowed_origins[1])
      ctx.allowed_origins.push_back(own);
  }
  // Liveness (/healthz): a heartbeat of the actor threads.
  auto heartbeat = std::make_shared<collab::heartbeat_monitor>(
    std::chrono::milliseconds(cfg.stall_ms), caf::actor_clock::clock_type::now());
  auto heartbeat_actor = collab::spawn_heartbeat(sys, heartbeat);
  ctx.liveness_checks.push_back([heartbeat] { return heartbeat->check(); });
  lst->run();
  if (admin_lst)
    admin_lst->run();
  boost::asio::signal_set signals{ioc, SIGINT, SIGTERM};
  signals.async_wait([&](boost::system::error_code, int sig) {
    spdlog::info("event=shutdown signal={} sockets={}", sig,
                 ctx.sessions.size());
    drain.begin(true);
  });

  auto url = (ctx.tls ? "https://" : "http://") + cfg.bind + ":"
             + std::to_string(port);
  spdlog::info("event=listening url={} origins={}", url,
               fmt::join(ctx.allowed_origins, ","));
  std::cout << "collabd listening on " << url << " node=" << cfg.node_id
            << std::endl;
  if (admin_lst)
    std::cout << "admin API on http://" << cfg.admin_bind << ":"
              << admin_lst->port() << (cfg.dev ? " token=" + cfg.admin_token : "")
              << std::endl;
  if (cfg.dev)
    std::cout << "development token (user dev, all documents, 24 h): "
              << collab::net::mint_token(cfg.jwt_secret, "dev", {"*"}, {},
                                         24 * 3600)
              << std::endl;

  std::vector<std::thread> threads;
  for (int i = 1; i < cfg.io_threads; ++i)
    threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : threads)
    t.join();
  ctx.sessions.kill_all();
  caf::anon_send_exit(heartbeat_actor, caf::exit_reason::user_shutdown);
  if (ctx.membership)
    caf::anon_send_exit(ctx.membership, caf::exit_reason::user_shutdown);
  if (transport) {
    // It dials through the tunnel: gone before the tunnel is (it traps
    // every exit but a kill, like CAF's own middleman actor).
    caf::scoped_actor waiter{sys};
    waiter->monitor(transport);
    waiter->send_exit(transport, caf::exit_reason::kill);
    waiter->receive([](const caf::down_msg&) {});
  }
  caf::anon_send_exit(ctx.agent, caf::exit_reason::user_shutdown);
  if (ctx.redis_admin)
    caf::anon_send_exit(ctx.redis_admin, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(ctx.directory, caf::exit_reason::user_shutdown);
  op_log.stop();  // appends what is queued while Redis answers
  if (pg_status)
    collab::stop_pg_store(ctx.store);  // commits what is queued
  else
    caf::anon_send_exit(ctx.store, caf::exit_reason::user_shutdown);
  return 0;
}
