// The drain procedure of a node (SIGTERM, or collabctl drain): the node
// turns draining (/readyz 503, new WebSockets refused, placement gives it no
// documents), its documents move away (their subscribers follow them), then
// its sockets close with 1001 so clients reconnect elsewhere. A node alone
// (no other member up, or not clustered) closes its sockets first, then
// passivates its documents (a snapshot each), since none can move. After a
// signal the process then exits; after collabctl drain it stays up, draining,
// until it is stopped.
//
// Thread-safety: begin() runs on the I/O context (post to it from elsewhere).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <caf/actor.hpp>

#include "net/server_context.hpp"

namespace collabd {

class drain_procedure {
public:
  // `stop` ends the process's I/O (listeners, io_context).
  drain_procedure(boost::asio::io_context& ioc,
                  collab::net::server_context& ctx, std::function<void()> stop);

  // `exit_after`: stop the process once drained.
  void begin(bool exit_after);

private:
  bool documents_can_move();
  uint64_t live_documents();
  void wait_for_documents();
  void close_sockets();
  void wait_for_sockets();
  void passivate_documents();
  void wait_for_passivation();
  void again(void (drain_procedure::*step)(), std::chrono::milliseconds pause);
  void finish();

  collab::net::server_context& ctx_;
  std::function<void()> stop_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_;
  bool started_ = false;
  bool done_ = false;
  bool exiting_ = false;
  bool passivate_ = false; // alone: passivate once the sockets are closed
};

} // namespace collabd
