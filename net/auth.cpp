// Authentication and authorisation (net/auth.hpp): JWT verification pinned
// to HS256, document-id patterns, the Origin allow-list and token sources.
//
// verify() is defence in depth against algorithm confusion and `alg: none`:
//   1. the token must be three base64url parts with a non-empty signature;
//   2. our own parse of the header must say exactly "alg":"HS256" or
//      "RS256" (no duplicate keys, no `crit` extensions we would not
//      understand), and that algorithm's own key must be configured;
//   3. HS256: we check the HMAC-SHA256 with the secret ourselves, in
//      constant time; RS256: the RSA-SHA256 signature with the public key;
//   4. HS256: libjwt must decode it with the secret and report
//      JWT_ALG_HS256 (RS256 payloads are decoded by us);
//   5. the claims must be present and well-typed.
// Any step failing refuses the token; libjwt alone would never be trusted to
// pick the algorithm.
//
// Thread-safety: token_verifier is immutable after construction; every
// function here is reentrant (libjwt and OpenSSL HMAC keep no shared state).
#include "net/auth.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <memory>

#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <stdexcept>

#include "net/http_util.hpp"

namespace collab::net {

namespace {

namespace rj = rapidjson;

// Far above any real token; bounds the work an unauthenticated peer causes.
constexpr size_t max_token_bytes = 16 * 1024;
constexpr int64_t max_leeway_seconds = 30;

struct jwt_deleter {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using jwt_ptr = std::unique_ptr<jwt_t, jwt_deleter>;

struct malloc_deleter {
  void operator()(char* p) const { std::free(p); }
};
using malloc_str = std::unique_ptr<char, malloc_deleter>;

// The precise clock: time() reads the coarse one, which can still be in the
// previous second when a client's clock (and the iat it just wrote) is not.
int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// ---------------------------------------------------------------------------
// base64url (RFC 4648 section 5, no padding, as JWS uses it)

constexpr std::array<int8_t, 256> make_b64url_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t)
    v = -1;
  for (int i = 0; i < 26; ++i) {
    t['A' + i] = static_cast<int8_t>(i);
    t['a' + i] = static_cast<int8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i)
    t['0' + i] = static_cast<int8_t>(52 + i);
  t['-'] = 62;
  t['_'] = 63;
  return t;
}

constexpr auto b64url_table = make_b64url_table();

// Strict: no padding, no foreign characters, zero trailing bits (so each
// byte string has exactly one accepted encoding).
bool base64url_decode(std::string_view in, std::string& out) {
  if (in.size() % 4 == 1)
    return false;
  out.clear();
  out.reserve(in.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = b64url_table[static_cast<unsigned char>(c)];
    if (v < 0)
      return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
      acc &= (1u << bits) - 1;
    }
  }
  return acc == 0;
}

// ---------------------------------------------------------------------------
// Verification steps

bool has_duplicate_keys(const rj::Value& obj) {
  for (auto i = obj.MemberBegin(); i != obj.MemberEnd(); ++i)
    for (auto j = obj.MemberBegin(); j != i; ++j)
      if (i->name == j->name)
        return true;
  return false;
}

// Step 2: the header, parsed by us, must name HS256 or RS256 (`alg`).
bool header_alg(std::string_view b64, std::string& alg_out, std::string& why) {
  std::string json;
  if (!base64url_decode(b64, json) || json.find('\0') != std::string::npos) {
    why = "malformed token header";
    return false;
  }
  rj::Document d;
  d.Parse<rj::kParseValidateEncodingFlag | rj::kParseIterativeFlag>(
    json.data(), json.size());
  if (d.HasParseError() || !d.IsObject() || d.MemberCount() > 16
      || has_duplicate_keys(d)) {
    why = "malformed token header";
    return false;
  }
  const auto alg = d.FindMember("alg");
  if (alg == d.MemberEnd() || !alg->value.IsString()) {
    why = "token algorithm not allowed";
    return false;
  }
  alg_out.assign(alg->value.GetString(), alg->value.GetStringLength());
  if (alg_out != "HS256" && alg_out != "RS256") {
    why = "token algorithm not allowed (HS256 or RS256)";
    return false;
  }
  if (d.HasMember("crit")) {
    why = "token has critical header extensions";
    return false;
  }
  return true;
}

