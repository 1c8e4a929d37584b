// Proof of the pre-shared cluster key (COLLAB_CLUSTER_KEY), exchanged by the
// cluster tunnel before any BASP byte passes. The key never crosses the
// wire; each side proves it holds the key for this connection only:
//
//   dialler  -> acceptor: hello = magic (16 bytes) || nonce_d (32 random bytes)
//   acceptor -> dialler:  hello = magic || nonce_a
//   each side -> other:   proof = HMAC-SHA256(key, label || role ||
//                                             nonce_d || nonce_a)
//
// Both nonces are fresh, so a recorded proof is worth nothing on another
// connection (no replay); the role byte differs ('D' dialler, 'A'
// acceptor), so a side's own proof sent back to it is no proof (no
// reflection). Proofs are compared in constant time (CRYPTO_memcmp).
//
// Pure functions (OpenSSL's HMAC and RNG only, no I/O).
//
// Thread-safety: every function may be called from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace collab::net::cluster_auth {

constexpr size_t magic_size = 16;
constexpr size_t nonce_size = 32;
constexpr size_t hello_size = magic_size + nonce_size;
constexpr size_t proof_size = 32;
// Shorter keys are refused at start (a guessable key is no key).
constexpr size_t min_key_size = 16;

using nonce = std::array<uint8_t, nonce_size>;
using hello = std::array<uint8_t, hello_size>;
using proof = std::array<uint8_t, proof_size>;

enum class role : uint8_t { dialler = 'D', acceptor = 'A' };

// A nonce from OpenSSL's CSPRNG. Throws std::runtime_error if it fails.
nonce random_nonce();

hello make_hello(const nonce& n);

// True if the first magic_size bytes are our protocol's magic.
bool is_magic(const uint8_t* bytes);

// The nonce of a hello whose magic was checked.
nonce nonce_of(const uint8_t* hello_bytes);

// What `who` sends to prove the key on the connection of these nonces.
proof make_proof(const std::string& key, role who, const nonce& dialler,
                 const nonce& acceptor);

// True if `received` (proof_size bytes) is `who`'s proof.
bool check_proof(const std::string& key, role who, const nonce& dialler,
                 const nonce& acceptor, const uint8_t* received);

} // namespace collab::net::cluster_auth
