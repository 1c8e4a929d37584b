#include "persistence/redis_appender.hpp"

#include <algorithm>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "actors/log_escape.hpp"
#include "persistence/redis_errors.hpp"
#include "persistence/redis_stream_codec.hpp"

namespace collab {

redis_appender::redis_appender(redis_endpoint ep, const redis_options& opts,
                               std::shared_ptr<redis_health> health)
  : opts_(opts),
    health_(std::move(health)),
    conn_(std::move(ep), redis_connection_timeouts{opts.connect_timeout,
                                                   opts.io_timeout,
                                                   opts.backoff_initial,
                                                   opts.backoff_max}) {
  opts_.batch = std::max<size_t>(opts_.batch, 1);
  opts_.max_backlog = std::max<size_t>(opts_.max_backlog, 1);
  thread_ = std::thread{[this] { run(); }};
}

redis_appender::~redis_appender() {
  stop();
}

void redis_appender::push(std::vector<committed_op> ops) {
  if (ops.empty())
    return;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stop_) {
      health_->dropped.fetch_add(ops.size());
      return;
    }
    auto now = clock::now();
    for (auto& op : ops)
      queue_.push_back(item{std::move(op), now});
    drop_overflow();
  }
  cv_.notify_one();
}

void redis_appender::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable())
    thread_.join();
}

void redis_appender::drop_overflow() {
  while (queue_.size() > opts_.max_backlog) {
    queue_.pop_front();
    health_->dropped.fetch_add(1);
  }
  health_->backlog.store(queue_.size());
}

void redis_appender::requeue(std::vector<item>& batch, size_t first) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (size_t i = batch.size(); i > first; --i)
    queue_.push_front(std::move(batch[i - 1]));
  drop_overflow();
}

void redis_appender::run() {
  auto next_probe = clock::now();  // connect at once: health is known early
  std::vector<item> batch;
  for (;;) {
    bool stopping = false;
    batch.clear();
    {
      std::unique_lock<std::mutex> lock{mtx_};
      for (;;) {
        stopping = stop_;
        auto now = clock::now();
        auto can_send = conn_.connected() || now >= conn_.retry_at();
        if (!queue_.empty() && (can_send || stopping))
          break;
        if (stopping || now >= next_probe)
          break;
        auto until = queue_.empty() ? next_probe
                                    : std::min(next_probe, conn_.retry_at());
        cv_.wait_until(lock, until);
      }
      auto n = std::min(queue_.size(), opts_.batch);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      health_->backlog.store(queue_.size());
    }
    if (batch.empty()) {
      if (stopping)
        return;
      probe();
    } else {
      send(batch);
      if (stopping && !conn_.connected()) {
        // Redis is gone: give up on what is left.
        std::lock_guard<std::mutex> guard{mtx_};
        health_->dropped.fetch_add(queue_.size());
        queue_.clear();
        health_->backlog.store(0);
        return;
      }
    }
    next_probe = clock::now() + opts_.probe_interval;
  }
}

void redis_appender::probe() {
  if (conn_.backing_off())
    return;
  std::vector<redis_reply> replies;
  if (auto err = conn_.run({{"PING"}}, replies))
    mark_failed(error_text(err));
  else
    mark_ok();
}

void redis_appender::mark_ok() {
  if (state_ != link_state::up)
    spdlog::info("event=redis_up component=redis_appender");
  state_ = link_state::up;
  health_->ok();
}

void redis_appender::mark_failed(std::string why) {
  if (state_ != link_state::down)
    spdlog::warn("event=redis_down component=redis_appender error=\"{}\"",
                 log_escape(why));
  state_ = link_state::down;
  health_->fail(std::move(why));
}

void redis_appender::send(std::vector<item>& batch) {
  if (conn_.backing_off()) {  // only when stopping: no new failure to report
    requeue(batch, 0);
    return;
  }
  std::vector<redis_command> cmds;
  cmds.reserve(batch.size());
  for (auto& x : batch)
    cmds.push_back(xadd_command(x.op, opts_.maxlen));
  if (opts_.stream_ttl.count() > 0) {
    std::unordered_set<std::string> docs;
    for (auto& x : batch)
      if (docs.insert(x.op.doc).second)
        cmds.push_back(pexpire_command(x.op.doc, opts_.stream_ttl));
  }
  std::vector<redis_reply> replies;
  auto err = conn_.run(cmds, replies);
  auto answered = std::min(replies.size(), batch.size());
  std::string refused;
  for (size_t i = 0; i < answered; ++i) {
    switch (classify_xadd(replies[i].get())) {
      case xadd_result::appended:
        health_->appended.fetch_add(1);
        break;
      case xadd_result::duplicate:
        health_->duplicates.fetch_add(1);
        break;
      case xadd_result::refused:
        health_->dropped.fetch_add(1);
        refused = "XADD " + stream_key(batch[i].op.doc) + " "
                  + std::to_string(batch[i].op.rev) + "-0 refused: "
                  + std::string{replies[i]->str, replies[i]->len};
        break;
    }
  }
  if (answered > 0) {
    auto lag = clock::now() - batch[answered - 1].queued;
    health_->lag_ms.store(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(lag).count()));
  }
  if (err) {
    mark_failed(error_text(err));
    requeue(batch, answered);
    return;
  }
  mark_ok();
  if (!refused.empty()) {
    spdlog::warn("event=redis_refused component=redis_appender error=\"{}\"",
                 log_escape(refused));
    health_->fail(std::move(refused));
  }
}

} // namespace collab
