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
#include <caf/type_id.hpp>
#include <caf/typed_actor.hpp>

#include "actors/inspection_protocol.hpp"

#include "net/auth.hpp"
#include "net/server_context.hpp"
#include "net/session_sink.hpp"

// From the socket's strand (net/ws_session.cpp).
CAF_ADD_ATOM(collab, collab, frame_atom, "frame")
CAF_ADD_ATOM(collab, collab, closed_atom, "closed")
// Own timers: the token's expiry, a resolve to retry.
CAF_ADD_ATOM(collab, collab, expire_atom, "expire")

namespace collab::net {

// A document subscriber that operators can inspect and the socket feeds.
using connection_actor
  = document_subscriber::extend_with<inspectable_connection>::extend<
    caf::reacts_to<frame_atom, std::string>, caf::reacts_to<closed_atom>,
    caf::replies_to<expire_atom>::with<bool>,
    caf::reacts_to<resolve_atom, std::string>>;

connection_actor spawn_connection(server_context& ctx,
                                  std::shared_ptr<session_sink> sink,
                                  token_claims claims, std::string session_id);

// Connection actors in memory, closed ones included until they are freed
// (a closed connection must be freed at once: /metrics shows this).
int64_t connection_actors_in_memory();

} // namespace collab::net
