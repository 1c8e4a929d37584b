#include "persistence/redis_appender.hpp"

#include <algorithm>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "actors/core/log_escape.hpp"
#include "persistence/redis_errors.hpp"
#include "persistence/redis_stream_codec.hpp"

namespace collab {

redis_appender::redis_appender(redis_endpoint ep, const redis_options& opts,
                               std::shared_ptr<redis_health> health)
    : opts_(opts),
      health_(std::move(health)),
      conn_(std::move(ep),
            redis_connection_timeouts{opts.connect_timeout, opts.io_timeout,
                                      opts.backoff_initial, opts.backoff_max}) {
  opts_.batch = std::max<size_t>(opts_.batch, 1);
  opts_.max_backlog = std::max<size_t>(opts_.max_backlog, 1);
  opts_.tracked_docs = std::max<size_t>(opts_.tracked_docs, 1);
  thread_ = std::thread{[this] {
    run();
  }};
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
  auto next_probe = clock::now(); // connect at once: health is known early
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
  if (conn_.backing_off()) { // only when stopping: no new failure to report
    requeue(batch, 0);
    return;
  }
  // Streams whose bytes we do not count yet: their size first.
  std::vector<std::string> unknown;
  if (opts_.max_bytes > 0) {
    std::unordered_set<std::string> docs;
    for (auto& x : batch)
      if (docs.insert(x.op.doc).second && counted(x.op.doc) == nullptr)
        unknown.push_back(x.op.doc);
  }
  std::vector<redis_command> cmds;
  cmds.reserve(unknown.size() + batch.size());
  for (auto& doc : unknown)
    cmds.push_back(memory_usage_command(doc));
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
  auto first = unknown.size(); // replies[first + i] answers batch[i]
  for (size_t i = 0; i < first && i < replies.size(); ++i) {
    // An error (MEMORY not allowed) or nil (no stream yet): nothing known.
    auto* r = replies[i].get();
    auto known = r != nullptr && r->type == REDIS_REPLY_INTEGER
                     && r->integer > 0
                   ? static_cast<uint64_t>(r->integer)
                   : uint64_t{0};
    start_counting(unknown[i], known);
  }
  auto answered = replies.size() > first
                    ? std::min(replies.size() - first, batch.size())
                    : size_t{0};
  std::string refused;
  for (size_t i = 0; i < answered; ++i) {
    auto& reply = replies[first + i];
    switch (classify_xadd(reply.get())) {
      case xadd_result::appended:
        health_->appended.fetch_add(1);
        if (opts_.max_bytes > 0)
          if (auto* s = counted(batch[i].op.doc))
            count(*s, batch[i].op.rev, entry_bytes(cmds[first + i]));
        break;
      case xadd_result::duplicate: health_->duplicates.fetch_add(1); break;
      case xadd_result::refused:
        health_->dropped.fetch_add(1);
        refused = "XADD " + stream_key(batch[i].op.doc) + " "
                  + std::to_string(batch[i].op.rev)
                  + "-0 refused: " + std::string{reply->str, reply->len};
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
  if (opts_.max_bytes > 0)
    trim(batch);
}

// ---- stream bytes

void redis_appender::make_room() {
  if (recent_.size() < opts_.tracked_docs)
    return;
  older_ = std::move(recent_);
  recent_.clear();
}

redis_appender::stream_bytes* redis_appender::counted(const std::string& doc) {
  if (auto i = recent_.find(doc); i != recent_.end())
    return &i->second;
  auto i = older_.find(doc);
  if (i == older_.end())
    return nullptr;
  auto node = older_.extract(i); // before make_room may drop older_
  make_room();
  return &recent_.insert(std::move(node)).position->second;
}

redis_appender::stream_bytes&
redis_appender::start_counting(const std::string& doc, uint64_t known_bytes) {
  older_.erase(doc);
  make_room();
  auto& s = recent_[doc];
  s = stream_bytes{};
  if (known_bytes > 0) {
    s.chunks.push_back(chunk{0, known_bytes});
    s.total = known_bytes;
  }
  return s;
}

void redis_appender::count(stream_bytes& s, uint64_t rev, uint64_t bytes) {
  // About 8 chunks per max_bytes: a trim keeps at least 7/8 of the bound.
  auto grain = std::max<uint64_t>(opts_.max_bytes / 8, 1);
  if (s.chunks.empty() || s.chunks.back().first_rev == 0
      || s.chunks.back().bytes >= grain)
    s.chunks.push_back(chunk{rev, 0});
  s.chunks.back().bytes += bytes;
  s.total += bytes;
  s.last_rev = rev;
}

void redis_appender::trim(const std::vector<item>& batch) {
  std::vector<redis_command> cmds;
  std::vector<std::string> docs;
  std::unordered_set<std::string> seen;
  for (auto& x : batch) {
    if (!seen.insert(x.op.doc).second)
      continue;
    auto* s = counted(x.op.doc);
    if (s == nullptr || s->total <= opts_.max_bytes)
      continue;
    while (!s->chunks.empty() && s->total > opts_.max_bytes) {
      s->total -= s->chunks.front().bytes;
      s->chunks.pop_front();
    }
    // Nothing left: the newest entry alone is over the bound.
    auto keep_from = s->chunks.empty() ? s->last_rev + 1
                                       : s->chunks.front().first_rev;
    cmds.push_back(xtrim_command(x.op.doc, keep_from));
    docs.push_back(x.op.doc);
  }
  if (cmds.empty())
    return;
  std::vector<redis_reply> replies;
  auto err = conn_.run(cmds, replies);
  health_->trims.fetch_add(replies.size());
  if (err) {
    // Not trimmed after all: count these streams afresh next time.
    for (auto i = replies.size(); i < docs.size(); ++i) {
      recent_.erase(docs[i]);
      older_.erase(docs[i]);
    }
    mark_failed(error_text(err));
  }
}

} // namespace collab
