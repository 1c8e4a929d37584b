// The admin API's view of the cluster (net/admin_members.hpp).
#include "net/admin_members.hpp"

#include "net/http_util.hpp"

namespace collab::net::admin {

namespace http = boost::beast::http;

std::vector<node_agent_actor> agents_of(const members& ms) {
  std::vector<node_agent_actor> out;
  for (auto& m : ms)
    out.push_back(m.agent);
  return out;
}

std::vector<std::string> names_at(const members& ms,
                                  const std::vector<size_t>& idx) {
  std::vector<std::string> out;
  for (auto i : idx)
    out.push_back(ms[i].node);
  return out;
}

members live(const members& ms, std::optional<std::string_view> only) {
  members out;
  for (auto& m : ms)
    if (m.state != member_state::down && m.agent && (!only || m.node == *only))
      out.push_back(m);
  return out;
}

const member_info* find_member(const members& ms, const std::string& node) {
  for (auto& m : ms)
    if (m.node == node)
      return &m;
  return nullptr;
}

void with_members(server_context& ctx, const http_request& req, reply_fn reply,
                  std::function<void(actor_ptr, members)> then) {
  member_info self;
  self.node = ctx.cfg.node_id;
  self.agent = ctx.agent;
  self.client_port = ctx.client_port;
  self.admin_port = ctx.cfg.admin_port;
  self.state = ctx.draining ? member_state::draining : member_state::up;
  auto membership = ctx.membership;
  ctx.sys.spawn([=](actor_ptr actor) {
    if (!membership) {
      then(actor, {self});
      return;
    }
    actor->request(membership, ask_timeout, nodes_atom_v)
      .then([=](members& ms) { then(actor, std::move(ms)); },
            [=](caf::error&) {
              reply(json_error(req, http::status::service_unavailable,
                               "unavailable", "membership did not answer"));
            });
  });
}

void find_live(actor_ptr self, const members& ms, const std::string& doc,
               std::function<void(members)> then) {
  members_saying_yes(self, ms, std::move(then), lookup_atom_v, doc);
}

} // namespace collab::net::admin
