// Deterministic tests of the membership actor (actors/membership.hpp)
// without a network: the transport is a scripted stand-in for the
// middleman actor (connect -> the peer's membership actor, or an error),
// peers are scripted membership actors, and the directory records every
// member list it is told. Covered: a lone node, joining through a seed and
// meshing with the members it names, the `joining` state while no seed
// answers (hang up, dial again), one dial per pair of nodes (the smaller
// address dials, the other after a grace), a join from a newcomer (and the
// refusals), a member going down and being dialled again, draining (ours
// and a member's), and a restarted member replacing its old process.
#define CAF_SUITE actors.membership
#define FAIL(msg) CAF_FAIL(msg) // 0.17.6: dsl.hpp uses an undefined FAIL

#include "actors/membership.hpp"

#include <caf/test/dsl.hpp>

#include <map>
#include <set>

#include "actors/messages.hpp"

using namespace caf;
using namespace collab;
using namespace std::chrono_literals;

namespace {

// ---- the middleman stand-in: connect answers with the peer at that port

struct transport_state {
  std::map<uint16_t, actor> peers;
  std::vector<uint16_t> dialled;
  static inline const char* name = "fake_transport";
};

behavior fake_transport(stateful_actor<transport_state>* self) {
  return {
    [=](connect_atom, const std::string&, uint16_t port) -> result<message> {
      self->state.dialled.push_back(port);
      auto i = self->state.peers.find(port);
      if (i == self->state.peers.end())
        return make_error(sec::cannot_connect_to_node, "nobody there");
      return make_message(node_id{}, actor_cast<strong_actor_ptr>(i->second),
                          std::set<std::string>{});
    },
  };
}

// ---- another node's membership actor

struct peer_state {
  member_info self;
  std::vector<member_info> others; // what it tells a newcomer besides itself
  bool answer_joins = true;
  std::vector<response_promise> unanswered; // kept pending, never delivered
  std::vector<std::string> log;
  static inline const char* name = "fake_peer";
};

behavior fake_peer(stateful_actor<peer_state>* self, member_info me) {
  self->state.self = std::move(me);
  self->state.self.membership = actor_cast<membership_actor>(self);
  self->state.self.version = cluster_protocol_version;
  return {
    [=](member_join_atom, member_info& m) -> result<std::vector<member_info>> {
      auto& st = self->state;
      st.log.push_back("join " + m.node);
      if (!st.answer_joins) {
        st.unanswered.push_back(self->make_response_promise());
        return caf::delegated<std::vector<member_info>>{};
      }
      std::vector<member_info> out{st.self};
      out.insert(out.end(), st.others.begin(), st.others.end());
      return out;
    },
    [=](member_update_atom, member_info& m) {
      self->state.log.push_back("update " + m.node + " " + to_string(m.state)
                                + (m.membership ? " handles" : ""));
    },
  };
}

// ---- the directory: every member list it is told

struct lists_state {
  std::vector<std::vector<member_info>> lists;
  static inline const char* name = "fake_directory";
};

behavior fake_directory(stateful_actor<lists_state>* self) {
  return {
    [=](members_atom, std::vector<member_info>& members) {
      self->state.lists.push_back(std::move(members));
    },
  };
}

// "n1=up n2=draining": nodes and states in list order.
std::string describe(const std::vector<member_info>& members) {
  std::string out;
  for (auto& m : members)
    out += (out.empty() ? "" : " ") + m.node + "=" + to_string(m.state);
  return out;
}

member_info address(const std::string& node, uint16_t port) {
  member_info m;
  m.node = node;
  m.host = "127.0.0.1";
  m.port = port;
  return m;
}

struct test_config : actor_system_config {
  test_config() { register_message_types(*this); }
};

struct fixture : test_coordinator_fixture<test_config> {
  actor transport;
  actor dir;
  membership_actor members; // under test (node n1, port 7001)
  std::vector<actor> peers;
  std::vector<std::string> hung_up;

  fixture() {
    transport = sys.spawn(fake_transport);
    dir = sys.spawn(fake_directory);
    sched.run();
  }

  ~fixture() {
    for (auto& a : peers)
      self->send_exit(a, exit_reason::user_shutdown);
    for (auto& a : {actor_cast<actor>(members), dir, transport})
      if (a)
        self->send_exit(a, exit_reason::user_shutdown);
    sched.run();
  }

