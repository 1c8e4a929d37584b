// The admin API (docs/ADMIN.md), served on the admin port only. Every
// request must carry the admin token (compared in constant time). The node
// that answers asks every member's node_agent over the cluster transport, so
// any node answers for the whole cluster.
//
// Thread-safety: like http_routes: may run on any I/O thread; `reply` may be
// called from an actor thread.
#pragma once

#include "net/http_routes.hpp"
#include "net/server_context.hpp"

namespace collab::net {

void handle_admin(server_context& ctx, const http_request& req, reply_fn reply);

// True when `a` equals `b` (non-empty), in time independent of both.
bool constant_time_equal(std::string_view a, std::string_view b);

} // namespace collab::net
