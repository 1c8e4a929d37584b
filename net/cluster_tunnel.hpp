// Every cluster connection runs through this tunnel, under CAF's cluster
// transport (BASP), so that no BASP byte reaches CAF before the peer is
// authenticated and before its frame was judged:
//
//   - The cluster port is the tunnel's acceptor. A peer proves itself with
//     mutual TLS (a certificate of the cluster CA) and/or the pre-shared
//     cluster key (challenge-response, net/cluster_auth.hpp); only then is
//     the connection handed to BASP, as one end of a socketpair
//     (net/cluster_transport.hpp).
//   - To reach another node, BASP is handed one end of a socketpair too
//     (dial()); the tunnel connects to the node, checks it (TLS: its
//     certificate must name the host dialled; key: its proof) and pipes.
//     So BASP listens on no socket and connects to none: there is no local
//     hop (no loopback port, no named socket) another process could reach.
//   - In both directions every BASP header is checked before it is passed
//     on (net/cluster_frame.hpp): one announcing more than the configured
//     maximum, or one CAF would refuse, closes the connection; the payload
//     is never buffered here (16 KiB per direction).
//
// Each connection is independent: a failed handshake costs only its own
// socket (and a log line, at most one a second per kind, with a count), a
// peer that says nothing is dropped after the handshake deadline, and at
// most `max_handshakes` incoming connections are in their handshake at once.
// BASP's heartbeats pass through, so hung and dead members are detected as
// before. (Not CAF 0.17's OpenSSL module: its links die when a heartbeat or a
// message forwarded through a third node crosses them, and all at once when
// any connection fails its handshake.)
//
// Thread-safety: dial(), hang_up() and stop() may be called from any
// thread; start()
// once, before the io_context runs; all I/O runs on the io_context.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace collab::net {

struct cluster_tls_files {
  std::string cert; // this node's certificate chain (PEM)
  std::string key; // its private key (PEM)
  std::string ca; // the CA every node's certificate comes from (PEM)
};

struct cluster_tunnel_options {
  std::optional<cluster_tls_files> tls; // none: plain TCP
  std::string key; // pre-shared key; empty: none
  uint64_t max_frame_bytes = 0; // largest BASP payload passed on
  std::chrono::milliseconds handshake_timeout{5000};
  // Incoming connections still proving themselves at once; more are closed
  // on accept (a flood of silent sockets holds at most this many fds).
  size_t max_handshakes = 64;
};

class cluster_tunnel {
public:
  // Takes ownership of `fd`, one end of a socketpair whose other end is
  // piped to an authenticated peer.
  using deliver_fn = std::function<void(int fd)>;

  // Binds `public_ep`. Throws std::exception when the TLS files do not load
  // or the port is taken.
  cluster_tunnel(boost::asio::io_context& ioc, cluster_tunnel_options opts,
                 boost::asio::ip::tcp::endpoint public_ep);
  ~cluster_tunnel();

  // Starts accepting; each authenticated connection goes to `deliver`
  // (called on an I/O thread).
  void start(deliver_fn deliver);

  // Connects `fd` (one end of a socketpair; CAF holds the other) to the
  // node at host:port. Takes ownership of `fd`; on any failure it is
  // closed, which CAF sees as a failed connect.
  void dial(const std::string& host, uint16_t port, int fd);

  // Closes every connection dialled to host:port (BASP sees it close, so
  // its next connect dials anew). Connections still in their handshake are
  // left alone.
  void hang_up(const std::string& host, uint16_t port);

  uint16_t port() const;

  void stop();

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace collab::net
