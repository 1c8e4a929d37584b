// The TCP stream under our WebSockets, with a correct closing handshake.
//
// Beast 1.74's TCP teardown (used after it sends a close frame, e.g. 1009
// for a frame over the limit) reads the peer's leftover bytes only once, then
// closes the socket with data still unread, so the kernel answers with a
// reset and the client sees 1006 instead of our close code. This stream type
// brings its own teardown, found by ADL: shut down our side, drain what the
// peer still sends until it closes (bounded by a timeout), then close.
//
// Thread-safety: as beast::tcp_stream (one strand).
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace collab::net {

class ws_stream : public boost::beast::tcp_stream {
public:
  explicit ws_stream(boost::beast::tcp_stream&& s)
    : boost::beast::tcp_stream(std::move(s)) {
    // nop
  }
};

namespace detail {

constexpr auto teardown_timeout = std::chrono::seconds(5);

template <class Handler>
class drain_op {
public:
  drain_op(ws_stream& s, Handler h)
    : s_(s), buf_(std::make_unique<std::array<char, 8192>>()), h_(std::move(h)) {
    // nop
  }
  void start() {
    boost::beast::error_code ec;
    s_.socket().shutdown(boost::asio::socket_base::shutdown_send, ec);
    s_.expires_after(teardown_timeout);
    read();
  }
  void operator()(boost::beast::error_code ec, size_t) {
    if (!ec) {
      read();
      return;
    }
    boost::beast::error_code ignored;
    s_.socket().close(ignored);
    if (ec == boost::asio::error::eof)
      ec = {};
    h_(ec);
  }

private:
  void read() {
    auto& buf = *buf_;
    s_.async_read_some(boost::asio::buffer(buf), std::move(*this));
  }
  ws_stream& s_;
  std::unique_ptr<std::array<char, 8192>> buf_;
  Handler h_;
};

} // namespace detail

template <class TeardownHandler>
void async_teardown(boost::beast::role_type, ws_stream& s,
                    TeardownHandler&& handler) {
  detail::drain_op<std::decay_t<TeardownHandler>> op{
    s, std::forward<TeardownHandler>(handler)};
  op.start();
}

inline void teardown(boost::beast::role_type role, ws_stream& s,
                     boost::beast::error_code& ec) {
  using boost::beast::websocket::teardown;
  teardown(role, s.socket(), ec);
}

} // namespace collab::net
