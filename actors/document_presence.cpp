// Presence in a document (ephemeral cursors, selections, names): each update
// is one shared event whose frame is encoded once for all receivers. An
// update goes out at once when the document sent none this tick; otherwise
// it waits for the tick (`presence_tick`), and only the last update of each
// session is sent then, to batched sessions (hello `batch`) as one event for
// the whole tick. A session that leaves or disconnects is cleared with a null
// presence at once.
//
// Thread-safety: runs inside the document actor's handlers only.
#include <caf/all.hpp>

#include "actors/document_state.hpp"

namespace collab::doc_actor {
namespace {

enum class receivers : uint8_t { all, unbatched };

void broadcast(self_ptr self, const std::string& from_session,
               const subscriber& from, const std::string& data,
               receivers to = receivers::all) {
  presence_event ev{shared_presence{
    presence_update{self->state.doc, from.client, from.user, data}}};
  for (auto& [session, sub] : self->state.subs)
    if (session != from_session && (to == receivers::all || !sub.batched))
      self->send(sub.conn, ev);
}

void broadcast_batch(self_ptr self, std::vector<presence_update> updates) {
  auto& st = self->state;
  if (updates.empty() || st.batched_subs == 0)
    return;
  send_batched(self, presences_event{shared_presences{
                       presence_batch{st.doc, std::move(updates)}}});
}

void arm_tick(self_ptr self) {
  self->state.presence_tick_armed = true;
  self->delayed_send(self, self->state.opts.presence_tick, presence_atom_v);
}

bool is_set(const std::string& presence) {
  return !presence.empty() && presence != "null";
}

} // namespace

void on_presence(self_ptr self, presence_request& req) {
  auto& st = self->state;
  auto i = st.subs.find(req.session);
  if (i == st.subs.end()) {
    send_error(self,
               caf::actor_cast<document_subscriber>(self->current_sender()),
               errc::not_joined, "join the document first");
    return;
  }
  auto& sub = i->second;
  sub.presence = std::move(req.data);
  if (st.opts.presence_tick.count() <= 0) {
    broadcast(self, req.session, sub, sub.presence);
    return;
  }
  if (!st.presence_tick_armed) {
    broadcast(self, req.session, sub, sub.presence);
    arm_tick(self);
    return;
  }
  if (!sub.presence_dirty) {
    sub.presence_dirty = true;
    st.presence_dirty.push_back(req.session);
  }
}

void on_presence_tick(self_ptr self) {
  auto& st = self->state;
  st.presence_tick_armed = false;
  auto dirty = std::move(st.presence_dirty);
  st.presence_dirty.clear();
  bool sent = false;
  std::vector<presence_update> batch;
  for (auto& session : dirty) {
    auto i = st.subs.find(session);
    if (i == st.subs.end() || !i->second.presence_dirty)
      continue; // left (cleared already) or joined again since
    auto& sub = i->second;
    sub.presence_dirty = false;
    broadcast(self, session, sub, sub.presence, receivers::unbatched);
    if (st.batched_subs > 0)
      batch.push_back(
        presence_update{st.doc, sub.client, sub.user, sub.presence});
    sent = true;
  }
  broadcast_batch(self, std::move(batch));
  // Quiet for a whole tick: the next update goes out at once again.
  if (sent)
    arm_tick(self);
}

void presence_left(self_ptr self, const std::string& session, subscriber& sub) {
  if (is_set(sub.presence))
    broadcast(self, session, sub, "null");
}

void send_presences(self_ptr self, const document_subscriber& to,
                    const std::string& session) {
  auto& st = self->state;
  for (auto& [s, sub] : st.subs)
    if (s != session && is_set(sub.presence))
      self->send(to, presence_event{shared_presence{presence_update{
                       st.doc, sub.client, sub.user, sub.presence}}});
}

} // namespace collab::doc_actor
