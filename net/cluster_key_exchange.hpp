// The cluster tunnel's key exchange (net/cluster_auth.hpp) over an
// established stream, plain TCP or TLS. Internal to net/cluster_tunnel.cpp.
//
// Thread-safety: runs on its connection's strand.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "net/cluster_auth.hpp"

namespace collab::net::tunnel {

namespace asio = boost::asio;
namespace auth = cluster_auth;
using error_code = boost::system::error_code;

// The key exchange of net/cluster_auth.hpp over an established stream:
// hello out, hello in (magic first: a stranger is dropped at once), proof
// out, proof in. Calls `done` only when the peer's proof checks out.
constexpr const char* lost = "closed before the handshake ended (or its "
                             "deadline passed)";

template<class Remote>
class key_exchange : public std::enable_shared_from_this<key_exchange<Remote>> {
public:
  using done_fn = std::function<void(std::shared_ptr<Remote>)>;
  using fail_fn = std::function<void(const std::string&)>;
  key_exchange(std::shared_ptr<Remote> remote, const std::string& key,
               auth::role role, done_fn done, fail_fn fail)
      : remote_(std::move(remote)),
        key_(key),
        role_(role),
        done_(std::move(done)),
        fail_(std::move(fail)) {
    // nop
  }

  void start() {
    mine_ = auth::random_nonce();
    hello_out_ = auth::make_hello(mine_);
    asio::async_write(*remote_, asio::buffer(hello_out_),
                      [self = this->shared_from_this()](error_code ec, size_t) {
                        if (ec)
                          return self->fail_(lost);
                        self->read_magic();
                      });
  }

private:
  void read_magic() {
    asio::async_read(*remote_, asio::buffer(hello_in_.data(), auth::magic_size),
                     [self = this->shared_from_this()](error_code ec, size_t) {
                       if (ec)
                         return self->fail_(lost);
                       if (!auth::is_magic(self->hello_in_.data()))
                         return self->fail_("not a cluster key hello");
                       self->read_nonce();
                     });
  }
  void read_nonce() {
    asio::async_read(*remote_,
                     asio::buffer(hello_in_.data() + auth::magic_size,
                                  auth::nonce_size),
                     [self = this->shared_from_this()](error_code ec, size_t) {
                       if (ec)
                         return self->fail_(lost);
                       self->theirs_ = auth::nonce_of(self->hello_in_.data());
                       self->send_proof();
                     });
  }
  void send_proof() {
    proof_out_ = auth::make_proof(key_, role_, dialler(), acceptor());
    asio::async_write(*remote_, asio::buffer(proof_out_),
                      [self = this->shared_from_this()](error_code ec, size_t) {
                        if (ec)
                          return self->fail_(lost);
                        self->read_proof();
                      });
  }
  void read_proof() {
    asio::async_read(*remote_, asio::buffer(proof_in_),
                     [self = this->shared_from_this()](error_code ec, size_t) {
                       if (ec)
                         return self->fail_(lost);
                       auto them = self->role_ == auth::role::dialler
                                     ? auth::role::acceptor
                                     : auth::role::dialler;
                       if (!auth::check_proof(self->key_, them, self->dialler(),
                                              self->acceptor(),
                                              self->proof_in_.data()))
                         return self->fail_("wrong cluster key");
                       self->done_(self->remote_);
                     });
  }
  const auth::nonce& dialler() const {
    return role_ == auth::role::dialler ? mine_ : theirs_;
  }
  const auth::nonce& acceptor() const {
    return role_ == auth::role::acceptor ? mine_ : theirs_;
  }

  std::shared_ptr<Remote> remote_;
  std::string key_;
  auth::role role_;
  done_fn done_;
  fail_fn fail_;
  auth::nonce mine_{}, theirs_{};
  auth::hello hello_out_{};
  std::array<uint8_t, auth::hello_size> hello_in_{};
  auth::proof proof_out_{};
  std::array<uint8_t, auth::proof_size> proof_in_{};
};

} // namespace collab::net::tunnel
