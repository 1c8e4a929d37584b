#include "net/cluster_tunnel.hpp"

#include <array>
#include <atomic>
#include <map>
#include <mutex>

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "net/cluster_auth.hpp"
#include "net/cluster_frame.hpp"
#include "net/cluster_key_exchange.hpp"
#include "net/cluster_pipe.hpp"

namespace collab::net {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace auth = cluster_auth;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using tls_socket = ssl::stream<tcp::socket>;
using unix_socket = asio::local::stream_protocol::socket;
using tunnel::hangable;
using tunnel::key_exchange;
using tunnel::log_gates;
using tunnel::pipe;
using tunnel::refusal;

std::string peer_of(const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  return ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
}

// A place among the incoming connections in their handshake; given back
// when its last owner lets go.
class handshake_slot {
public:
  // Null when all `max` places are taken.
  static std::shared_ptr<handshake_slot>
  take(const std::shared_ptr<std::atomic<size_t>>& count, size_t max) {
    if (count->fetch_add(1) >= max) {
      count->fetch_sub(1);
      return nullptr;
    }
    return std::shared_ptr<handshake_slot>(new handshake_slot(count));
  }
  ~handshake_slot() { count_->fetch_sub(1); }

private:
  explicit handshake_slot(std::shared_ptr<std::atomic<size_t>> count)
      : count_(std::move(count)) {
    // nop
  }
  std::shared_ptr<std::atomic<size_t>> count_;
};

// Closes `s` after `timeout` unless finish() came first (same strand).
// Holds the connection's handshake slot (if any) until then.
class deadline : public std::enable_shared_from_this<deadline> {
public:
  template<class Executor>
  deadline(const Executor& ex, std::function<void()> on_expiry)
      : timer_(ex), on_expiry_(std::move(on_expiry)) {
    // nop
  }
  void start(std::chrono::milliseconds timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](error_code) {
      if (!self->finished_)
        self->on_expiry_();
    });
  }
  void hold(std::shared_ptr<handshake_slot> slot) { slot_ = std::move(slot); }
  void finish() {
    finished_ = true;
    on_expiry_ = nullptr;
    slot_ = nullptr;
    timer_.cancel();
  }

private:
  asio::steady_timer timer_;
  std::function<void()> on_expiry_;
  std::shared_ptr<handshake_slot> slot_;
  bool finished_ = false;
};

std::shared_ptr<ssl::context> make_context(const cluster_tls_files& f,
                                           ssl::context::method m) {
  auto ctx = std::make_shared<ssl::context>(m);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2
                   | ssl::context::no_sslv3 | ssl::context::no_tlsv1
                   | ssl::context::no_tlsv1_1);
  ctx->use_certificate_chain_file(f.cert);
  ctx->use_private_key_file(f.key, ssl::context::pem);
  ctx->load_verify_file(f.ca);
  // Mutual: both sides present a certificate from the cluster CA.
  ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  return ctx;
}

// A connected socketpair: `ours` on `ex`, the other end as a bare fd.
template<class Executor>
bool make_pair(const Executor& ex, unix_socket& ours, int& theirs) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    return false;
  error_code ec;
  ours = unix_socket{ex};
  ours.assign(asio::local::stream_protocol{}, fds[0], ec);
  if (ec) {
    ::close(fds[0]);
    ::close(fds[1]);
    return false;
  }
  theirs = fds[1];
  return true;
}

} // namespace

struct cluster_tunnel::impl : std::enable_shared_from_this<impl> {
  asio::io_context& ioc;
  cluster_tunnel_options opts;
  std::shared_ptr<ssl::context> server_ctx;
  std::shared_ptr<ssl::context> client_ctx;
  tcp::acceptor acceptor;
  deliver_fn deliver;
  std::shared_ptr<log_gates> log = std::make_shared<log_gates>();
  std::shared_ptr<std::atomic<size_t>> handshaking
    = std::make_shared<std::atomic<size_t>>(0);
  // Dialled connections by "host:port", for hang_up().
  std::mutex dialled_mutex;
  std::multimap<std::string, std::weak_ptr<hangable>> dialled;

  impl(asio::io_context& ioc, cluster_tunnel_options o, tcp::endpoint ep)
      : ioc(ioc), opts(std::move(o)), acceptor(ioc) {
    if (opts.tls) {
      server_ctx = make_context(*opts.tls, ssl::context::tls_server);
      client_ctx = make_context(*opts.tls, ssl::context::tls_client);
    }
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen();
  }

