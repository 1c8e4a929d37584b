// The cluster tunnel's pieces (net/cluster_tunnel.cpp): the rate-limited
// log of refused connections, and the pipe that carries one tunnelled
// connection, remote stream <-> BASP's socketpair, judging it frame by
// frame (net/cluster_frame.hpp). Internal to net/cluster_tunnel.cpp.
//
// Thread-safety: log_gates may be used from any thread; a pipe runs on its
// connection's strand (hang_up() may be called from any thread).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "net/cluster_frame.hpp"

namespace collab::net::tunnel {

namespace asio = boost::asio;
using error_code = boost::system::error_code;
using unix_socket = asio::local::stream_protocol::socket;

// At most one log line a second per kind of refusal, with how many were
// not logged since: a flood of bad connections costs no disk and no core.
class log_gate {
public:
  // True if a line may be logged now; `skipped` gets the count not logged.
  bool pass(uint64_t& skipped) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto now = std::chrono::steady_clock::now();
    if (any_ && now - last_ < std::chrono::seconds(1)) {
      ++skipped_;
      return false;
    }
    any_ = true;
    last_ = now;
    skipped = skipped_;
    skipped_ = 0;
    return true;
  }

private:
  std::mutex mutex_;
  bool any_ = false;
  std::chrono::steady_clock::time_point last_;
  uint64_t skipped_ = 0;
};

enum class refusal { tls, auth, frame, accept, busy, count };

struct log_gates {
  std::array<log_gate, static_cast<size_t>(refusal::count)> gates;
  template<class... Ts>
  void warn(refusal kind, fmt::format_string<Ts...> format, Ts&&... xs) {
    uint64_t skipped = 0;
    if (!gates[static_cast<size_t>(kind)].pass(skipped))
      return;
    spdlog::warn("{} not_logged={}",
                 fmt::format(format, std::forward<Ts>(xs)...), skipped);
  }
};

// A tunnelled connection as the tunnel's registry of dialled connections
// sees it.
class hangable {
public:
  virtual ~hangable() = default;
  // Closes both sides, on the connection's strand (any thread).
  virtual void hang_up() = 0;
};

// Both directions of one tunnelled connection, remote stream <-> BASP's
// socketpair, each judged frame by frame.
template<class Remote>
class pipe : public hangable,
             public std::enable_shared_from_this<pipe<Remote>> {
public:
  pipe(std::shared_ptr<Remote> remote, unix_socket local, uint64_t max_frame,
       std::string peer, std::shared_ptr<log_gates> log)
      : remote_(std::move(remote)),
        local_(std::move(local)),
        peer_(std::move(peer)),
        log_(std::move(log)),
        in_{{}, basp_framer{max_frame}, "in"},
        out_{{}, basp_framer{max_frame}, "out"},
        max_frame_(max_frame) {
    // nop
  }
  void start() {
    pump(*remote_, local_, in_);
    pump(local_, *remote_, out_);
  }
  void hang_up() override {
    asio::post(local_.get_executor(),
               [self = this->shared_from_this()] { self->shut(); });
  }

private:
  struct direction {
    std::array<uint8_t, 16384> buf;
    basp_framer framer;
    const char* name;
  };
  template<class From, class To>
  void pump(From& from, To& to, direction& d) {
    from.async_read_some(asio::buffer(d.buf), [self = this->shared_from_this(),
                                               &from, &to,
                                               &d](error_code ec, size_t n) {
      if (ec)
        return self->shut();
      // Judged before a byte of it is passed on: a refused header never
      // reaches the other side complete.
      if (auto v = d.framer.feed(d.buf.data(), n); v != frame_verdict::ok)
        return self->refuse(d, v);
      asio::async_write(to, asio::buffer(d.buf.data(), n),
                        [self, &from, &to, &d](error_code ec, size_t) {
                          if (ec)
                            self->shut();
                          else
                            self->pump(from, to, d);
                        });
    });
  }
  void refuse(const direction& d, frame_verdict v) {
    log_->warn(refusal::frame,
               "event=cluster_frame_refused peer={} direction={} verdict={} "
               "payload_bytes={} max={}",
               peer_, d.name, to_string(v), d.framer.last_payload_len(),
               max_frame_);
    shut();
  }
  // Either side ended: end both (BASP sees its socket close at once).
  void shut() {
    error_code ignored;
    local_.close(ignored);
    remote_->lowest_layer().close(ignored);
  }

  std::shared_ptr<Remote> remote_;
  unix_socket local_;
  std::string peer_;
  std::shared_ptr<log_gates> log_;
  direction in_, out_;
  uint64_t max_frame_;
};

} // namespace collab::net::tunnel
