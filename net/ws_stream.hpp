// The byte stream under the client port's HTTP and WebSockets: plain TCP, or
// TLS over TCP when the node has a certificate (COLLAB_TLS_CERT/KEY), chosen
// per connection at accept time. Beast's HTTP and WebSocket code is written
// against this one type, so both work the same over either.
//
// It also brings a correct closing handshake for plain TCP: Beast 1.74's TCP
// teardown (used after it sends a close frame, e.g. 1009 for a frame over the
// limit) reads the peer's leftover bytes only once, then closes the socket
// with data still unread, so the kernel answers with a reset and the client
// sees 1006 instead of our close code. Our teardown, found by ADL, shuts down
// our side, drains what the peer still sends until it closes (bounded by a
// timeout), then closes. Over TLS the teardown is TLS's close_notify
// exchange, bounded by the same timeout.
//
// Thread-safety: as beast::tcp_stream (one strand).
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace collab::net {

class ws_stream {
public:
  using tcp = boost::beast::tcp_stream;
  using tls_stream = boost::beast::ssl_stream<tcp>;
  using executor_type = tcp::executor_type;

  explicit ws_stream(tcp&& s) : tcp_(std::make_unique<tcp>(std::move(s))) {
    // nop
  }
  ws_stream(tcp&& s, boost::asio::ssl::context& tls)
      : tls_(std::make_unique<tls_stream>(std::move(s), tls)) {
    // nop
  }

  executor_type get_executor() { return next_layer().get_executor(); }
  // The TCP layer (timeouts, the socket), under TLS when there is TLS.
  tcp& next_layer() { return tls_ ? tls_->next_layer() : *tcp_; }
  bool is_tls() const { return tls_ != nullptr; }
  tls_stream& tls() { return *tls_; }

  template<class MutableBuffers, class Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (tls_)
      return tls_->async_read_some(buffers, std::forward<Handler>(handler));
    return tcp_->async_read_some(buffers, std::forward<Handler>(handler));
  }
  template<class ConstBuffers, class Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    if (tls_)
      return tls_->async_write_some(buffers, std::forward<Handler>(handler));
    return tcp_->async_write_some(buffers, std::forward<Handler>(handler));
  }

private:
  std::unique_ptr<tcp> tcp_; // exactly one of these two
  std::unique_ptr<tls_stream> tls_;
};

namespace detail {

constexpr auto teardown_timeout = std::chrono::seconds(5);

template<class Handler>
class drain_op {
public:
  drain_op(ws_stream::tcp& s, Handler h)
      : s_(s),
        buf_(std::make_unique<std::array<char, 8192>>()),
        h_(std::move(h)) {
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
  ws_stream::tcp& s_;
  std::unique_ptr<std::array<char, 8192>> buf_;
  Handler h_;
};

} // namespace detail

template<class TeardownHandler>
void async_teardown(boost::beast::role_type, ws_stream& s,
                    TeardownHandler&& handler) {
  if (s.is_tls()) {
    s.next_layer().expires_after(detail::teardown_timeout);
    s.tls().async_shutdown([&s, h = std::forward<TeardownHandler>(handler)](
                             boost::beast::error_code ec) mutable {
      boost::beast::error_code ignored;
      s.next_layer().socket().close(ignored);
      // A peer that closes without close_notify is the common case.
      if (ec == boost::asio::error::eof
          || ec == boost::asio::ssl::error::stream_truncated)
        ec = {};
      h(ec);
    });
    return;
  }
  detail::drain_op<std::decay_t<TeardownHandler>> op{
    s.next_layer(), std::forward<TeardownHandler>(handler)};
  op.start();
}

inline void teardown(boost::beast::role_type role, ws_stream& s,
                     boost::beast::error_code& ec) {
  if (s.is_tls()) {
    s.tls().shutdown(ec);
    return;
  }
  using boost::beast::websocket::teardown;
  teardown(role, s.next_layer().socket(), ec);
}

} // namespace collab::net