  void start(std::vector<std::string> seeds) {
    membership_options opts;
    opts.self = address("n1", 7001);
    opts.seeds = std::move(seeds);
    opts.directory = actor_cast<directory_actor>(dir);
    opts.transport = actor_cast<io::middleman_actor>(transport);
    opts.hang_up = [this](const std::string& host, uint16_t port) {
      hung_up.push_back(host + ":" + std::to_string(port));
    };
    members = spawn_membership(sys, std::move(opts));
    sched.run();
  }

  // Node `node`, reachable through the transport at `port`.
  actor peer(const std::string& node, uint16_t port) {
    auto p = sys.spawn(fake_peer, address(node, port));
    peers.push_back(p);
    deref<stateful_actor<transport_state>>(transport).state.peers[port] = p;
    sched.run();
    return p;
  }

  peer_state& state_of(const actor& p) {
    return deref<stateful_actor<peer_state>>(p).state;
  }

  member_info info_of(const actor& p) { return state_of(p).self; }

  std::vector<uint16_t>& dialled() {
    return deref<stateful_actor<transport_state>>(transport).state.dialled;
  }

  // The last member list the directory was told.
  std::string published() {
    auto& lists = deref<stateful_actor<lists_state>>(dir).state.lists;
    return lists.empty() ? "<none>" : describe(lists.back());
  }

  size_t publications() {
    return deref<stateful_actor<lists_state>>(dir).state.lists.size();
  }

