// The connection actor: one per WebSocket, the protocol agent of that socket
// (ShareDB's Agent). It decodes each frame, enforces the token's scope, the
// rate limit and token expiry, finds document actors through the directory
// and turns their events into frames for the socket.
//
//   socket strand --(frame_atom, text)--> connection actor --> document actors
//   document actors --events--> connection actor --session_sink::send--> socket
//
// It keeps, per joined document, the last revision and the unacknowledged
// op, so that when a document actor goes away it re-resolves the document,
// resumes from that revision and resubmits the op with the same seq.
//
// Thread-safety: an actor; talks to the socket only through session_sink.
#pragma once

#include <memory>
#include <string>

#include <caf/actor.hpp>

#include "net/auth.hpp"
#include "net/server_context.hpp"
#include "net/session_sink.hpp"

namespace collab::net {

caf::actor spawn_connection(server_context& ctx,
                            std::shared_ptr<session_sink> sink,
                            token_claims claims, std::string session_id);

} // namespace collab::net
