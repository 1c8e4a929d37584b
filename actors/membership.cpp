#include "actors/membership.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include <arpa/inet.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/core/log_escape.hpp"
#include "actors/metrics.hpp"

namespace collab {
namespace {

constexpr auto connect_timeout = std::chrono::seconds(5);
constexpr auto retry_interval = std::chrono::milliseconds(500);

struct membership_state {
  member_info self;
  std::vector<std::string> seeds;
  directory_actor directory;
  caf::io::middleman_actor transport;
  std::function<void(const std::string&, uint16_t)> hang_up;
  std::minstd_rand jitter{std::random_device{}()};
  std::map<std::string, member_info> members; // by node id, without self
  std::map<std::string, member_info> lost; // seen down, for operators
  std::set<std::string> dial_pending; // "host:port" with a dial_atom due
  bool joined = false; // reached a seed (or has none): else "joining"
  static inline const char* name = "membership";
};

using self_ptr = membership_actor::stateful_pointer<membership_state>;

std::vector<member_info> all_members(self_ptr self) {
  std::vector<member_info> out{self->state.self};
  for (auto& [id, m] : self->state.members)
    out.push_back(m);
  return out;
}

void publish_to_directory(self_ptr self) {
  self->send(self->state.directory, members_atom_v, all_members(self));
}

void connect_to(self_ptr self, const std::string& host, uint16_t port);

// A member as told to a third node: its address without actor handles. Each
// node takes the handles of a member only from that member, over their
// direct connection, so that no message is ever routed through a third
// node (such a route dies with that node).
member_info address_only(member_info m) {
  m.membership = nullptr;
  m.directory = nullptr;
  m.agent = nullptr;
  return m;
}

// Adds (or refreshes) a member learned from a join or a member list.
void add_member(self_ptr self, const member_info& m) {
  auto& st = self->state;
  if (m.node == st.self.node || !m.membership)
    return;
  auto i = st.members.find(m.node);
  if (i != st.members.end() && i->second.membership == m.membership) {
    if (i->second.state != m.state) {
      i->second.state = m.state;
      publish_to_directory(self);
    }
    return;
  }
  if (i != st.members.end())
    self->demonitor(i->second.membership.address()); // a restarted process
  st.members[m.node] = m;
  st.lost.erase(m.node);
  st.joined = true;
  self->monitor(m.membership);
  spdlog::info("event=member_up member={} addr={}:{}", log_escape(m.node),
               log_escape(m.host), m.port);
  publish_to_directory(self);
}

// Every pair of nodes is joined by one dial, from the node whose address
// sorts first; the other waits `answer_grace` (plus up to `answer_jitter`)
// before it dials, and then only if the first has not joined it meanwhile.
// Two dials that cross on the wire break the pair's link: CAF 0.17's BASP
// keeps, on each side, a route on which the other has no route back, so
// every answer between them is lost until a join times out and both hang
// up (see redial below), which members see as a member_down. The grace
// keeps the dial of the second node for when the first does not know it
// (a seed list that is not symmetric) or cannot reach it.
constexpr auto answer_grace = std::chrono::milliseconds(1500);
constexpr auto answer_jitter = std::chrono::milliseconds(1000);

std::string address_key(const std::string& host, uint16_t port) {
  return host + ":" + std::to_string(port);
}

bool dials_first(const membership_state& st, const std::string& host,
                 uint16_t port) {
  return std::tie(st.self.host, st.self.port) < std::tie(host, port);
}

// Dials host:port after `pause`, plus the grace when the other node dials
// first.
void dial_after(self_ptr self, const std::string& host, uint16_t port,
                std::chrono::milliseconds pause) {
  auto& st = self->state;
  if (!dials_first(st, host, port)) {
    std::uniform_int_distribution<int> extra{0, int(answer_jitter.count())};
    pause += answer_grace + std::chrono::milliseconds(extra(st.jitter));
  }
  if (pause.count() == 0)
    connect_to(self, host, port);
  else if (st.dial_pending.insert(address_key(host, port)).second)
    self->delayed_send(self, pause, dial_atom_v, host, port);
}

void dial(self_ptr self, const std::string& host, uint16_t port) {
  dial_after(self, host, port, std::chrono::milliseconds(0));
}

// A join that got no answer over a connection that was set up: the two
// nodes' dials crossed (see answer_grace). Hang up and dial again after a
// random pause (the other side does the same).
void redial(self_ptr self, const std::string& host, uint16_t port) {
  auto& st = self->state;
  if (st.hang_up)
    st.hang_up(host, port);
  std::uniform_int_distribution<int> extra{0, 2 * int(retry_interval.count())};
  dial_after(self, host, port,
             retry_interval + std::chrono::milliseconds(extra(st.jitter)));
}

// Joins the node at host:port: connect through the middleman (never
// blocking this actor), then exchange member lists.
void connect_to(self_ptr self, const std::string& host, uint16_t port) {
  auto mm = self->state.transport ? self->state.transport
                                  : self->system().middleman().actor_handle();
  self->request(mm, connect_timeout, caf::connect_atom_v, host, port)
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>&) {
        auto remote = caf::actor_cast<membership_actor>(ptr);
        if (!remote) {
          spdlog::warn("event=join_failed addr={}:{} error=\"no membership "
                       "actor published there\"",
                       log_escape(host), port);
          return;
        }
        self
          ->request(remote, connect_timeout, member_join_atom_v,
                    self->state.self)
          .then(
            [=](const std::vector<member_info>& list) {
              // The node we reached directly is a member now; of the
              // others, each pair is joined by one dial (a full mesh).
              for (auto& m : list) {
                if (m.membership == remote)
                  add_member(self, m);
                else if (m.node != self->state.self.node
                         && self->state.members.count(m.node) == 0)
                  dial(self, m.host, m.port);
              }
            },
            [=](caf::error& err) {
              spdlog::error("event=join_refused addr={}:{} error=\"{}\"",
                            log_escape(host), port,
                            log_escape(self->system().render(err)));
              if (err == caf::sec::request_timeout)
                redial(self, host, port);
            });
      },
      [=](caf::error& err) {
        spdlog::debug("event=seed_unreachable addr={}:{} error=\"{}\"",
                      log_escape(host), port,
                      log_escape(self->system().render(err)));
        dial_after(self, host, port, retry_interval);
      });
}

