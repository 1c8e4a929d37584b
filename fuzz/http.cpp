// Fuzz target: what parses HTTP requests on the client and admin ports:
// Beast's request parser with the server's limits (net/http_session.cpp),
// then the target, query, header and cookie helpers (net/http_util.hpp,
// net/auth.hpp extract_token / query_has_token / origin_allowed, and
// net/codec.hpp valid_doc_id on a decoded /v1/docs/ path).
//
// The first byte picks the mode: even, the rest is a raw HTTP request; odd,
// the rest is split into a target and Authorization, Cookie and Origin
// values as they come (bytes Beast would refuse included).
//
// Invariants: no crash; percent_decode never grows its input and leaves
// text without '%' alone; query_param returns a slice of the target;
// query_u64 reads exactly the digits it accepts; extract_token returns a
// non-empty slice of one of the two headers; a "*" allow-list allows any
// Origin.
#include <cstdint>
#include <string>
#include <vector>

#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz/fuzz_check.hpp"
#include "net/auth.hpp"
#include "net/codec.hpp"
#include "net/http_util.hpp"

namespace {

using namespace collab::net;
namespace http = boost::beast::http;

bool inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data()
         && part.data() + part.size() <= whole.data() + whole.size();
}

void check_target(std::string_view target) {
  const std::string_view path = path_of(target);
  const std::string decoded = percent_decode(path);
  FUZZ_REQUIRE(decoded.size() <= path.size());
  if (path.find('%') == std::string_view::npos)
    FUZZ_REQUIRE(decoded == path);
  constexpr std::string_view docs = "/v1/docs/";
  if (path.rfind(docs, 0) == 0)
    (void)valid_doc_id(percent_decode(path.substr(docs.size())));
  for (std::string_view key : {"from", "limit", "node", ""}) {
    const auto v = query_param(target, key);
    if (v)
      FUZZ_REQUIRE(inside(*v, target));
  }
  bool bad = false;
  const uint64_t from = query_u64(target, "from", 7, bad);
  const auto raw = query_param(target, "from");
  if (!raw)
    FUZZ_REQUIRE(!bad && from == 7);
  else if (!bad) {
    std::string_view digits = *raw;
    while (digits.size() > 1 && digits.front() == '0')
      digits.remove_prefix(1);
    FUZZ_REQUIRE(std::to_string(from) == digits);
  }
  (void)query_has_token(target);
}

void check_headers(std::string_view authorization, std::string_view cookie,
                   std::string_view origin) {
  const auto token = extract_token(authorization, cookie);
  if (token) {
    FUZZ_REQUIRE(!token->empty());
    FUZZ_REQUIRE(authorization.find(*token) != std::string_view::npos
                 || cookie.find(*token) != std::string_view::npos);
  }
  static const std::vector<std::string> allowed = {"https://app.example",
                                                   "http://localhost:8080/"};
  static const std::vector<std::string> any = {"https://app.example", "*"};
  (void)origin_allowed(origin, allowed);
  FUZZ_REQUIRE(origin_allowed(origin, any));
}

void raw_request(std::string_view bytes) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024); // as http_session
  parser.body_limit(64 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  while (!bytes.empty() && !parser.is_done()) {
    const size_t used
      = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec || used == 0)
      break;
    bytes.remove_prefix(used);
  }
  if (!parser.is_header_done())
    return;
  const auto& req = parser.get();
  check_target(req.target());
  check_headers(req[http::field::authorization], req[http::field::cookie],
                req[http::field::origin]);
  (void)boost::beast::websocket::is_upgrade(req);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  FuzzedDataProvider p(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    raw_request(p.ConsumeRemainingBytesAsString());
    return 0;
  }
  const std::string target = p.ConsumeRandomLengthString(512);
  const std::string authorization = p.ConsumeRandomLengthString(256);
  const std::string cookie = p.ConsumeRandomLengthString(256);
  const std::string origin = p.ConsumeRemainingBytesAsString();
  check_target(target);
  check_headers(authorization, cookie, origin);
  return 0;
}
