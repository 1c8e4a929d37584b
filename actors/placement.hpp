// Placement: which node owns a document. Rendezvous (highest random weight)
// hashing of the document id over the live, non-draining members: every node
// that sees the same member list computes the same owner, and when a member
// joins or leaves only the documents it wins or held move (about 1/n).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace collab {

// A stable 64-bit hash (FNV-1a + a final mix): the same on every node and
// build, unlike std::hash.
uint64_t stable_hash(std::string_view a, std::string_view b);

// The member among `nodes` with the highest weight for `doc`; empty when
// `nodes` is empty.
std::string rendezvous_owner(const std::vector<std::string>& nodes,
                             std::string_view doc);

} // namespace collab
