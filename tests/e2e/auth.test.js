'use strict';
// Authentication at the upgrade and on the HTTP API (docs/PROTOCOL.md,
// "Transport"; docs/DESIGN.md: expired, forged, alg:none and cross-origin attempts
// are refused).
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer, withServer } = require('./lib/server');
const { tryConnect, connect, session, randomId } = require('./lib/client');
const { getJson } = require('./lib/http');
const { mintToken } = require('./lib/jwt');

let srv;
before(async () => { srv = await startServer(); });
after(async () => { if (srv) { const alive = srv.alive(); await srv.stop(); if (!alive) srv.assertAlive(); } });

const now = () => Math.floor(Date.now() / 1000);

async function expectRefused(server, opts, status, what) {
  const r = await tryConnect(server, opts);
  if (r.status === 101) r.client.close();
  assert.equal(r.status, status, `${what}: expected HTTP ${status}, got ${r.status}`);
  return r;
}

async function expectAccepted(server, opts, what) {
  const r = await tryConnect(server, opts);
  assert.equal(r.status, 101, `${what}: expected the upgrade, got HTTP ${r.status} ${r.body || ''}`);
  // and the socket is usable
  await r.client.hello();
  r.client.close();
}

test('a valid Bearer token upgrades', async () => {
  await expectAccepted(srv, {}, 'valid token');
});

test('upgrades refused with HTTP 401: missing, forged, expired, alg none, HS512, bad claims', async () => {
  const s = srv.secret;
  const cases = [
    [{ token: false }, 'no token at all'],
    [{ token: '' }, 'empty token'],
    [{ token: false, headers: { Authorization: 'Bearer' } }, 'Bearer without token'],
    [{ token: false, headers: { Authorization: `Basic ${Buffer.from('u:p').toString('base64')}` } }, 'Basic auth'],
    [{ token: 'not.a.jwt' }, 'garbage token'],
    [{ token: 'abc' }, 'no dots'],
    [{ token: mintToken(s, { signature: 'forged' }) }, 'signed with another secret'],
    [{ token: mintToken(s, { signature: 'corrupt' }) }, 'corrupted signature'],
    [{ token: mintToken(s, { signature: 'empty' }) }, 'empty signature'],
    [{ token: mintToken(s, { exp: now() - 5 }) }, 'expired 5 s ago (leeway 0)'],
    [{ token: mintToken(s, { exp: now() - 3600 }) }, 'expired an hour ago'],
    [{ token: mintToken(s, { nbf: now() + 120 }) }, 'nbf in the future'],
    [{ token: mintToken(s, { alg: 'none' }) }, 'alg none'],
    [{ token: mintToken(s, { alg: 'none' }) + 'c2ln' }, 'alg none with a signature'],
    [{ token: mintToken(s, { header: { alg: 'NONE' } }) }, 'alg NONE in the header, HS256 signature'],
    [{ token: mintToken(s, { alg: 'HS512' }) }, 'HS512 with the right secret'],
    [{ token: mintToken(s, { alg: 'HS384' }) }, 'HS384 with the right secret'],
    [{ token: mintToken(s, { header: { alg: 'RS256' } }) }, 'alg RS256 header, HMAC signature'],
    [{ token: mintToken(s, { sub: null }) }, 'no sub'],
    [{ token: mintToken(s, { exp: null }) }, 'no exp'],
    [{ token: mintToken(s, { docs: null }) }, 'no docs'],
    [{ token: mintToken(s, { claims: { docs: '*' } }) }, 'docs not an array'],
    [{ token: mintToken(s, { claims: { exp: 'tomorrow' } }) }, 'exp not a number'],
    [{ token: mintToken(s, { claims: { sub: 42 } }) }, 'sub not a string'],
  ];
  for (const [opts, what] of cases) await expectRefused(srv, opts, 401, what);
  srv.assertAlive();
});