// Step 3: HMAC-SHA256 over "header.payload", compared in constant time.
bool signature_ok(const std::string& secret, std::string_view signing_input,
                  std::string_view sig_b64) {
  std::string sig;
  if (!base64url_decode(sig_b64, sig) || sig.size() != 32)
    return false;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(signing_input.data()),
           signing_input.size(), mac, &mac_len)
        == nullptr
      || mac_len != 32)
    return false;
  return CRYPTO_memcmp(mac, sig.data(), 32) == 0;
}

// RS256: RSASSA-PKCS1-v1_5 with SHA-256 over "header.payload".
bool rsa_signature_ok(EVP_PKEY* key, std::string_view signing_input,
                      std::string_view sig_b64) {
  std::string sig;
  if (!base64url_decode(sig_b64, sig) || sig.empty())
    return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                              EVP_MD_CTX_free);
  return ctx != nullptr
         && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key)
              == 1
         && EVP_DigestVerify(
              ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
              sig.size(),
              reinterpret_cast<const unsigned char*>(signing_input.data()),
              signing_input.size())
              == 1;
}

bool string_array(const rj::Value& obj, const char* name, bool required,
                  std::vector<std::string>& out, std::string& why) {
  const auto it = obj.FindMember(name);
  if (it == obj.MemberEnd()) {
    if (required)
      why = std::string("token has no '") + name + "' claim";
    return !required;
  }
  if (!it->value.IsArray()) {
    why = std::string("token claim '") + name + "' must be an array of strings";
    return false;
  }
  out.clear();
  out.reserve(it->value.Size());
  for (const auto& v : it->value.GetArray()) {
    if (!v.IsString()) {
      why = std::string("token claim '") + name
            + "' must be an array of strings";
      return false;
    }
    out.emplace_back(v.GetString(), v.GetStringLength());
  }
  return true;
}

// Reads an optional integer claim; false when present but not an integer.
bool optional_int(const rj::Value& obj, const char* name,
                  std::optional<int64_t>& out, std::string& why) {
  const auto it = obj.FindMember(name);
  if (it == obj.MemberEnd())
    return true;
  if (!it->value.IsInt64()) {
    why = std::string("token claim '") + name + "' must be an integer";
    return false;
  }
  out = it->value.GetInt64();
  return true;
}

// What step 5 checks the claims against.
struct claim_rules {
  int64_t now;
  int64_t leeway;
  const std::string& audience; // empty: not checked
  const std::string& issuer; // empty: not checked
};

// `aud` is a string or an array of strings (RFC 7519 4.1.3).
bool audience_ok(const rj::Value& obj, const std::string& audience,
                 std::string& why) {
  if (audience.empty())
    return true;
  const auto it = obj.FindMember("aud");
  auto is = [&](const rj::Value& v) {
    return v.IsString()
           && std::string_view(v.GetString(), v.GetStringLength()) == audience;
  };
  bool found = false;
  if (it != obj.MemberEnd() && it->value.IsArray()) {
    for (const auto& v : it->value.GetArray())
      found = found || is(v);
  } else if (it != obj.MemberEnd()) {
    found = is(it->value);
  }
  if (!found)
    why = "token is not for this audience (aud)";
  return found;
}

bool issuer_ok(const rj::Value& obj, const std::string& issuer,
               std::string& why) {
  if (issuer.empty())
    return true;
  const auto it = obj.FindMember("iss");
  const bool ok = it != obj.MemberEnd() && it->value.IsString()
                  && std::string_view(it->value.GetString(),
                                      it->value.GetStringLength())
                       == issuer;
  if (!ok)
    why = "token is not from this issuer (iss)";
  return ok;
}

