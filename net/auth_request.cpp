// Where a request carries its credentials (net/auth.hpp): the Origin check
// of an upgrade, the token in `Authorization: Bearer` or the `collab_token`
// cookie, and the refusal of tokens in query strings (they end up in logs).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/auth.hpp"
#include "net/http_util.hpp"

namespace collab::net {

namespace {

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i]))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

} // namespace

bool origin_allowed(std::string_view origin_header,
                    const std::vector<std::string>& allowed) {
  const std::string_view origin = trim(origin_header);
  if (origin.empty())
    return true; // not a browser: no cross-site risk
  for (const auto& a : allowed) {
    std::string_view entry = trim(a);
    if (entry == "*")
      return true;
    // Scheme and host are case-insensitive; tolerate "https://x/" in config.
    if (entry.size() > 1 && entry.back() == '/')
      entry.remove_suffix(1);
    if (iequals(entry, origin))
      return true;
  }
  return false;
}

std::optional<std::string> extract_token(std::string_view authorization_header,
                                         std::string_view cookie_header) {
  const std::string_view auth = trim(authorization_header);
  constexpr std::string_view bearer = "bearer";
  if (auth.size() > bearer.size()
      && iequals(auth.substr(0, bearer.size()), bearer)
      && (auth[bearer.size()] == ' ' || auth[bearer.size()] == '\t')) {
    const std::string_view token = trim(auth.substr(bearer.size()));
    if (!token.empty())
      return std::string(token);
  }

  std::string_view rest = cookie_header;
  while (!rest.empty()) {
    const size_t semi = rest.find(';');
    const std::string_view pair = trim(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view{}
                                          : rest.substr(semi + 1);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos)
      continue;
    if (trim(pair.substr(0, eq)) != "collab_token")
      continue; // cookie names are case-sensitive
    std::string_view value = trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (!value.empty())
      return std::string(value);
  }
  return std::nullopt;
}

bool query_has_token(std::string_view target) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos)
    return false;
  std::string_view query = target.substr(q + 1);
  query = query.substr(0, query.find('#'));
  while (!query.empty()) {
    const size_t sep = query.find_first_of("&;");
    const std::string_view param = query.substr(0, sep);
    query = sep == std::string_view::npos ? std::string_view{}
                                          : query.substr(sep + 1);
    // `%74oken=` is still a token: compare the decoded, lowercased name.
    std::string name = percent_decode(param.substr(0, param.find('=')), true);
    for (char& c : name)
      c = ascii_lower(c);
    const std::string_view n = trim(name);
    if (n == "token" || n == "access_token" || n == "jwt" || n == "collab_token"
        || n == "auth")
      return true;
  }
  return false;
}

} // namespace collab::net
