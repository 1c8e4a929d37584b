#include "admin_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace collabctl {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

admin_answer admin_request(const std::string& node, const std::string& token,
                           const std::string& method, const std::string& target,
                           const std::string& body,
                           std::chrono::milliseconds timeout) {
  admin_answer out;
  auto colon = node.rfind(':');
  if (colon == std::string::npos) {
    out.transport_error = "--node must be HOST:PORT, got '" + node + "'";
    return out;
  }
  try {
    boost::asio::io_context ioc;
    tcp::resolver resolver{ioc};
    beast::tcp_stream stream{ioc};
    stream.expires_after(timeout);
    auto hosts = resolver.resolve(node.substr(0, colon),
                                  node.substr(colon + 1));
    stream.connect(hosts);
    http::request<http::string_body> req{http::string_to_verb(method), target,
                                         11};
    req.set(http::field::host, node);
    req.set(http::field::user_agent, "collabctl");
    if (!token.empty())
      req.set(http::field::authorization, "Bearer " + token);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    out.status = res.result_int();
    out.body = std::move(res.body());
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  } catch (const std::exception& e) {
    out.status = 0;
    out.transport_error = e.what();
  }
  return out;
}

} // namespace collabctl