// Step 5: the claims, with the time checks. Every comparison keeps the
// token's value alone on one side (now and leeway are small), so no claim
// value can overflow it. Parsed with its length: RapidJSON 1.1.0 validating
// a NUL-terminated string that ends inside a UTF-8 sequence reads past the
// NUL (found by fuzz/jwt).
bool read_claims(std::string_view grants_json, const claim_rules& rules,
                 token_claims& c, std::string& why) {
  const int64_t now = rules.now;
  const int64_t leeway = rules.leeway;
  rj::Document d;
  d.Parse<rj::kParseValidateEncodingFlag | rj::kParseIterativeFlag>(
    grants_json.data(), grants_json.size());
  if (d.HasParseError() || !d.IsObject()) {
    why = "malformed token payload";
    return false;
  }
  const auto sub = d.FindMember("sub");
  if (sub == d.MemberEnd() || !sub->value.IsString()
      || sub->value.GetStringLength() == 0) {
    why = "token has no 'sub' claim (a non-empty string)";
    return false;
  }
  std::optional<int64_t> exp, nbf, iat;
  if (!optional_int(d, "exp", exp, why) || !optional_int(d, "nbf", nbf, why)
      || !optional_int(d, "iat", iat, why))
    return false;
  if (!exp) {
    why = "token has no 'exp' claim";
    return false;
  }
  // Written as now - leeway so that a huge exp cannot overflow.
  if (now - leeway > *exp) {
    why = "token expired";
    return false;
  }
  if (nbf && *nbf > now + leeway) {
    why = "token not valid yet (nbf)";
    return false;
  }
  // A user revocation covers the tokens issued (iat) before it: a token
  // claiming a future iat would escape it.
  // One second more than the leeway: iat is rounded to whole seconds by
  // its issuer, so a token minted this very moment may read as "now + 1".
  if (iat && *iat > now + leeway + 1) {
    why = "token issued in the future (iat)";
    return false;
  }
  if (!audience_ok(d, rules.audience, why) || !issuer_ok(d, rules.issuer, why))
    return false;
  const auto jti = d.FindMember("jti");
  if (jti != d.MemberEnd() && !jti->value.IsString()) {
    why = "token claim 'jti' must be a string";
    return false;
  }
  if (!string_array(d, "docs", true, c.docs, why)
      || !string_array(d, "read", false, c.read, why))
    return false;
  c.sub.assign(sub->value.GetString(), sub->value.GetStringLength());
  c.exp = *exp;
  c.iat = iat.value_or(0);
  if (jti != d.MemberEnd())
    c.jti.assign(jti->value.GetString(), jti->value.GetStringLength());
  return true;
}

void write_string_array(rj::Writer<rj::StringBuffer>& w, const char* name,
                        const std::vector<std::string>& v) {
  w.Key(name);
  w.StartArray();
  for (const auto& s : v)
    w.String(s.data(), static_cast<rj::SizeType>(s.size()));
  w.EndArray();
}

} // namespace

// ---------------------------------------------------------------------------

token_verifier::token_verifier(std::string secret, int64_t leeway_seconds,
                               const std::string& rsa_public_key_pem,
                               std::string audience, std::string issuer)
    : secret_(std::move(secret)),
      leeway_(std::clamp<int64_t>(leeway_seconds, 0, max_leeway_seconds)),
      audience_(std::move(audience)),
      issuer_(std::move(issuer)) {
  if (rsa_public_key_pem.empty())
    return;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
    BIO_new_mem_buf(rsa_public_key_pem.data(),
                    static_cast<int>(rsa_public_key_pem.size())),
    BIO_free);
  EVP_PKEY* key
    = bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (key == nullptr || EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
    EVP_PKEY_free(key);
    throw std::invalid_argument(
      "the JWT public key is not a PEM RSA public key");
  }
  rsa_key_ = std::shared_ptr<void>(key, [](void* k) {
    EVP_PKEY_free(static_cast<EVP_PKEY*>(k));
  });
}

bool token_verifier::verify(std::string_view jwt, token_claims& out,
                            std::string& why) const {
  return verify_at(jwt, now_seconds(), out, why);
}

bool token_verifier::verify_at(std::string_view jwt, int64_t now,
                               token_claims& out, std::string& why) const {
  if (secret_.empty() && !rsa_key_) {
    why = "no token secret configured";
    return false;
  }
  if (jwt.empty() || jwt.size() > max_token_bytes) {
    why = "malformed token";
    return false;
  }
  // Step 1: three parts.
  const size_t dot1 = jwt.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1
                                                     : jwt.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos
      || jwt.find('.', dot2 + 1) != std::string_view::npos) {
    why = "malformed token";
    return false;
  }
  if (dot2 + 1 == jwt.size()) {
    why = "unsigned token refused";
    return false;
  }
  std::string alg;
  if (!header_alg(jwt.substr(0, dot1), alg, why))
    return false;
  if (alg == "RS256")
    return verify_rs256(jwt, dot1, dot2, now, out, why);
  return verify_hs256(jwt, dot2, now, out, why);
}

