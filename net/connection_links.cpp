// The connection actor's links to document actors: finding a document
// through the directory (resolve, with bounded retries), joining it,
// watching its actor and, when that actor goes away (moved, passivated, its
// node died), resolving again, rejoining from the last revision seen and
// resubmitting the unacked op with the same seq.
//
// Thread-safety: runs inside the connection actor's handlers only.
#include <chrono>
#include <string>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/cluster_protocol.hpp"
#include "actors/core/log_escape.hpp"
#include "actors/directory.hpp"
#include "net/connection_state.hpp"

namespace collab::net::conn {
namespace {

// The directory found the document's actor: watch it, join it and resubmit
// the unacked op, if any.
void on_resolved(self_ptr self, const std::string& doc, document_actor actor) {
  auto& st = self->state;
  auto i = st.docs.find(doc);
  if (i == st.docs.end())
    return; // left meanwhile
  auto& link = i->second;
  link.actor = actor;
  self->monitor(actor);
  st.doc_of[actor.address()] = doc;
  send_join(self, link, doc);
  // A resubmission after the document actor went away.
  if (link.unacked)
    self->send(actor, *link.unacked);
}

// The directory could not find the document's actor: retry shortly, or
// give up with `unavailable` and forget the document.
void on_resolve_failed(self_ptr self, const std::string& doc,
                       const caf::error& err) {
  auto& st = self->state;
  auto i = st.docs.find(doc);
  if (i == st.docs.end())
    return;
  auto& link = i->second;
  // The owner node is full (max_live_docs) or shutting down: retrying now
  // won't help.
  bool full = is(err, directory_errc::full) || is(err, directory_errc::closed);
  // It is loading its limit of documents (a restart's storm of joins): ask
  // again after a random pause, so that the joins spread out.
  bool busy = is(err, directory_errc::busy);
  if (!full && ++link.attempts < max_resolve_attempts) {
    // Or the owner may be moving or dying: try again shortly.
    auto pause = busy ? jittered(resolve_retry) : resolve_retry;
    self->delayed_send(self, pause, resolve_atom_v, doc);
    return;
  }
  spdlog::warn("session={} doc={} event=resolve_failed error=\"{}\"",
               st.session, doc, log_escape(self->system().render(err)));
  std::string why = full || busy ? directory_error_text(err)
                                 : "document unavailable";
  auto after = full   ? jittered(retry_after_full)
               : busy ? jittered(retry_after_busy)
                      : jittered(retry_after_default);
  std::optional<uint64_t> seq;
  if (link.unacked) {
    why += "; retry with the same seq";
    seq = link.unacked->seq;
  }
  send_error(self, errc::unavailable, why, doc, seq, uint64_t(after.count()));
  erase_doc(self, i);
}

} // namespace

void send_join(self_ptr self, doc_link& link, const std::string& doc) {
  auto& st = self->state;
  link.state = doc_link::phase::joining;
  // Batches come through the node's relay: registered before the document
  // hears of the join, so the relay knows us before the first batch.
  auto relay = st.batch ? st.ctx->relay : relay_actor{};
  if (relay)
    self->send(relay, relay_join_atom_v, doc,
               caf::actor_cast<document_subscriber>(self));
  join_request req{caf::actor_cast<document_subscriber>(self),
                   st.session,
                   st.client,
                   st.claims.sub,
                   link.resume,
                   link.rev,
                   st.ctx->cfg.node_id,
                   st.batch,
                   relay};
  self->send(link.actor, std::move(req));
}

void resolve(self_ptr self, const std::string& doc) {
  self
    ->request(self->state.ctx->directory, resolve_timeout, resolve_atom_v, doc)
    .then([=](document_actor actor) { on_resolved(self, doc, actor); },
          [=](caf::error& err) { on_resolve_failed(self, doc, err); });
}

void on_resolve_retry(self_ptr self, const std::string& doc) {
  auto i = self->state.docs.find(doc);
  if (i != self->state.docs.end()
      && i->second.state == doc_link::phase::resolving)
    resolve(self, doc);
}

void unwatch(self_ptr self, doc_link& link) {
  if (!link.actor)
    return;
  self->demonitor(link.actor.address());
  self->state.doc_of.erase(link.actor.address());
}

void erase_doc(self_ptr self, doc_map::iterator i) {
  auto& st = self->state;
  if (st.batch && st.ctx->relay)
    self->send(st.ctx->relay, relay_leave_atom_v, i->first,
               caf::actor_cast<document_subscriber>(self));
  st.docs.erase(i);
}

void forget_doc(self_ptr self, doc_map::iterator i) {
  auto& st = self->state;
  if (i->second.actor)
    self->send(i->second.actor, leave_request{st.session});
  unwatch(self, i->second);
  erase_doc(self, i);
}

// A document actor went away (passivated or its node died): resolve again,
// resume from the last revision seen and resubmit the unacked op.
void on_doc_down(self_ptr self, const caf::down_msg& dm) {
  auto& st = self->state;
  auto i = st.doc_of.find(dm.source);
  if (i == st.doc_of.end())
    return;
  auto doc = i->second;
  st.doc_of.erase(i);
  auto j = st.docs.find(doc);
  if (j == st.docs.end())
    return;
  auto& link = j->second;
  if (link.state == doc_link::phase::joined) {
    link.resume = true; // from link.rev
    link.silent_rejoin = true;
  }
  link.state = doc_link::phase::resolving;
  link.actor = nullptr;
  // A handed-off document ends normally: resolve at once. One that failed
  // (its node died, it could not load) is retried after a pause, a bounded
  // number of times (a client that is joining hears sooner).
  auto limit = link.silent_rejoin ? max_resolve_attempts : max_join_attempts;
  if (dm.reason && ++link.attempts >= limit) {
    send_error(self, errc::unavailable, "document unavailable; join again",
               doc);
    erase_doc(self, j);
    return;
  }
  if (!dm.reason)
    resolve(self, doc);
  else if (dm.reason == caf::exit_reason::remote_link_unreachable)
    self->delayed_send(self, crash_settle, resolve_atom_v, doc);
  else
    self->delayed_send(self, resolve_retry, resolve_atom_v, doc);
}

} // namespace collab::net::conn
