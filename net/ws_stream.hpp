// The byte stream under the client port's HTTP and WebSockets: plain TCP, or
// TLS over TCP when the node has a certificate (COLLAB_TLS_CERT/KEY), chosen
// per connection at accept time. Beast's HTTP and WebSocket code is written
// against this one type, so both work the same over either.
//
// The TCP layer is a bare socket whose executor is the connection's strand,
// not a beast::tcp_stream: an idle WebSocket keeps this stream as long as it
// is open, and tcp_stream's timeouts cost ~500 bytes per socket plus a layer
// (and type-erased executors) in every pending read, for timeouts the
// WebSocket sets itself. What needs a deadline (an HTTP request, a TLS
// handshake, a teardown) arms a `deadline` (below), which closes the socket
// when it passes.
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
// Thread-safety: one strand (the socket's executor), as a socket.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace collab::net {

class ws_stream {
public:
  using executor_type
    = boost::asio::strand<boost::asio::io_context::executor_type>;
  using socket_type
    = boost::asio::basic_stream_socket<boost::asio::ip::tcp, executor_type>;
  using tls_stream = boost::beast::ssl_stream<socket_type>;

  explicit ws_stream(socket_type&& s) : tcp_(std::move(s)) {
    // nop
  }
  ws_stream(socket_type&& s, boost::asio::ssl::context& tls)
      : tcp_(s.get_executor()),
        tls_(std::make_unique<tls_stream>(std::move(s), tls)) {
    // nop
  }

  executor_type get_executor() { return socket().get_executor(); }
  // The TCP socket, under TLS when there is TLS.
  socket_type& socket() { return tls_ ? tls_->next_layer() : tcp_; }
  socket_type& next_layer() { return socket(); }
  bool is_tls() const { return tls_ != nullptr; }
  tls_stream& tls() { return *tls_; }

  template<class MutableBuffers, class Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (tls_)
      return tls_->async_read_some(buffers, std::forward<Handler>(handler));
    return tcp_.async_read_some(buffers, std::forward<Handler>(handler));
  }
  template<class ConstBuffers, class Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    if (tls_)
      return tls_->async_write_some(buffers, std::forward<Handler>(handler));
    return tcp_.async_write_some(buffers, std::forward<Handler>(handler));
  }

private:
  socket_type tcp_; // the socket, unless TLS owns it
  std::unique_ptr<tls_stream> tls_;
};

// A deadline for the operations on one socket: when it passes before it is
// cancelled (or armed again), the socket is closed, which ends whatever is
// pending on it with an error. The timer is made when first armed.
//
// REQUIRES: the socket outlives the deadline, and the deadline is armed,
// cancelled and destroyed on the socket's strand (its handler runs there).
class deadline {
public:
  void arm(ws_stream::socket_type& s, std::chrono::steady_clock::duration d) {
    if (!state_)
      state_ = std::make_shared<state>(s.get_executor());
    auto gen = ++state_->generation;
    state_->timer.expires_after(d);
    state_->timer.async_wait([st = std::weak_ptr<state>(state_), &s,
                              gen](boost::beast::error_code ec) {
      auto alive = st.lock();
      if (ec || !alive || alive->generation != gen)
        return; // cancelled, re-armed, or the deadline is gone
      boost::beast::error_code ignored;
      s.close(ignored);
    });
  }
  void cancel() {
    if (!state_)
      return;
    ++state_->generation;
    state_->timer.cancel();
  }
  ~deadline() { cancel(); }

private:
  struct state {
    explicit state(const ws_stream::executor_type& ex) : timer(ex) {}
    boost::asio::steady_timer timer;
    uint64_t generation = 0;
  };
  std::shared_ptr<state> state_;
};

namespace detail {

constexpr auto teardown_timeout = std::chrono::seconds(5);

template<class Handler>
class drain_op {
public:
  drain_op(ws_stream::socket_type& s, Handler h)
      : s_(s), buf_(std::make_unique<buffers>()), h_(std::move(h)) {
    // nop
  }
  void start() {
    boost::beast::error_code ec;
    s_.shutdown(boost::asio::socket_base::shutdown_send, ec);
    buf_->limit.arm(s_, teardown_timeout);
    read();
  }
  void operator()(boost::beast::error_code ec, size_t) {
    if (!ec) {
      read();
      return;
    }
    buf_->limit.cancel();
    boost::beast::error_code ignored;
    s_.close(ignored);
    if (ec == boost::asio::error::eof)
      ec = {};
    buf_.reset();
    h_(ec);
  }

private:
  struct buffers {
    std::array<char, 8192> bytes;
    deadline limit;
  };
  void read() {
    auto& buf = buf_->bytes;
    s_.async_read_some(boost::asio::buffer(buf), std::move(*this));
  }
  ws_stream::socket_type& s_;
  std::unique_ptr<buffers> buf_;
  Handler h_;
};

} // namespace detail

template<class TeardownHandler>
void async_teardown(boost::beast::role_type, ws_stream& s,
                    TeardownHandler&& handler) {
  if (s.is_tls()) {
    auto limit = std::make_shared<deadline>();
    limit->arm(s.socket(), detail::teardown_timeout);
    s.tls().async_shutdown(
      [&s, limit, h = std::forward<TeardownHandler>(handler)](
        boost::beast::error_code ec) mutable {
        limit->cancel();
        boost::beast::error_code ignored;
        s.socket().close(ignored);
        // A peer that closes without close_notify is the common case.
        if (ec == boost::asio::error::eof
            || ec == boost::asio::ssl::error::stream_truncated)
          ec = {};
        h(ec);
      });
    return;
  }
  detail::drain_op<std::decay_t<TeardownHandler>> op{
    s.socket(), std::forward<TeardownHandler>(handler)};
  op.start();
}

inline void teardown(boost::beast::role_type role, ws_stream& s,
                     boost::beast::error_code& ec) {
  if (s.is_tls()) {
    s.tls().shutdown(ec);
    return;
  }
  using boost::beast::websocket::teardown;
  teardown(role, s.socket(), ec);
}

} // namespace collab::net