  // What membership answers `x` with (members_atom or nodes_atom).
  template<class Atom>
  std::string ask(Atom x) {
    self->send(members, x);
    sched.run();
    std::string out;
    self->receive(
      [&](const std::vector<member_info>& list) { out = describe(list); });
    return out;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(membership_tests, fixture)

CAF_TEST(a node without seeds is a cluster of one) {
  start({});
  CAF_CHECK_EQUAL(published(), "n1=up");
  CAF_CHECK_EQUAL(ask(members_atom_v), "n1=up");
  CAF_CHECK_EQUAL(ask(nodes_atom_v), "n1=up");
  CAF_CHECK(dialled().empty());
}

CAF_TEST(its own address among the seeds is skipped) {
  start({"127.0.0.1:7001", "localhost:7001"});
  CAF_CHECK(dialled().empty());
  CAF_CHECK_EQUAL(ask(nodes_atom_v), "n1=up");
}

CAF_TEST(a node joins through a seed and meshes with the members it names) {
  auto n2 = peer("n2", 7002);
  auto n3 = peer("n3", 7003);
  // n2 tells of n3 by address only: n1 must dial n3 itself.
  state_of(n2).others = {address("n3", 7003)};
  start({"127.0.0.1:7002"});
  CAF_CHECK_EQUAL(dialled(), (std::vector<uint16_t>{7002, 7003}));
  CAF_CHECK_EQUAL(state_of(n2).log, std::vector<std::string>{"join n1"});
  CAF_CHECK_EQUAL(state_of(n3).log, std::vector<std::string>{"join n1"});
  CAF_CHECK_EQUAL(published(), "n1=up n2=up n3=up");
  CAF_CHECK_EQUAL(ask(nodes_atom_v), "n1=up n2=up n3=up");
}

CAF_TEST(of two nodes told of each other by a third the smaller address dials) {
  auto n2 = peer("n2", 7002);
  peer("n0", 7000);
  peer("n5", 7005);
  // 127.0.0.1:7000 sorts before us: n0 dials n1 (it hears of n1 from n2),
  // n1 waits.
  state_of(n2).others = {address("n0", 7000)};
  start({"127.0.0.1:7002"});
  CAF_CHECK_EQUAL(dialled(), std::vector<uint16_t>{7002});
  // The same for a newcomer n2 tells of: n0 is not dialled, n5 is.
  for (auto m : {address("n0", 7000), address("n5", 7005)}) {
    m.version = cluster_protocol_version;
    self->send(members, member_update_atom_v, m);
  }
  sched.run();
  CAF_CHECK_EQUAL(dialled(), (std::vector<uint16_t>{7002, 7005}));
  CAF_CHECK_EQUAL(published(), "n1=up n2=up n5=up");
  // n0 never dialled (it did not know us after all): after the grace (1.5
  // to 2.5 s) n1 dials it, once per time it was told of it.
  advance_time(1499ms);
  sched.run();
  CAF_CHECK_EQUAL(dialled(), (std::vector<uint16_t>{7002, 7005}));
  advance_time(1001ms);
  sched.run();
  CAF_CHECK_EQUAL(dialled(), (std::vector<uint16_t>{7002, 7005, 7000}));
  CAF_CHECK_EQUAL(published(), "n1=up n0=up n2=up n5=up");
}

// Two nodes that name each other as seeds and start together: if both
// dialled, the dials would cross and break their link (a join timing out
// 5 s later, then a member_down on both sides).
CAF_TEST(
  of two nodes naming each other as seeds only the smaller address dials) {
  auto n0 = peer("n0", 7000);
  start({"127.0.0.1:7000"});
  CAF_CHECK(dialled().empty());
  CAF_CHECK_EQUAL(ask(nodes_atom_v), "n1=joining");
  // n0 dials us and joins within the grace: we never dial it.
  self->send(members, member_join_atom_v, info_of(n0));
  sched.run();
  self->receive([](const std::vector<member_info>&) {});
  advance_time(2500ms);
  sched.run();
  CAF_CHECK(dialled().empty());
  CAF_CHECK_EQUAL(ask(nodes_atom_v), "n1=up n0=up");
}

CAF_TEST(
  a seed at a smaller address that does not dial is dialled after the grace) {
  peer("n0", 7000);
  start({"127.0.0.1:7000"});
  advance_time(1499ms);
  sched.run();
  CAF_CHECK(dialled().empty());
  advance_time(1001ms);
  sched.run();
  CAF_CHECK_EQUAL(dialled(), std::vector<uint16_t>{7000});
  CAF_CHECK_EQUAL(ask(nodes_atom_v), "n1=up n0=up");
}

CAF_TEST(
  a DNS seed is dialled at the addresses it resolves to that are not members) {
  peer("n2", 7002);
  peer("n3", 7003);
  start({"collab.internal:7001"}); // a name: collabd resolves it
  CAF_CHECK(dialled().empty());
  CAF_CHECK_EQUAL(ask(nodes_atom_v), "n1=up");
  // The record holds us and n2: we are skipped, n2 dialled (7002 sorts
  // after us, so at once).
  self->send(members, seeds_atom_v,
             std::vector<std::string>{"127.0.0.1:7001", "127.0.0.1:7002"});
  sched.run();
  CAF_CHECK_EQUAL(dialled(), std::vector<uint16_t>{7002});
  CAF_CHECK_EQUAL(ask(members_atom_v), "n1=up n2=up");
  // Resolved again later, n3 has joined the record: only n3 is dialled.
  self->send(members, seeds_atom_v,
             std::vector<std::string>{"127.0.0.1:7001", "127.0.0.1:7002",
                                      "127.0.0.1:7003", "not-an-address"});
  sched.run();
  CAF_CHECK_EQUAL(dialled(), (std::vector<uint16_t>{7002, 7003}));
  CAF_CHECK_EQUAL(ask(members_atom_v), "n1=up n2=up n3=up");
}

CAF_TEST(a node is joining until a seed answers then dials again) {
  auto n2 = peer("n2", 7002);
  state_of(n2).answer_joins = false;
  start({"127.0.0.1:7002"});
  CAF_CHECK_EQUAL(ask(nodes_atom_v), "n1=joining");
  CAF_CHECK_EQUAL(ask(members_atom_v), "n1=up"); // placement sees it up
  // The join times out (5 s): hang up, then dial again after a random pause
  // of 0.5 to 1.5 s.
  advance_time(5s);
  sched.run();
  CAF_CHECK_EQUAL(hung_up, std::vector<std::string>{"127.0.0.1:7002"});
  state_of(n2).answer_joins = true;
  advance_time(1500ms);
  sched.run();
  CAF_CHECK_EQUAL(dialled(), (std::vector<uint16_t>{7002, 7002}));
  CAF_CHECK_EQUAL(ask(nodes_atom_v), "n1=up n2=up");
}

CAF_TEST(an unreachable seed is dialled again) {
  start({"127.0.0.1:7002"});
  CAF_CHECK_EQUAL(dialled(), std::vector<uint16_t>{7002});
  CAF_CHECK_EQUAL(ask(nodes_atom_v), "n1=joining");
  peer("n2", 7002);
  advance_time(500ms);
  sched.run();
  CAF_CHECK_EQUAL(dialled(), (std::vector<uint16_t>{7002, 7002}));
  CAF_CHECK_EQUAL(ask(nodes_atom_v), "n1=up n2=up");
}

CAF_TEST(a newcomer gets the members and the others hear of it) {
  auto n2 = peer("n2", 7002);
  start({"127.0.0.1:7002"});
  auto n3 = peer("n3", 7003);
  self->send(members, member_join_atom_v, info_of(n3));
  sched.run();
  std::vector<member_info> known;
  self->receive([&](std::vector<member_info>& list) { known = list; });
  CAF_CHECK_EQUAL(describe(known), "n1=up n2=up");
  // Ours with handles, every other one by address only.
  CAF_REQUIRE_EQUAL(known.size(), 2u);
  CAF_CHECK(known[0].membership == members);
  CAF_CHECK(!known[1].membership && !known[1].directory);
  CAF_CHECK_EQUAL(known[1].port, 7002);
  CAF_CHECK_EQUAL(published(), "n1=up n2=up n3=up");
  CAF_CHECK_EQUAL(state_of(n2).log,
                  (std::vector<std::string>{"join n1", "update n3 up"}));
}

CAF_TEST(a newcomer of another version or with our id is refused) {
  start({});
  auto n3 = peer("n3", 7003);
  auto old = info_of(n3);
  old.version = "collab-cluster/1";
  auto answer = [&](member_info m) {
    self->send(members, member_join_atom_v, std::move(m));
    sched.run();
    std::string out = "<no answer>";
    self->receive([&](const std::vector<member_info>&) { out = "members"; },
                  [&](error& err) { out = sys.render(err); });
    return out;
  };
  auto refused = answer(old);
  CAF_CHECK_NOT_EQUAL(refused.find("version mismatch"), std::string::npos);
  auto twin = info_of(n3);
  twin.node = "n1";
  refused = answer(twin);
  CAF_CHECK_NOT_EQUAL(refused.find("duplicate node id n1"), std::string::npos);
  CAF_CHECK_EQUAL(published(), "n1=up");
  CAF_CHECK_EQUAL(answer(info_of(n3)), "members");
  CAF_CHECK_EQUAL(published(), "n1=up n3=up");
}

CAF_TEST(a member that goes down leaves placement and is dialled again) {
  auto n2 = peer("n2", 7002);
  start({"127.0.0.1:7002"});
  CAF_REQUIRE_EQUAL(published(), "n1=up n2=up");
  deref<stateful_actor<transport_state>>(transport).state.peers.erase(7002);
  self->send_exit(n2, exit_reason::kill);
  sched.run();
  CAF_CHECK_EQUAL(published(), "n1=up");
  CAF_CHECK_EQUAL(ask(nodes_atom_v), "n1=up n2=down");
  // Dialled again until it answers: a restarted n2 rejoins.
  advance_time(500ms);
  sched.run();
  CAF_CHECK_EQUAL(dialled(), (std::vector<uint16_t>{7002, 7002}));
  peer("n2", 7002);
  advance_time(500ms);
  sched.run();
  CAF_CHECK_EQUAL(published(), "n1=up n2=up");
  CAF_CHECK_EQUAL(ask(nodes_atom_v), "n1=up n2=up");
}

CAF_TEST(draining is told to the directory and to every member) {
  auto n2 = peer("n2", 7002);
  start({"127.0.0.1:7002"});
  self->send(members, drain_atom_v);
  sched.run();
  CAF_CHECK_EQUAL(published(), "n1=draining n2=up");
  CAF_CHECK_EQUAL(state_of(n2).log.back(), "update n1 draining handles");
}

CAF_TEST(a member draining is shown draining) {
  auto n2 = peer("n2", 7002);
  start({"127.0.0.1:7002"});
  auto before = publications();
  auto update = info_of(n2);
  update.state = member_state::draining;
  self->send(members, member_update_atom_v, update);
  sched.run();
  CAF_CHECK_EQUAL(published(), "n1=up n2=draining");
  // The same state again changes nothing.
  self->send(members, member_update_atom_v, update);
  sched.run();
  CAF_CHECK_EQUAL(publications(), before + 1);
  // A state change from someone else's handle is not taken.
  auto forged = update;
  forged.state = member_state::up;
  forged.membership = actor_cast<membership_actor>(dir);
  self->send(members, member_update_atom_v, forged);
  sched.run();
  CAF_CHECK_EQUAL(published(), "n1=up n2=draining");
}

CAF_TEST(a restarted member replaces its old process) {
  auto n2 = peer("n2", 7002);
  start({"127.0.0.1:7002"});
  auto restarted = peer("n2", 7002);
  self->send(members, member_join_atom_v, info_of(restarted));
  sched.run();
  self->receive([](const std::vector<member_info>&) {});
  CAF_CHECK_EQUAL(published(), "n1=up n2=up");
  // The old process ending is no news: it is not watched any more.
  auto before = publications();
  self->send_exit(n2, exit_reason::kill);
  sched.run();
  CAF_CHECK_EQUAL(publications(), before);
  CAF_CHECK_EQUAL(ask(nodes_atom_v), "n1=up n2=up");
}

CAF_TEST_FIXTURE_SCOPE_END()
