#include "config/node_config_validate.hpp"

#include <cctype>

namespace collab {

bool valid_seed(const std::string& seed) {
  auto colon = seed.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return false;
  auto port = seed.substr(colon + 1);
  // At most 5 digits, so the value cannot overflow before the range check.
  if (port.empty() || port.size() > 5)
    return false;
  for (unsigned char c : port)
    if (!std::isdigit(c))
      return false;
  auto value = std::stoi(port);
  return value >= 1 && value <= 65535;
}

std::vector<std::string> validate_node_config(const node_config& cfg) {
  std::vector<std::string> errors;
  // With an RS256 key only, the node verifies tokens but mints none.
  if (cfg.jwt_secret.empty() && cfg.jwt_public_key.empty() && !cfg.dev)
    errors.emplace_back("COLLAB_JWT_SECRET (or COLLAB_JWT_PUBLIC_KEY) is "
                        "required outside development mode (--dev)");
  if (cfg.admin_port != 0 && cfg.admin_token.empty() && !cfg.dev)
    errors.emplace_back("COLLAB_ADMIN_TOKEN is required with "
                        "COLLAB_ADMIN_PORT outside development mode (--dev)");
  int tls_parts = !cfg.cluster_tls_cert.empty() + !cfg.cluster_tls_key.empty()
                  + !cfg.cluster_tls_ca.empty();
  if (tls_parts != 0 && tls_parts != 3)
    errors.emplace_back("mutual TLS between nodes needs "
                        "COLLAB_CLUSTER_TLS_CERT, _KEY and _CA together");
  // Every cluster connection must prove itself before BASP sees a byte
  // (a partial TLS setting is reported above, not twice).
  bool clustered = cfg.cluster_port != 0;
  if (clustered && tls_parts == 0 && cfg.cluster_key.empty() && !cfg.dev)
    errors.emplace_back("a cluster port needs COLLAB_CLUSTER_KEY (or mutual "
                        "TLS: COLLAB_CLUSTER_TLS_CERT, _KEY and _CA) outside "
                        "development mode (--dev)");
  if (!cfg.cluster_key.empty()
      && cfg.cluster_key.size() < min_cluster_key_bytes)
    errors.emplace_back("COLLAB_CLUSTER_KEY is shorter than "
                        + std::to_string(min_cluster_key_bytes) + " bytes");
  // Membership parses every seed when it starts: a bad one must stop the
  // node here, with its name, not throw inside an actor.
  for (auto& seed : cfg.seeds)
    if (!valid_seed(seed))
      errors.push_back("COLLAB_SEEDS: '" + seed
                       + "' is not host:port with a port in 1..65535");
  if (cfg.tls_cert.empty() != cfg.tls_key.empty())
    errors.emplace_back("COLLAB_TLS_CERT and COLLAB_TLS_KEY go together");
  return errors;
}

} // namespace collab
