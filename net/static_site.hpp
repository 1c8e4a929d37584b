// The demo page's built files (tools/build writes them into build/web):
// index.html at `/` (revalidated on every load, since it names the current
// assets) and content-hashed files under /assets/ (cached for a year: a new
// build gives them new names). Read once at start-up and served from memory.
//
// Thread-safety: constant after load.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace collab::net {

struct static_file {
  std::string body;
  std::string content_type;
  std::string cache_control;
  std::string etag;
};

class static_site {
public:
  // Loads `dir`/index.html and every regular file in `dir`/assets; returns
  // false (and stays empty) when there is no index.html.
  bool load(const std::string& dir);
  bool empty() const { return files_.empty(); }
  // The file for a request path ("/" or "/assets/NAME"), if any.
  const static_file* find(std::string_view path) const;

private:
  std::unordered_map<std::string, static_file> files_;
};

} // namespace collab::net
