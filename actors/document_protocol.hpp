// The client-facing document protocol: what a connection actor (or any
// subscriber) and a document actor say to each other, and what a document
// answers to inspection. The life of one op through these messages:
// docs/ARCHITECTURE.md.
//
//   subscriber --join/leave/submit/presence requests--> document_actor
//   document   --joined/op/ack/presence/error events--> document_subscriber
//
// Every type is registered (register_message_types, actors/messages.hpp)
// and serialisable with `inspect`: these messages cross nodes.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/type_id.hpp>
#include <caf/typed_actor.hpp>

#include "actors/core/committed_op.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/inspect_helpers.hpp"
#include "actors/ot/rope.hpp"
#include "actors/ot/text_unicode.hpp"

// Finding a document: (resolve_atom, doc) to a directory; resolve_local_atom
// is the same asked of the owner node by another node.
CAF_ADD_ATOM(collab, collab, resolve_atom, "resolve")
CAF_ADD_ATOM(collab, collab, resolve_local_atom, "resolvelo")
// Asked of a document by its directory (hand-off) and by operators.
CAF_ADD_ATOM(collab, collab, release_atom, "release")
CAF_ADD_ATOM(collab, collab, inspect_atom, "inspect")
CAF_ADD_ATOM(collab, collab, snapshot_now_atom, "snapnow")
CAF_ADD_ATOM(collab, collab, evict_atom, "evict")
// Asked by readers (HTTP): the durable revision and text.
CAF_ADD_ATOM(collab, collab, snapshot_atom, "snapshot")
// A document's own timers (self-messages; never sent by others).
CAF_ADD_ATOM(collab, collab, presence_atom, "presence")
CAF_ADD_ATOM(collab, collab, quiet_atom, "quiet")
CAF_ADD_ATOM(collab, collab, idle_atom, "idle")
CAF_ADD_ATOM(collab, collab, deliver_atom, "deliver")
// A connection actor (un)registers with its node's relay for a document.
CAF_ADD_ATOM(collab, collab, relay_join_atom, "rjoin")
CAF_ADD_ATOM(collab, collab, relay_leave_atom, "rleave")

