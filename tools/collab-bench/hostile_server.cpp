// The collabd child process; see hostile_server.hpp. Everything the child
// needs (argv, envp) is built before fork: between fork and exec it only
// calls async-signal-safe functions.
#include "hostile_server.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <regex>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace collab::bench {

namespace {

// The inherited environment with `over` (KEY=VALUE) replacing or adding.
std::vector<std::string> merged_env(const std::vector<std::string>& over) {
  std::vector<std::string> out;
  const auto key = [](const std::string& kv) {
    return kv.substr(0, kv.find('='));
  };
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    bool replaced = false;
    for (const auto& o : over)
      replaced = replaced || key(o) == key(kv);
    if (!replaced)
      out.push_back(kv);
  }
  out.insert(out.end(), over.begin(), over.end());
  return out;
}

} // namespace

server_process::~server_process() {
  stop();
}

bool server_process::start(const spec& s, double timeout_s, std::string& why) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    why = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  const std::vector<std::string> env = merged_env(s.env);
  std::vector<char*> envp;
  for (const auto& kv : env)
    envp.push_back(const_cast<char*>(kv.c_str()));
  envp.push_back(nullptr);
  char* argv[] = {const_cast<char*>(s.path.c_str()), nullptr};
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    why = std::string("fork: ") + std::strerror(errno);
    close(fds[0]);
    close(fds[1]);
    return false;
  }
  if (pid == 0) { // child
    prctl(PR_SET_PDEATHSIG, SIGTERM); // the bench dies: so does the node
    if (getppid() != parent)
      _exit(127);
    if (s.fd_limit > 0) {
      const rlimit rl{rlim_t(s.fd_limit), rlim_t(s.fd_limit)};
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    execve(argv[0], argv, envp.data());
    _exit(127);
  }
  close(fds[1]);
  pid_ = pid;
  reader_ = std::thread(
    [this, fd = fds[0], log = s.log_file] { read_output(fd, log); });
  const auto deadline = std::chrono::steady_clock::now()
                        + std::chrono::microseconds(int64_t(timeout_s * 1e6));
  while (!ready_.load()) {
    if (!alive() || std::chrono::steady_clock::now() > deadline) {
      why = "collabd did not print its ready line\n" + last_lines();
      stop();
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  static const std::regex ready_re(
    R"(collabd listening on https?://(\S+):(\d+) node=(\S+))");
  std::smatch m;
  std::lock_guard<std::mutex> lock(m_);
  if (!std::regex_search(ready_line_, m, ready_re)) {
    why = "unexpected ready line: " + ready_line_;
    return false;
  }
  host_ = m[1];
  port_ = std::stoi(m[2]);
  return true;
}

void server_process::keep(const std::string& line) {
  std::lock_guard<std::mutex> lock(m_);
  if (!ready_.load()
      && line.find("collabd listening on ") != std::string::npos) {
    ready_line_ = line;
    ready_ = true;
  }
  last_.push_back(line.substr(0, 300));
  if (last_.size() > 30)
    last_.pop_front();
}

void server_process::read_output(int fd, std::string log_file) {
  FILE* log = log_file.empty() ? nullptr : std::fopen(log_file.c_str(), "w");
  std::vector<char> buf(1 << 16);
  std::string line;
  for (;;) {
    const ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    bytes_ += uint64_t(n);
    if (log != nullptr)
      std::fwrite(buf.data(), 1, size_t(n), log);
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[size_t(i)] != '\n') {
        if (line.size() < 4096)
          line += buf[size_t(i)];
        continue;
      }
      ++lines_;
      keep(line);
      line.clear();
    }
  }
  if (log != nullptr)
    std::fclose(log);
  close(fd);
}

std::string server_process::last_lines() const {
  std::lock_guard<std::mutex> lock(m_);
  std::string out;
  for (const auto& l : last_)
    out += "  " + l + "\n";
  return out;
}

bool server_process::alive() {
  if (pid_ <= 0 || reaped_)
    return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_ = status;
    reaped_ = true; // never signal that id again
    return false;
  }
  return r == 0;
}

std::string server_process::stop() {
  if (alive()) {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 500 && alive(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (alive()) {
      kill(pid_, SIGKILL);
      while (alive())
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  if (reader_.joinable())
    reader_.join();
  if (!reaped_)
    return "not started";
  if (WIFEXITED(exit_))
    return "exit " + std::to_string(WEXITSTATUS(exit_));
  if (WIFSIGNALED(exit_))
    return std::string("signal ") + strsignal(WTERMSIG(exit_));
  return "ended";
}

} // namespace collab::bench