test('a token in the query string is refused', async () => {
  const tok = srv.token();
  await expectRefused(srv, { token: false, query: `token=${tok}` }, 401, 'token only in the query');
  await expectRefused(srv, { token: false, query: `access_token=${tok}` }, 401, 'access_token only in the query');
  // even next to a valid header: the token leaked into the URL, refuse
  const r = await tryConnect(srv, { token: tok, query: `token=${tok}` });
  if (r.status === 101) r.client.close();
  assert.notEqual(r.status, 101, 'a URL carrying a token is refused even with a valid header');
  assert.ok(r.status >= 400 && r.status < 500, `4xx, got ${r.status}`);
});

test('leeway: COLLAB_JWT_LEEWAY=30 accepts a token expired 10 s ago, not 60 s ago', async () => {
  await withServer({ COLLAB_JWT_LEEWAY: '30' }, async (s) => {
    await expectAccepted(s, { token: s.token({ exp: now() - 10 }) }, 'expired 10 s ago, leeway 30');
    await expectRefused(s, { token: s.token({ exp: now() - 60 }) }, 401, 'expired 60 s ago, leeway 30');
  });
});

test('leeway is at most 30 s even when COLLAB_JWT_LEEWAY says more', async () => {
  // docs/PROTOCOL.md: exp is checked with at most 30 s leeway. The server may
  // refuse to start with a larger value, or clamp it.
  let s;
  try {
    s = await startServer({ COLLAB_JWT_LEEWAY: '300' });
  } catch (e) {
    assert.match(e.message, /exited before ready/);
    return;
  }
  try {
    await expectRefused(s, { token: s.token({ exp: now() - 120 }) }, 401, 'expired 120 s ago, leeway 300 requested');
  } finally { await s.stop(); }
});

test('Origin allow-list: other origins refused with 403; listed and absent Origin accepted', async () => {
  await withServer({ COLLAB_ALLOWED_ORIGINS: 'http://good.example,https://also.example:8443' }, async (s) => {
    await expectAccepted(s, { origin: 'http://good.example' }, 'listed origin');
    await expectAccepted(s, { origin: 'https://also.example:8443' }, 'second listed origin');
    await expectAccepted(s, {}, 'no Origin (not a browser)');
    for (const o of ['http://evil.example', 'https://good.example', 'http://good.example:8080',
      'http://good.example.evil.example', 'null', 'https://also.example']) {
      await expectRefused(s, { origin: o }, 403, `Origin ${o}`);
    }
    // the Origin check does not depend on the token being valid for it
    await expectRefused(s, { origin: 'http://evil.example', token: s.token({ docs: ['*'] }) }, 403, 'evil Origin, valid token');
  });
});

test('Origin allow-list default: the server\'s own origin only', async () => {
  await expectAccepted(srv, { origin: `http://127.0.0.1:${srv.port}` }, 'own origin (bind address)');
  await expectAccepted(srv, { origin: `http://localhost:${srv.port}` }, 'own origin (localhost)');
  await expectRefused(srv, { origin: 'http://evil.example' }, 403, 'foreign origin');
  await expectRefused(srv, { origin: `http://localhost:${srv.port + 1}` }, 403, 'other port');
});

test('Origin `*` allows any origin', async () => {
  await withServer({ COLLAB_ALLOWED_ORIGINS: '*' }, async (s) => {
    await expectAccepted(s, { origin: 'http://anything.example' }, 'any origin');
  });
});

test('cookie collab_token is accepted at the upgrade', async () => {
  const tok = srv.token();
  await expectAccepted(srv, { token: false, cookie: `collab_token=${tok}` }, 'cookie only');
  await expectAccepted(srv, { token: false, cookie: `theme=dark; collab_token=${tok}; lang=de` }, 'cookie among others');
  await expectRefused(srv, { token: false, cookie: `collab_token=${srv.token({ signature: 'forged' })}` }, 401, 'forged cookie');
  await expectRefused(srv, { token: false, cookie: `other_token=${tok}` }, 401, 'token in another cookie');
});

