// Small pieces every HTTP route needs: responses, JSON errors
// ({"error":CODE,"message":TEXT}, no-store), paths and query parameters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http.hpp>

namespace collab::net {

using http_request
  = boost::beast::http::request<boost::beast::http::string_body>;
using http_response
  = boost::beast::http::response<boost::beast::http::string_body>;

http_response make_response(const http_request& req,
                            boost::beast::http::status status, std::string body,
                            const char* content_type);

http_response json_error(const http_request& req,
                         boost::beast::http::status status,
                         std::string_view code, std::string_view message);

// 200 with a JSON body, Cache-Control: no-store.
http_response json_ok(const http_request& req, std::string body);

std::string_view path_of(std::string_view target);

// Decodes %XX escapes (hex digits of either case); a '%' without two hex
// digits after it stays as it is. With `plus_is_space` (query strings,
// form encoding) a '+' decodes to a space.
std::string percent_decode(std::string_view s, bool plus_is_space = false);

// The raw value of query parameter `key`, if present.
std::optional<std::string_view> query_param(std::string_view target,
                                            std::string_view key);

// The value of query parameter `key` as a number, or `fallback`; `bad` is
// set when it is present but not a number.
uint64_t query_u64(std::string_view target, std::string_view key,
                   uint64_t fallback, bool& bad);

} // namespace collab::net
