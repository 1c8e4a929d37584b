// The HTTP side of the client port (docs/PROTOCOL.md, "HTTP on the same port"):
// health, readiness, metrics, document reads, the session cookie, and the
// checks an upgrade to /v1/ws must pass (token, never in the query string;
// Origin allow-list).
//
// Thread-safety: the functions may run on any I/O thread; `reply` may be
// called from an actor thread and must post back to the socket's strand.
#pragma once

#include <functional>

#include <boost/beast/http.hpp>

#include "net/auth.hpp"
#include "net/http_util.hpp"
#include "net/server_context.hpp"

namespace collab::net {

using reply_fn = std::function<void(http_response)>;

// Answers one plain HTTP request; calls `reply` exactly once.
void handle_http(server_context& ctx, const http_request& req, reply_fn reply);

// True when the upgrade may proceed (claims filled); else `refusal` is the
// answer to send: 401 without a valid token, 403 for a foreign Origin, 503
// while draining, 404 for another path.
bool check_upgrade(server_context& ctx, const http_request& req,
                   token_claims& claims, http_response& refusal);

} // namespace collab::net
