// A listening port: accepts TCP connections and serves HTTP on each (Beast's
// advanced_server shape: one strand per connection). On the client port
// WebSocket upgrades to /v1/ws become ws_sessions; the admin port serves
// only the admin API (docs/ADMIN.md).
//
// When accept fails for want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM,
// or any error not about the one connection: it stays in the backlog, so an
// immediate retry fails again), the listener backs off, 10 ms doubling to
// 1 s, until an accept succeeds;
// it logs at most one line a second, with the count of failures since the
// last, and counts every failure in collab_accept_errors_total.
//
// Thread-safety: the acceptor and the back-off timer run on one strand;
// run() and stop() may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>

#include "net/http_session.hpp"
#include "net/server_context.hpp"

namespace collab::net {

// Grows the process's descriptor table to its RLIMIT_NOFILE at once. The
// kernel doubles the table as descriptors are opened, and in a process with
// several threads each doubling waits for an RCU grace period inside
// accept(): a burst of a few thousand connections stalled the I/O thread,
// and every socket on it, for tens of milliseconds. Call it first in main,
// while the process has one thread. Costs 8 bytes per descriptor of the
// limit (capped at 1,048,576 descriptors).
void grow_fd_table();

class listener : public std::enable_shared_from_this<listener> {
public:
  // Binds and listens; throws boost::system::system_error when it cannot.
  listener(boost::asio::io_context& ioc, boost::asio::ip::tcp::endpoint ep,
           server_context& ctx, port_kind kind = port_kind::client);
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void run();
  void stop();

private:
  using clock = std::chrono::steady_clock;
  void do_accept();
  void on_accept(boost::beast::error_code ec, ws_stream::socket_type s);
  void on_accept_error(boost::beast::error_code ec);

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  server_context& ctx_;
  port_kind kind_;

  // On the acceptor's strand.
  boost::asio::steady_timer backoff_timer_;
  clock::duration backoff_{}; // zero: not backing off
  clock::time_point last_log_{};
  uint64_t unlogged_errors_ = 0; // failures since the last log line
  bool stopped_ = false;
};

} // namespace collab::net
