'use strict';
// TLS on the client port (COLLAB_TLS_CERT / COLLAB_TLS_KEY): the protocol
// over wss://, the HTTP routes over https://, plain connections refused,
// close codes (1009) delivered through TLS, a partial configuration refused.
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const https = require('node:https');
const http = require('node:http');
const WebSocket = require('ws');
const { startServer } = require('./lib/server');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'collab-tls-'));
const cert = path.join(dir, 'srv.pem');
const key = path.join(dir, 'srv.key');
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
  '-out', cert, '-days', '2', '-subj', '/CN=localhost',
  '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
const ca = fs.readFileSync(cert);

let srv;
before(async () => {
  srv = await startServer({ COLLAB_TLS_CERT: cert, COLLAB_TLS_KEY: key, COLLAB_MAX_FRAME_BYTES: '65536' });
});
after(async () => { if (srv) await srv.stop(); });

function open(token, opts = {}) {
  const ws = new WebSocket(`wss://localhost:${srv.port}/v1/ws`, {
    headers: { Authorization: `Bearer ${token}` }, ca, ...opts,
  });
  const inbox = [];
  const waiters = [];
  ws.on('message', (m) => {
    const msg = JSON.parse(m);
    const i = waiters.findIndex((w) => w.pred(msg));
    if (i >= 0) waiters.splice(i, 1)[0].resolve(msg); else inbox.push(msg);
  });
  ws.next = (pred) => {
    const i = inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      waiters.push({ pred, resolve });
      setTimeout(() => reject(new Error('timeout waiting for a message')), 10000);
    });
  };
  ws.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function get(url, opts = {}) {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https') ? https : http;
    const req = lib.get(url, { ca, ...opts }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
  });
}

test('the protocol over wss: hello, join, op, ack, op to the other session', async () => {
  const a = await open(srv.token({ sub: 'alice' }));
  const b = await open(srv.token({ sub: 'bob' }));
  a.send(JSON.stringify({ type: 'hello', client: 'ta', v: 1 }));
  b.send(JSON.stringify({ type: 'hello', client: 'tb', v: 1 }));
  await a.next((m) => m.type === 'welcome');
  await b.next((m) => m.type === 'welcome');
  for (const ws of [a, b]) ws.send(JSON.stringify({ type: 'join', doc: 'tls-doc' }));
  await a.next((m) => m.type === 'joined');
  await b.next((m) => m.type === 'joined');
  a.send(JSON.stringify({ type: 'op', doc: 'tls-doc', rev: 0, seq: 1, op: ['over tls'] }));
  const ack = await a.next((m) => m.type === 'ack');
  assert.equal(ack.rev, 1);
  const op = await b.next((m) => m.type === 'op');
  assert.deepEqual(op.op, ['over tls']);
  const doc = await get(`https://localhost:${srv.port}/v1/docs/tls-doc`,
    { headers: { Authorization: `Bearer ${srv.token({ sub: 'carol' })}` } });
  assert.equal(doc.status, 200);
  assert.equal(JSON.parse(doc.body).text, 'over tls');
  a.close(); b.close();
});

test('https routes answer; plain http and ws on the TLS port get nothing', async () => {
  assert.equal((await get(`https://localhost:${srv.port}/healthz`)).status, 200);
  await assert.rejects(get(`http://localhost:${srv.port}/healthz`));
  const plain = new WebSocket(`ws://localhost:${srv.port}/v1/ws`,
    { headers: { Authorization: `Bearer ${srv.token()}` } });
  const outcome = await new Promise((resolve) => {
    plain.once('open', () => resolve('open'));
    plain.once('error', () => resolve('error'));
  });
  assert.equal(outcome, 'error');
  // A client that does not trust the certificate refuses the server.
  await assert.rejects(open(srv.token(), { ca: undefined }));
  assert.ok(srv.alive());
});

test('a frame over the limit is closed 1009 through TLS', async () => {
  const a = await open(srv.token({ sub: 'dave' }));
  a.send(JSON.stringify({ type: 'hello', client: 'td', v: 1 }));
  await a.next((m) => m.type === 'welcome');
  a.send('x'.repeat(70000));
  assert.equal(await a.closed, 1009);
});

test('half a TLS configuration is refused at start', () => {
  const bin = process.env.COLLABD;
  const r = spawnSync(bin, [], {
    env: { PATH: process.env.PATH, COLLAB_JWT_SECRET: 's', COLLAB_CLIENT_PORT: '0', COLLAB_TLS_CERT: cert },
    timeout: 10000,
  });
  assert.equal(r.status, 2, `exit ${r.status}: ${r.stderr}`);
  assert.match(String(r.stderr), /COLLAB_TLS_CERT and COLLAB_TLS_KEY go together/);
});
