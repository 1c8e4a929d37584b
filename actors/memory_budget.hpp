// The node's memory budget (docs/DESIGN.md contract 6): the bytes that clients
// and documents make the node hold (document histories, sockets' unprocessed
// input, queued output) are charged here, so that no one of them can grow
// the process without a bound. A charge that would go over the budget is
// refused and the caller answers its client with a clear error; bytes
// charged are released when they are freed.
//
// Thread-safety: lock-free; shared by every actor and socket of the node.
#pragma once

#include <atomic>
#include <cstdint>

namespace collab {

class memory_budget {
public:
  explicit memory_budget(uint64_t limit) : limit_(limit) {
    // nop
  }
  memory_budget(const memory_budget&) = delete;
  memory_budget& operator=(const memory_budget&) = delete;

  // Charges `n` bytes unless that would go over the budget.
  bool try_charge(uint64_t n) {
    auto cur = used_.load(std::memory_order_relaxed);
    do {
      if (n > limit_ || cur > limit_ - n)
        return false;
    } while (
      !used_.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed));
    return true;
  }
  // Charges `n` bytes even over the budget (memory already held, e.g. an
  // op that was committed and must be kept for transform).
  void charge(uint64_t n) { used_.fetch_add(n, std::memory_order_relaxed); }
  void release(uint64_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }

  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }
  bool over() const { return used() > limit_; }

private:
  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
};

} // namespace collab
