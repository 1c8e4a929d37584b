#include "persistence/redis_op_log.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "persistence/redis_appender.hpp"
#include "persistence/redis_reader.hpp"

namespace collab {

// Counts reader actors that have not yet terminated.
struct redis_stop_latch {
  std::mutex mtx;
  std::condition_variable cv;
  size_t running = 0;

  void done() {
    std::lock_guard<std::mutex> guard{mtx};
    --running;
    cv.notify_all();
  }
  bool wait_for(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, d, [this] { return running == 0; });
  }
};

namespace {

struct op_log_state {
  std::vector<redis_reader_actor> readers;
  size_t next = 0;
  static inline const char* name = "redis_op_log";
};

using op_log_ptr = redis_op_log_actor::stateful_pointer<op_log_state>;

// appender == nullptr: disabled.
redis_op_log_actor::behavior_type
op_log(op_log_ptr self, std::shared_ptr<redis_appender> appender,
       redis_endpoint ep, redis_options opts,
       std::shared_ptr<redis_health> health,
       std::shared_ptr<redis_stop_latch> latch) {
  if (appender != nullptr)
    for (size_t i = 0; i < opts.readers; ++i)
      self->state.readers.push_back(
        spawn_redis_reader(self, ep, opts, health, [latch] { latch->done(); }));
  return {
    [=](stream_append_atom, std::vector<committed_op>& ops) {
      if (appender != nullptr)
        appender->push(std::move(ops));
    },
    [=](stream_read_atom, const std::string& doc, uint64_t from,
        uint64_t to) -> caf::result<std::vector<committed_op>> {
      auto& st = self->state;
      if (from == to)
        return std::vector<committed_op>{};
      if (st.readers.empty() || from > to || to - from > opts.max_read_ops) {
        health->read_misses.fetch_add(1);
        return make_error(redis_errc::not_covered,
                          st.readers.empty() ? "Redis op log disabled"
                                             : "range not served from Redis");
      }
      auto deadline = std::chrono::steady_clock::now() + opts.read_timeout;
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  deadline.time_since_epoch())
                  .count();
      auto& reader = st.readers[st.next++ % st.readers.size()];
      return self->delegate(reader, stream_read_atom_v, doc, from, to,
                            static_cast<int64_t>(ns));
    },
  };
}

} // namespace

redis_op_log spawn_redis_op_log(caf::actor_system& sys, redis_options opts) {
  auto health = std::make_shared<redis_health>();
  auto latch = std::make_shared<redis_stop_latch>();
  redis_endpoint ep;
  std::shared_ptr<redis_appender> appender;
  if (!opts.url.empty()) {
    if (auto err = parse_redis_url(opts.url, ep); !err.empty())
      throw std::invalid_argument(err);
    opts.readers = std::max<size_t>(opts.readers, 1);
    health->enabled = true;
    latch->running = opts.readers;
    appender = std::make_shared<redis_appender>(ep, opts, health);
    spdlog::info("event=redis_op_log_start host={} port={} db={} maxlen={} "
                 "max_bytes={} readers={}",
                 ep.host, ep.port, ep.db, opts.maxlen, opts.max_bytes,
                 opts.readers);
  }
  redis_op_log result;
  result.actor_ = sys.spawn(op_log, appender, ep, opts, health, latch);
  result.health_ = health;
  result.appender_ = std::move(appender);
  result.readers_done_ = std::move(latch);
  result.stop_wait_ = opts.connect_timeout + opts.read_timeout
                      + std::chrono::milliseconds{1000};
  return result;
}

redis_op_log& redis_op_log::operator=(redis_op_log&& other) noexcept {
  if (this != &other) {
    stop();
    actor_ = std::move(other.actor_);
    health_ = std::move(other.health_);
    appender_ = std::move(other.appender_);
    readers_done_ = std::move(other.readers_done_);
    stop_wait_ = other.stop_wait_;
  }
  return *this;
}

redis_op_log::~redis_op_log() {
  stop();
}

void redis_op_log::stop() {
  if (actor_) {
    caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
    actor_ = nullptr;
  }
  if (readers_done_) {
    if (!readers_done_->wait_for(stop_wait_))
      spdlog::warn("event=redis_op_log_stop message=\"readers still busy\"");
    readers_done_.reset();
  }
  if (appender_) {
    appender_->stop();
    appender_.reset();
  }
}

} // namespace collab
