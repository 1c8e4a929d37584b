// Bounds the documents loading at once on a node. After a restart, thousands
// of sockets reconnect within a second; without a bound each would start a
// document load at once, and the store's queue (and every client's wait)
// would grow with them. The directory takes a slot before it spawns a
// document; the document gives it back when its load is answered, or when
// it stops first. A resolve that finds no slot fails with
// directory_errc::busy, and the connection asks again shortly (a bounded
// number of times), so the load is spread instead of queued without end.
//
// Thread-safety: try_enter only from the directory (one actor: its check and
// its add do not race each other); leave from any document actor.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

namespace collab {

class activation_gate {
public:
  // `limit` 0: no bound.
  explicit activation_gate(uint64_t limit) : limit_(limit) {}

  bool try_enter() {
    if (limit_ > 0 && loading_.load(std::memory_order_relaxed) >= limit_)
      return false;
    loading_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  void leave() { loading_.fetch_sub(1, std::memory_order_relaxed); }

  uint64_t loading() const { return loading_.load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }

private:
  const uint64_t limit_;
  std::atomic<uint64_t> loading_{0};
};

// One slot taken with try_enter, owned by the document that loads: given
// back by release() or when destroyed (an actor that stops while loading).
class activation_slot {
public:
  activation_slot() = default;
  explicit activation_slot(std::shared_ptr<activation_gate> gate)
      : gate_(std::move(gate)) {}
  activation_slot(activation_slot&& other) noexcept
      : gate_(std::move(other.gate_)) {}
  activation_slot& operator=(activation_slot&& other) noexcept {
    release();
    gate_ = std::move(other.gate_);
    return *this;
  }
  ~activation_slot() { release(); }

  void release() {
    if (gate_)
      gate_->leave();
    gate_.reset();
  }

private:
  std::shared_ptr<activation_gate> gate_;
};

} // namespace collab
