#include "net/http_session.hpp"

#include <algorithm>
#include <cstdint>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

#include "actors/metrics.hpp"
#include "net/admin_routes.hpp"
#include "net/ws_session.hpp"

namespace collab::net {
namespace {
namespace http = boost::beast::http;
constexpr auto read_timeout = std::chrono::seconds(30);
constexpr size_t max_body = 64 * 1024; // no route takes a large body
} // namespace

http_session::http_session(ws_stream::socket_type&& socket, server_context& ctx,
                           port_kind kind)
    : stream_(ctx.tls && kind == port_kind::client
                ? ws_stream{std::move(socket), *ctx.tls}
                : ws_stream{std::move(socket)}),
      ctx_(ctx),
      kind_(kind) {
  // nop
}

void http_session::run() {
  auto self = shared_from_this();
  boost::asio::dispatch(stream_.get_executor(), [self] {
    if (!self->stream_.is_tls()) {
      self->do_read();
      return;
    }
    self->deadline_.arm(self->stream_.socket(), read_timeout);
    self->stream_.tls().async_handshake(
      boost::asio::ssl::stream_base::server,
      boost::beast::bind_front_handler(&http_session::on_handshake, self));
  });
}

void http_session::on_handshake(boost::beast::error_code ec) {
  if (ec)
    return; // not TLS, a bad certificate check, a timeout: drop quietly
  do_read();
}

void http_session::do_read() {
  parser_.emplace();
  parser_->body_limit(max_body);
  parser_->header_limit(static_cast<uint32_t>(
    std::min<uint64_t>(ctx_.cfg.max_header_bytes, UINT32_MAX)));
  deadline_.arm(stream_.socket(), read_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   boost::beast::bind_front_handler(&http_session::on_read,
                                                    shared_from_this()));
}

void http_session::on_read(boost::beast::error_code ec, size_t) {
  if (ec == http::error::end_of_stream) {
    boost::beast::error_code ignored;
    stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send,
                              ignored);
    return;
  }
  if (ec == http::error::header_limit) {
    refuse(http::status::request_header_fields_too_large, "too_large",
           "the request line and headers are over max-header-bytes");
    return;
  }
  if (ec == http::error::body_limit) {
    refuse(http::status::payload_too_large, "too_large",
           "the request body is too large");
    return;
  }
  if (ec)
    return; // timeouts and resets end the connection quietly
  auto req = parser_->release();
  if (kind_ == port_kind::client && boost::beast::websocket::is_upgrade(req)) {
    upgrade(std::move(req));
    return;
  }
  // The answer may come from an actor thread: hop back onto our strand.
  auto self = shared_from_this();
  auto reply = [self](http_response res) {
    boost::asio::post(self->stream_.get_executor(),
                      [self, r = std::move(res)]() mutable {
                        self->write(std::move(r));
                      });
  };
  if (kind_ == port_kind::admin)
    handle_admin(ctx_, req, std::move(reply));
  else
    handle_http(ctx_, req, std::move(reply));
}

void http_session::upgrade(http_request req) {
  token_claims claims;
  http_response refusal;
  if (!check_upgrade(ctx_, req, claims, refusal)) {
    refusal.keep_alive(false);
    write(std::move(refusal));
    return;
  }
  auto slot = ctx_.sessions.acquire_user(claims.sub);
  if (!slot) {
    node_metrics().user_socket_refusals.fetch_add(1, std::memory_order_relaxed);
    auto res = json_error(req, http::status::too_many_requests, "too_many",
                          "this user has max-sockets-per-user sockets open "
                          "on this node; close one first");
    res.keep_alive(false);
    write(std::move(res));
    return;
  }
  deadline_.cancel(); // the WebSocket has its own
  std::make_shared<ws_session>(std::move(stream_), ctx_)
    ->run(std::move(req), std::move(claims), std::move(slot));
}

// A request we will not read to its end: answer, then close.
void http_session::refuse(http::status status, std::string_view code,
                          std::string_view message) {
  http_request head;
  head.version(11);
  auto res = json_error(head, status, code, message);
  res.keep_alive(false);
  write(std::move(res));
}

void http_session::write(http_response res) {
  res_ = std::make_shared<http_response>(std::move(res));
  bool close = res_->need_eof();
  http::async_write(stream_, *res_,
                    boost::beast::bind_front_handler(
                      &http_session::on_write, shared_from_this(), close));
}

void http_session::on_write(bool close, boost::beast::error_code ec, size_t) {
  res_.reset();
  if (ec)
    return;
  if (close) {
    // Closing with the peer's bytes unread would reset the connection and
    // could lose the answer: shut down, read what the peer still sends
    // (bounded by a timeout), then close (ws_stream.hpp).
    async_teardown(boost::beast::role_type::server, stream_,
                   [self = shared_from_this()](boost::beast::error_code) {
                     // nop: the socket is closed
                   });
    return;
  }
  do_read();
}

} // namespace collab::net
