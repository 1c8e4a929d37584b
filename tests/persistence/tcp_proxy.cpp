// See tcp_proxy.hpp.
#include "tcp_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <regex>
#include <stdexcept>
#include <vector>

namespace collab::test {

namespace {

struct conn_pair {
  int client;
  int upstream;
};

int connect_to(const std::string& host, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Copies what `from` has to `to`; false on EOF or error.
bool pump(int from, int to) {
  char buf[65536];
  auto n = ::recv(from, buf, sizeof(buf), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return true;
  if (n <= 0)
    return false;
  for (ssize_t done = 0; done < n;) {
    auto w = ::send(to, buf + done, static_cast<size_t>(n - done),
                    MSG_NOSIGNAL);
    if (w <= 0)
      return false;
    done += w;
  }
  return true;
}

} // namespace

tcp_proxy::tcp_proxy(std::string upstream_host, uint16_t upstream_port)
    : host_(std::move(upstream_host)), upstream_port_(upstream_port) {
  if (host_ == "localhost")
    host_ = "127.0.0.1";
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0
      || ::listen(listen_fd_, 64) != 0)
    throw std::runtime_error("tcp_proxy: cannot listen");
  socklen_t len = sizeof(a);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  if (::pipe2(wake_, O_CLOEXEC) != 0)
    throw std::runtime_error("tcp_proxy: pipe");
  thread_ = std::thread{[this] {
    run();
  }};
}

tcp_proxy::~tcp_proxy() {
  stop_ = true;
  set_mode(mode_.load());
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void tcp_proxy::set_mode(mode m) {
  mode_ = m;
  char c = 1;
  [[maybe_unused]] auto n = ::write(wake_[1], &c, 1);
}

void tcp_proxy::run() {
  std::vector<conn_pair> pairs;
  auto close_pair = [](conn_pair& p) {
    ::close(p.client);
    ::close(p.upstream);
  };
  while (!stop_) {
    auto m = mode_.load();
    if (m == mode::down) {
      for (auto& p : pairs)
        close_pair(p);
      pairs.clear();
    }
    std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    if (m == mode::forward)
      for (auto& p : pairs) {
        fds.push_back({p.client, POLLIN, 0});
        fds.push_back({p.upstream, POLLIN, 0});
      }
    // Only these pairs are in `fds` (accept below may add more).
    size_t polled = m == mode::forward ? pairs.size() : 0;
    if (::poll(fds.data(), fds.size(), 100) <= 0)
      continue;
    if (fds[0].revents) {
      char buf[64];
      [[maybe_unused]] auto n = ::read(wake_[0], buf, sizeof(buf));
      continue; // the mode may have changed: rebuild the poll set
    }
    if (fds[1].revents & POLLIN) {
      int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        int u = m == mode::down ? -1 : connect_to(host_, upstream_port_);
        if (u < 0)
          ::close(c);
        else
          pairs.push_back({c, u});
      }
    }
    if (m != mode::forward)
      continue;
    std::vector<size_t> dead;
    for (size_t i = 0; i < polled; ++i) {
      auto& cr = fds[2 + 2 * i];
      auto& ur = fds[3 + 2 * i];
      bool ok = true;
      if (cr.revents)
        ok = pump(pairs[i].client, pairs[i].upstream);
      if (ok && ur.revents)
        ok = pump(pairs[i].upstream, pairs[i].client);
      if (!ok)
        dead.push_back(i);
    }
    for (auto i = dead.rbegin(); i != dead.rend(); ++i) {
      close_pair(pairs[*i]);
      pairs.erase(pairs.begin() + static_cast<long>(*i));
    }
  }
  for (auto& p : pairs)
    close_pair(p);
}

bool split_pg_url(const std::string& url, std::string& host, uint16_t& port) {
  static const std::regex re{
    R"(^postgres(ql)?://([^@/]*@)?([^:/?]+):([0-9]+))"};
  std::smatch m;
  if (!std::regex_search(url, m, re))
    return false;
  host = m[3].str();
  port = static_cast<uint16_t>(std::stoi(m[4].str()));
  return true;
}

std::string with_port(const std::string& url, uint16_t port) {
  static const std::regex re{
    R"(^(postgres(ql)?://([^@/]*@)?)([^:/?]+):([0-9]+))"};
  std::smatch m;
  if (!std::regex_search(url, m, re))
    return url;
  return m[1].str() + "127.0.0.1:" + std::to_string(port) + m.suffix().str();
}

} // namespace collab::test
