#include "net/static_site.hpp"

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

namespace collab::net {
namespace {

namespace fs = std::filesystem;

std::string content_type_of(const fs::path& p) {
  auto ext = p.extension().string();
  if (ext == ".html")
    return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs")
    return "text/javascript; charset=utf-8";
  if (ext == ".css")
    return "text/css; charset=utf-8";
  if (ext == ".svg")
    return "image/svg+xml";
  if (ext == ".png")
    return "image/png";
  if (ext == ".ico")
    return "image/x-icon";
  if (ext == ".map" || ext == ".json")
    return "application/json";
  return "application/octet-stream";
}

std::optional<std::string> read_file(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  if (!in)
    return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

static_file make_file(std::string body, const fs::path& p, bool immutable) {
  static_file f;
  f.etag = "\"" + std::to_string(std::hash<std::string>{}(body)) + "\"";
  f.body = std::move(body);
  f.content_type = content_type_of(p);
  f.cache_control = immutable ? "public, max-age=31536000, immutable"
                              : "no-cache";
  return f;
}

} // namespace

bool static_site::load(const std::string& dir) {
  files_.clear();
  auto index = read_file(fs::path{dir} / "index.html");
  if (!index)
    return false;
  files_.emplace("/", make_file(std::move(*index), "index.html", false));
  std::error_code ec;
  for (auto& entry : fs::directory_iterator{fs::path{dir} / "assets", ec}) {
    if (!entry.is_regular_file())
      continue;
    if (auto body = read_file(entry.path()))
      files_.emplace("/assets/" + entry.path().filename().string(),
                     make_file(std::move(*body), entry.path(), true));
  }
  return true;
}

const static_file* static_site::find(std::string_view path) const {
  auto i = files_.find(std::string{path});
  return i == files_.end() ? nullptr : &i->second;
}

} // namespace collab::net