// A numeric address (dialled as given); otherwise a DNS name, whose
// addresses collabd resolves and sends (seeds_atom).
bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1
         || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Splits "host:port" (false when it is not that).
bool split_address(const std::string& a, std::string& host, uint16_t& port) {
  auto colon = a.rfind(':');
  if (colon == std::string::npos || colon + 1 == a.size())
    return false;
  unsigned long p = 0;
  for (auto c : a.substr(colon + 1)) {
    if (c < '0' || c > '9' || (p = p * 10 + unsigned(c - '0')) > 65535)
      return false;
  }
  host = a.substr(0, colon);
  port = static_cast<uint16_t>(p);
  return !host.empty() && port != 0;
}

bool is_self(const membership_state& st, const std::string& host,
             uint16_t port) {
  return port == st.self.port
         && (host == st.self.host || host == "localhost"
             || host == "127.0.0.1");
}

// A member is gone: forget it for placement, remember it for operators.
void lose_member(self_ptr self, std::map<std::string, member_info>::iterator i,
                 const std::string& why) {
  auto& st = self->state;
  spdlog::warn("event=member_down member={} reason={}", log_escape(i->first),
               log_escape(why));
  node_metrics().members_lost.fetch_add(1, std::memory_order_relaxed);
  auto gone = i->second;
  gone.state = member_state::down;
  st.lost[i->first] = gone;
  st.members.erase(i);
  publish_to_directory(self);
  // Dial it again until it answers: a member that hung, or was cut off,
  // and comes back rejoins (a restarted one also dials its seeds).
  dial_after(self, gone.host, gone.port, retry_interval);
}

