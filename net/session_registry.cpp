#include "net/session_registry.hpp"

#include <algorithm>

#include "actors/metrics.hpp"

namespace collab::net {

// -- user slots ---------------------------------------------------------------

session_registry::user_slot&
session_registry::user_slot::operator=(user_slot&& other) noexcept {
  if (this != &other) {
    release();
    reg_ = other.reg_;
    user_ = other.user_;
    other.reg_ = nullptr;
    other.user_ = nullptr;
  }
  return *this;
}

void session_registry::user_slot::release() {
  if (reg_ == nullptr)
    return;
  reg_->release_user(user_);
  reg_ = nullptr;
  user_ = nullptr;
}

session_registry::user_slot
session_registry::acquire_user(const std::string& user) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = users_.try_emplace(user, 0).first;
  if (i->second >= limits_.max_sockets_per_user) {
    if (i->second == 0)
      users_.erase(i);
    return {};
  }
  ++i->second;
  return user_slot{this, &*i};
}

void session_registry::release_user(user_slot::user_entry* user) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (--user->second == 0) // the map holds only users with open sockets
    users_.erase(users_.find(user->first));
}

size_t session_registry::sockets_of(const std::string& user) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = users_.find(user);
  return i == users_.end() ? 0 : i->second;
}

// -- sessions -----------------------------------------------------------------

void session_registry::configure(std::shared_ptr<memory_budget> budget,
                                 limits lim) {
  budget_ = std::move(budget);
  limits_ = lim;
}

void session_registry::add(const void* key, std::weak_ptr<session_sink> s,
                           inspectable_connection conn, std::string id) {
  std::lock_guard<std::mutex> guard{mutex_};
  sessions_.emplace(key, entry{std::move(s), std::move(conn), std::move(id)});
}

void session_registry::remove(const void* key) {
  std::lock_guard<std::mutex> guard{mutex_};
  sessions_.erase(key);
}

size_t session_registry::size() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return sessions_.size();
}

void session_registry::close_all(uint16_t code, const std::string& reason) {
  std::vector<std::shared_ptr<session_sink>> live;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    for (auto& [key, e] : sessions_)
      if (auto s = e.sink.lock())
        live.push_back(std::move(s));
  }
  for (auto& s : live)
    s->close(code, reason);
}

std::vector<inspectable_connection> session_registry::connections() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<inspectable_connection> out;
  for (auto& [key, e] : sessions_)
    out.push_back(e.conn);
  return out;
}

inspectable_connection session_registry::find(const std::string& id) const {
  std::lock_guard<std::mutex> guard{mutex_};
  for (auto& [key, e] : sessions_)
    if (e.id == id)
      return e.conn;
  return {};
}

void session_registry::kill_all() {
  std::lock_guard<std::mutex> guard{mutex_};
  for (auto& [key, e] : sessions_)
    caf::anon_send_exit(e.conn, caf::exit_reason::user_shutdown);
}

// -- bytes --------------------------------------------------------------------

void session_registry::input_received(uint64_t n) {
  input_.fetch_add(n);
  if (budget_)
    budget_->charge(n); // already read: held whatever the budget says
}

void session_registry::input_consumed(uint64_t n) {
  input_.fetch_sub(n);
  if (budget_)
    budget_->release(n);
}

void session_registry::output_queued(uint64_t n) {
  queued_.fetch_add(n);
  if (budget_)
    budget_->charge(n);
}

void session_registry::output_released(uint64_t n) {
  queued_.fetch_sub(n);
  if (budget_)
    budget_->release(n);
}

// Sessions chosen before still count in queued_ until they have dropped
// their queue (on their strand, soon after); what they hold is on its way
// out, so it is not counted twice (no more sockets are closed than it
// takes). Once dropped, a session counts nothing, and the check above
// returns at once again.
void session_registry::enforce_send_budget() {
  auto cap = limits_.send_queue_node_bytes;
  if (queued_.load() <= cap)
    return;
  struct candidate {
    uint64_t bytes;
    std::shared_ptr<session_sink> sink; // let go of after the lock
    entry* e;
  };
  std::vector<candidate> open;
  size_t victims = 0;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    auto total = queued_.load();
    open.reserve(sessions_.size());
    for (auto& [key, e] : sessions_) {
      auto sink = e.sink.lock();
      auto bytes = sink ? sink->queued_bytes() : 0;
      if (e.shed)
        total -= std::min(total, bytes);
      else if (bytes > 0)
        open.push_back(candidate{bytes, std::move(sink), &e});
    }
    std::sort(open.begin(), open.end(),
              [](auto& x, auto& y) { return x.bytes > y.bytes; });
    while (victims < open.size() && total > cap) {
      auto& v = open[victims++];
      v.e->shed = true;
      total -= std::min(total, v.bytes);
    }
    for (size_t i = 0; i < victims; ++i)
      open[i].e = nullptr; // entries are only safe under the lock
  }
  for (size_t i = 0; i < victims; ++i) {
    node_metrics().send_budget_closes.fetch_add(1, std::memory_order_relaxed);
    open[i].sink->drop(1013, "the node is over its send budget");
  }
}

void session_registry::render_metrics(std::string& out) const {
  append_metric(out, "gauge", "collab_send_queue_bytes",
                "bytes queued for writing on all sockets", queued_.load());
  append_metric(out, "gauge", "collab_unprocessed_input_bytes",
                "bytes received on all sockets and not yet handled",
                input_.load());
  if (!budget_)
    return;
  append_metric(out, "gauge", "collab_memory_budget_used_bytes",
                "memory charged to the node's budget", budget_->used());
  append_metric(out, "gauge", "collab_memory_budget_limit_bytes",
                "the node's memory budget (memory-budget-bytes)",
                budget_->limit());
}

} // namespace collab::net
