// The client's frames at the connection actor: the rate limit on the raw
// frame, decoding, `hello` first, then one handler per message type (join,
// op, presence, leave, auth, ping). Joins and ops go on to the document
// links (connection_links.cpp).
//
// Thread-safety: runs inside the connection actor's handlers only.
#include <algorithm>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/metrics.hpp"
#include "net/connection_state.hpp"

namespace collab::net::conn {
namespace {

// The answer to a frame over the rate limit: it was not decoded, so the
// error carries only what a bounded look at the frame's head finds.
void refuse_rate_limited(self_ptr self, std::string_view frame) {
  auto head = peek_head(frame);
  // When the bucket holds a message again (rounded up: never 0).
  auto wait = self->state.messages.time_until(1);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait).count();
  send_error(self, errc::rate_limited, "too many messages; not applied",
             head.doc, head.seq, uint64_t(ms) + 1);
}

void on_hello(self_ptr self, client_message& m) {
  auto& st = self->state;
  if (!st.client.empty()) {
    send_error(self, errc::bad_request, "hello was already sent");
    return;
  }
  if (m.v != 1) {
    send_error(self, errc::bad_request, "unsupported protocol version");
    return;
  }
  st.client = std::move(m.client);
  st.batch = m.batch;
  send_frame(self, encode_welcome(st.ctx->cfg.node_id, st.session, st.batch));
}

void on_join(self_ptr self, client_message& m) {
  auto& st = self->state;
  auto level = access_for(st.claims, m.doc);
  if (level == access::none) {
    send_error(self, errc::forbidden, "the token does not allow this document",
               m.doc);
    return;
  }
  auto i = st.docs.find(m.doc);
  if (i != st.docs.end() && i->second.state != doc_link::phase::joined) {
    send_error(self, errc::bad_request, "a join is in progress", m.doc);
    return;
  }
  // Nothing is activated for a join over the bound.
  auto limit = st.ctx->cfg.max_docs_per_socket;
  if (i == st.docs.end() && st.docs.size() >= limit) {
    send_error(self, errc::too_many,
               "a socket may join at most " + std::to_string(limit)
                 + " documents; leave one first",
               m.doc);
    return;
  }
  // A join of a joined document re-subscribes (ShareDB does the same): how a
  // client rebases after rev_too_old without a new socket.
  auto& link = st.docs[m.doc];
  link.can_write = level == access::write;
  link.resume = m.rev.has_value();
  link.rev = m.rev.value_or(0);
  link.silent_rejoin = false;
  link.attempts = 0;
  if (link.actor)
    send_join(self, link, m.doc);
  else
    resolve(self, m.doc);
}

void on_op(self_ptr self, client_message& m) {
  auto& st = self->state;
  auto i = st.docs.find(m.doc);
  // While a moved document is being rejoined the client is still joined as
  // far as it knows: its op waits for the rejoin (see resolve()).
  if (i == st.docs.end()
      || (i->second.state != doc_link::phase::joined
          && !i->second.silent_rejoin)) {
    send_error(self, errc::not_joined, "join the document first", m.doc, m.seq);
    return;
  }
  auto& link = i->second;
  if (!link.can_write || access_for(st.claims, m.doc) != access::write) {
    send_error(self, errc::forbidden, "the token allows reading only", m.doc,
               m.seq);
    return;
  }
  // Normalized once here, so the op log holds only normalized ops.
  submit_request req{st.session, st.client, st.claims.sub,
                     m.seq,      *m.rev,    ot::normalize(std::move(m.op))};
  link.unacked = req;
  link.unacked_since = clock::now();
  if (std::find(link.awaiting.begin(), link.awaiting.end(), m.seq)
      == link.awaiting.end())
    link.awaiting.push_back(m.seq);
  if (link.actor) // joined, or the rejoin was sent: the order holds
    self->send(link.actor, std::move(req));
}

void on_presence(self_ptr self, client_message& m) {
  auto& st = self->state;
  auto i = st.docs.find(m.doc);
  if (i != st.docs.end() && i->second.silent_rejoin)
    return; // ephemeral: the next presence after the rejoin will do
  if (i == st.docs.end() || i->second.state != doc_link::phase::joined) {
    send_error(self, errc::not_joined, "join the document first", m.doc);
    return;
  }
  self->send(i->second.actor,
             presence_request{st.session, st.client, st.claims.sub,
                              std::move(m.presence)});
}

void on_leave(self_ptr self, client_message& m) {
  auto& st = self->state;
  auto i = st.docs.find(m.doc);
  if (i == st.docs.end()) {
    send_error(self, errc::not_joined, "not joined", m.doc);
    return;
  }
  forget_doc(self, i);
  send_frame(self, encode_left(m.doc));
}

// A new token may allow less (an `auth` refresh): the documents it does not
// let the client read any more are left (error forbidden, then left); those
// it allows only reading become read-only.
void recheck_access(self_ptr self) {
  auto& st = self->state;
  std::vector<std::string> lost;
  for (auto& [doc, link] : st.docs) {
    auto level = access_for(st.claims, doc);
    if (level == access::none)
      lost.push_back(doc);
    link.can_write = level == access::write;
  }
  std::sort(lost.begin(), lost.end());
  for (auto& doc : lost) {
    forget_doc(self, st.docs.find(doc));
    send_error(self, errc::forbidden,
               "the new token does not allow this document", doc);
    send_frame(self, encode_left(doc));
  }
}

void on_auth(self_ptr self, client_message& m) {
  auto& st = self->state;
  token_claims claims;
  std::string why;
  if (!st.ctx->accept_token(m.token, claims, why)) {
    send_error(self, errc::forbidden, "token refused: " + why);
    return;
  }
  if (claims.sub != st.claims.sub) {
    send_error(self, errc::forbidden, "the token is for another user");
    return;
  }
  st.claims = std::move(claims);
  recheck_access(self);
  arm_expiry(self);
}

// Counts the frame and spends a token of the message-rate bucket; false
// (and the frame answered) over the rate. Checked on the raw frame: a flood
// costs no decoding.
bool admit(self_ptr self, std::string_view text) {
  auto& st = self->state;
  node_metrics().frames_in.fetch_add(1, std::memory_order_relaxed);
  ++st.messages_in;
  if (!st.messages.try_spend(1)) {
    refuse_rate_limited(self, text);
    return false;
  }
  return true;
}

// Decodes the frame into `m`; false (and the frame answered) when it is bad
// or comes before hello.
bool decode_frame(self_ptr self, const std::string& text, client_message& m) {
  auto& st = self->state;
  decode_error err;
  decode_limits limits;
  limits.max_op_components = st.ctx->cfg.max_op_components;
  if (!decode(text, m, err, limits)) {
    send_error(self, err.code, err.message, err.doc, err.seq);
    return false;
  }
  // docs/PROTOCOL.md: hello must be first (a ping too waits for it).
  if (st.client.empty() && m.type != msg_type::hello) {
    send_error(self, errc::bad_request, "send hello first", m.doc);
    return false;
  }
  return true;
}

void dispatch(self_ptr self, client_message& m) {
  switch (m.type) {
    case msg_type::hello: on_hello(self, m); return;
    case msg_type::join: on_join(self, m); return;
    case msg_type::op: on_op(self, m); return;
    case msg_type::presence: on_presence(self, m); return;
    case msg_type::leave: on_leave(self, m); return;
    case msg_type::auth: on_auth(self, m); return;
    case msg_type::ping: send_frame(self, encode_pong()); return;
  }
}

} // namespace

void on_frame(self_ptr self, std::string& text) {
  if (self->state.closing || !admit(self, text))
    return;
  client_message m;
  if (decode_frame(self, text, m))
    dispatch(self, m);
}

} // namespace collab::net::conn
