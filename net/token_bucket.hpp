// A token bucket: `rate` tokens a second, at most `burst` saved up. Spending
// may leave it in debt (a frame is only measured once it is read), and a
// bucket in debt refills its debt first. Not thread-safe: one owner.
#pragma once

#include <algorithm>
#include <chrono>

namespace collab::net {

class token_bucket {
public:
  using clock = std::chrono::steady_clock;

  token_bucket(double rate, double burst)
      : rate_(rate), burst_(burst), tokens_(burst), last_(clock::now()) {
    // nop
  }

  // Takes `n` tokens when at least min(n, burst) are there (a spend larger
  // than the burst passes on a full bucket and leaves it in debt).
  bool try_spend(double n) {
    refill();
    if (tokens_ < std::min(n, burst_))
      return false;
    tokens_ -= n;
    return true;
  }

  // Takes `n` tokens whatever is there.
  void spend(double n) {
    refill();
    tokens_ -= n;
  }

  // How long until the bucket is out of debt (zero when it is not).
  clock::duration time_to_repay() { return time_until(0); }

  // How long until the bucket holds `n` tokens (zero when it does).
  clock::duration time_until(double n) {
    refill();
    if (tokens_ >= n || rate_ <= 0)
      return clock::duration::zero();
    return std::chrono::duration_cast<clock::duration>(
      std::chrono::duration<double>((n - tokens_) / rate_));
  }

private:
  void refill() {
    auto now = clock::now();
    tokens_ = std::min(
      burst_,
      tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }

  double rate_, burst_, tokens_;
  clock::time_point last_;
};

} // namespace collab::net
