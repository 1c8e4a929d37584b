// The connection actor: one per WebSocket, the protocol agent of that socket
// (ShareDB's Agent). It rate-limits each raw frame (messages and bytes, before
// decoding), decodes it, enforces the token's scope (re-checked on every
// `auth` refresh) and expiry and the bound on joined documents, finds
// document actors through the directory and turns their events into frames
// for the socket. A closed connection leaves nothing behind: no timer, no
// monitor, so its memory is released at once.
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

#include <cstdint>
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

// Connection actors in memory, closed ones included until they are freed
// (a closed connection must be freed at once: /metrics shows this).
int64_t connection_actors_in_memory();

} // namespace collab::net
