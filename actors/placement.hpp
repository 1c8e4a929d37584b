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
#include <unordered_map>
#include <vector>

namespace collab {

struct member_info; // actors/cluster_protocol.hpp

// A stable 64-bit hash (FNV-1a + a final mix): the same on every node and
// build, unlike std::hash.
uint64_t stable_hash(std::string_view a, std::string_view b);

// The member among `nodes` with the highest weight for `doc`; empty when
// `nodes` is empty.
std::string rendezvous_owner(const std::vector<std::string>& nodes,
                             std::string_view doc);

// The members that may own documents: those `up`, in the given order. A
// draining member serves what it has until handed off but wins nothing;
// joining and down members win nothing either.
std::vector<std::string>
placement_owners(const std::vector<member_info>& members);

// The node that owns `doc` now: its pin (an operator's `collabctl move`)
// while the pinned node is an owner, else rendezvous over `owners`;
// `self_node` while no owner is known (a single node, or membership has not
// spoken yet).
std::string
document_owner(const std::vector<std::string>& owners,
               const std::unordered_map<std::string, std::string>& pins,
               const std::string& doc, const std::string& self_node);

} // namespace collab
