#include "persistence/redis_admin.hpp"

#include <memory>
#include <stdexcept>

#include <caf/all.hpp>

#include "persistence/redis_connection.hpp"
#include "persistence/redis_errors.hpp"
#include "persistence/redis_stream_codec.hpp"

namespace collab {
namespace {

constexpr const char* revocations_key = "collab:revocations";

struct admin_state {
  std::unique_ptr<redis_connection> conn;
  static inline const char* name = "redis_admin";
};

using self_ptr = redis_admin_actor::stateful_pointer<admin_state>;

// Runs `cmds` in one round trip; an error reply counts as a failure.
caf::error run(self_ptr self, const std::vector<redis_command>& cmds,
               std::vector<redis_reply>& replies) {
  if (auto err = self->state.conn->run(cmds, replies))
    return err;
  for (auto& r : replies)
    if (r->type == REDIS_REPLY_ERROR)
      return make_error(redis_errc::unavailable,
                        std::string{"redis: "} + r->str);
  return {};
}

std::string entry_id(const redisReply* range) {
  // XRANGE/XREVRANGE COUNT 1: [[id, [fields...]]]
  if (range->type != REDIS_REPLY_ARRAY || range->elements == 0)
    return {};
  auto entry = range->element[0];
  if (entry->type != REDIS_REPLY_ARRAY || entry->elements == 0
      || entry->element[0]->type != REDIS_REPLY_STRING)
    return {};
  return {entry->element[0]->str, entry->element[0]->len};
}

redis_admin_actor::behavior_type redis_admin(self_ptr self, redis_endpoint ep,
                                             redis_options opts) {
  self->state.conn = std::make_unique<redis_connection>(
    std::move(ep),
    redis_connection_timeouts{opts.connect_timeout, opts.io_timeout,
                              opts.backoff_initial, opts.backoff_max});
  return {
    [=](stream_info_atom, const std::string& doc) -> caf::result<stream_info> {
      auto key = stream_key(doc);
      std::vector<redis_reply> replies;
      if (auto err = run(self,
                         {{"XLEN", key},
                          {"XRANGE", key, "-", "+", "COUNT", "1"},
                          {"XREVRANGE", key, "+", "-", "COUNT", "1"}},
                         replies))
        return err;
      stream_info out;
      out.length = static_cast<uint64_t>(replies[0]->integer);
      out.first_id = entry_id(replies[1].get());
      out.last_id = entry_id(replies[2].get());
      return out;
    },
    [=](save_revocation_atom, const revocation& r) -> caf::result<bool> {
      auto field = r.jti.empty() ? "sub:" + r.sub : "jti:" + r.jti;
      std::vector<redis_reply> replies;
      if (auto err
          = run(self, {{"HSET", revocations_key, field, std::to_string(r.at)}},
                replies))
        return err;
      return true;
    },
    [=](revocations_atom) -> caf::result<std::vector<revocation>> {
      std::vector<redis_reply> replies;
      if (auto err = run(self, {{"HGETALL", revocations_key}}, replies))
        return err;
      std::vector<revocation> out;
      auto r = replies[0].get();
      for (size_t i = 0; i + 1 < r->elements; i += 2) {
        std::string field{r->element[i]->str, r->element[i]->len};
        revocation rev;
        rev.at = std::strtoll(r->element[i + 1]->str, nullptr, 10);
        if (field.rfind("jti:", 0) == 0)
          rev.jti = field.substr(4);
        else if (field.rfind("sub:", 0) == 0)
          rev.sub = field.substr(4);
        else
          continue;
        out.push_back(std::move(rev));
      }
      return out;
    },
  };
}

} // namespace

redis_admin_actor spawn_redis_admin(caf::actor_system& sys,
                                    const redis_options& opts) {
  redis_endpoint ep;
  if (auto err = parse_redis_url(opts.url, ep); !err.empty())
    throw std::invalid_argument("COLLAB_REDIS_URL: " + err);
  return sys.spawn<caf::detached>(redis_admin, std::move(ep), opts);
}

} // namespace collab
