import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeServer, until } from './fake-server.js';
import { makeClient, opsSent } from './helpers.js';

test('join, local edits, ack: text, rev, state and events', async () => {
  const server = new FakeServer();
  server.commit('d', 'other', ['hello']);
  const client = makeClient(server);
  client.connect();
  const doc = client.doc('d');
  assert.equal(client.doc('d'), doc, 'same Doc per id');
  assert.equal(doc.state, 'joining');
  assert.throws(() => doc.insert(0, 'x'), /not joined/);
  await doc.ready;
  assert.equal(doc.text, 'hello');
  assert.equal(doc.rev, 1);
  assert.equal(doc.state, 'synced');

  const states = [];
  const changes = [];
  const acks = [];
  doc.on('state', (s) => states.push(s));
  doc.on('change', (c) => changes.push(c));
  doc.on('ack', (a) => acks.push(a));
  doc.insert(5, ' wörld😀');
  doc.delete(0, 1);
  assert.equal(doc.text, 'ello wörld😀');
  assert.equal(doc.state, 'syncing');
  assert.deepEqual(changes.map((c) => c.remote), [false, false]);
  assert.throws(() => doc.delete(10, 5), RangeError, 'a delete past the end is refused locally');
  await doc.whenSynced();
  assert.equal(server.text('d'), 'ello wörld😀');
  assert.equal(doc.rev, 3);
  assert.deepEqual(states, ['syncing', 'synced']);
  assert.deepEqual(acks, [{ seq: 1, rev: 2 }, { seq: 2, rev: 3 }]);
});

test('one op in flight; later edits compose into one pending op', async () => {
  const server = new FakeServer();
  const client = makeClient(server);
  client.connect();
  const doc = client.doc('d');
  await doc.ready;
  doc.insert(0, 'a');
  doc.insert(1, 'b');
  doc.insert(2, 'c');
  doc.delete(0, 1);
  assert.equal(opsSent(server, 'd').length, 1, 'only the first op goes out before its ack');
  await doc.whenSynced();
  const sent = opsSent(server, 'd');
  assert.deepEqual(sent.map((m) => [m.seq, m.rev, m.op]), [[1, 0, ['a']], [2, 1, [{ d: 1 }, 'bc']]]);
  assert.equal(server.text('d'), 'bc');
});

test('concurrent ops: own inflight/pending transformed left, incoming right', async () => {
  const server = new FakeServer();
  server.commit('d', 'seed', ['0123456789']);
  const a = makeClient(server);
  a.connect();
  const doc = a.doc('d');
  await doc.ready;
  doc.insert(5, 'A');       // inflight
  doc.insert(6, 'B');       // pending
  // Committed before our op reaches the server, at the same position.
  server.commit('d', 'other', [5, 'X']);
  const remote = [];
  doc.on('change', (c) => { if (c.remote) remote.push(c.op); });
  await doc.whenSynced();
  // The server transforms our late op with side left: it lands before X;
  // the client transforms the incoming X with side right: after A and B.
  assert.equal(server.text('d'), '01234ABX56789');
  assert.equal(doc.text, '01234ABX56789');
  assert.deepEqual(remote, [[7, 'X']]);
});

test('protocol errors are surfaced with code, doc and seq', async () => {
  const server = new FakeServer();
  const client = makeClient(server);
  const errors = [];
  client.on('error', (e) => errors.push(e));
  client.connect();
  const doc = client.doc('d');
  const docErrors = [];
  doc.on('error', (e) => docErrors.push(e));
  await doc.ready;
  server.hooks.onOp = () => ({ error: 'bad_op' });
  doc.insert(0, 'nope');
  await until(() => errors.length > 0, 'error');
  assert.deepEqual(errors[0], { code: 'bad_op', message: 'bad_op', doc: 'd', seq: 1 });
  assert.deepEqual(docErrors[0], errors[0]);
  // Refused for good: the local edit is dropped, the server's text wins.
  server.hooks.onOp = undefined;
  await doc.whenSynced();
  assert.equal(doc.text, '');
  doc.insert(0, 'yes');
  await doc.whenSynced();
  assert.equal(server.text('d'), 'yes');
});

