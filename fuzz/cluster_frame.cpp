// Fuzz target: the cluster tunnel's judgement of BASP frames
// (net/cluster_frame.hpp) and of the key handshake's hello and proof
// (net/cluster_auth.hpp), the only code that reads a peer's bytes before
// the peer is authenticated.
//
// Input: byte 0 picks the payload limit, byte 1 how the stream is cut into
// reads; the rest is what a peer sends.
//
// Invariants: no crash; the verdict does not depend on how the stream is
// cut into reads; a refusal is final; an accepted header never announces
// more than the limit; a proof made with one key checks only with that key,
// role and nonces.
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz/fuzz_check.hpp"
#include "net/cluster_auth.hpp"
#include "net/cluster_frame.hpp"

namespace {

using namespace collab::net;

struct run {
  frame_verdict verdict = frame_verdict::ok;
  uint64_t frames = 0;
};

run feed_in_pieces(const uint8_t* data, size_t size, uint64_t limit,
                   size_t piece) {
  basp_framer framer(limit);
  run out;
  for (size_t at = 0; at < size; at += piece) {
    auto n = std::min(piece, size - at);
    auto v = framer.feed(data + at, n);
    if (out.verdict != frame_verdict::ok)
      FUZZ_REQUIRE(v == out.verdict); // a refusal is final
    out.verdict = v;
    if (v == frame_verdict::ok && framer.frames() > 0)
      FUZZ_REQUIRE(framer.last_payload_len() <= limit);
  }
  out.frames = framer.frames();
  return out;
}

void check_auth(const uint8_t* data, size_t size) {
  namespace ca = cluster_auth;
  if (size < ca::hello_size)
    return;
  (void)ca::is_magic(data);
  auto theirs = ca::nonce_of(data);
  ca::nonce ours{};
  const std::string key = "fuzzing-cluster-key-0123456789";
  auto p = ca::make_proof(key, ca::role::dialler, ours, theirs);
  FUZZ_REQUIRE(ca::check_proof(key, ca::role::dialler, ours, theirs, p.data()));
  FUZZ_REQUIRE(
    !ca::check_proof(key, ca::role::acceptor, ours, theirs, p.data()));
  FUZZ_REQUIRE(
    !ca::check_proof(key + "x", ca::role::dialler, ours, theirs, p.data()));
  if (size >= ca::hello_size + ca::proof_size) {
    ca::proof forged;
    std::memcpy(forged.data(), data + ca::hello_size, forged.size());
    if (forged != p)
      FUZZ_REQUIRE(
        !ca::check_proof(key, ca::role::dialler, ours, theirs, forged.data()));
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2)
    return 0;
  const uint64_t limit = uint64_t{1} << (data[0] % 32);
  const size_t piece = 1 + data[1] % 64;
  data += 2;
  size -= 2;
  auto whole = feed_in_pieces(data, size, limit, size == 0 ? 1 : size);
  auto cut = feed_in_pieces(data, size, limit, piece);
  FUZZ_REQUIRE(whole.verdict == cut.verdict);
  FUZZ_REQUIRE(whole.frames == cut.frames);
  FUZZ_REQUIRE(whole.frames <= size / basp_header_size);
  if (size >= basp_header_size) {
    uint32_t len = 0;
    if (check_basp_header(data, limit, len) == frame_verdict::ok)
      FUZZ_REQUIRE(len <= limit);
  }
  check_auth(data, size);
  return 0;
}