test('POST /v1/session sets collab_token HttpOnly; Secure; SameSite=Strict', async () => {
  const tok = srv.token({ ttl: 600 });
  const res = await srv.fetch('/v1/session', {
    method: 'POST', headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
  });
  assert.ok(res.status >= 200 && res.status < 300, `POST /v1/session: ${res.status}`);
  await res.text();
  const cookies = res.headers.getSetCookie();
  const c = cookies.find((x) => x.startsWith('collab_token='));
  assert.ok(c, `a collab_token cookie: ${JSON.stringify(cookies)}`);
  const [pair, ...attrs] = c.split(';').map((x) => x.trim());
  assert.equal(pair, `collab_token=${tok}`);
  const lower = attrs.map((a) => a.toLowerCase());
  assert.ok(lower.includes('httponly'), `HttpOnly: ${c}`);
  assert.ok(lower.includes('secure'), `Secure: ${c}`);
  assert.ok(lower.includes('samesite=strict'), `SameSite=Strict: ${c}`);
  // the cookie as a browser would send it back
  await expectAccepted(srv, { token: false, cookie: pair }, 'cookie from /v1/session');

  for (const [headers, what] of [[{}, 'no token'],
    [{ Authorization: `Bearer ${srv.token({ signature: 'forged' })}` }, 'forged'],
    [{ Authorization: `Bearer ${srv.token({ exp: now() - 5 })}` }, 'expired']]) {
    const r = await srv.fetch('/v1/session', {
      method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' },
    });
    assert.equal(r.status, 401, `POST /v1/session with ${what}`);
    assert.equal(r.headers.getSetCookie().filter((x) => x.startsWith('collab_token=')).length, 0,
      `no cookie set for ${what}`);
    await r.text();
  }
});

test('a token whose docs patterns do not cover a doc cannot join or edit it', async () => {
  const org = randomId('acme');
  const other = `${randomId('globex')}/plan`;
  const c = await session(srv, { tokenOpts: { docs: [`${org}/*`] } });
  try {
    c.send({ type: 'join', doc: other });
    const e = await c.next((m) => m.doc === other && (m.type === 'joined' || m.type === 'error'));
    assert.equal(e.type, 'error');
    assert.equal(e.code, 'forbidden');
    c.send({ type: 'op', doc: other, rev: 0, seq: 1, op: ['pwned'] });
    const e2 = await c.next((m) => m.seq === 1 && (m.type === 'ack' || m.type === 'error'));
    assert.equal(e2.type, 'error');
    assert.ok(['forbidden', 'not_joined'].includes(e2.code), e2.code);
    const d = await getJson(srv, `/v1/docs/${other}`, srv.token());
    assert.deepEqual(d.body, { doc: other, rev: 0, text: '' });
    // inside the pattern all is fine
    const mine = `${org}/plan`;
    await c.join(mine);
    assert.equal((await c.opAck(mine, 0, 1, ['ok'])).rev, 1);
  } finally { c.close(); }
});

