// Placement (actors/placement.hpp): rendezvous hashing is deterministic,
// gives every document to exactly one owner, moves only the documents of a
// member that leaves, considers only `up` members and honours pins. The
// fixed vectors were computed with the JavaScript copy the cluster tests
// predict owners with (tests/e2e/lib/cluster.js, rendezvousOwner and
// stableHash), so the two implementations are known to agree.
#define CAF_SUITE actors.placement

#include "actors/placement.hpp"

#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <map>

#include "actors/messages.hpp"

using namespace collab;

namespace {

const std::vector<std::string> three{"node-1", "node-2", "node-3"};

std::string doc_name(int i) {
  return "doc-" + std::to_string(i);
}

member_info member(const std::string& node, member_state state) {
  member_info m;
  m.node = node;
  m.state = state;
  return m;
}

} // namespace

CAF_TEST(the same members and document give the same owner) {
  for (int i = 0; i < 200; ++i) {
    auto owner = rendezvous_owner(three, doc_name(i));
    CAF_CHECK_EQUAL(rendezvous_owner(three, doc_name(i)), owner);
    // The order in which members are listed does not matter.
    std::vector<std::string> reversed{three.rbegin(), three.rend()};
    CAF_CHECK_EQUAL(rendezvous_owner(reversed, doc_name(i)), owner);
  }
}

CAF_TEST(every document has exactly one owner among the members) {
  std::map<std::string, int> owned;
  for (int i = 0; i < 3000; ++i) {
    auto owner = rendezvous_owner(three, doc_name(i));
    CAF_REQUIRE(std::find(three.begin(), three.end(), owner) != three.end());
    ++owned[owner];
  }
  // Spread: each of three members gets roughly a third (1000 +- 15%).
  for (auto& node : three) {
    CAF_CHECK_GREATER(owned[node], 850);
    CAF_CHECK_LESS(owned[node], 1150);
  }
  CAF_CHECK_EQUAL(rendezvous_owner({}, "doc-1"), "");
  CAF_CHECK_EQUAL(rendezvous_owner({"solo"}, "doc-1"), "solo");
}

CAF_TEST(a member leaving moves only the documents it owned) {
  std::vector<std::string> without_2{"node-1", "node-3"};
  int moved = 0;
  for (int i = 0; i < 2000; ++i) {
    auto before = rendezvous_owner(three, doc_name(i));
    auto after = rendezvous_owner(without_2, doc_name(i));
    if (before == "node-2") {
      ++moved;
      CAF_CHECK_NOT_EQUAL(after, "node-2");
    } else {
      CAF_CHECK_EQUAL(after, before);
    }
  }
  CAF_CHECK_GREATER(moved, 0);
}

CAF_TEST(a member joining takes documents only for itself) {
  std::vector<std::string> four{"node-1", "node-2", "node-3", "node-4"};
  for (int i = 0; i < 2000; ++i) {
    auto before = rendezvous_owner(three, doc_name(i));
    auto after = rendezvous_owner(four, doc_name(i));
    CAF_CHECK(after == before || after == "node-4");
  }
}

CAF_TEST(only up members own documents) {
  std::vector<member_info> members{
    member("node-1", member_state::up),
    member("node-2", member_state::draining),
    member("node-3", member_state::up),
    member("node-4", member_state::joining),
    member("node-5", member_state::down),
  };
  auto owners = placement_owners(members);
  CAF_CHECK_EQUAL(owners, (std::vector<std::string>{"node-1", "node-3"}));
  for (int i = 0; i < 500; ++i) {
    auto owner = document_owner(owners, {}, doc_name(i), "node-1");
    CAF_CHECK(owner == "node-1" || owner == "node-3");
  }
}

CAF_TEST(without known owners a document stays on this node) {
  CAF_CHECK_EQUAL(document_owner({}, {}, "doc-1", "me"), "me");
  // Even a pin: membership has not spoken yet.
  CAF_CHECK_EQUAL(document_owner({}, {{"doc-1", "node-2"}}, "doc-1", "me"),
                  "me");
}

CAF_TEST(a pin wins while its node is an owner) {
  // Hashing alone puts doc-0 on node-2 (see the vectors below).
  CAF_REQUIRE_EQUAL(rendezvous_owner(three, "doc-0"), "node-2");
  std::unordered_map<std::string, std::string> pins{{"doc-0", "node-1"}};
  CAF_CHECK_EQUAL(document_owner(three, pins, "doc-0", "node-3"), "node-1");
  // Other documents still hash.
  CAF_CHECK_EQUAL(document_owner(three, pins, "doc-1", "node-3"),
                  rendezvous_owner(three, "doc-1"));
  // A pin to a node that is not an owner (down, draining) is ignored.
  std::vector<std::string> without_1{"node-2", "node-3"};
  CAF_CHECK_EQUAL(document_owner(without_1, pins, "doc-0", "node-3"),
                  rendezvous_owner(without_1, "doc-0"));
}

CAF_TEST(the hash agrees with the JavaScript copy) {
  CAF_CHECK_EQUAL(stable_hash("node-1", "doc-a"), 0x211013be0ca8d031ull);
  CAF_CHECK_EQUAL(stable_hash("", ""), 0x25fc6dd36ce04b20ull);
  // The NUL between the parts keeps "ab"+"c" apart from "a"+"bc".
  CAF_CHECK_EQUAL(stable_hash("ab", "c"), 0x9291f5e7171dc35aull);
  CAF_CHECK_EQUAL(stable_hash("a", "bc"), 0x82a144826e72d59eull);
  // UTF-8 bytes, not code points.
  CAF_CHECK_EQUAL(stable_hash("node-2", "h\xc3\xa9llo"), 0x580fc9c3a91605cull);
}

CAF_TEST(owners agree with the JavaScript copy) {
  const char* with_three[] = {"node-2", "node-3", "node-1", "node-1",
                              "node-3", "node-2", "node-3", "node-2",
                              "node-2", "node-3", "node-2", "node-1"};
  const char* without_2[] = {"node-3", "node-3", "node-1", "node-1",
                             "node-3", "node-1", "node-3", "node-3",
                             "node-1", "node-3", "node-3", "node-1"};
  for (int i = 0; i < 12; ++i) {
    CAF_CHECK_EQUAL(rendezvous_owner(three, doc_name(i)), with_three[i]);
    CAF_CHECK_EQUAL(rendezvous_owner({"node-1", "node-3"}, doc_name(i)),
                    without_2[i]);
  }
  CAF_CHECK_EQUAL(rendezvous_owner(three, "acme/road.map~1-x"), "node-3");
  CAF_CHECK_EQUAL(rendezvous_owner(three, ""), "node-3");
  CAF_CHECK_EQUAL(rendezvous_owner({"a", "b"}, "h\xc3\xa9llo w\xc3\xb6rld"),
                  "a");
  CAF_CHECK_EQUAL(rendezvous_owner({"n1", "n2", "n3", "n4", "n5"}, "d42"),
                  "n4");
}
