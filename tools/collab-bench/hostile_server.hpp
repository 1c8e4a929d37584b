// A collabd started by the bench (--collabd): fork/exec with the caller's
// environment plus what the run needs (port 0, the JWT secret, the memory
// budget, the cluster port and key, --collabd-env), an optional
// RLIMIT_NOFILE, and its stdout and stderr on one pipe. A reader thread
// finds the ready line (docs/CONFIG-KEYS.md), then counts every line and
// byte the node logs (a busy accept loop logs millions), keeps the last
// lines for error messages and copies everything to --collabd-log.
//
// Thread-safety: start/stop/pid from the thread that owns the object; the
// counters are atomics; last_lines locks.
#pragma once

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace collab::bench {

class server_process {
public:
  struct spec {
    std::string path;
    std::vector<std::string> env; // KEY=VALUE, over the inherited ones
    int fd_limit = 0; // 0: inherited
    std::string log_file; // empty: none
  };

  server_process() = default;
  ~server_process(); // stops it
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  // Starts it and waits (timeout_s) for the ready line; false with why.
  bool start(const spec& s, double timeout_s, std::string& why);
  // SIGTERM, then SIGKILL after 10 s; returns the wait status text.
  std::string stop();
  bool alive();

  int pid() const { return pid_; } // 0 when none was started
  const std::string& host() const { return host_; }
  int port() const { return port_; }
  uint64_t log_lines() const { return lines_.load(); }
  uint64_t log_bytes() const { return bytes_.load(); }
  std::string last_lines() const;

private:
  void read_output(int fd, std::string log_file);
  void keep(const std::string& line);

  int pid_ = 0;
  bool reaped_ = false;
  int exit_ = 0; // wait status once reaped
  std::string host_;
  int port_ = 0;
  std::thread reader_;
  std::atomic<uint64_t> lines_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<bool> ready_{false};
  mutable std::mutex m_;
  std::deque<std::string> last_;
  std::string ready_line_;
};

} // namespace collab::bench
