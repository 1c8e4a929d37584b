// Revoked tokens and users (collabctl revoke), checked at every upgrade and
// token refresh, and by every open connection when a revocation arrives.
// A revoked jti is refused for good; a revoked user for every token issued
// (iat) at or before the revocation, so a user can log in again afterwards.
// A token without iat counts as issued before.
//
// Thread-safety: all members lock `mutex_`.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/core/revocation.hpp"
#include "net/auth.hpp"

namespace collab::net {

class revocation_list {
public:
  // Adds `r`; false when it was known already.
  bool add(const revocation& r) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto& at = r.jti.empty() ? subs_[r.sub] : jtis_[r.jti];
    if (at >= r.at && at != 0)
      return false;
    at = r.at;
    return true;
  }

  bool revoked(const token_claims& c) const {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!c.jti.empty() && jtis_.count(c.jti) != 0)
      return true;
    auto i = subs_.find(c.sub);
    return i != subs_.end() && c.iat <= i->second;
  }

  std::vector<revocation> all() const {
    std::lock_guard<std::mutex> guard{mutex_};
    std::vector<revocation> out;
    for (auto& [jti, at] : jtis_)
      out.push_back(revocation{jti, {}, at});
    for (auto& [sub, at] : subs_)
      out.push_back(revocation{{}, sub, at});
    return out;
  }

private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, int64_t> jtis_; // jti -> when
  std::unordered_map<std::string, int64_t> subs_; // user -> when
};

} // namespace collab::net
