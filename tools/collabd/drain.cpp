#include "drain.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/messages.hpp"

namespace collabd {

using clock = std::chrono::steady_clock;
constexpr auto documents_deadline = std::chrono::seconds(10);
constexpr auto sockets_deadline = std::chrono::seconds(5);

drain_procedure::drain_procedure(boost::asio::io_context& ioc,
                                 collab::net::server_context& ctx,
                                 std::function<void()> stop)
    : ctx_(ctx), stop_(std::move(stop)), timer_(ioc) {
  // nop
}

void drain_procedure::begin(bool exit_after) {
  exiting_ = exiting_ || exit_after;
  if (started_) {
    if (done_ && exiting_)
      close_sockets(); // drained by collabctl earlier: now exit
    return; // else the running drain exits at its end
  }
  started_ = true;
  spdlog::info("event=drain exit={} sockets={}", exit_after,
               ctx_.sessions.size());
  // The listener stays open until the end: /readyz answers 503 and new
  // WebSockets are refused while the node drains.
  ctx_.draining = true;
  deadline_ = clock::now() + documents_deadline;
  if (ctx_.membership)
    caf::anon_send(ctx_.membership, collab::drain_atom_v);
  if (documents_can_move()) {
    wait_for_documents();
  } else {
    // Alone, or not clustered: nobody can take the documents, and waiting
    // for a move would only run out the deadline. The sockets close first
    // (so that no client activates a document again), then every document
    // writes a snapshot and stops.
    passivate_ = true;
    close_sockets();
  }
}

bool drain_procedure::documents_can_move() {
  if (!ctx_.membership)
    return false;
  caf::scoped_actor probe{ctx_.sys};
  bool moving = false;
  probe->request(ctx_.directory, std::chrono::seconds(1), collab::drain_atom_v)
    .receive([&](bool b) { moving = b; }, [&](caf::error&) {});
  return moving;
}

uint64_t drain_procedure::live_documents() {
  caf::scoped_actor probe{ctx_.sys};
  uint64_t left = 0;
  probe->request(ctx_.directory, std::chrono::seconds(1), collab::stats_atom_v)
    .receive([&](uint64_t n) { left = n; }, [&](caf::error&) { left = 0; });
  return left;
}

void drain_procedure::wait_for_documents() {
  auto left = live_documents();
  if (left == 0 || clock::now() > deadline_) {
    spdlog::info("event=drained documents_left={}", left);
    close_sockets();
    return;
  }
  again(&drain_procedure::wait_for_documents, std::chrono::milliseconds(50));
}

void drain_procedure::close_sockets() {
  ctx_.sessions.close_all(1001, "node draining; reconnect to another node");
  deadline_ = clock::now() + sockets_deadline;
  wait_for_sockets();
}

void drain_procedure::wait_for_sockets() {
  if (ctx_.sessions.size() == 0 || clock::now() > deadline_) {
    if (passivate_)
      passivate_documents();
    else
      finish();
    return;
  }
  again(&drain_procedure::wait_for_sockets, std::chrono::milliseconds(20));
}

void drain_procedure::passivate_documents() {
  passivate_ = false;
  caf::scoped_actor probe{ctx_.sys};
  probe->request(ctx_.directory, std::chrono::seconds(1), collab::evict_atom_v)
    .receive([](uint64_t) {}, [](caf::error&) {});
  deadline_ = clock::now() + documents_deadline;
  wait_for_passivation();
}

void drain_procedure::wait_for_passivation() {
  auto left = live_documents();
  if (left == 0 || clock::now() > deadline_) {
    spdlog::info("event=passivated documents_left={}", left);
    finish();
    return;
  }
  again(&drain_procedure::wait_for_passivation, std::chrono::milliseconds(20));
}

// Each wait_for_* step polls: it runs again after `pause` until its
// condition holds or its deadline passes.
void drain_procedure::again(void (drain_procedure::*step)(),
                            std::chrono::milliseconds pause) {
  timer_.expires_after(pause);
  timer_.async_wait([this, step](boost::system::error_code ec) {
    if (!ec)
      (this->*step)();
  });
}

void drain_procedure::finish() {
  done_ = true;
  if (exiting_)
    stop_();
}

} // namespace collabd
