#include "net/cluster_tunnel.hpp"

#include <array>
#include <atomic>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

namespace collab::net {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using tls_socket = ssl::stream<tcp::socket>;

constexpr auto handshake_timeout = std::chrono::seconds(5);

// Both directions of one tunnelled connection: loopback socket <-> TLS.
class pipe : public std::enable_shared_from_this<pipe> {
public:
  pipe(tcp::socket plain, std::shared_ptr<tls_socket> tls)
    : plain_(std::move(plain)), tls_(std::move(tls)) {
    // nop
  }
  void start() {
    pump(plain_, *tls_, up_);
    pump(*tls_, plain_, down_);
  }

private:
  using buffer = std::array<char, 16384>;
  template <class From, class To>
  void pump(From& from, To& to, buffer& buf) {
    from.async_read_some(
      asio::buffer(buf),
      [self = shared_from_this(), &from, &to, &buf](error_code ec, size_t n) {
        if (ec) {
          self->shut();
          return;
        }
        asio::async_write(to, asio::buffer(buf.data(), n),
                          [self, &from, &to, &buf](error_code ec, size_t) {
                            if (ec)
                              self->shut();
                            else
                              self->pump(from, to, buf);
                          });
      });
  }
  // Either side ended: end both (BASP sees its socket close at once).
  void shut() {
    error_code ignored;
    plain_.close(ignored);
    tls_->lowest_layer().close(ignored);
  }
  tcp::socket plain_;
  std::shared_ptr<tls_socket> tls_;
  buffer up_, down_;
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

std::string peer_of(const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  return ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
}

} // namespace

struct cluster_tunnel::impl : std::enable_shared_from_this<impl> {
  asio::io_context& ioc;
  std::shared_ptr<ssl::context> server_ctx;
  std::shared_ptr<ssl::context> client_ctx;
  tcp::acceptor public_acceptor;
  std::atomic<uint16_t> basp_port{0};
  std::mutex mutex;  // forwarders
  std::map<std::pair<std::string, uint16_t>, std::shared_ptr<tcp::acceptor>>
    forwarders;

  impl(asio::io_context& ioc, const cluster_tls_files& files,
       tcp::endpoint public_ep)
    : ioc(ioc),
      server_ctx(make_context(files, ssl::context::tls_server)),
      client_ctx(make_context(files, ssl::context::tls_client)),
      public_acceptor(ioc) {
    public_acceptor.open(public_ep.protocol());
    public_acceptor.set_option(asio::socket_base::reuse_address(true));
    public_acceptor.bind(public_ep);
    public_acceptor.listen();
  }

  // With a deadline: a peer that connects and says nothing is dropped.
  template <class Op>
  void with_deadline(const std::shared_ptr<tls_socket>& tls, Op op) {
    auto timer = std::make_shared<asio::steady_timer>(tls->get_executor(),
                                                      handshake_timeout);
    timer->async_wait([tls](error_code ec) {
      if (!ec) {
        error_code ignored;
        tls->lowest_layer().close(ignored);
      }
    });
    op([timer] { timer->cancel(); });
  }

  // Incoming: TLS from another node -> our loopback BASP port.
  void accept_public() {
    // One strand per connection: its two directions never run at once.
    public_acceptor.async_accept(asio::make_strand(ioc),
                                 [self = shared_from_this()](error_code ec,
                                                             tcp::socket s) {
      if (ec == asio::error::operation_aborted)
        return;
      if (!ec)
        self->on_public(std::move(s));
      self->accept_public();
    });
  }

  void on_public(tcp::socket s) {
    auto peer = peer_of(s);
    auto tls = std::make_shared<tls_socket>(std::move(s), *server_ctx);
    auto self = shared_from_this();
    with_deadline(tls, [=](auto done) {
      tls->async_handshake(ssl::stream_base::server, [=](error_code ec) {
        done();
        if (ec) {
          spdlog::warn("event=cluster_tls_refused peer={} error=\"{}\"", peer,
                       ec.message());
          return;
        }
        auto basp = std::make_shared<tcp::socket>(tls->get_executor());
        basp->async_connect(
          tcp::endpoint{asio::ip::address_v4::loopback(), basp_port.load()},
          [=](error_code ec) {
            if (ec)
              return;  // tls closes with its last owner
            std::make_shared<pipe>(std::move(*basp), tls)->start();
          });
      });
    });
  }

  // Outgoing: BASP on the loopback forwarder -> TLS to host:port.
  void accept_forwarder(std::shared_ptr<tcp::acceptor> acc, std::string host,
                        uint16_t port) {
    acc->async_accept(asio::make_strand(ioc),
                      [self = shared_from_this(), acc, host,
                       port](error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted)
        return;
      if (!ec)
        self->on_forward(std::move(s), host, port);
      self->accept_forwarder(acc, host, port);
    });
  }

  void on_forward(tcp::socket plain, const std::string& host, uint16_t port) {
    auto local = std::make_shared<tcp::socket>(std::move(plain));
    auto tls = std::make_shared<tls_socket>(local->get_executor(), *client_ctx);
    auto resolver = std::make_shared<tcp::resolver>(local->get_executor());
    auto self = shared_from_this();
    auto addr = host + ":" + std::to_string(port);
    with_deadline(tls, [=](auto done) {
      resolver->async_resolve(
        host, std::to_string(port),
        [=](error_code ec, tcp::resolver::results_type hosts) {
          if (ec) {
            done();
            return;
          }
          asio::async_connect(
            tls->lowest_layer(), hosts,
            [=](error_code ec, const tcp::endpoint&) {
              if (ec) {
                done();
                return;
              }
              tls->async_handshake(ssl::stream_base::client,
                                   [=](error_code ec) {
                                     done();
                                     if (ec) {
                                       spdlog::warn(
                                         "event=cluster_tls_failed peer={} "
                                         "error=\"{}\"",
                                         addr, ec.message());
                                       return;  // `local` closes: BASP sees
                                     }
                                     std::make_shared<pipe>(std::move(*local),
                                                            tls)
                                       ->start();
                                   });
            });
        });
    });
  }
};

cluster_tunnel::cluster_tunnel(asio::io_context& ioc,
                               const cluster_tls_files& files,
                               tcp::endpoint public_ep)
  : impl_(std::make_shared<impl>(ioc, files, public_ep)) {
  impl_->accept_public();
}

void cluster_tunnel::set_basp_port(uint16_t port) {
  impl_->basp_port = port;
}

cluster_tunnel::~cluster_tunnel() {
  stop();
}

uint16_t cluster_tunnel::local_port_for(const std::string& host,
                                        uint16_t port) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  auto& acc = impl_->forwarders[{host, port}];
  if (!acc) {
    acc = std::make_shared<tcp::acceptor>(impl_->ioc);
    tcp::endpoint ep{asio::ip::address_v4::loopback(), 0};
    acc->open(ep.protocol());
    acc->bind(ep);
    acc->listen();
    asio::post(impl_->ioc, [i = impl_, acc, host, port] {
      i->accept_forwarder(acc, host, port);
    });
  }
  return acc->local_endpoint().port();
}

void cluster_tunnel::stop() {
  asio::post(impl_->ioc, [i = impl_] {
    error_code ignored;
    i->public_acceptor.close(ignored);
    std::lock_guard<std::mutex> guard{i->mutex};
    for (auto& [addr, acc] : i->forwarders)
      acc->close(ignored);
  });
}

} // namespace collab::net
