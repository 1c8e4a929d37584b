// The fixture of the document actor's deterministic tests (CAF's test
// coordinator), shared by its suites: `recorder` actors stand in for
// connection actors and log every event they get; `flaky_store` forwards to
// the memory store and can fail or reject commits, and records what it was
// asked (leveldb's EnvWrapper idea: inject one fault, keep the rest real).
//
// Include after defining CAF_SUITE; everything is in an anonymous
// namespace, so each suite has its own copy.
#pragma once

#include <algorithm>
#include <functional>
#include <vector>

#include "tests/caf_test_dsl.hpp"

#include "actors/document_actor.hpp"
#include "actors/messages.hpp"
#include "actors/ot/op_json.hpp"
#include "persistence/memory_store.hpp"

CAF_ADD_ATOM(collab_test, collab_test, fail_atom, "fail")
CAF_ADD_ATOM(collab_test, collab_test, reject_atom, "reject")
CAF_ADD_ATOM(collab_test, collab_test, hold_atom, "hold")
CAF_ADD_ATOM(collab_test, collab_test, next_atom, "next")

namespace {

using namespace caf;
using namespace collab;
using collab_test::fail_atom;
using collab_test::fail_atom_v;
using collab_test::hold_atom;
using collab_test::hold_atom_v;
using collab_test::next_atom;
using collab_test::next_atom_v;
using collab_test::reject_atom;
using collab_test::reject_atom_v;

// ---- a connection stand-in that logs what the document tells it

struct recorder_state {
  std::vector<std::string> log;
  std::string last_error; // the message of the last error event
  static inline const char* name = "recorder";
};

// How often a presence frame was encoded: once per update, however many
// receivers it has (they share it).
int presence_encodes = 0;

std::string describe(const ot::op& op) {
  return ot::op_to_json(op);
}

behavior recorder(stateful_actor<recorder_state>* self) {
  auto& log = self->state.log;
  return {
    // Forward a request to the document, so the document sees us as sender.
    [=](document_actor doc, submit_request& r) {
      self->send(doc, std::move(r));
    },
    [=](document_actor doc, leave_request& r) {
      self->send(doc, std::move(r));
    },
    [=](document_actor doc, presence_request& r) {
      self->send(doc, std::move(r));
    },
    [=, &log](joined_event& e) {
      log.push_back("joined rev=" + std::to_string(e.rev)
                    + (e.has_text ? " text=" + e.text.to_string() : ""));
    },
    [=, &log](op_event& e) {
      auto& op = e.op.get();
      log.push_back("op rev=" + std::to_string(op.rev) + " client=" + op.client
                    + " seq=" + std::to_string(op.seq) + " " + describe(op.op));
    },
    [=, &log](ack_event& e) {
      log.push_back("ack seq=" + std::to_string(e.seq)
                    + " rev=" + std::to_string(e.rev));
    },
    [=, &log](presence_event& e) {
      auto& p = e.presence.get();
      e.presence.frame([](const presence_update& x) {
        ++presence_encodes;
        return x.data;
      });
      log.push_back("presence client=" + p.client + " data=" + p.data);
    },
    [=, &log](ops_event& e) {
      std::string line = "ops";
      for (auto& op : e.batch.get().ops)
        line += " " + std::to_string(op.rev) + ":" + op.client + "/"
                + std::to_string(op.seq);
      log.push_back(line);
    },
    [=, &log](presences_event& e) {
      std::string line = "presences";
      for (auto& p : e.batch.get().updates)
        line += " " + p.client + "=" + p.data;
      log.push_back(line);
    },
    [=, &log](error_event& e) {
      self->state.last_error = e.message;
      log.push_back("error " + std::string(to_wire(e.code))
                    + (e.has_seq ? " seq=" + std::to_string(e.seq) : ""));
    },
  };
}

// ---- a store that forwards to the memory store and can refuse commits

using ops_promise = typed_response_promise<std::vector<committed_op>>;

struct flaky_state {
  document_store_actor inner;
  bool failing = false; // every commit: unavailable
  std::string poison; // a commit with an op inserting it: rejected
  std::vector<size_t> commits; // the size of every commit asked for
  std::vector<std::pair<uint64_t, uint64_t>> reads; // read_ops (from, limit)
  // While holding, read_ops waits until the test says `next`.
  bool holding = false;
  std::vector<std::function<void()>> held;
  static inline const char* name = "flaky_store";
};

using flaky_store_actor = document_store_actor::extend<
  reacts_to<fail_atom, bool>, reacts_to<reject_atom, std::string>,
  reacts_to<hold_atom, bool>, reacts_to<next_atom>>;

bool poisoned(const std::vector<committed_op>& ops, const std::string& poison) {
  for (auto& op : ops)
    for (auto& c : op.op)
      if (!poison.empty() && c.text.find(poison) != std::string::npos)
        return true;
  return false;
}

flaky_store_actor::behavior_type
flaky_store(flaky_store_actor::stateful_pointer<flaky_state> self,
            document_store_actor inner) {
  self->state.inner = inner;
  return {
    [=](load_atom a, std::string& doc, std::string& node, uint64_t tail) {
      return self->delegate(self->state.inner, a, std::move(doc),
                            std::move(node), tail);
    },
    [=](commit_atom a, std::string& doc, uint64_t epoch,
        std::vector<committed_op>& ops) -> result<uint64_t> {
      auto& st = self->state;
      st.commits.push_back(ops.size());
      if (st.failing)
        return make_error(store_errc::unavailable, "injected commit failure");
      if (poisoned(ops, st.poison))
        return make_error(store_errc::rejected, "injected: data refused");
      return self->delegate(st.inner, a, std::move(doc), epoch, std::move(ops));
    },
    [=](read_ops_atom a, std::string& doc, uint64_t from,
        uint64_t limit) -> ops_promise {
      auto& st = self->state;
      st.reads.emplace_back(from, limit);
      auto rp = self->make_response_promise<std::vector<committed_op>>();
      auto answer = [=]() mutable {
        rp.delegate(self->state.inner, a, doc, from, limit);
      };
      if (st.holding)
        st.held.emplace_back(answer);
      else
        answer();
      return rp;
    },
    [=](peek_atom a, std::string& doc) {
      return self->delegate(self->state.inner, a, std::move(doc));
    },
    [=](find_seq_atom a, std::string& doc, std::string& client, uint64_t seq) {
      return self->delegate(self->state.inner, a, std::move(doc),
                            std::move(client), seq);
    },
    [=](save_snapshot_atom a, std::string& doc, uint64_t epoch, uint64_t rev,
        ot::rope& text) {
      return self->delegate(self->state.inner, a, std::move(doc), epoch, rev,
                            std::move(text));
    },
    [=](fail_atom, bool on) { self->state.failing = on; },
    [=](reject_atom, std::string& poison) {
      self->state.poison = std::move(poison);
    },
    [=](hold_atom, bool on) { self->state.holding = on; },
    [=](next_atom) {
      // Answers the oldest held read.
      auto& held = self->state.held;
      if (held.empty())
        return;
      auto answer = std::move(held.front());
      held.erase(held.begin());
      answer();
    },
  };
}

ot::op parse(const char* json) {
  rapidjson::Document d;
  d.Parse(json);
  ot::op out;
  auto err = ot::op_from_json(d, out);
  CAF_REQUIRE(err.empty());
  return out;
}

struct test_config : actor_system_config {
  test_config() { register_message_types(*this); }
};

struct fixture : test_coordinator_fixture<test_config> {
  flaky_store_actor store;
  document_options opts;
  document_actor doc;

