// The checks a parsed node_config must pass before the node starts: settings
// that each parse but do not make sense together (TLS halves, a cluster port
// without a way for peers to prove themselves, secrets missing outside
// development mode) or that CLI11 cannot check alone (seed addresses). Each
// refused setting gives one message that names the setting and what is
// wrong; collabd logs each as event=config_error and exits with code 2.
// What needs files or the network (reading keys, TLS contexts, Redis URLs)
// is checked where it is used, not here.
//
// Thread-safety: a pure function.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "config/node_config.hpp"

namespace collab {

// The shortest pre-shared cluster key (net/cluster_auth.hpp checks the same
// bound when proving it).
constexpr size_t min_cluster_key_bytes = 16;

// Every problem of `cfg`, in a stable order; empty when the node may start.
std::vector<std::string> validate_node_config(const node_config& cfg);

// Whether `seed` is "host:port" with a non-empty host and a port in
// 1..65535 written in decimal digits only.
bool valid_seed(const std::string& seed);

} // namespace collab