test('GET /v1/docs/{id} and /ops: 401 without or with a bad token, 403 outside the patterns', async () => {
  const org = randomId('acme');
  const doc = `${org}/doc`;
  const w = await session(srv);
  await w.join(doc);
  await w.opAck(doc, 0, 1, ['secret']);
  w.close();
  for (const p of [`/v1/docs/${doc}`, `/v1/docs/${doc}/ops?from=0`]) {
    const none = await getJson(srv, p, null);
    assert.equal(none.status, 401, `${p} without token`);
    assert.ok(!none.text.includes('secret'));
    assert.equal((await getJson(srv, p, srv.token({ signature: 'forged' }))).status, 401, `${p} forged`);
    assert.equal((await getJson(srv, p, srv.token({ alg: 'none' }))).status, 401, `${p} alg none`);
    assert.equal((await getJson(srv, p, srv.token({ exp: now() - 5 }))).status, 401, `${p} expired`);
    const q = await getJson(srv, `${p}${p.includes('?') ? '&' : '?'}token=${srv.token()}`, null);
    assert.equal(q.status, 401, `${p} with the token in the query`);
    const other = await getJson(srv, p, srv.token({ docs: [`${randomId('globex')}/*`] }));
    assert.equal(other.status, 403, `${p} outside the token's patterns`);
    assert.ok(!other.text.includes('secret'));
    const ro = await getJson(srv, p, srv.token({ docs: [], read: [`${org}/*`] }));
    assert.equal(ro.status, 200, `${p} with read access`);
    const cookie = await getJson(srv, p, null, { Cookie: `collab_token=${srv.token({ docs: [`${org}/*`] })}` });
    assert.equal(cookie.status, 200, `${p} with the cookie`);
    assert.match(cookie.headers.get('cache-control') || '', /no-store/);
  }
});

test('refused upgrades do not disturb the node', async () => {
  for (let i = 0; i < 50; i++) {
    await expectRefused(srv, { token: srv.token({ alg: i % 2 ? 'none' : 'HS512' }) }, 401, `attempt ${i}`);
  }
  const c = await connect(srv);
  await c.hello();
  c.close();
  const h = await srv.fetch('/healthz');
  assert.equal(h.status, 200);
});

test('auth message: the new token replaces the old one (its docs govern later joins)', async () => {
  const org = randomId('acme');
  const sub = randomId('user');
  const c = await session(srv, { tokenOpts: { sub, docs: ['*'] } });
  try {
    await c.join(`${org}/a`);
    c.send({ type: 'auth', token: srv.token({ sub, docs: [`${org}/*`], ttl: 120 }) });
    assert.deepEqual(await c.ping(), { type: 'pong' });
    const other = `${randomId('globex')}/b`;
    c.send({ type: 'join', doc: other });
    const e = await c.next((m) => m.doc === other && (m.type === 'joined' || m.type === 'error'));
    assert.equal(e.type, 'error', `join outside the new token's docs: ${JSON.stringify(e)}`);
    assert.equal(e.code, 'forbidden');
    assert.equal((await c.join(`${org}/c`)).rev, 0);
  } finally { c.close(); }
});

test('auth message with an invalid token is refused and does not replace the valid one', async (t) => {
  const sub = randomId('user');
  const c = await session(srv, { tokenOpts: { sub } });
  try {
    c.send({ type: 'auth', token: srv.token({ sub, signature: 'forged' }) });
    const r = await Promise.race([
      c.next('error', 10000).then((m) => ({ error: m }), () => new Promise(() => {})),
      c.waitClose(10000).then((cl) => ({ close: cl })),
    ]);
    t.diagnostic(`forged token in auth: ${JSON.stringify(r)}`);
    if (r.close) assert.ok([1008, 4001].includes(r.close.code), `close code ${r.close.code}`);
    else assert.ok(['forbidden', 'bad_request', 'token_expired'].includes(r.error.code), r.error.code);
  } finally { c.close(); }
});

// RS256: an identity provider signs, collabd holds only its public key
// (COLLAB_JWT_PUBLIC_KEY). HS256 with the node's secret keeps working; the
// public key is never accepted as an HMAC secret.
test('RS256 tokens from a configured public key', async () => {
  const crypto = require('node:crypto');
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const b64 = (x) => Buffer.from(x).toString('base64url');
  const idp = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = idp.publicKey.export({ type: 'spki', format: 'pem' });
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'collab-rs256-')), 'idp.pem');
  fs.writeFileSync(file, pem);
  const rs256 = (key, claims) => {
    const input = `${b64(JSON.stringify({ alg: 'RS256', typ: 'JWT' }))}.${b64(JSON.stringify(claims))}`;
    return `${input}.${crypto.sign('sha256', Buffer.from(input), key).toString('base64url')}`;
  };
  const claims = { sub: 'rs-user', exp: now() + 60, docs: ['*'] };
  await withServer({ COLLAB_JWT_PUBLIC_KEY: file }, async (server) => {
    await expectAccepted(server, { token: rs256(idp.privateKey, claims) }, 'RS256 from the IdP');
    await expectAccepted(server, {}, 'HS256 with the secret, next to RS256');
    await expectRefused(server, { token: rs256(other.privateKey, claims) }, 401, 'RS256 signed by another key');
    await expectRefused(server, { token: rs256(idp.privateKey, { ...claims, exp: now() - 120 }) }, 401, 'expired RS256');
    const confused = mintToken(pem, { sub: 'rs-user', docs: ['*'] });
    await expectRefused(server, { token: confused }, 401, 'HS256 keyed with the public key');
  });
  // Without the public key, RS256 is refused.
  await expectRefused(srv, { token: rs256(idp.privateKey, claims) }, 401, 'RS256 without a configured key');
});
