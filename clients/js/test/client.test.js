import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeServer, until } from './fake-server.js';
import { makeClient } from './helpers.js';
import { Backoff } from '../src/backoff.js';
import { randomClientId } from '../src/index.js';

test('backoff grows exponentially with jitter and stays within bounds', () => {
  const lo = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
  const hi = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.999 });
  const a = Array.from({ length: 6 }, () => lo.next());
  const b = Array.from({ length: 6 }, () => hi.next());
  assert.deepEqual(a, [50, 100, 200, 400, 500, 500]);
  b.forEach((d, i) => assert.ok(d > a[i] && d < 2 * a[i], `jitter ${d} vs ${a[i]}`));
  lo.reset();
  assert.equal(lo.next(), 50);
});

test('default client id: 16 characters of [A-Za-z0-9_-], random', () => {
  const id = randomClientId();
  assert.match(id, /^[A-Za-z0-9_-]{16}$/);
  assert.notEqual(id, randomClientId());
});

test('connect: hello, welcome, status events, node and session', async () => {
  const server = new FakeServer();
  const client = makeClient(server, { clientId: 'me' });
  const statuses = [];
  const welcomes = [];
  client.on('status', (s) => statuses.push(s));
  client.on('welcome', (w) => welcomes.push(w));
  assert.equal(client.status, 'offline');
  client.connect();
  client.connect(); // idempotent
  await until(() => client.status === 'connected', 'connected');
  assert.deepEqual(statuses, ['connecting', 'connected']);
  assert.deepEqual(welcomes, [{ node: 'node-ws://a', session: 's1' }]);
  assert.equal(client.node, 'node-ws://a');
  assert.equal(client.session, 's1');
  assert.equal(server.connects.length, 1);
  assert.deepEqual(server.sent[0], { type: 'hello', client: 'me', v: 1, batch: true });
});

test('failures rotate over the urls with growing delays', async () => {
  const server = new FakeServer();
  server.down = new Set(['ws://1', 'ws://2']);
  const client = makeClient(server, { urls: ['ws://1', 'ws://2', 'ws://3'], backoff: { initialMs: 40, maxMs: 200 } });
  const errors = [];
  client.on('error', (e) => errors.push(e));
  const t0 = Date.now();
  client.connect();
  await until(() => client.status === 'connected', 'connected');
  assert.deepEqual(server.connects, ['ws://1', 'ws://2', 'ws://3']);
  assert.equal(client.node, 'node-ws://3');
  assert.ok(Date.now() - t0 >= 20 + 40, 'waited ~20 ms then ~40 ms (at least half of each nominal delay)');
  assert.ok(errors.some((e) => e.code === 'transport' && /ECONNREFUSED/.test(e.message)));
});

test('close 1001: reconnect within drainJitterMs to the next url, resuming the docs', async () => {
  const server = new FakeServer();
  const client = makeClient(server, { urls: ['ws://1', 'ws://2'], backoff: { initialMs: 5000, maxMs: 5000 } });
  client.connect();
  const doc = client.doc('d');
  await doc.ready;
  doc.insert(0, 'x');
  await doc.whenSynced();
  const t0 = Date.now();
  server.closeAll(1001);
  await until(() => client.status === 'connected' && client.node === 'node-ws://2', 'reconnected', 1000);
  assert.ok(Date.now() - t0 < 1000, 'no backoff wait');
  await until(() => doc.state === 'synced', 'rejoined');
  assert.deepEqual(server.sent.filter((m) => m.type === 'join').map((m) => m.rev), [undefined, 1]);
});

test('close 1008: offline with error unauthorized, no retry loop', async () => {
  const server = new FakeServer();
  server.refuse = () => 1008;
  const client = makeClient(server);
  const errors = [];
  client.on('error', (e) => errors.push(e));
  client.connect();
  await until(() => errors.some((e) => e.code === 'unauthorized'), 'unauthorized');
  assert.equal(client.status, 'offline');
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(server.connects.length, 1, 'did not try again');
});

test('token_expired + close 4001: refreshToken once, then reconnect with client.token', async () => {
  const server = new FakeServer();
  const tokensAtConnect = [];
  let calls = 0;
  const client = makeClient(server, {
    token: 't1',
    refreshToken: async () => { calls++; return `t${calls + 1}`; },
    createSocket: (url) => { tokensAtConnect.push(client.token); return server.createSocket(url); },
  });
  client.connect();
  const doc = client.doc('d');
  await doc.ready;
  const [sock] = server.sockets;
  sock.deliver({ type: 'error', code: 'token_expired', message: 'expired' });
  sock.serverClose(4001);
  await until(() => server.connects.length === 2 && client.status === 'connected', 'reconnected');
  await until(() => doc.state === 'synced', 'rejoined');
  assert.equal(calls, 1, 'one refresh for the error and the close');
  assert.deepEqual(tokensAtConnect, ['t1', 't2']);
  assert.equal(client.token, 't2');
});

test('refreshToken returning undefined (cookie refreshed): reconnects', async () => {
  const server = new FakeServer();
  let calls = 0;
  const client = makeClient(server, { refreshToken: async () => { calls++; } });
  client.connect();
  await until(() => client.status === 'connected', 'connected');
  [...server.sockets][0].serverClose(4001);
  await until(() => server.connects.length === 2 && client.status === 'connected', 'reconnected');
  assert.equal(calls, 1);
});

test('refresh before exp: a new token is sent as auth on the open socket', async () => {
  const server = new FakeServer();
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const jwt = (exp) => `${b64({ alg: 'HS256' })}.${b64({ sub: 'u', exp })}.sig`;
  const next = jwt(Math.floor(Date.now() / 1000) + 3600);
  const client = makeClient(server, {
    tokenExp: Math.floor(Date.now() / 1000), // already due: refreshed after the minimum delay
    refreshToken: async () => next,
  });
  client.connect();
  await until(() => server.sent.some((m) => m.type === 'auth'), 'auth sent', 3000);
  assert.deepEqual(server.sent.find((m) => m.type === 'auth'), { type: 'auth', token: next });
  assert.equal(client.token, next);
  assert.equal(server.connects.length, 1, 'same socket');
});

test('disconnect() stays offline; close() is for good', async () => {
  const server = new FakeServer();
  const client = makeClient(server);
  client.connect();
  await until(() => client.status === 'connected', 'connected');
  client.disconnect();
  assert.equal(client.status, 'offline');
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(server.connects.length, 1);
  client.reconnect();
  await until(() => client.status === 'connected', 'reconnected');
  client.close();
  client.connect();
  client.reconnect();
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(client.status, 'offline');
  assert.equal(server.connects.length, 2);
});
