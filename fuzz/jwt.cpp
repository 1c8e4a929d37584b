// Fuzz target: JWT parsing and claims (net/auth.hpp token_verifier) with a
// fixed HS256 secret and RSA key, and the document-id patterns.
//
// The first byte picks the mode:
//   0  the rest is a token, verified as it comes (nearly always refused);
//   1  the rest is the claims JSON of a token signed with the secret (HS256,
//      through libjwt) or the key (RS256, parsed by us): the claims reader
//      is reached on every input;
//   2  a fuzzed header and claims, both signed: the header checks;
//   3  mint_token with fuzzed claims: the token verifies to what was put in;
//   4  pattern_match against a plain dynamic-programming glob.
//
// Invariants: no crash; an accepted token has a non-empty sub and an exp not
// before now - leeway; a token signed with another secret is refused;
// pattern_match agrees with the reference glob.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "fuzz/fuzz_check.hpp"
#include "net/auth.hpp"

namespace {

using namespace collab::net;

const std::string secret = "fuzz-secret-0123456789abcdef0123";
constexpr int64_t now = 1'800'000'000; // a fixed "now" keeps runs reproducible

// An RSA key made once per process (its public half configures RS256).
struct rsa_key {
  EVP_PKEY* key = nullptr;
  std::string public_pem;
  rsa_key() {
    key = EVP_RSA_gen(1024); // small: signing runs on every input of mode 1
    FUZZ_REQUIRE(key != nullptr);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()),
                                                  BIO_free);
    FUZZ_REQUIRE(PEM_write_bio_PUBKEY(bio.get(), key) == 1);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    public_pem.assign(data, static_cast<size_t>(n));
  }
};

const rsa_key& rsa() {
  static const rsa_key k;
  return k;
}

const token_verifier& verifier() {
  static const token_verifier v(secret, 30, rsa().public_pem);
  return v;
}

std::string b64url(std::string_view in) {
  static const char* digits
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += digits[(acc >> bits) & 63];
    }
  }
  if (bits > 0)
    out += digits[(acc << (6 - bits)) & 63];
  return out;
}

std::string hs256(std::string_view input, const std::string& key) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
       &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

std::string rs256(std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                              EVP_MD_CTX_free);
  size_t len = 0;
  FUZZ_REQUIRE(
    EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, rsa().key)
    == 1);
  FUZZ_REQUIRE(
    EVP_DigestSign(ctx.get(), nullptr, &len,
                   reinterpret_cast<const unsigned char*>(input.data()),
                   input.size())
    == 1);
  std::string sig(len, '\0');
  FUZZ_REQUIRE(
    EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()),
                   &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size())
    == 1);
  sig.resize(len);
  return sig;
}

std::string signed_token(std::string_view header, std::string_view claims,
                         bool rsa_alg, const std::string& key = secret) {
  std::string input = b64url(header) + "." + b64url(claims);
  return input + "." + b64url(rsa_alg ? rs256(input) : hs256(input, key));
}

void check_accepted(const token_claims& c) {
  FUZZ_REQUIRE(!c.sub.empty());
  FUZZ_REQUIRE(c.exp >= now - 30);
  (void)access_for(c, "doc-1");
}

bool verify(const std::string& token, token_claims& c) {
  std::string why;
  const bool ok = verifier().verify_at(token, now, c, why);
  FUZZ_REQUIRE(ok == why.empty());
  if (ok)
    check_accepted(c);
  return ok;
}

// Glob with `*` (any run, none included), by dynamic programming.
bool glob(std::string_view p, std::string_view s) {
  std::vector<char> row(s.size() + 1, 0), next(s.size() + 1);
  row[0] = 1; // the empty pattern matches the empty string
  for (char pc : p) {
    next[0] = pc == '*' && row[0];
    for (size_t j = 1; j <= s.size(); ++j)
      next[j] = pc == '*' ? (row[j] || next[j - 1])
                          : (row[j - 1] && pc == s[j - 1]);
    row.swap(next);
  }
  return row[s.size()];
}

void mint(FuzzedDataProvider& p) {
  const std::string sub = p.ConsumeRandomLengthString(64);
  std::vector<std::string> docs, read;
  for (int i = p.ConsumeIntegralInRange(0, 3); i > 0; --i)
    docs.push_back(p.ConsumeRandomLengthString(32));
  for (int i = p.ConsumeIntegralInRange(0, 3); i > 0; --i)
    read.push_back(p.ConsumeRandomLengthString(32));
  // Bounded: a ttl near 2^63 overflows now + ttl (issue 10, defect 11).
  const int64_t ttl = p.ConsumeIntegralInRange<int64_t>(1, int64_t{1} << 40);
  const std::string jti = p.ConsumeRandomLengthString(32);
  const std::string token = mint_token(secret, sub, docs, read, ttl, jti);
  if (token.empty())
    return; // libjwt refuses some strings (e.g. with NUL)
  token_claims c;
  std::string why;
  const bool ok = verifier().verify(token, c, why);
  if (!ok || sub.find('\0') != std::string::npos)
    return; // empty or truncated sub; a NUL cuts strings short in libjwt
  FUZZ_REQUIRE(c.sub == sub);
  FUZZ_REQUIRE(c.jti == jti || jti.find('\0') != std::string::npos);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  FuzzedDataProvider p(data + 1, size - 1);
  token_claims c;
  switch (data[0] % 5) {
    case 0: verify(p.ConsumeRemainingBytesAsString(), c); break;
    case 1: {
      const bool rsa_alg = p.ConsumeBool();
      const std::string claims = p.ConsumeRemainingBytesAsString();
      const char* header = rsa_alg ? R"({"alg":"RS256","typ":"JWT"})"
                                   : R"({"alg":"HS256","typ":"JWT"})";
      const bool ok = verify(signed_token(header, claims, rsa_alg), c);
      if (!rsa_alg) { // the same token signed with another secret
        token_claims other;
        FUZZ_REQUIRE(
          !verify(signed_token(header, claims, false, secret + "x"), other));
      }
      (void)ok;
      break;
    }
    case 2: {
      const bool rsa_alg = p.ConsumeBool();
      const std::string header = p.ConsumeRandomLengthString(256);
      verify(signed_token(header, p.ConsumeRemainingBytesAsString(), rsa_alg),
             c);
      break;
    }
    case 3: mint(p); break;
    default: {
      const std::string pattern = p.ConsumeRandomLengthString(64);
      const std::string id = p.ConsumeRandomLengthString(256);
      FUZZ_REQUIRE(pattern_match(pattern, id) == glob(pattern, id));
      break;
    }
  }
  return 0;
}
