// Every message between connection actors, document actors, the directory,
// membership and the node agents. Each type is registered
// (register_message_types) and serialisable with `inspect`, because these
// messages cross nodes. The plain types every layer shares are in
// actors/core/; the store's protocol is persistence/document_store.hpp.
//
//   connection --join/leave/submit/presence--> document
//   document   --joined/op/ack/presence/error events--> connection
//   document   --load/commit/read_ops/find_seq--> document store
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include "actors/core/committed_op.hpp"
#include "actors/core/doc_snapshot.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/inspect_helpers.hpp"
#include "actors/core/revocation.hpp"
#include "actors/ot/rope.hpp"
#include "actors/ot/text_unicode.hpp"

CAF_ADD_ATOM(collab, collab, resolve_atom, "resolve")
CAF_ADD_ATOM(collab, collab, snapshot_atom, "snapshot")
CAF_ADD_ATOM(collab, collab, snapshot_now_atom, "snapnow")
CAF_ADD_ATOM(collab, collab, release_atom, "release")
CAF_ADD_ATOM(collab, collab, idle_atom, "idle")
CAF_ADD_ATOM(collab, collab, quiet_atom, "quiet")
CAF_ADD_ATOM(collab, collab, stats_atom, "stats")
CAF_ADD_ATOM(collab, collab, frame_atom, "frame")
CAF_ADD_ATOM(collab, collab, closed_atom, "closed")
CAF_ADD_ATOM(collab, collab, expire_atom, "expire")
CAF_ADD_ATOM(collab, collab, resolve_local_atom, "resolvelo")
CAF_ADD_ATOM(collab, collab, member_join_atom, "mjoin")
CAF_ADD_ATOM(collab, collab, member_update_atom, "mupdate")
CAF_ADD_ATOM(collab, collab, members_atom, "members")
CAF_ADD_ATOM(collab, collab, drain_atom, "drain")
CAF_ADD_ATOM(collab, collab, inspect_atom, "inspect")
CAF_ADD_ATOM(collab, collab, list_atom, "list")
CAF_ADD_ATOM(collab, collab, lookup_atom, "lookup")
CAF_ADD_ATOM(collab, collab, evict_atom, "evict")
CAF_ADD_ATOM(collab, collab, pin_atom, "pin")
CAF_ADD_ATOM(collab, collab, kick_atom, "kick")
CAF_ADD_ATOM(collab, collab, revoke_atom, "revoke")
CAF_ADD_ATOM(collab, collab, nodes_atom, "nodes")
CAF_ADD_ATOM(collab, collab, docs_atom, "docs")
CAF_ADD_ATOM(collab, collab, conns_atom, "conns")
CAF_ADD_ATOM(collab, collab, presence_atom, "presence")

