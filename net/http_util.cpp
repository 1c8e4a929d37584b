#include "net/http_util.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace collab::net {

namespace http = boost::beast::http;

http_response make_response(const http_request& req, http::status status,
                            std::string body, const char* content_type) {
  http_response res{status, req.version()};
  res.set(http::field::server, "collabd");
  res.set(http::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

http_response json_error(const http_request& req, http::status status,
                         std::string_view code, std::string_view message) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("error");
  w.String(code.data(), code.size());
  w.Key("message");
  w.String(message.data(), message.size());
  w.EndObject();
  auto res = make_response(req, status, buf.GetString(), "application/json");
  res.set(http::field::cache_control, "no-store");
  // "Later" (storage down, draining, too many at once): when, in seconds
  // (RFC 9110), for clients and proxies that retry.
  if (status == http::status::service_unavailable
      || status == http::status::too_many_requests)
    res.set(http::field::retry_after, "1");
  return res;
}

http_response json_ok(const http_request& req, std::string body) {
  auto res = make_response(req, http::status::ok, std::move(body),
                           "application/json");
  res.set(http::field::cache_control, "no-store");
  return res;
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

namespace {
int hex_digit(char h) {
  if (h >= '0' && h <= '9')
    return h - '0';
  if (h >= 'a' && h <= 'f')
    return h - 'a' + 10;
  if (h >= 'A' && h <= 'F')
    return h - 'A' + 10;
  return -1;
}
} // namespace

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+' && plus_is_space) {
      c = ' ';
    } else if (c == '%' && i + 2 < s.size()) {
      const int hi = hex_digit(s[i + 1]);
      const int lo = hex_digit(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        c = static_cast<char>(hi * 16 + lo);
        i += 2;
      }
    }
    out += c;
  }
  return out;
}

std::optional<std::string_view> query_param(std::string_view target,
                                            std::string_view key) {
  auto q = target.find('?');
  if (q == std::string_view::npos)
    return std::nullopt;
  auto query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == key)
      return pair.substr(eq + 1);
    if (amp == std::string_view::npos)
      break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

uint64_t query_u64(std::string_view target, std::string_view key,
                   uint64_t fallback, bool& bad) {
  auto v = query_param(target, key);
  if (!v)
    return fallback;
  if (v->empty() || v->size() > 19
      || v->find_first_not_of("0123456789") != std::string_view::npos) {
    bad = true;
    return fallback;
  }
  return std::stoull(std::string(*v));
}

} // namespace collab::net
