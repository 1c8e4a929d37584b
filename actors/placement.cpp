#include "actors/placement.hpp"

#include <algorithm>

#include "actors/cluster_protocol.hpp"

namespace collab {

uint64_t stable_hash(std::string_view a, std::string_view b) {
  uint64_t h = 14695981039346656037ull;
  auto feed = [&](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  feed(a);
  feed(std::string_view{"\0", 1}); // "ab"+"c" differs from "a"+"bc"
  feed(b);
  // splitmix64 finaliser: spreads FNV's weak low bits.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

std::string rendezvous_owner(const std::vector<std::string>& nodes,
                             std::string_view doc) {
  const std::string* best = nullptr;
  uint64_t best_weight = 0;
  for (auto& node : nodes) {
    auto w = stable_hash(node, doc);
    if (best == nullptr || w > best_weight
        || (w == best_weight && node < *best)) {
      best = &node;
      best_weight = w;
    }
  }
  return best ? *best : std::string{};
}

std::vector<std::string>
placement_owners(const std::vector<member_info>& members) {
  std::vector<std::string> out;
  for (auto& m : members)
    if (m.state == member_state::up)
      out.push_back(m.node);
  return out;
}

std::string
document_owner(const std::vector<std::string>& owners,
               const std::unordered_map<std::string, std::string>& pins,
               const std::string& doc, const std::string& self_node) {
  if (owners.empty())
    return self_node;
  if (auto pin = pins.find(doc); pin != pins.end())
    if (std::find(owners.begin(), owners.end(), pin->second) != owners.end())
      return pin->second;
  return rendezvous_owner(owners, doc);
}

} // namespace collab
