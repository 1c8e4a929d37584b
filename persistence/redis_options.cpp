#include "persistence/redis_options.hpp"

#include <cctype>
#include <string_view>

namespace collab {
namespace {

bool parse_number(std::string_view s, uint64_t max, uint64_t& out) {
  if (s.empty() || s.size() > 10)
    return false;
  uint64_t x = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c)))
      return false;
    x = x * 10 + static_cast<uint64_t>(c - '0');
  }
  if (x > max)
    return false;
  out = x;
  return true;
}

// host[:port], host may be [ipv6]; `port` keeps its value when none is given.
std::string parse_address(std::string_view s, std::string& host,
                          uint16_t& port_out) {
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos)
      return "unterminated [ in Redis URL";
    host = std::string{s.substr(1, close - 1)};
    auto rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return "bad port in Redis URL";
      port = rest.substr(1);
      if (port.empty())
        return "bad port in Redis URL";
    }
  } else if (auto colon = s.find(':'); colon != std::string_view::npos) {
    host = std::string{s.substr(0, colon)};
    port = s.substr(colon + 1);
    if (port.empty())
      return "bad port in Redis URL";
  } else {
    host = std::string{s};
  }
  if (host.empty())
    return "missing host in Redis URL";
  if (!port.empty()) {
    uint64_t p = 0;
    if (!parse_number(port, 65535, p) || p == 0)
      return "bad port in Redis URL";
    port_out = static_cast<uint16_t>(p);
  }
  return {};
}

} // namespace

std::string parse_redis_url(const std::string& url, redis_endpoint& out) {
  out = redis_endpoint{};
  constexpr std::string_view scheme = "redis://";
  constexpr std::string_view sentinel_scheme = "redis-sentinel://";
  std::string_view s{url};
  bool sentinel = s.substr(0, sentinel_scheme.size()) == sentinel_scheme;
  if (sentinel)
    s.remove_prefix(sentinel_scheme.size());
  else if (s.substr(0, scheme.size()) == scheme)
    s.remove_prefix(scheme.size());
  else
    return "Redis URL must start with redis:// or redis-sentinel://";
  // userinfo: [user:]password@ (the last @: a password may hold @ or /)
  if (auto at = s.rfind('@'); at != std::string_view::npos) {
    auto info = s.substr(0, at);
    s.remove_prefix(at + 1);
    if (auto colon = info.find(':'); colon != std::string_view::npos) {
      out.user = std::string{info.substr(0, colon)};
      out.password = std::string{info.substr(colon + 1)};
    } else {
      out.password = std::string{info};
    }
  }
  // path: [/master]/db
  std::string_view path;
  if (auto slash = s.find('/'); slash != std::string_view::npos) {
    path = s.substr(slash + 1);
    s = s.substr(0, slash);
  }
  if (sentinel) {
    auto slash = path.find('/');
    out.master = std::string{path.substr(0, slash)};
    path = slash == std::string_view::npos ? std::string_view{}
                                           : path.substr(slash + 1);
    if (out.master.empty())
      return "redis-sentinel:// needs the master's name: "
             "redis-sentinel://host:port/name";
  }
  uint64_t db = 0;
  if (!path.empty() && !parse_number(path, 1u << 20, db))
    return "bad database number in Redis URL";
  out.db = static_cast<uint32_t>(db);
  if (!sentinel)
    return parse_address(s, out.host, out.port);
  // host[:port],host[:port],...
  while (true) {
    auto comma = s.find(',');
    redis_address a{{}, 26379};
    if (auto why = parse_address(s.substr(0, comma), a.host, a.port);
        !why.empty())
      return why;
    out.sentinels.push_back(std::move(a));
    if (comma == std::string_view::npos)
      break;
    s.remove_prefix(comma + 1);
  }
  out.host.clear(); // asked at connect
  out.port = 0;
  return {};
}

} // namespace collab
