// The admin API's view of the cluster: the member list (this node alone when
// it is not clustered) and fan-out of one question to the members' node
// agents. Internal to net/admin_*.cpp.
//
// Thread-safety: with_members may run on any thread; the rest runs inside
// the request's actor (`self`).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/all.hpp>

#include "actors/cluster_protocol.hpp"
#include "net/http_routes.hpp"
#include "net/server_context.hpp"

namespace collab::net::admin {

using actor_ptr = caf::event_based_actor*;
using members = std::vector<member_info>;

// How long a request waits for any one actor's answer.
constexpr auto ask_timeout = std::chrono::seconds(3);

std::vector<node_agent_actor> agents_of(const members& ms);

std::vector<std::string> names_at(const members& ms,
                                  const std::vector<size_t>& idx);

// The members not down with an agent (only the one named `only`, if given).
members live(const members& ms, std::optional<std::string_view> only = {});

// The member named `node`, or null.
const member_info* find_member(const members& ms, const std::string& node);

// Runs `then` inside a fresh actor once the member list (lost members
// included) is known; a single node is its own member list.
void with_members(server_context& ctx, const http_request& req, reply_fn reply,
                  std::function<void(actor_ptr, members)> then);

// The members among `ms` whose agent answers true to `xs...` (gather<bool>
// would lose which answer came from whom).
template<class... Ts>
void members_saying_yes(actor_ptr self, const members& ms,
                        std::function<void(members)> then, Ts... xs) {
  struct round {
    members yes;
    size_t left;
  };
  auto r = std::make_shared<round>(round{{}, ms.size()});
  if (ms.empty()) {
    then({});
    return;
  }
  for (auto& m : ms)
    self->request(m.agent, ask_timeout, xs...)
      .then(
        [=](bool answer) {
          if (answer)
            r->yes.push_back(m);
          if (--r->left == 0)
            then(r->yes);
        },
        [=](caf::error&) {
          if (--r->left == 0)
            then(r->yes);
        });
}

// The nodes among `ms` where `doc` is live.
void find_live(actor_ptr self, const members& ms, const std::string& doc,
               std::function<void(members)> then);

} // namespace collab::net::admin
