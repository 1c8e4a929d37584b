// Every message between connection actors, document actors, the directory
// and the document store. Each type is registered (register_message_types)
// and serialisable with `inspect`, because from the cluster issue on these
// messages cross nodes.
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

#include "actors/errors.hpp"
#include "actors/ot/rope.hpp"
#include "actors/ot/text_unicode.hpp"

CAF_ADD_ATOM(collab, collab, resolve_atom, "resolve")
CAF_ADD_ATOM(collab, collab, load_atom, "load")
CAF_ADD_ATOM(collab, collab, commit_atom, "commit")
CAF_ADD_ATOM(collab, collab, read_ops_atom, "readops")
CAF_ADD_ATOM(collab, collab, find_seq_atom, "findseq")
CAF_ADD_ATOM(collab, collab, snapshot_atom, "snapshot")
CAF_ADD_ATOM(collab, collab, save_snapshot_atom, "savesnap")
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
CAF_ADD_ATOM(collab, collab, retry_atom, "retry")

namespace collab {

// ---- the op log record

// One committed op: revision `rev` of `doc`, made by (client, seq).
struct committed_op {
  std::string doc;
  uint64_t rev = 0;
  std::string client;
  uint64_t seq = 0;
  std::string user;
  ot::op op;
};

// A committed op shared by every subscriber. The wire frame is encoded once,
// by the first connection actor that needs it, and then reused by all others.
class shared_op {
public:
  shared_op() = default;
  explicit shared_op(committed_op op);
  const committed_op& get() const { return cell_->op; }
  template <class Encoder>
  const std::string& frame(Encoder&& encode) const {
    std::call_once(cell_->once, [&] { cell_->frame = encode(cell_->op); });
    return cell_->frame;
  }
  // Keeps the frame alive as long as the caller needs it (zero-copy sends).
  std::shared_ptr<const std::string> frame_ptr() const {
    return {cell_, &cell_->frame};
  }

private:
  struct cell {
    committed_op op;
    std::once_flag once;
    std::string frame;
  };
  std::shared_ptr<cell> cell_;
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, shared_op& x);
};

// ---- connection -> document

struct join_request {
  caf::actor conn;            // where the events go
  std::string session;
  std::string client;
  std::string user;
  bool resume = false;        // join with rev
  uint64_t rev = 0;
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

struct presence_event {
  std::string doc;
  std::string client;
  std::string user;
  std::string data;
};

struct error_event {
  std::string doc;
  errc code = errc::internal;
  std::string message;
  bool has_seq = false;
  uint64_t seq = 0;
};

// ---- document <-> store

// What a document actor starts from.
struct doc_snapshot {
  uint64_t epoch = 0;         // fence epoch the loading owner commits with
  uint64_t rev = 0;           // the head revision
  ot::rope text;              // the text at `rev`
  uint64_t snapshot_rev = 0;  // the latest stored snapshot
  uint64_t oldest_rev = 0;    // ops (oldest_rev, rev] are in the op log
  std::vector<committed_op> tail;     // the last ops up to `rev`, oldest first
  std::vector<committed_op> clients;  // per client its last op (exactly-once);
                                      // `op` may be left empty
};

// ---- cluster membership

enum class member_state : uint8_t { up, draining };

// What a node tells the others about itself.
struct member_info {
  std::string node;           // COLLAB_NODE_ID, unique in the cluster
  std::string host;           // cluster address others connect to
  uint16_t port = 0;
  member_state state = member_state::up;
  std::string version;        // nodes of different versions refuse each other
  caf::actor membership;      // its membership actor (monitored: node down)
  caf::actor directory;       // where documents it owns are resolved
};

// ---- inspect

namespace detail {
template <class Inspector>
typename Inspector::result_type inspect_rope(Inspector& f, ot::rope& r) {
  if constexpr (Inspector::reads_state) {
    auto s = r.to_string();
    return f(s);
  } else {
    std::string s;
    auto res = f(s);
    r = ot::rope{s};
    return res;
  }
}
} // namespace detail

} // namespace collab

namespace collab::ot {
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, component& x) {
  auto k = static_cast<uint8_t>(x.k);
  if constexpr (Inspector::reads_state) {
    return f(caf::meta::type_name("ot_component"), k, x.n, x.text, x.has_text);
  } else {
    auto res = f(caf::meta::type_name("ot_component"), k, x.n, x.text,
                 x.has_text);
    x.k = static_cast<component::kind>(k);
    return res;
  }
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rope& x) {
  return collab::detail::inspect_rope(f, x);
}
} // namespace collab::ot

namespace collab {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, committed_op& x) {
  return f(caf::meta::type_name("committed_op"), x.doc, x.rev, x.client,
           x.seq, x.user, x.op);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shared_op& x) {
  if constexpr (Inspector::reads_state) {
    return f(caf::meta::type_name("shared_op"), x.cell_->op);
  } else {
    committed_op op;
    auto res = f(caf::meta::type_name("shared_op"), op);
    x = shared_op{std::move(op)};
    return res;
  }
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, join_request& x) {
  return f(caf::meta::type_name("join_request"), x.conn, x.session, x.client,
           x.user, x.resume, x.rev);
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
  return f(caf::meta::type_name("presence_event"), x.doc, x.client, x.user,
           x.data);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, error_event& x) {
  auto code = static_cast<uint8_t>(x.code);
  if constexpr (Inspector::reads_state) {
    return f(caf::meta::type_name("error_event"), x.doc, code, x.message,
             x.has_seq, x.seq);
  } else {
    auto res = f(caf::meta::type_name("error_event"), x.doc, code, x.message,
                 x.has_seq, x.seq);
    x.code = static_cast<errc>(code);
    return res;
  }
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, doc_snapshot& x) {
  return f(caf::meta::type_name("doc_snapshot"), x.epoch, x.rev, x.text,
           x.snapshot_rev, x.oldest_rev, x.tail, x.clients);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_info& x) {
  auto state = static_cast<uint8_t>(x.state);
  if constexpr (Inspector::reads_state) {
    return f(caf::meta::type_name("member_info"), x.node, x.host, x.port,
             state, x.version, x.membership, x.directory);
  } else {
    auto res = f(caf::meta::type_name("member_info"), x.node, x.host, x.port,
                 state, x.version, x.membership, x.directory);
    x.state = static_cast<member_state>(state);
    return res;
  }
}

// Registers every type above under the same names on every node.
void register_message_types(caf::actor_system_config& cfg);

} // namespace collab