  fixture() {
    store = sys.spawn(flaky_store, spawn_memory_store(sys));
    opts.history_window = 100;
    opts.max_doc_bytes = 64;
    run_jobs();
  }

  // Runs every pending job but fires no timer (the fixture's run() would
  // fire the idle timer and passivate the document).
  void run_jobs() { sched.run(); }

  void start() {
    doc = spawn_document(sys, "d", actor_cast<document_store_actor>(store),
                         opts);
    run_jobs();
  }

  actor client() { return sys.spawn(recorder); }

  std::vector<std::string>& log(const actor& r) {
    return deref<stateful_actor<recorder_state>>(r).state.log;
  }

  std::string last(const actor& r) {
    auto& l = log(r);
    return l.empty() ? "<none>" : l.back();
  }

  // Whether `r` got `line` at some point.
  bool got(const actor& r, const std::string& line) {
    auto& l = log(r);
    return std::find(l.begin(), l.end(), line) != l.end();
  }

  std::string last_error(const actor& r) {
    return deref<stateful_actor<recorder_state>>(r).state.last_error;
  }

  flaky_state& store_state() {
    return deref<flaky_store_actor::stateful_base<flaky_state>>(store).state;
  }

  // Session s joins as client "c-s" of user "u-s" unless told otherwise.
  void join(const actor& r, const std::string& session, bool resume = false,
            uint64_t rev = 0) {
    join_as(r, session, "c-" + session, "u-" + session, resume, rev);
  }

  // Session s joins as client "c-s" asking for batched delivery, its
  // batches going to `relay` when given.
  void join_batched(const actor& r, const std::string& session,
                    const actor& relay = {}) {
    self->send(doc, join_request{actor_cast<document_subscriber>(r),
                                 session,
                                 "c-" + session,
                                 "u-" + session,
                                 false,
                                 0,
                                 {},
                                 true,
                                 actor_cast<relay_actor>(relay)});
    run_jobs();
  }

  // Session `session` joins as client `client` of user `user`.
  void join_as(const actor& r, const std::string& session,
               const std::string& client, const std::string& user,
               bool resume = false, uint64_t rev = 0) {
    self->send(doc, join_request{actor_cast<document_subscriber>(r),
                                 session,
                                 client,
                                 user,
                                 resume,
                                 rev,
                                 {}});
    run_jobs();
  }

  void submit(const actor& r, const std::string& session, uint64_t seq,
              uint64_t base, const char* op, bool run_now = true) {
    submit_op(r, session, seq, base, parse(op), run_now);
  }

  void submit_op(const actor& r, const std::string& session, uint64_t seq,
                 uint64_t base, ot::op op, bool run_now = true) {
    self->send(r, doc,
               submit_request{session, "c-" + session, "u-" + session, seq,
                              base, std::move(op)});
    if (run_now)
      run_jobs();
  }

  void presence(const actor& r, const std::string& session, std::string data) {
    self->send(r, doc,
               presence_request{session, "c-" + session, "u-" + session,
                                std::move(data)});
    run_jobs();
  }

  std::string text() {
    self->send(doc, snapshot_atom_v);
    run_jobs();
    auto answer = extract<uint64_t, ot::rope>(self);
    expect((uint64_t, ot::rope), from(doc).to(self));
    return std::to_string(std::get<0>(answer)) + ":"
           + std::get<1>(answer).to_string();
  }
};

} // namespace
