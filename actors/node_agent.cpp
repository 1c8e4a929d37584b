#include "actors/node_agent.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>

#include <caf/all.hpp>
#include <unistd.h>

#include "actors/gather.hpp"
#include "actors/membership.hpp"
#include "actors/metrics.hpp"
#include "actors/rate_meter.hpp"

namespace collab {
namespace {

constexpr auto ask_timeout = std::chrono::seconds(2);
constexpr auto sample_interval = std::chrono::seconds(1);
constexpr auto revocation_poll = std::chrono::seconds(2);

struct agent_state {
  node_agent_options opts;
  caf::actor_clock::time_point started;
  rate_meter ops_rate; // node-wide ops/s, sampled every second
  uint64_t last_ops = 0;
  static inline const char* name = "node_agent";
};

using self_ptr = node_agent_actor::stateful_pointer<agent_state>;

node_status status_of(self_ptr self) {
  auto& st = self->state;
  auto& m = node_metrics();
  auto now = self->clock().now();
  node_status out;
  out.node = st.opts.node;
  out.cluster_addr = st.opts.cluster_addr;
  out.client_port = st.opts.client_port;
  out.admin_port = st.opts.admin_port;
  out.uptime_ms
    = std::chrono::duration_cast<std::chrono::milliseconds>(now - st.started)
        .count();
  out.connections = m.connections.load(std::memory_order_relaxed);
  out.sessions = m.joined_sessions.load(std::memory_order_relaxed);
  out.documents = m.live_documents.load(std::memory_order_relaxed);
  out.ops_per_s = st.ops_rate.rate(now);
  out.rss_bytes = resident_bytes();
  out.ops_committed = m.ops_committed.load(std::memory_order_relaxed);
  out.version = cluster_protocol_version;
  return out;
}

// Asks every local connection to check its token again; answers how many
// closed their socket.
caf::result<uint64_t> cut_off_revoked(self_ptr self) {
  auto rp = self->make_response_promise<uint64_t>();
  gather<bool>(
    self, self->state.opts.connections(), ask_timeout,
    [=](std::vector<bool> closed, std::vector<size_t>) mutable {
      rp.deliver(
        static_cast<uint64_t>(std::count(closed.begin(), closed.end(), true)));
    },
    revoke_atom_v);
  return rp;
}

// Answers with what the local document actor `doc` answers to `xs...`, or
// not_found when the document is not live on this node.
template<class T, class... Ts>
caf::result<T> ask_document(self_ptr self, const std::string& doc, Ts... xs) {
  auto rp = self->make_response_promise<T>();
  self->request(self->state.opts.directory, ask_timeout, lookup_atom_v, doc)
    .then(
      [=](const std::vector<document_actor>& found) mutable {
        if (found.empty()) {
          rp.deliver(caf::make_error(caf::sec::invalid_argument,
                                     "document not live on this node"));
          return;
        }
        self->request(found[0], ask_timeout, xs...)
          .then([=](T& answer) mutable { rp.deliver(std::move(answer)); },
                [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      },
      [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

node_agent_actor::behavior_type node_agent(self_ptr self,
                                           node_agent_options opts) {
  self->state.opts = std::move(opts);
  self->state.started = self->clock().now();
  self->state.last_ops = node_metrics().ops_committed.load();
  self->send(self, sample_atom_v);
  if (self->state.opts.redis_admin)
    self->send(self, revocation_poll_atom_v);
  return {
    [=](revocation_poll_atom) {
      // Revocations made elsewhere (or before this node started).
      auto& opts = self->state.opts;
      self->request(opts.redis_admin, revocation_poll, revocations_atom_v)
        .then(
          [=](const std::vector<revocation>& list) {
            bool fresh = false;
            for (auto& r : list)
              fresh = self->state.opts.revoke(r) || fresh;
            if (fresh)
              cut_off_revoked(self);
          },
          [](caf::error&) {});
      self->delayed_send(self, revocation_poll, revocation_poll_atom_v);
    },
    [=](sample_atom) {
      // Node ops/s: the committed-ops counter sampled once a second.
      auto& st = self->state;
      auto ops = node_metrics().ops_committed.load(std::memory_order_relaxed);
      st.ops_rate.add(self->clock().now(), ops - st.last_ops);
      st.last_ops = ops;
      self->delayed_send(self, sample_interval, sample_atom_v);
    },
    [=](inspect_atom) { return status_of(self); },
    [=](docs_atom) -> caf::result<std::vector<doc_status>> {
      auto rp = self->make_response_promise<std::vector<doc_status>>();
      self->request(self->state.opts.directory, ask_timeout, list_atom_v)
        .then(
          [=](std::vector<document_actor>& docs) mutable {
            gather<doc_status>(
              self, std::move(docs), ask_timeout,
              [=](std::vector<doc_status> got, std::vector<size_t>) mutable {
                rp.deliver(std::move(got));
              },
              inspect_atom_v);
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](inspect_atom, const std::string& doc, uint64_t recent) {
      return ask_document<doc_detail>(self, doc, inspect_atom_v, recent);
    },
    [=](lookup_atom, const std::string& doc) -> caf::result<bool> {
      auto rp = self->make_response_promise<bool>();
      self->request(self->state.opts.directory, ask_timeout, lookup_atom_v, doc)
        .then(
          [=](const std::vector<document_actor>& found) mutable {
            rp.deliver(!found.empty());
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](snapshot_now_atom, const std::string& doc) {
      return ask_document<uint64_t>(self, doc, snapshot_now_atom_v);
    },
    [=](evict_atom, const std::string& doc) {
      return ask_document<uint64_t>(self, doc, evict_atom_v);
    },
    [=](pin_atom, const std::string& doc, const std::string& node) {
      return self->delegate(self->state.opts.directory, pin_atom_v, doc, node);
    },
    [=](resolve_local_atom, const std::string& doc) {
      return self->delegate(self->state.opts.directory, resolve_local_atom_v,
                            doc);
    },
    [=](conns_atom) -> caf::result<std::vector<conn_status>> {
      auto rp = self->make_response_promise<std::vector<conn_status>>();
      gather<conn_status>(
        self, self->state.opts.connections(), ask_timeout,
        [=](std::vector<conn_status> got, std::vector<size_t>) mutable {
          rp.deliver(std::move(got));
        },
        inspect_atom_v);
      return rp;
    },
    [=](kick_atom, const std::string& session) {
      return self->state.opts.kick(session);
    },
    [=](drain_atom) {
      self->state.opts.drain();
      return true;
    },
    [=](revoke_atom, const revocation& r) {
      self->state.opts.revoke(r);
      return cut_off_revoked(self);
    },
  };
}

} // namespace

node_agent_actor spawn_node_agent(caf::actor_system& sys,
                                  node_agent_options opts) {
  return sys.spawn(node_agent, std::move(opts));
}

uint64_t resident_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident))
    return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

} // namespace collab
