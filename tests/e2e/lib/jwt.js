'use strict';
// Hand-rolled JWTs (HS256 with node:crypto) with knobs for every way a token
// can be wrong: alg, exp, nbf, docs, read, signature.
const crypto = require('node:crypto');

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// opts:
//   sub       user id (default 'user-<random>'); null omits it
//   docs      edit patterns (default ['*']); null omits the claim
//   read      read-only patterns (omitted by default)
//   ttl       seconds until exp (default 300); or exp: absolute seconds; exp null omits it
//   nbf, iat, jti  copied when given
//   alg       header alg (default 'HS256'); 'none' makes an unsigned token,
//             'HS512'/'HS384' sign with that hash
//   signature 'valid' (default), 'forged' (signed with another key),
//             'corrupt' (one flipped character), 'empty'
//   header    extra header fields; claims: extra payload fields
function mintToken(secret, opts = {}) {
  const now = Math.floor(Date.now() / 1000);
  const alg = opts.alg || 'HS256';
  const header = { alg, typ: 'JWT', ...(opts.header || {}) };
  const payload = {};
  if (opts.sub !== null) payload.sub = opts.sub || `user-${crypto.randomBytes(4).toString('hex')}`;
  if (opts.exp !== null) payload.exp = opts.exp !== undefined ? opts.exp : now + (opts.ttl ?? 300);
  if (opts.iat !== undefined) payload.iat = opts.iat;
  if (opts.nbf !== undefined) payload.nbf = opts.nbf;
  if (opts.jti !== undefined) payload.jti = opts.jti;
  if (opts.docs !== null) payload.docs = opts.docs || ['*'];
  if (opts.read !== undefined) payload.read = opts.read;
  Object.assign(payload, opts.claims || {});

  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  if (alg === 'none') return `${signingInput}.`;
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg] || 'sha256';
  const sigMode = opts.signature || 'valid';
  const key = sigMode === 'forged' ? crypto.randomBytes(32).toString('hex') : secret;
  let sig = b64url(crypto.createHmac(hash, key).update(signingInput).digest());
  if (sigMode === 'corrupt') sig = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
  if (sigMode === 'empty') sig = '';
  return `${signingInput}.${sig}`;
}

function decodePayload(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

module.exports = { mintToken, decodePayload };
