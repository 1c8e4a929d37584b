// Mutual TLS between nodes, as a tunnel under CAF's cluster transport
// (BASP), instead of CAF 0.17's OpenSSL module (whose links die when a
// heartbeat or a message forwarded through a third node crosses them, and
// all at once when any connection fails its handshake).
//
//   BASP listens on loopback only. The cluster port is a TLS acceptor: it
//   checks the peer's certificate against the cluster CA, then pipes bytes
//   to the loopback BASP port. To reach another node, BASP connects to a
//   loopback forwarding port of this tunnel (one per remote address), which
//   opens a TLS connection to that node's cluster port, presenting our
//   certificate and checking theirs, and pipes bytes both ways.
//
// Each connection is independent: a failed handshake costs only its own
// socket. BASP's heartbeats pass through, so hung and dead members are
// detected as on a plain cluster.
//
// Thread-safety: local_port_for() may be called from any thread; all I/O
// runs on the io_context given at construction.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

namespace collab::net {

struct cluster_tls_files {
  std::string cert;  // this node's certificate chain (PEM)
  std::string key;   // its private key (PEM)
  std::string ca;    // the CA every node's certificate comes from (PEM)
};

class cluster_tunnel {
public:
  // Listens with TLS on `public_ep`. Throws std::exception when the files do
  // not load or the port is taken.
  cluster_tunnel(boost::asio::io_context& ioc, const cluster_tls_files& files,
                 boost::asio::ip::tcp::endpoint public_ep);

  // Where incoming connections go: 127.0.0.1:`port` (BASP, once published;
  // until then they are closed after the handshake).
  void set_basp_port(uint16_t port);
  ~cluster_tunnel();

  // The loopback port that leads to the node at host:port over TLS.
  uint16_t local_port_for(const std::string& host, uint16_t port);

  void stop();

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace collab::net