bool token_verifier::verify_rs256(std::string_view jwt, size_t dot1,
                                  size_t dot2, int64_t now, token_claims& out,
                                  std::string& why) const {
  // Only with the configured public key; never the secret (and HS256
  // never with the public key: no key confusion).
  if (!rsa_key_) {
    why = "token algorithm not allowed (RS256 needs a configured public key)";
    return false;
  }
  if (!rsa_signature_ok(static_cast<EVP_PKEY*>(rsa_key_.get()),
                        jwt.substr(0, dot2), jwt.substr(dot2 + 1))) {
    why = "bad token signature";
    return false;
  }
  std::string payload;
  if (!base64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1), payload)
      || payload.find('\0') != std::string::npos) {
    why = "malformed token payload";
    return false;
  }
  token_claims claims;
  if (!read_claims(payload, {now, leeway_, audience_, issuer_}, claims, why))
    return false;
  out = std::move(claims);
  why.clear();
  return true;
}

bool token_verifier::verify_hs256(std::string_view jwt, size_t dot2,
                                  int64_t now, token_claims& out,
                                  std::string& why) const {
  if (secret_.empty()) {
    why = "token algorithm not allowed (no HS256 secret configured)";
    return false;
  }
  if (!signature_ok(secret_, jwt.substr(0, dot2), jwt.substr(dot2 + 1))) {
    why = "bad token signature";
    return false;
  }

  // Step 4: libjwt, with the key, must agree (and parses the payload).
  const std::string token(jwt); // libjwt wants a NUL-terminated string
  jwt_t* raw = nullptr;
  const int rc = jwt_decode(
    &raw, token.c_str(), reinterpret_cast<const unsigned char*>(secret_.data()),
    static_cast<int>(secret_.size()));
  const jwt_ptr decoded(raw);
  if (rc != 0 || decoded == nullptr) {
    why = "token rejected by the JWT decoder";
    return false;
  }
  if (jwt_get_alg(decoded.get()) != JWT_ALG_HS256) {
    why = "token algorithm not allowed (only HS256)";
    return false;
  }
  const malloc_str grants(jwt_get_grants_json(decoded.get(), nullptr));
  if (grants == nullptr) {
    why = "malformed token payload";
    return false;
  }
  token_claims claims;
  if (!read_claims(grants.get(), {now, leeway_, audience_, issuer_}, claims,
                   why))
    return false;
  out = std::move(claims);
  why.clear();
  return true;
}

bool pattern_match(std::string_view pattern, std::string_view id) {
  // Greedy glob with one backtrack point (the last `*`): O(|pattern| * |id|)
  // at worst, never exponential.
  size_t p = 0;
  size_t i = 0;
  size_t star = std::string_view::npos;
  size_t resume = 0;
  while (i < id.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = i;
    } else if (p < pattern.size() && pattern[p] == id[i]) {
      ++p;
      ++i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++resume; // let the last `*` swallow one more character
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

access access_for(const token_claims& c, std::string_view doc) {
  for (const auto& p : c.docs)
    if (pattern_match(p, doc))
      return access::write;
  for (const auto& p : c.read)
    if (pattern_match(p, doc))
      return access::read;
  return access::none;
}

std::string mint_token(const std::string& secret, const std::string& sub,
                       const std::vector<std::string>& docs,
                       const std::vector<std::string>& read,
                       int64_t ttl_seconds, const std::string& jti) {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0 || raw == nullptr)
    return {};
  const jwt_ptr j(raw);

  rj::StringBuffer buf;
  rj::Writer<rj::StringBuffer> w(buf);
  w.StartObject();
  write_string_array(w, "docs", docs);
  write_string_array(w, "read", read);
  w.EndObject();

  const int64_t now = now_seconds();
  int64_t exp = 0;
  if (__builtin_add_overflow(now, ttl_seconds, &exp))
    exp = ttl_seconds > 0 ? std::numeric_limits<int64_t>::max()
                          : std::numeric_limits<int64_t>::min();
  if (jwt_add_grant(j.get(), "sub", sub.c_str()) != 0
      || jwt_add_grant_int(j.get(), "iat", static_cast<long>(now)) != 0
      || jwt_add_grant_int(j.get(), "exp", static_cast<long>(exp)) != 0
      || jwt_add_grants_json(j.get(), buf.GetString()) != 0
      || (!jti.empty() && jwt_add_grant(j.get(), "jti", jti.c_str()) != 0)
      || jwt_set_alg(j.get(), JWT_ALG_HS256,
                     reinterpret_cast<const unsigned char*>(secret.data()),
                     static_cast<int>(secret.size()))
           != 0)
    return {};
  const malloc_str token(jwt_encode_str(j.get()));
  return token != nullptr ? std::string(token.get()) : std::string();
}

} // namespace collab::net
