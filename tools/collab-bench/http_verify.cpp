// The HTTP fetcher; see http_verify.hpp. Asynchronous Beast operations
// driven by a private io_context one at a time, so that tcp_stream's
// deadlines apply (they do not to synchronous calls).
#include "http_verify.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <rapidjson/document.h>

namespace collab::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct http_fetcher::impl {
  endpoint ep;
  std::vector<tcp::endpoint> addrs;
  std::string token;
  asio::io_context ioc;
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buf;

  template<class Start>
  error_code run(Start&& start) {
    error_code result;
    stream->expires_after(std::chrono::seconds(10));
    start([&result](const error_code& ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  error_code open() {
    stream = std::make_unique<beast::tcp_stream>(ioc);
    buf.clear();
    return run([&](auto h) { stream->async_connect(addrs, h); });
  }

  error_code exchange(const std::string& target,
                      http::response<http::string_body>& res) {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, ep.host + ":" + ep.port);
    req.set(http::field::authorization, "Bearer " + token);
    req.set(http::field::user_agent, "collab-bench");
    req.keep_alive(true);
    error_code ec = run([&](auto h) { http::async_write(*stream, req, h); });
    if (!ec)
      ec = run([&](auto h) { http::async_read(*stream, buf, res, h); });
    return ec;
  }
};

http_fetcher::http_fetcher(endpoint ep, std::vector<tcp::endpoint> addrs,
                           std::string token)
    : impl_(std::make_unique<impl>()) {
  impl_->ep = std::move(ep);
  impl_->addrs = std::move(addrs);
  impl_->token = std::move(token);
}

http_fetcher::~http_fetcher() = default;

bool http_fetcher::get_doc(const std::string& doc_id, http_doc& out,
                           std::string& why) {
  const std::string target = "/v1/docs/" + doc_id;
  http::response<http::string_body> res;
  error_code ec;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!impl_->stream) {
      ec = impl_->open();
      if (ec)
        continue;
    }
    res = {};
    ec = impl_->exchange(target, res);
    if (!ec)
      break;
    impl_->stream.reset(); // dropped keep-alive connection: reopen once
  }
  if (ec) {
    why = "GET " + target + ": " + ec.message();
    return false;
  }
  if (!res.keep_alive())
    impl_->stream.reset();
  out.status = res.result_int();
  out.no_store = res[http::field::cache_control].find("no-store")
                 != beast::string_view::npos;
  if (out.status != 200) {
    why = "GET " + target + ": HTTP " + std::to_string(out.status) + " "
          + res.body().substr(0, 200);
    return false;
  }
  rapidjson::Document d;
  d.Parse(res.body().data(), res.body().size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("rev")
      || !d["rev"].IsUint64() || !d.HasMember("text")
      || !d["text"].IsString()) {
    why = "GET " + target + ": unexpected body " + res.body().substr(0, 200);
    return false;
  }
  if (!d.HasMember("doc") || !d["doc"].IsString()
      || std::string(d["doc"].GetString(), d["doc"].GetStringLength())
           != doc_id) {
    why = "GET " + target + ": body names another doc or none";
    return false;
  }
  out.rev = d["rev"].GetUint64();
  out.text.assign(d["text"].GetString(), d["text"].GetStringLength());
  return true;
}

} // namespace collab::bench
