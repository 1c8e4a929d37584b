// The live WebSocket sessions of this node and their connection actors, so
// that a shutdown or drain can close every socket with 1001, wait until they
// are gone, and end what is left; and so that operators can list and kick
// them (collabctl conns, kick).
//
// Thread-safety: all members lock `mutex_`; sinks are called outside it.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/send.hpp>

#include "net/session_sink.hpp"

namespace collab::net {

class session_registry {
public:
  void add(const void* key, std::weak_ptr<session_sink> s, caf::actor conn,
           std::string id) {
    std::lock_guard<std::mutex> guard{mutex_};
    sessions_.emplace(key, entry{std::move(s), std::move(conn), std::move(id)});
  }
  void remove(const void* key) {
    std::lock_guard<std::mutex> guard{mutex_};
    sessions_.erase(key);
  }
  size_t size() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return sessions_.size();
  }
  // Asks every live session to close with `code`.
  void close_all(uint16_t code, const std::string& reason) {
    std::vector<std::shared_ptr<session_sink>> live;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      for (auto& [key, e] : sessions_)
        if (auto s = e.sink.lock())
          live.push_back(std::move(s));
    }
    for (auto& s : live)
      s->close(code, reason);
  }

  std::vector<caf::actor> connections() const {
    std::lock_guard<std::mutex> guard{mutex_};
    std::vector<caf::actor> out;
    for (auto& [key, e] : sessions_)
      out.push_back(e.conn);
    return out;
  }

  // The connection actor of session `id`, or a null handle.
  caf::actor find(const std::string& id) const {
    std::lock_guard<std::mutex> guard{mutex_};
    for (auto& [key, e] : sessions_)
      if (e.id == id)
        return e.conn;
    return {};
  }

  // Ends every connection actor still alive (their sockets are gone).
  void kill_all() {
    std::lock_guard<std::mutex> guard{mutex_};
    for (auto& [key, e] : sessions_)
      caf::anon_send_exit(e.conn, caf::exit_reason::user_shutdown);
  }

private:
  struct entry {
    std::weak_ptr<session_sink> sink;
    caf::actor conn;
    std::string id;
  };
  mutable std::mutex mutex_;
  std::unordered_map<const void*, entry> sessions_;
};

} // namespace collab::net
