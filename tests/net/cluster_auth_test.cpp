// Unit tests for net/cluster_auth: the proofs of both sides check out with
// the same key, and not with another key, other nonces (replay) or the other
// role (reflection); the wire format is pinned by a known answer (computed
// with Python's hmac), which the e2e suite's JavaScript peer also speaks.
#define CAF_SUITE net.cluster_auth
#include <caf/test/unit_test.hpp>

#include "net/cluster_auth.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

using namespace collab::net;
namespace auth = collab::net::cluster_auth;

namespace {

std::string hex(const auth::proof& p) {
  std::string out;
  char buf[3];
  for (auto b : p) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    out += buf;
  }
  return out;
}

auth::nonce counting(uint8_t from) {
  auth::nonce n;
  for (size_t i = 0; i < n.size(); ++i)
    n[i] = static_cast<uint8_t>(from + i);
  return n;
}

const std::string key = "0123456789abcdef-cluster-key";

} // namespace

CAF_TEST(known answer) {
  auto d = counting(0);
  auto a = counting(100);
  CAF_CHECK_EQUAL(hex(auth::make_proof(key, auth::role::dialler, d, a)),
                  "a587b25c50420311cf946219f79210e4855b5956ded666686200982f"
                  "9619f9cc");
  CAF_CHECK_EQUAL(hex(auth::make_proof(key, auth::role::acceptor, d, a)),
                  "bcf0bd773da30a95b5ac59a08e97d900889f6f76c822daf71f6bd87e"
                  "0c58d705");
}

CAF_TEST(each side accepts the proof of the other with the same key) {
  auto d = auth::random_nonce();
  auto a = auth::random_nonce();
  CAF_CHECK(d != a);
  auto from_dialler = auth::make_proof(key, auth::role::dialler, d, a);
  auto from_acceptor = auth::make_proof(key, auth::role::acceptor, d, a);
  CAF_CHECK(
    auth::check_proof(key, auth::role::dialler, d, a, from_dialler.data()));
  CAF_CHECK(
    auth::check_proof(key, auth::role::acceptor, d, a, from_acceptor.data()));
}

CAF_TEST(a wrong key or a replay or a reflection is no proof) {
  auto d = auth::random_nonce();
  auto a = auth::random_nonce();
  auto p = auth::make_proof(key, auth::role::dialler, d, a);
  CAF_CHECK(!auth::check_proof(key + "x", auth::role::dialler, d, a, p.data()));
  // replay: the same proof on a connection with a fresh acceptor nonce
  auto a2 = auth::random_nonce();
  CAF_CHECK(!auth::check_proof(key, auth::role::dialler, d, a2, p.data()));
  // reflection: the acceptor's own proof sent back as the dialler's
  auto mine = auth::make_proof(key, auth::role::acceptor, d, a);
  CAF_CHECK(!auth::check_proof(key, auth::role::dialler, d, a, mine.data()));
  // swapped nonces
  CAF_CHECK(!auth::check_proof(key, auth::role::dialler, a, d, p.data()));
  // one flipped bit
  p[31] ^= 1;
  CAF_CHECK(!auth::check_proof(key, auth::role::dialler, d, a, p.data()));
}

CAF_TEST(a hello carries the magic and the nonce but never the key) {
  auto n = auth::random_nonce();
  auto h = auth::make_hello(n);
  CAF_CHECK(auth::is_magic(h.data()));
  CAF_CHECK(auth::nonce_of(h.data()) == n);
  CAF_CHECK_EQUAL(std::string(h.begin(), h.begin() + auth::magic_size),
                  "COLLAB-CLUSTER/1");
  // a BASP header (what a peer without the key sends first) is no hello
  uint8_t basp[32] = {0x01, 0, 0, 0, 0x40, 0, 0, 0};
  CAF_CHECK(!auth::is_magic(basp));
  auto p = auth::make_proof(key, auth::role::dialler, n, n);
  std::string wire(h.begin(), h.end());
  wire.append(p.begin(), p.end());
  CAF_CHECK_EQUAL(wire.find(key), std::string::npos);
}
