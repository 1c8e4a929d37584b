#include "persistence/redis_reader.hpp"

#include <chrono>

#include <caf/all.hpp>

#include "persistence/redis_connection.hpp"
#include "persistence/redis_stream_codec.hpp"

namespace collab {
namespace {

struct reader_state {
  std::unique_ptr<redis_connection> conn;
  static inline const char* name = "redis_reader";
};

using reader_ptr = redis_reader_actor::stateful_pointer<reader_state>;

redis_reader_actor::behavior_type
redis_reader(reader_ptr self, redis_endpoint ep, redis_options opts,
             std::shared_ptr<redis_health> health,
             std::function<void()> on_exit) {
  self->state.conn = std::make_unique<redis_connection>(
    std::move(ep),
    redis_connection_timeouts{opts.connect_timeout, opts.read_timeout,
                              opts.backoff_initial, opts.backoff_max});
  if (on_exit)
    self->attach_functor([f = std::move(on_exit)] { f(); });
  return {
    [=](stream_read_atom, const std::string& doc, uint64_t from, uint64_t to,
        int64_t deadline) -> caf::result<std::vector<committed_op>> {
      using namespace std::chrono;
      auto& conn = *self->state.conn;
      auto left = duration_cast<milliseconds>(
        nanoseconds{deadline} - steady_clock::now().time_since_epoch());
      if (left.count() <= 0) {
        health->read_errors.fetch_add(1);
        return make_error(redis_errc::unavailable,
                          "read waited past its deadline");
      }
      conn.limit_timeouts(left);
      if (conn.backing_off()) {
        health->read_errors.fetch_add(1);
        return make_error(redis_errc::unavailable, "Redis down, backing off");
      }
      std::vector<redis_reply> replies;
      if (auto err = conn.run({xrange_command(doc, from, to)}, replies)) {
        health->read_errors.fetch_add(1);
        health->fail(error_text(err));
        return err;
      }
      health->ok();
      std::vector<committed_op> ops;
      auto why = decode_range(replies.front().get(), doc, from, to, ops);
      if (!why.empty()) {
        health->read_misses.fetch_add(1);
        return make_error(redis_errc::not_covered, std::move(why));
      }
      health->reads.fetch_add(1);
      return caf::result<std::vector<committed_op>>{std::move(ops)};
    },
  };
}

} // namespace

redis_reader_actor spawn_redis_reader(caf::local_actor* parent,
                                      const redis_endpoint& ep,
                                      const redis_options& opts,
                                      std::shared_ptr<redis_health> health,
                                      std::function<void()> on_exit) {
  return parent->spawn<caf::detached + caf::linked>(
    redis_reader, ep, opts, std::move(health), std::move(on_exit));
}

} // namespace collab
