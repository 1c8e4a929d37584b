// A listening port: accepts TCP connections and serves HTTP on each (Beast's
// advanced_server shape: one strand per connection). On the client port
// WebSocket upgrades to /v1/ws become ws_sessions; the admin port serves
// only the admin API (docs/ADMIN.md).
//
// Thread-safety: the acceptor runs on its own strand; run() and stop() may
// be called from any thread.
#pragma once

#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>

#include "net/http_session.hpp"
#include "net/server_context.hpp"

namespace collab::net {

class listener : public std::enable_shared_from_this<listener> {
public:
  // Binds and listens; throws boost::system::system_error when it cannot.
  listener(boost::asio::io_context& ioc, boost::asio::ip::tcp::endpoint ep,
           server_context& ctx, port_kind kind = port_kind::client);
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void run();
  void stop();

private:
  void do_accept();
  void on_accept(boost::beast::error_code ec, boost::asio::ip::tcp::socket s);

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  server_context& ctx_;
  port_kind kind_;
};

} // namespace collab::net
