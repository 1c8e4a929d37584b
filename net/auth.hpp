// Authentication and authorisation (docs/PROTOCOL.md, "Transport"): JWT
// verification, HS256 with the configured secret and, when a public key is
// configured, RS256 (each algorithm only with its own key: `none`, every
// other alg and key confusion are refused), document-id patterns, the Origin
// allow-list, and where a token may come from at the upgrade (Authorization
// header or collab_token cookie, never the query string).
//
// Time claims are compared without overflow whatever their value: a token
// with `exp` 2^62 is valid for (practically) ever, one with `iat` in the
// future is refused (it would escape a per-user revocation). When an
// audience or an issuer is configured, `aud` must name it / `iss` equal it.
//
// Thread-safety: token_verifier is immutable after construction; all
// functions are safe from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace collab::net {

struct token_claims {
  std::string sub;
  int64_t exp = 0; // seconds since the epoch
  int64_t iat = 0; // 0 when absent
  std::string jti; // empty when absent
  std::vector<std::string> docs; // patterns the user may edit
  std::vector<std::string> read; // patterns the user may only read
};

enum class access : uint8_t { none, read, write };

// The longest lifetime of a token this node mints (admin `token`): longer
// ones are refused, so that no ttl can overflow `exp`.
constexpr int64_t max_token_ttl_seconds = 366 * 24 * 3600;

class token_verifier {
public:
  // The leeway is clamped to [0, 30] s (docs/PROTOCOL.md: at most 30 s). An
  // empty secret refuses every HS256 token; `rsa_public_key_pem` (a PEM
  // "PUBLIC KEY", e.g. an identity provider's) enables RS256, empty: none.
  // `audience` / `issuer` non-empty: every token's `aud` (a string or an
  // array of strings) must contain it / its `iss` must equal it.
  // Throws std::invalid_argument for a key that does not parse.
  explicit token_verifier(std::string secret, int64_t leeway_seconds = 30,
                          const std::string& rsa_public_key_pem = {},
                          std::string audience = {}, std::string issuer = {});
  // True when `jwt` is an HS256 token signed with the secret or an RS256
  // token signed by the public key's owner, unexpired (with leeway), past
  // its nbf, not issued in the future (iat, with leeway), for the
  // configured audience and issuer, with `sub`, `exp` and `docs` present
  // and well-typed. Otherwise false with a reason in `why`.
  bool verify(std::string_view jwt, token_claims& out, std::string& why) const;
  // verify() at a given time (seconds since the epoch): for tests and for
  // re-checking a connected session's token on a timer.
  bool verify_at(std::string_view jwt, int64_t now, token_claims& out,
                 std::string& why) const;

private:
  // verify_at after the checks of the token's shape, by its algorithm:
  // `dot1` and `dot2` are the positions of its two dots.
  bool verify_rs256(std::string_view jwt, size_t dot1, size_t dot2, int64_t now,
                    token_claims& out, std::string& why) const;
  bool verify_hs256(std::string_view jwt, size_t dot2, int64_t now,
                    token_claims& out, std::string& why) const;
  std::string secret_;
  int64_t leeway_;
  std::shared_ptr<void> rsa_key_; // EVP_PKEY, null without RS256
  std::string audience_; // empty: `aud` is not checked
  std::string issuer_; // empty: `iss` is not checked
};

// `*` matches any run of characters (including none); everything else is
// literal.
bool pattern_match(std::string_view pattern, std::string_view id);
// write when a `docs` pattern matches, read when only a `read` pattern does.
access access_for(const token_claims& c, std::string_view doc);

// Mints an HS256 token (development tokens, tests, the bench); `exp` is
// now + ttl, saturated at the largest int64.
std::string mint_token(const std::string& secret, const std::string& sub,
                       const std::vector<std::string>& docs,
                       const std::vector<std::string>& read,
                       int64_t ttl_seconds, const std::string& jti = {});

// True when the upgrade may proceed: no Origin header (not a browser), or an
// Origin equal to one of `allowed` (exact match, scheme://host[:port]), or
// `allowed` holds "*".
bool origin_allowed(std::string_view origin_header,
                    const std::vector<std::string>& allowed);

// The token of an upgrade or API request: `Authorization: Bearer <jwt>` first,
// else the `collab_token` cookie. nullopt when neither is present.
std::optional<std::string> extract_token(std::string_view authorization_header,
                                         std::string_view cookie_header);
// True when the request target's query string carries a token (refused).
bool query_has_token(std::string_view target);

} // namespace collab::net
