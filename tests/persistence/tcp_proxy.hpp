// A TCP proxy for outage tests (toxiproxy's idea, in-process): the store
// connects to PostgreSQL through it, and a test makes the "server" go down
// (every connection closed, new ones closed at once) or hang (bytes are no
// longer forwarded, connections stay open) without touching the real server
// that other tests share.
//
// Threading: one thread of its own; set_mode may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace collab::test {

class tcp_proxy {
public:
  enum class mode { forward, frozen, down };

  tcp_proxy(std::string upstream_host, uint16_t upstream_port);
  ~tcp_proxy();
  tcp_proxy(const tcp_proxy&) = delete;
  tcp_proxy& operator=(const tcp_proxy&) = delete;

  uint16_t port() const { return port_; }
  void set_mode(mode m);

private:
  void run();
  std::string host_;
  uint16_t upstream_port_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<mode> mode_{mode::forward};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Splits a libpq URI postgresql://user@host:port/db?x into (host, port) and
// rewrites it to point at another port on 127.0.0.1. Returns false when the
// URL has no explicit host:port.
bool split_pg_url(const std::string& url, std::string& host, uint16_t& port);
std::string with_port(const std::string& url, uint16_t port);

} // namespace collab::test
