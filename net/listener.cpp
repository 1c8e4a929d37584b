#include "net/listener.hpp"

#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>

#include "net/http_session.hpp"

namespace collab::net {

listener::listener(boost::asio::io_context& ioc,
                   boost::asio::ip::tcp::endpoint ep, server_context& ctx,
                   port_kind kind)
  : ioc_(ioc), acceptor_(boost::asio::make_strand(ioc)), ctx_(ctx),
    kind_(kind) {
  acceptor_.open(ep.protocol());
  acceptor_.set_option(boost::asio::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(boost::asio::socket_base::max_listen_connections);
}

void listener::run() {
  do_accept();
}

void listener::stop() {
  boost::asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::beast::error_code ignored;
    self->acceptor_.close(ignored);
  });
}

void listener::do_accept() {
  acceptor_.async_accept(boost::asio::make_strand(ioc_),
                         boost::beast::bind_front_handler(&listener::on_accept,
                                                          shared_from_this()));
}

void listener::on_accept(boost::beast::error_code ec,
                         boost::asio::ip::tcp::socket socket) {
  if (ec == boost::asio::error::operation_aborted)
    return;  // stopped
  if (ec) {
    // EMFILE and friends: log and keep accepting rather than dying.
    spdlog::warn("event=accept_failed error={}", ec.message());
  } else {
    boost::asio::ip::tcp::no_delay nd(true);
    boost::beast::error_code ignored;
    socket.set_option(nd, ignored);
    std::make_shared<http_session>(std::move(socket), ctx_, kind_)->run();
  }
  do_accept();
}

} // namespace collab::net