namespace collab {

// A value shared by every receiver together with its wire frame: the frame
// is encoded once, by the first connection actor that needs it, and then
// reused by all others (a committed op, a presence update).
template<class T>
class shared_frame {
public:
  shared_frame() = default;
  explicit shared_frame(T value) : cell_(std::make_shared<cell>()) {
    cell_->value = std::move(value);
  }
  const T& get() const { return cell_->value; }
  template<class Encoder>
  const std::string& frame(Encoder&& encode) const {
    std::call_once(cell_->once, [&] { cell_->frame = encode(cell_->value); });
    return cell_->frame;
  }
  // Keeps the frame alive as long as the caller needs it (zero-copy sends).
  std::shared_ptr<const std::string> frame_ptr() const {
    return {cell_, &cell_->frame};
  }

private:
  struct cell {
    T value;
    std::once_flag once;
    std::string frame;
  };
  std::shared_ptr<cell> cell_;
};

using shared_op = shared_frame<committed_op>;

// Another session's presence in a document: `data` is raw JSON, "null" when
// it cleared it, left or disconnected.
struct presence_update {
  std::string doc;
  std::string client;
  std::string user;
  std::string data;
};

using shared_presence = shared_frame<presence_update>;

// Batched delivery (a session that said `"batch":true` in hello): the ops a
// document made durable within one tick, consecutive revisions, and the
// presence updates of one presence tick, each one event and one frame for
// every batched receiver.
struct op_batch {
  std::string doc;
  std::vector<committed_op> ops;
};

using shared_ops = shared_frame<op_batch>;

struct presence_batch {
  std::string doc;
  std::vector<presence_update> updates;
};

using shared_presences = shared_frame<presence_batch>;

// ---- connection -> document

struct joined_event;
struct op_event;
struct ack_event;
struct presence_event;
struct error_event;
struct ops_event;
struct presences_event;

// Whoever joins a document: it hears the document's events.
using document_subscriber
  = caf::typed_actor<caf::reacts_to<joined_event>, caf::reacts_to<op_event>,
                     caf::reacts_to<ack_event>, caf::reacts_to<presence_event>,
                     caf::reacts_to<error_event>, caf::reacts_to<ops_event>,
                     caf::reacts_to<presences_event>>;

// One per node (actors/relay.hpp): a document sends each batch once to the
// relay of every node with batched subscribers, and the relay hands it to
// that node's connection actors registered for the document (fan-out per
// node, not per subscriber: one cluster message per node and batch).
using relay_actor = caf::typed_actor<
  caf::reacts_to<ops_event>, caf::reacts_to<presences_event>,
  caf::reacts_to<relay_join_atom, std::string, document_subscriber>,
  caf::reacts_to<relay_leave_atom, std::string, document_subscriber>>;

struct join_request {
  document_subscriber conn; // where the events go
  std::string session;
  std::string client;
  std::string user;
  bool resume = false; // join with rev
  uint64_t rev = 0;
  std::string node; // the node holding the socket (for inspection)
  bool batch = false; // ops and presence in batches (ops_event, ...)
  // The node's relay, where batches for `conn` go (null: sent to conn).
  relay_actor relay{};
};

struct leave_request {
  std::string session;
};

struct submit_request {
  std::string session;
  std::string client;
  std::string user;
  uint64_t seq = 0;
  uint64_t base_rev = 0;
  ot::op op;
};

struct presence_request {
  std::string session;
  std::string client;
  std::string user;
  std::string data; // raw JSON, "null" clears
};

// ---- document -> connection

struct joined_event {
  std::string doc;
  uint64_t rev = 0;
  bool has_text = false; // false for a resumed join
  ot::rope text;
};

struct op_event {
  shared_op op;
};

struct ack_event {
  std::string doc;
  uint64_t seq = 0;
  uint64_t rev = 0;
};

// One event for every receiver of the same update (encoded once).
struct presence_event {
  shared_presence presence;
};

// To batched sessions: the ops of one tick; the session's own ops in it are
// its acks.
struct ops_event {
  shared_ops batch;
};

// To batched sessions: the presence updates of one tick (the receiver's own
// included: a shared frame is the same for everyone).
struct presences_event {
  shared_presences batch;
};

struct error_event {
  std::string doc;
  errc code = errc::internal;
  std::string message;
  bool has_seq = false;
  uint64_t seq = 0;
};

// ---- document -> inspection (collabctl; docs/ADMIN.md names the fields)

struct doc_status {
  std::string doc;
  std::string node;
  uint64_t rev = 0; // head (ordered, maybe not yet durable)
  uint64_t durable_rev = 0;
  uint64_t snapshot_rev = 0;
  uint64_t subscribers = 0;
  uint64_t mailbox = 0;
  double ops_per_s = 0;
  int64_t idle_ms = 0; // since the last commit or join
};

struct subscriber_info {
  std::string session;
  std::string client;
  std::string user;
  std::string node;
  std::string presence; // raw JSON; empty when none
};

struct doc_detail {
  doc_status status;
  uint64_t epoch = 0;
  uint64_t history_from = 0; // ops (history_from, history_to] in memory
  uint64_t history_to = 0;
  std::vector<subscriber_info> subscribers;
  std::vector<committed_op> recent_ops;
};

// ---- the actors

// The one writer of one document (actors/document_actor.hpp).
using document_actor = caf::typed_actor<
  caf::reacts_to<join_request>, caf::reacts_to<leave_request>,
  caf::reacts_to<submit_request>, caf::reacts_to<presence_request>,
  // Hand the document off: finish the commit in flight, snapshot, stop.
  caf::reacts_to<release_atom>, caf::replies_to<inspect_atom>::with<doc_status>,
  caf::replies_to<inspect_atom, uint64_t>::with<doc_detail>, // recent ops
  caf::replies_to<snapshot_now_atom>::with<uint64_t>, // snapshot rev
  caf::replies_to<evict_atom>::with<uint64_t>, // last rev
  caf::replies_to<snapshot_atom>::with<uint64_t, ot::rope>, // durable
  // Its own timers.
  caf::reacts_to<presence_atom>, caf::reacts_to<quiet_atom>,
  caf::reacts_to<idle_atom, uint64_t>, caf::reacts_to<deliver_atom>>;

// ---- inspect

namespace detail {
// A shared value crosses nodes as its value; the frame is encoded again there.
template<class Inspector, class T>
typename Inspector::result_type
inspect_shared(Inspector& f, shared_frame<T>& x, const char* name) {
  if constexpr (Inspector::reads_state) {
    return f(caf::meta::type_name(name), const_cast<T&>(x.get()));
  } else {
    T value;
    auto res = f(caf::meta::type_name(name), value);
    x = shared_frame<T>{std::move(value)};
    return res;
  }
}
} // namespace detail

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, shared_op& x) {
  return detail::inspect_shared(f, x, "shared_op");
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, presence_update& x) {
  return f(caf::meta::type_name("presence_update"), x.doc, x.client, x.user,
           x.data);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, shared_presence& x) {
  return detail::inspect_shared(f, x, "shared_presence");
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, op_batch& x) {
  return f(caf::meta::type_name("op_batch"), x.doc, x.ops);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, shared_ops& x) {
  return detail::inspect_shared(f, x, "shared_ops");
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, presence_batch& x) {
  return f(caf::meta::type_name("presence_batch"), x.doc, x.updates);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, shared_presences& x) {
  return detail::inspect_shared(f, x, "shared_presences");
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, ops_event& x) {
  return f(caf::meta::type_name("ops_event"), x.batch);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, presences_event& x) {
  return f(caf::meta::type_name("presences_event"), x.batch);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, join_request& x) {
  return f(caf::meta::type_name("join_request"), x.conn, x.session, x.client,
           x.user, x.resume, x.rev, x.node, x.batch, x.relay);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, leave_request& x) {
  return f(caf::meta::type_name("leave_request"), x.session);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, submit_request& x) {
  return f(caf::meta::type_name("submit_request"), x.session, x.client, x.user,
           x.seq, x.base_rev, x.op);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, presence_request& x) {
  return f(caf::meta::type_name("presence_request"), x.session, x.client,
           x.user, x.data);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, joined_event& x) {
  return f(caf::meta::type_name("joined_event"), x.doc, x.rev, x.has_text,
           x.text);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, op_event& x) {
  return f(caf::meta::type_name("op_event"), x.op);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, ack_event& x) {
  return f(caf::meta::type_name("ack_event"), x.doc, x.seq, x.rev);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, presence_event& x) {
  return f(caf::meta::type_name("presence_event"), x.presence);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, error_event& x) {
  return detail::inspect_with_enum(f, x.code, "error_event", x.doc, x.message,
                                   x.has_seq, x.seq);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, doc_status& x) {
  return f(caf::meta::type_name("doc_status"), x.doc, x.node, x.rev,
           x.durable_rev, x.snapshot_rev, x.subscribers, x.mailbox, x.ops_per_s,
           x.idle_ms);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscriber_info& x) {
  return f(caf::meta::type_name("subscriber_info"), x.session, x.client, x.user,
           x.node, x.presence);
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, doc_detail& x) {
  return f(caf::meta::type_name("doc_detail"), x.status, x.epoch,
           x.history_from, x.history_to, x.subscribers, x.recent_ops);
}

} // namespace collab
