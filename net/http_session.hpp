// One plain HTTP connection (keep-alive): reads requests, answers them
// through http_routes (client port) or admin_routes (admin port), and on the
// client port turns itself into a ws_session on an accepted upgrade.
//
// Limits: a request head over max-header-bytes gets 431 and a body over
// 64 KiB 413, then the connection closes; a request must arrive within 30 s
// (slowloris); a closing connection reads what the peer still sends for at
// most 5 s (ws_stream.hpp), so the answer is not lost to a reset.
//
// Thread-safety: members are touched only on the connection's strand.
#pragma once

#include <memory>
#include <optional>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "net/http_routes.hpp"
#include "net/server_context.hpp"
#include "net/ws_stream.hpp"

namespace collab::net {

enum class port_kind : uint8_t { client, admin };

class http_session : public std::enable_shared_from_this<http_session> {
public:
  http_session(ws_stream::socket_type&& socket, server_context& ctx,
               port_kind kind);
  void run();

private:
  void on_handshake(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, size_t bytes);
  // Turns this connection into a ws_session, or answers why not (401, 403,
  // 429 when the user has too many sockets, 503 while draining).
  void upgrade(http_request req);
  void refuse(boost::beast::http::status status, std::string_view code,
              std::string_view message);
  void write(http_response res);
  void on_write(bool close, boost::beast::error_code ec, size_t bytes);

  ws_stream stream_; // TCP, or TLS over TCP
  deadline deadline_; // of the TLS handshake, then of each request
  boost::beast::flat_buffer buffer_;
  server_context& ctx_;
  port_kind kind_;
  std::optional<
    boost::beast::http::request_parser<boost::beast::http::string_body>>
    parser_;
  std::shared_ptr<http_response> res_; // alive until written
};

} // namespace collab::net
