#include "net/cluster_auth.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace collab::net::cluster_auth {
namespace {

constexpr char magic[magic_size + 1] = "COLLAB-CLUSTER/1";
// Binds a proof to this protocol (a MAC of the same key elsewhere is none).
constexpr char label[] = "collab cluster key proof v1";

} // namespace

nonce random_nonce() {
  nonce n;
  if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1)
    throw std::runtime_error("no random bytes for a cluster nonce");
  return n;
}

hello make_hello(const nonce& n) {
  hello h;
  std::memcpy(h.data(), magic, magic_size);
  std::copy(n.begin(), n.end(), h.begin() + magic_size);
  return h;
}

bool is_magic(const uint8_t* bytes) {
  return std::memcmp(bytes, magic, magic_size) == 0;
}

nonce nonce_of(const uint8_t* hello_bytes) {
  nonce n;
  std::copy(hello_bytes + magic_size, hello_bytes + hello_size, n.begin());
  return n;
}

proof make_proof(const std::string& key, role who, const nonce& dialler,
                 const nonce& acceptor) {
  std::array<uint8_t, sizeof(label) - 1 + 1 + 2 * nonce_size> msg;
  auto out = std::copy(label, label + sizeof(label) - 1, msg.begin());
  *out++ = static_cast<uint8_t>(who);
  out = std::copy(dialler.begin(), dialler.end(), out);
  std::copy(acceptor.begin(), acceptor.end(), out);
  proof p;
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), msg.data(),
       msg.size(), p.data(), &len);
  return p;
}

bool check_proof(const std::string& key, role who, const nonce& dialler,
                 const nonce& acceptor, const uint8_t* received) {
  auto expected = make_proof(key, who, dialler, acceptor);
  return CRYPTO_memcmp(expected.data(), received, proof_size) == 0;
}

} // namespace collab::net::cluster_auth
