#include "net/listener.hpp"

#include <algorithm>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>

#include "actors/metrics.hpp"
#include "net/http_session.hpp"

namespace collab::net {
namespace {

constexpr auto first_backoff = std::chrono::milliseconds(10);
constexpr auto max_backoff = std::chrono::seconds(1);
constexpr auto log_interval = std::chrono::seconds(1);

// Errors about the one connection being accepted: the next accept may well
// succeed. Any other (EMFILE, ENFILE, ENOBUFS, ENOMEM, ...) would recur at
// once, the connection staying in the backlog: back off.
bool per_connection(boost::beast::error_code ec) {
  using boost::system::errc::errc_t;
  return ec == errc_t::connection_aborted || ec == errc_t::protocol_error
         || ec == errc_t::operation_not_permitted || ec == errc_t::interrupted;
}

} // namespace

void grow_fd_table() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 2)
    return;
  auto highest = static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 20) - 1);
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  if (fd != highest && ::dup2(fd, highest) == highest)
    ::close(highest);
  ::close(fd);
}

listener::listener(boost::asio::io_context& ioc,
                   boost::asio::ip::tcp::endpoint ep, server_context& ctx,
                   port_kind kind)
    : ioc_(ioc),
      acceptor_(boost::asio::make_strand(ioc)),
      ctx_(ctx),
      kind_(kind),
      backoff_timer_(acceptor_.get_executor()) {
  acceptor_.open(ep.protocol());
  acceptor_.set_option(boost::asio::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(boost::asio::socket_base::max_listen_connections);
}

void listener::run() {
  boost::asio::dispatch(acceptor_.get_executor(),
                        [self = shared_from_this()] { self->do_accept(); });
}

void listener::stop() {
  boost::asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    self->stopped_ = true;
    self->backoff_timer_.cancel();
    boost::beast::error_code ignored;
    self->acceptor_.close(ignored);
  });
}

void listener::do_accept() {
  if (stopped_)
    return;
  acceptor_.async_accept(boost::asio::make_strand(ioc_),
                         boost::beast::bind_front_handler(&listener::on_accept,
                                                          shared_from_this()));
}

void listener::on_accept(boost::beast::error_code ec,
                         ws_stream::socket_type socket) {
  if (ec == boost::asio::error::operation_aborted || stopped_)
    return; // stopped
  if (ec) {
    on_accept_error(ec);
    return;
  }
  if (backoff_ != clock::duration{} && unlogged_errors_ > 0
      && clock::now() - last_log_ >= log_interval) {
    spdlog::warn("event=accept_recovered failed_since_last_log={}",
                 unlogged_errors_);
    unlogged_errors_ = 0;
    last_log_ = clock::now();
  }
  backoff_ = {};
  boost::asio::ip::tcp::no_delay nd(true);
  boost::beast::error_code ignored;
  socket.set_option(nd, ignored);
  std::make_shared<http_session>(std::move(socket), ctx_, kind_)->run();
  do_accept();
}

void listener::on_accept_error(boost::beast::error_code ec) {
  node_metrics().accept_errors.fetch_add(1, std::memory_order_relaxed);
  ++unlogged_errors_;
  bool backing_off = !per_connection(ec);
  if (backing_off)
    backoff_ = backoff_ == clock::duration{}
                 ? clock::duration{first_backoff}
                 : std::min<clock::duration>(backoff_ * 2, max_backoff);
  auto now = clock::now();
  if (now - last_log_ >= log_interval) {
    spdlog::warn(
      "event=accept_failed error=\"{}\" failed_since_last_log={} "
      "retry_in_ms={}",
      ec.message(), unlogged_errors_,
      backing_off
        ? std::chrono::duration_cast<std::chrono::milliseconds>(backoff_)
            .count()
        : 0);
    unlogged_errors_ = 0;
    last_log_ = now;
  }
  if (!backing_off) {
    do_accept();
    return;
  }
  backoff_timer_.expires_after(backoff_);
  backoff_timer_.async_wait(
    [self = shared_from_this()](boost::beast::error_code ec) {
      if (!ec)
        self->do_accept();
    });
}

} // namespace collab::net