namespace collab {

// ---- the op log record


// A value shared by every receiver together with its wire frame: the frame
// is encoded once, by the first connection actor that needs it, and then
// reused by all others (a committed op, a presence update).
template <class T>
class shared_frame {
public:
  shared_frame() = default;
  explicit shared_frame(T value) : cell_(std::make_shared<cell>()) {
    cell_->value = std::move(value);
  }
  const T& get() const { return cell_->value; }
  template <class Encoder>
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

// ---- connection -> document

struct join_request {
  caf::actor conn;            // where the events go
  std::string session;
  std::string client;
  std::string user;
  bool resume = false;        // join with rev
  uint64_t rev = 0;
  std::string node;           // the node holding the socket (for inspection)
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
  std::string data;           // raw JSON, "null" clears
};

// ---- document -> connection

struct joined_event {
  std::string doc;
  uint64_t rev = 0;
  bool has_text = false;      // false for a resumed join
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

struct error_event {
  std::string doc;
  errc code = errc::internal;
  std::string message;
  bool has_seq = false;
  uint64_t seq = 0;
};

// ---- document <-> store


// ---- cluster membership

// `joining` and `down` are only shown to operators: placement uses the
// members that are `up`.
enum class member_state : uint8_t { up, draining, joining, down };

const char* to_string(member_state s);

// What a node tells the others about itself.
struct member_info {
  std::string node;           // COLLAB_NODE_ID, unique in the cluster
  std::string host;           // cluster address others connect to
  uint16_t port = 0;
  member_state state = member_state::up;
  std::string version;        // nodes of different versions refuse each other
  caf::actor membership;      // its membership actor (monitored: node down)
  caf::actor directory;       // where documents it owns are resolved
  caf::actor agent;           // answers operators' questions (node_agent)
  uint16_t client_port = 0;   // where clients connect (HTTP + WebSocket)
  uint16_t admin_port = 0;    // the admin API, 0 when off
};

// An operator's override of placement: `doc` lives on `node` while that
// node is up (collabctl move).
struct placement_pin {
  std::string doc;
  std::string node;
};

// ---- inspection (collabctl; docs/ADMIN.md names the fields)

struct node_status {
  std::string node;
  member_state state = member_state::up;
  std::string cluster_addr;
  uint16_t client_port = 0;
  uint16_t admin_port = 0;
  int64_t uptime_ms = 0;
  int64_t connections = 0;
  int64_t sessions = 0;
  int64_t documents = 0;
  double ops_per_s = 0;
  uint64_t rss_bytes = 0;
  uint64_t ops_committed = 0;
  std::string version;
};

struct doc_status {
  std::string doc;
  std::string node;
  uint64_t rev = 0;           // head (ordered, maybe not yet durable)
  uint64_t durable_rev = 0;
  uint64_t snapshot_rev = 0;
  uint64_t subscribers = 0;
  uint64_t mailbox = 0;
  double ops_per_s = 0;
  int64_t idle_ms = 0;        // since the last commit or join
};

struct subscriber_info {
  std::string session;
  std::string client;
  std::string user;
  std::string node;
  std::string presence;       // raw JSON; empty when none
};

struct doc_detail {
  doc_status status;
  uint64_t epoch = 0;
  uint64_t history_from = 0;  // ops (history_from, history_to] in memory
  uint64_t history_to = 0;
  std::vector<subscriber_info> subscribers;
  std::vector<committed_op> recent_ops;
};

struct conn_status {
  std::string node;
  std::string session;
  std::string user;
  std::string client;
  std::string remote;
  std::vector<std::string> docs;
  uint64_t send_queue_bytes = 0;
  uint64_t messages_in = 0;
  uint64_t messages_out = 0;
  int64_t connected_ms = 0;
};

// ---- inspect

namespace detail {
// A shared value crosses nodes as its value; the frame is encoded again there.
template <class Inspector, class T>
typename Inspector::result_type inspect_shared(Inspector& f, shared_frame<T>& x,
                                               const char* name) {
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

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shared_op& x) {
  return detail::inspect_shared(f, x, "shared_op");
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, presence_update& x) {
  return f(caf::meta::type_name("presence_update"), x.doc, x.client, x.user,
           x.data);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shared_presence& x) {
  return detail::inspect_shared(f, x, "shared_presence");
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, join_request& x) {
  return f(caf::meta::type_name("join_request"), x.conn, x.session, x.client,
           x.user, x.resume, x.rev, x.node);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leave_request& x) {
  return f(caf::meta::type_name("leave_request"), x.session);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, submit_request& x) {
  return f(caf::meta::type_name("submit_request"), x.session, x.client, x.user,
           x.seq, x.base_rev, x.op);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, presence_request& x) {
  return f(caf::meta::type_name("presence_request"), x.session, x.client,
           x.user, x.data);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, joined_event& x) {
  return f(caf::meta::type_name("joined_event"), x.doc, x.rev, x.has_text,
           x.text);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, op_event& x) {
  return f(caf::meta::type_name("op_event"), x.op);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ack_event& x) {
  return f(caf::meta::type_name("ack_event"), x.doc, x.seq, x.rev);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, presence_event& x) {
  return f(caf::meta::type_name("presence_event"), x.presence);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, error_event& x) {
  return detail::inspect_with_enum(f, x.code, "error_event", x.doc, x.message,
                                   x.has_seq, x.seq);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_info& x) {
  return detail::inspect_with_enum(f, x.state, "member_info", x.node, x.host,
                                   x.port, x.version, x.membership,
                                   x.directory, x.agent, x.client_port,
                                   x.admin_port);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, placement_pin& x) {
  return f(caf::meta::type_name("placement_pin"), x.doc, x.node);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return detail::inspect_with_enum(f, x.state, "node_status", x.node,
                                   x.cluster_addr, x.client_port, x.admin_port,
                                   x.uptime_ms, x.connections, x.sessions,
                                   x.documents, x.ops_per_s, x.rss_bytes,
                                   x.ops_committed, x.version);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, doc_status& x) {
  return f(caf::meta::type_name("doc_status"), x.doc, x.node, x.rev,
           x.durable_rev, x.snapshot_rev, x.subscribers, x.mailbox,
           x.ops_per_s, x.idle_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscriber_info& x) {
  return f(caf::meta::type_name("subscriber_info"), x.session, x.client,
           x.user, x.node, x.presence);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, doc_detail& x) {
  return f(caf::meta::type_name("doc_detail"), x.status, x.epoch,
           x.history_from, x.history_to, x.subscribers, x.recent_ops);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, conn_status& x) {
  return f(caf::meta::type_name("conn_status"), x.node, x.session, x.user,
           x.client, x.remote, x.docs, x.send_queue_bytes, x.messages_in,
           x.messages_out, x.connected_ms);
}
// Registers every type above under the same names on every node.
void register_message_types(caf::actor_system_config& cfg);

} // namespace collab
