// Stand-ins for everything a connection actor talks to, for its
// deterministic tests (CAF's test coordinator):
//   recording_sink  the socket: records frames, close codes, consumed bytes
//   fake_directory  answers resolve with the actor the test put there
//   fake_document   records join/submit/leave/presence and answers a join
//                   (joined) and a submit (ack) unless told to hold them
//   watcher         records the down message of the actor it monitors
// Each lives in an anonymous namespace: every suite has its own copy.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <rapidjson/document.h>

#include "actors/messages.hpp"
#include "actors/ot/op_json.hpp"
#include "net/session_sink.hpp"

namespace {

// ---- the socket

class recording_sink : public collab::net::session_sink {
public:
  void send(std::shared_ptr<const std::string> frame) override {
    frames.push_back(*frame);
  }
  void close(uint16_t code, std::string reason) override {
    closes.emplace_back(code, std::move(reason));
  }
  void consumed(uint64_t bytes) override {
    consumed_bytes += bytes;
    ++consumed_frames;
  }
  uint64_t queued_bytes() const override { return 0; }
  const std::string& remote() const override { return remote_; }

  std::string last() const { return frames.empty() ? "<none>" : frames.back(); }

  std::vector<std::string> frames;
  std::vector<std::pair<uint16_t, std::string>> closes;
  uint64_t consumed_bytes = 0;
  uint64_t consumed_frames = 0;

private:
  std::string remote_ = "127.0.0.1:50000";
};

// ---- the directory

struct directory_state {
  std::map<std::string, collab::document_actor> answers; // doc -> actor
  std::map<std::string, caf::error> refusals; // doc -> the error answered
  std::vector<std::string> asked; // every resolve, in order
  static inline const char* name = "fake_directory";
};

caf::behavior fake_directory(caf::stateful_actor<directory_state>* self) {
  return {
    [=](collab::resolve_atom,
        const std::string& doc) -> caf::result<collab::document_actor> {
      self->state.asked.push_back(doc);
      if (auto r = self->state.refusals.find(doc);
          r != self->state.refusals.end())
        return r->second;
      auto i = self->state.answers.find(doc);
      if (i == self->state.answers.end())
        return caf::make_error(caf::sec::runtime_error, "no such document");
      return i->second;
    },
  };
}

// ---- a document actor

struct document_state {
  std::string doc;
  uint64_t rev = 0;
  std::string text;
  bool answer_joins = true;
  bool answer_submits = true;
  std::vector<std::string> log;
  static inline const char* name = "fake_document";
};

caf::behavior fake_document(caf::stateful_actor<document_state>* self,
                            std::string doc, uint64_t rev, std::string text) {
  self->state.doc = std::move(doc);
  self->state.rev = rev;
  self->state.text = std::move(text);
  return {
    [=](collab::join_request& r) {
      auto& st = self->state;
      st.log.push_back("join session=" + r.session + " client=" + r.client
                       + " resume=" + std::to_string(r.resume) + " rev="
                       + std::to_string(r.rev) + (r.batch ? " batch=1" : ""));
      if (!st.answer_joins)
        return;
      collab::joined_event ev{st.doc, st.rev, !r.resume,
                              collab::ot::rope{st.text}};
      self->send(r.conn, std::move(ev));
    },
    [=](collab::submit_request& r) {
      auto& st = self->state;
      st.log.push_back("submit seq=" + std::to_string(r.seq)
                       + " base=" + std::to_string(r.base_rev)
                       + " op=" + collab::ot::op_to_json(r.op));
      if (!st.answer_submits)
        return;
      self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                 collab::ack_event{st.doc, r.seq, ++st.rev});
    },
    [=](collab::leave_request& r) {
      self->state.log.push_back("leave session=" + r.session);
    },
    [=](collab::presence_request& r) {
      self->state.log.push_back("presence data=" + r.data);
    },
    // A hand-off: the document ends normally (passivated or moved).
    [=](collab::release_atom) { self->quit(); },
  };
}

// ---- a monitor

struct watcher_state {
  bool down = false;
  caf::error reason;
  static inline const char* name = "watcher";
};

caf::behavior watcher(caf::stateful_actor<watcher_state>* self,
                      caf::actor who) {
  self->monitor(who);
  self->set_down_handler([=](caf::down_msg& dm) {
    self->state.down = true;
    self->state.reason = dm.reason;
  });
  return {
    [](int) {
      // nop: a watcher only waits for the down message
    },
  };
}

collab::ot::op parse_op(const char* json) {
  rapidjson::Document d;
  d.Parse(json);
  collab::ot::op out;
  auto err = collab::ot::op_from_json(d, out);
  CAF_REQUIRE(err.empty());
  return out;
}

} // namespace
