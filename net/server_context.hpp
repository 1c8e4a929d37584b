// What every part of the network layer of one node shares: configuration,
// the token verifier, the actor system and the actors requests go to.
//
// Thread-safety: constant after start-up except the atomics.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ssl/context.hpp>
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/cluster_protocol.hpp"
#include "config/node_config.hpp"
#include "net/auth.hpp"
#include "net/revocation_list.hpp"
#include "net/session_registry.hpp"
#include "net/static_site.hpp"
#include "persistence/document_store.hpp"
#include "persistence/redis_admin.hpp"

namespace collab::net {

struct server_context {
  // `jwt_public_key_pem`: the RS256 key's contents (empty: HS256 only).
  server_context(caf::actor_system& sys, node_config cfg,
                 const std::string& jwt_public_key_pem = {})
      : sys(sys),
        cfg(std::move(cfg)),
        verifier(this->cfg.jwt_secret, this->cfg.jwt_leeway, jwt_public_key_pem,
                 this->cfg.jwt_audience, this->cfg.jwt_issuer) {
    // nop
  }
  caf::actor_system& sys;
  const node_config cfg;
  const token_verifier verifier;
  directory_actor directory;
  relay_actor relay; // batched delivery to this node's connections
  document_store_actor store; // op history reads
  std::vector<std::string> allowed_origins; // set before serving
  uint16_t client_port = 0; // the bound port, set before serving
  std::atomic<bool> draining{false};
  session_registry sessions;
  revocation_list revocations;
  static_site site; // the demo page; empty when not built
  membership_actor membership; // null for a single node
  node_agent_actor agent; // this node's
  redis_admin_actor redis_admin; // null without Redis
  // TLS on the client port (wss/https); null: plain TCP.
  std::shared_ptr<boost::asio::ssl::context> tls;
  // What /readyz asks: each check answers "" when fine, else the reason
  // (e.g. "postgres: connection refused"). Set before serving.
  std::vector<std::function<std::string()>> readiness_checks;
  // What /healthz asks (e.g. the actor threads' heartbeat): each answers ""
  // while the process works, else the reason. Set before serving.
  std::vector<std::function<std::string()>> liveness_checks;
  // The one token check of the node: a valid signature and claims (the
  // verifier) and not revoked. Otherwise false with the reason in `why`.
  bool accept_token(std::string_view token, token_claims& claims,
                    std::string& why) const {
    if (!verifier.verify(token, claims, why))
      return false;
    if (revocations.revoked(claims)) {
      why = "token revoked";
      return false;
    }
    return true;
  }
  // Extra Prometheus text for /metrics (storage counters). Set before serving.
  std::vector<std::function<void(std::string&)>> metrics_sources;
};

} // namespace collab::net