test('unavailable: the same op is retried with the same seq', async () => {
  const server = new FakeServer();
  const client = makeClient(server);
  client.connect();
  const doc = client.doc('d');
  await doc.ready;
  let refusals = 2;
  server.hooks.onOp = () => (refusals-- > 0 ? { error: 'unavailable' } : undefined);
  doc.insert(0, 'x');
  await doc.whenSynced();
  assert.deepEqual(opsSent(server, 'd').map((m) => m.seq), [1, 1, 1]);
  assert.equal(server.text('d'), 'x');
});

test('overloaded: the same op is retried with the same seq after retry_after_ms', async () => {
  const server = new FakeServer();
  const client = makeClient(server);
  client.connect();
  const doc = client.doc('d');
  await doc.ready;
  let refusals = 2;
  server.hooks.onOp = () => (refusals-- > 0 ? { error: 'overloaded', retry_after_ms: 40 } : undefined);
  const t0 = Date.now();
  doc.insert(0, 'x');
  await doc.whenSynced();
  assert.ok(Date.now() - t0 >= 75, `retried after ${Date.now() - t0} ms, not after 2 x 40 ms`);
  assert.deepEqual(opsSent(server, 'd').map((m) => m.seq), [1, 1, 1]);
  assert.equal(server.text('d'), 'x');
});

test('a join answered unavailable (a node loading a storm of documents) is sent again after retry_after_ms', async () => {
  const server = new FakeServer();
  server.commit('d', 'other', ['abc']);
  let refusals = 2;
  server.hooks.onJoin = () => (refusals-- > 0 ? { error: 'unavailable', retry_after_ms: 40 } : undefined);
  const client = makeClient(server);
  const errors = [];
  client.on('error', (e) => errors.push(e.code));
  client.connect();
  const doc = client.doc('d');
  const t0 = Date.now();
  await doc.ready;
  assert.ok(Date.now() - t0 >= 75, `joined after ${Date.now() - t0} ms, not after 2 x 40 ms`);
  assert.equal(doc.text, 'abc');
  assert.equal(server.sent.filter((m) => m.type === 'join' && m.doc === 'd').length, 3);
  assert.deepEqual(errors, ['unavailable', 'unavailable']);
});

test('a join refused for good (forbidden) is not sent again', async () => {
  const server = new FakeServer();
  server.hooks.onJoin = () => ({ error: 'forbidden' });
  const client = makeClient(server);
  client.connect();
  client.doc('d');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(server.sent.filter((m) => m.type === 'join').length, 1);
});

test('a client id reused from an earlier instance skips the seqs it used', async () => {
  const server = new FakeServer();
  server.commit('d', 'dup', ['a']);
  server.commit('d', 'dup', [1, 'b']); // seqs 1 and 2 of client 'dup'
  const client = makeClient(server, { clientId: 'dup' });
  client.connect();
  const doc = client.doc('d');
  await doc.ready;
  doc.insert(2, 'c');
  await doc.whenSynced();
  assert.equal(server.text('d'), 'abc');
  assert.equal(doc.text, 'abc');
  assert.deepEqual(opsSent(server, 'd').map((m) => m.seq), [1, 2, 3]);
});

test('leave unsubscribes; client.doc(id) afterwards is a new Doc', async () => {
  const server = new FakeServer();
  const client = makeClient(server);
  client.connect();
  const doc = client.doc('d');
  await doc.ready;
  doc.leave();
  await until(() => server.doc('d').subs.size === 0, 'unsubscribed');
  const again = client.doc('d');
  assert.notEqual(again, doc);
  await again.ready;
});