membership_actor::behavior_type membership(self_ptr self,
                                           membership_options opts) {
  auto& st = self->state;
  st.self = std::move(opts.self);
  st.self.membership = caf::actor_cast<membership_actor>(self);
  st.self.directory = opts.directory;
  st.self.version = cluster_protocol_version;
  st.seeds = std::move(opts.seeds);
  st.directory = std::move(opts.directory);
  st.transport = std::move(opts.transport);
  st.hang_up = std::move(opts.hang_up);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    for (auto i = st.members.begin(); i != st.members.end(); ++i)
      if (i->second.membership.address() == dm.source) {
        lose_member(self, i, self->system().render(dm.reason));
        return;
      }
  });
  publish_to_directory(self);
  st.joined = true;
  for (auto& seed : st.seeds) {
    std::string host;
    uint16_t port = 0;
    // A DNS name is dialled at the addresses it resolves to (seeds_atom).
    if (!split_address(seed, host, port) || !is_ip_literal(host))
      continue;
    if (!is_self(st, host, port)) {
      st.joined = false;
      dial(self, host, port);
    }
  }
  return {
    [=](member_join_atom,
        member_info& m) -> caf::result<std::vector<member_info>> {
      if (m.version != cluster_protocol_version) {
        spdlog::error("event=member_refused member={} version={} ours={}",
                      log_escape(m.node), m.version, cluster_protocol_version);
        return caf::make_error(caf::sec::runtime_error,
                               "cluster protocol version mismatch: ours is "
                                 + std::string(cluster_protocol_version));
      }
      if (m.node == self->state.self.node)
        return caf::make_error(caf::sec::runtime_error,
                               "duplicate node id " + m.node);
      auto known = all_members(self);
      for (size_t i = 1; i < known.size(); ++i)
        known[i] = address_only(known[i]);
      add_member(self, m);
      // Tell everyone else about the newcomer: they connect back.
      for (auto& [id, other] : self->state.members)
        if (id != m.node)
          self->send(other.membership, member_update_atom_v, address_only(m));
      return known;
    },
    [=](member_update_atom, member_info& m) {
      auto& st = self->state;
      if (m.version != cluster_protocol_version || m.node == st.self.node)
        return;
      auto i = st.members.find(m.node);
      if (m.membership && i != st.members.end()
          && i->second.membership == m.membership)
        add_member(self, m); // a state change (draining), from the member
      else if (!m.membership && i == st.members.end())
        dial(self, m.host, m.port); // a newcomer: connect directly
    },
    [=](seeds_atom, const std::vector<std::string>& addresses) {
      auto& st = self->state;
      for (auto& a : addresses) {
        std::string host;
        uint16_t port = 0;
        if (!split_address(a, host, port) || is_self(st, host, port)
            || st.dial_pending.count(address_key(host, port)) > 0)
          continue;
        auto known = std::any_of(
          st.members.begin(), st.members.end(), [&](const auto& kv) {
            return kv.second.host == host && kv.second.port == port;
          });
        if (!known) {
          spdlog::info("event=seed_resolved addr={}:{}", log_escape(host),
                       port);
          dial(self, host, port);
        }
      }
    },
    [=](dial_atom, const std::string& host, uint16_t port) {
      self->state.dial_pending.erase(address_key(host, port));
      for (auto& [id, m] : self->state.members)
        if (m.host == host && m.port == port)
          return; // joined through someone else meanwhile
      connect_to(self, host, port);
    },
    [=](drain_atom) {
      auto& st = self->state;
      st.self.state = member_state::draining;
      for (auto& [id, m] : st.members)
        self->send(m.membership, member_update_atom_v, st.self);
      publish_to_directory(self);
    },
    [=](members_atom) { return all_members(self); },
    [=](nodes_atom) {
      // For operators: members as they are shown, lost ones included.
      auto& st = self->state;
      auto out = all_members(self);
      if (!st.joined && out[0].state == member_state::up)
        out[0].state = member_state::joining;
      for (auto& [id, m] : st.lost)
        out.push_back(m);
      return out;
    },
  };
}

} // namespace

membership_actor spawn_membership(caf::actor_system& sys,
                                  membership_options opts) {
  return sys.spawn(membership, std::move(opts));
}

} // namespace collab