  // After TLS (if any): the key exchange (if a key is set), then `go`.
  template<class Remote>
  void authenticate(std::shared_ptr<Remote> remote, auth::role role,
                    const std::string& peer, std::shared_ptr<deadline> dl,
                    std::function<void(std::shared_ptr<Remote>)> go) {
    auto ready = [dl, go](std::shared_ptr<Remote> r) {
      dl->finish();
      go(std::move(r));
    };
    if (opts.key.empty())
      return ready(std::move(remote));
    auto fail = [self = shared_from_this(), remote, role, peer,
                 dl](const std::string& why) {
      dl->finish();
      if (role == auth::role::acceptor)
        self->log->warn(refusal::auth,
                        "event=cluster_auth_refused peer={} reason=\"{}\"",
                        peer, why);
      else
        self->log->warn(refusal::auth,
                        "event=cluster_auth_failed peer={} reason=\"{}\"", peer,
                        why);
      error_code ignored;
      remote->lowest_layer().close(ignored);
    };
    std::make_shared<key_exchange<Remote>>(std::move(remote), opts.key, role,
                                           ready, fail)
      ->start();
  }

  template<class Remote>
  std::shared_ptr<pipe<Remote>> start_pipe(std::shared_ptr<Remote> remote,
                                           unix_socket local,
                                           const std::string& peer) {
    auto p = std::make_shared<pipe<Remote>>(std::move(remote), std::move(local),
                                            opts.max_frame_bytes, peer, log);
    p->start();
    return p;
  }

  void remember_dialled(const std::string& addr, std::weak_ptr<hangable> p) {
    std::lock_guard<std::mutex> guard{dialled_mutex};
    for (auto i = dialled.begin(); i != dialled.end();)
      i = i->second.expired() ? dialled.erase(i) : std::next(i);
    dialled.emplace(addr, std::move(p));
  }

  void hang_up(const std::string& addr) {
    std::lock_guard<std::mutex> guard{dialled_mutex};
    auto [first, last] = dialled.equal_range(addr);
    for (auto i = first; i != last; ++i)
      if (auto p = i->second.lock())
        p->hang_up();
    dialled.erase(first, last);
  }

  // Incoming, authenticated: a socketpair, one end to BASP.
  template<class Remote>
  void hand_in(std::shared_ptr<Remote> remote, const std::string& peer) {
    unix_socket local{remote->get_executor()};
    int fd = -1;
    if (!make_pair(remote->get_executor(), local, fd)) {
      spdlog::error("event=cluster_socketpair_failed peer={} errno={}", peer,
                    errno);
      return; // `remote` closes with its last owner
    }
    deliver(fd);
    start_pipe(std::move(remote), std::move(local), peer);
  }

  void accept() {
    // One strand per connection: its two directions never run at once.
    acceptor.async_accept(asio::make_strand(ioc),
                          [self = shared_from_this()](error_code ec,
                                                      tcp::socket s) {
                            if (ec == asio::error::operation_aborted)
                              return;
                            if (ec)
                              return self->accept_later(ec);
                            self->on_accept(std::move(s));
                            self->accept();
                          });
  }

  // Accepting failed (out of file descriptors, say): retry in a moment
  // rather than spin on a full core.
  void accept_later(error_code ec) {
    if (!acceptor.is_open())
      return; // stopped
    log->warn(refusal::accept, "event=cluster_accept_failed error=\"{}\"",
              ec.message());
    auto timer = std::make_shared<asio::steady_timer>(
      ioc, std::chrono::milliseconds(100));
    timer->async_wait(
      [self = shared_from_this(), timer](error_code) { self->accept(); });
  }

  void on_accept(tcp::socket s) {
    auto peer = peer_of(s);
    auto slot = handshake_slot::take(handshaking, opts.max_handshakes);
    if (!slot) {
      log->warn(refusal::busy,
                "event=cluster_handshakes_full peer={} max_handshakes={}", peer,
                opts.max_handshakes);
      return; // `s` closes here
    }
    error_code ignored;
    s.set_option(tcp::no_delay(true), ignored);
    auto self = shared_from_this();
    if (!server_ctx) {
      auto sock = std::make_shared<tcp::socket>(std::move(s));
      auto dl = std::make_shared<deadline>(sock->get_executor(), [sock] {
        error_code ignored;
        sock->close(ignored);
      });
      dl->hold(std::move(slot));
      dl->start(opts.handshake_timeout);
      authenticate<tcp::socket>(sock, auth::role::acceptor, peer, dl,
                                [self, peer](std::shared_ptr<tcp::socket> r) {
                                  self->hand_in(std::move(r), peer);
                                });
      return;
    }
    auto tls = std::make_shared<tls_socket>(std::move(s), *server_ctx);
    auto dl = std::make_shared<deadline>(tls->get_executor(), [tls] {
      error_code ignored;
      tls->lowest_layer().close(ignored);
    });
    dl->hold(std::move(slot));
    dl->start(opts.handshake_timeout);
    tls->async_handshake(ssl::stream_base::server, [=](error_code ec) {
      if (ec) {
        dl->finish();
        log->warn(refusal::tls,
                  "event=cluster_tls_refused peer={} error=\"{}\"", peer,
                  ec.message());
        return;
      }
      authenticate<tls_socket>(tls, auth::role::acceptor, peer, dl,
                               [self, peer](std::shared_ptr<tls_socket> r) {
                                 self->hand_in(std::move(r), peer);
                               });
    });
  }

  // Outgoing: connect, TLS (the certificate must name `host`), key, pipe.
  void on_dial(std::shared_ptr<unix_socket> local, const std::string& host,
               uint16_t port) {
    auto ex = local->get_executor();
    if (client_ctx)
      dial_as(std::make_shared<tls_socket>(ex, *client_ctx), local, host, port);
    else
      dial_as(std::make_shared<tcp::socket>(ex), local, host, port);
  }

  template<class Remote>
  void dial_as(std::shared_ptr<Remote> remote,
               std::shared_ptr<unix_socket> local, const std::string& host,
               uint16_t port) {
    auto resolver = std::make_shared<tcp::resolver>(local->get_executor());
    auto addr = host + ":" + std::to_string(port);
    auto dl = std::make_shared<deadline>(
      local->get_executor(), [remote, resolver, local] {
        error_code ignored;
        resolver->cancel();
        remote->lowest_layer().close(ignored);
        local->close(ignored);
      });
    dl->start(opts.handshake_timeout);
    auto self = shared_from_this();
    auto go = [self, local, addr](std::shared_ptr<Remote> r) {
      self->remember_dialled(addr, self->start_pipe(std::move(r),
                                                    std::move(*local), addr));
    };
    // On any failure below, `local` closes with its last owner: CAF sees a
    // failed connect.
    resolver->async_resolve(
      host, std::to_string(port),
      [=](error_code ec, tcp::resolver::results_type hosts) {
        if (ec)
          return dl->finish();
        asio::async_connect(
          remote->lowest_layer(), hosts,
          [=](error_code ec, const tcp::endpoint&) {
            if (ec)
              return dl->finish();
            error_code ignored;
            remote->lowest_layer().set_option(tcp::no_delay(true), ignored);
            self->client_handshake(remote, host, addr, dl, [=] {
              self->authenticate<Remote>(remote, auth::role::dialler, addr, dl,
                                         go);
            });
          });
      });
  }

  void client_handshake(std::shared_ptr<tcp::socket>, const std::string&,
                        const std::string&, std::shared_ptr<deadline>,
                        std::function<void()> next) {
    next(); // plain TCP: nothing to do
  }

  void client_handshake(std::shared_ptr<tls_socket> tls,
                        const std::string& host, const std::string& addr,
                        std::shared_ptr<deadline> dl,
                        std::function<void()> next) {
    // The member dialled must be the one answering: its certificate must
    // name `host` (an IP SAN for an address, a DNS SAN for a name).
    auto wrong_name = std::make_shared<bool>(false);
    tls->set_verify_callback(
      [check = ssl::host_name_verification(host),
       wrong_name](bool preverified, ssl::verify_context& vc) {
        bool ok = check(preverified, vc);
        if (preverified && !ok)
          *wrong_name = true;
        return ok;
      });
    tls->async_handshake(ssl::stream_base::client, [=](error_code ec) {
      if (ec) {
        dl->finish();
        log->warn(
          refusal::tls, "event=cluster_tls_failed peer={} error=\"{}\"", addr,
          *wrong_name ? "the certificate does not name " + host : ec.message());
        return;
      }
      next();
    });
  }
};

cluster_tunnel::cluster_tunnel(asio::io_context& ioc,
                               cluster_tunnel_options opts,
                               tcp::endpoint public_ep)
    : impl_(std::make_shared<impl>(ioc, std::move(opts), public_ep)) {
  // nop
}

cluster_tunnel::~cluster_tunnel() {
  stop();
}

void cluster_tunnel::start(deliver_fn deliver) {
  impl_->deliver = std::move(deliver);
  impl_->accept();
}

void cluster_tunnel::dial(const std::string& host, uint16_t port, int fd) {
  auto strand = asio::make_strand(impl_->ioc);
  auto local = std::make_shared<unix_socket>(strand);
  error_code ec;
  local->assign(asio::local::stream_protocol{}, fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  asio::post(strand,
             [i = impl_, local, host, port] { i->on_dial(local, host, port); });
}

void cluster_tunnel::hang_up(const std::string& host, uint16_t port) {
  impl_->hang_up(host + ":" + std::to_string(port));
}

uint16_t cluster_tunnel::port() const {
  error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void cluster_tunnel::stop() {
  asio::post(impl_->ioc, [i = impl_] {
    error_code ignored;
    i->acceptor.close(ignored);
  });
}

} // namespace collab::net
