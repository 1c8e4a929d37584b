import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeServer, until } from './fake-server.js';
import { makeClient, opsSent } from './helpers.js';

// Joins 'd' with text `initial` and returns { server, client, doc }.
async function setup(initial = 'abc', opts = {}) {
  const server = new FakeServer();
  if (initial) server.commit('d', 'seed', [initial]);
  const client = makeClient(server, opts);
  client.connect();
  const doc = client.doc('d');
  await doc.ready;
  return { server, client, doc };
}

// The next op from the client meets `fate` ('drop' or 'lose'), then the
// connection dies abruptly.
function failNextOp(server, fate) {
  server.hooks.onOp = (sock) => {
    server.hooks.onOp = undefined;
    setImmediate(() => sock.serverClose(1006));
    return fate;
  };
}

test('unacked op committed before the drop: the replayed own op is its ack, no resend', async () => {
  const { server, client, doc } = await setup();
  failNextOp(server, 'drop');
  doc.insert(3, 'X');
  await until(() => client.status === 'connecting', 'the drop');
  server.commit('d', 'other', ['>']); // committed after ours
  await until(() => client.status === 'connected' && doc.state === 'synced', 'resync');
  assert.equal(server.text('d'), '>abcX');
  assert.equal(doc.text, '>abcX');
  assert.equal(doc.rev, 3);
  assert.deepEqual(opsSent(server, 'd').map((m) => m.seq), [1], 'not sent twice');
  const joins = server.sent.filter((m) => m.type === 'join');
  assert.deepEqual(joins.map((m) => m.rev), [undefined, 1], 'resumed from rev 1');
});

test('unacked op lost before the server: resent with the same seq after resume', async () => {
  const { server, client, doc } = await setup();
  failNextOp(server, 'lose');
  doc.insert(0, 'X');
  doc.insert(4, 'Y'); // pending behind the lost op
  await until(() => client.status === 'connecting', 'the drop');
  server.commit('d', 'other', [3, '!']);
  await until(() => client.status === 'connected' && doc.state === 'synced', 'resync');
  assert.equal(server.text('d'), 'XabcY!');
  assert.equal(doc.text, server.text('d'));
  assert.equal([...server.text('d')].filter((ch) => ch === 'X').length, 1);
  const sent = opsSent(server, 'd');
  assert.deepEqual(sent.map((m) => m.seq), [1, 1, 2], 'seq 1 resent, then the pending op');
  assert.equal(sent[1].rev, 2, 'resent on the resumed rev');
});

test('a duplicate send is re-acked by the server and taken as the ack', async () => {
  const { server, doc } = await setup();
  // The server commits and loses the ack, but the socket stays: the client's
  // own resend after a not_joined error must be deduped and re-acked.
  let n = 0;
  server.hooks.onOp = () => (++n === 1 ? 'drop' : undefined);
  doc.insert(0, 'X');
  await until(() => server.text('d') === 'Xabc', 'commit');
  doc._onError({ type: 'error', code: 'unavailable', doc: 'd', seq: 1 }); // prompts a resend
  await doc.whenSynced();
  assert.equal(server.text('d'), 'Xabc');
  assert.equal(doc.text, 'Xabc');
  assert.equal(doc.rev, 2);
});

test('offline typing composes into pending and merges on reconnect', async () => {
  const { server, client, doc } = await setup('hello');
  const statuses = [];
  client.on('status', (s) => statuses.push(s));
  client.disconnect();
  assert.equal(client.status, 'offline');
  doc.insert(5, ' world');
  doc.insert(0, '¡');
  doc.delete(1, 1);
  assert.equal(doc.text, '¡ello world');
  assert.equal(doc.state, 'joining');
  server.commit('d', 'other', [5, '!']);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(opsSent(server, 'd').length, 0, 'nothing sent while offline');
  client.reconnect();
  await until(() => doc.state === 'synced', 'synced');
  // Our offline insert and theirs meet at 5: ours was submitted later, so the
  // server puts it first (side left), and the client agrees (theirs: right).
  assert.equal(server.text('d'), '¡ello world!');
  assert.equal(doc.text, server.text('d'));
  assert.equal(opsSent(server, 'd').length, 1, 'the offline edits went out as one op');
  assert.deepEqual(statuses, ['offline', 'connecting', 'connected']);
});

test('resume too old, no inflight: pending is rebased onto the joined text', async () => {
  const { server, client, doc } = await setup('hello');
  client.disconnect();
  doc.insert(5, '!');
  server.commit('d', 'other', [{ d: 1 }, 'J']);
  server.commit('d', 'other', [5, ' world']);
  server.replayFrom = 100; // nothing can be replayed
  client.reconnect();
  await until(() => doc.state === 'synced', 'synced');
  // The diff hello -> Jello world keeps 'ello' and inserts ' world' where our
  // '!' went: ours first, as for any concurrent insert at one place.
  assert.equal(server.text('d'), 'Jello! world');
  assert.equal(doc.text, server.text('d'));
  assert.ok(server.sent.some((m) => m.type === 'join' && m.rev === 1), 'a resume was tried');
});

test('resume too old, inflight committed before: probe is re-acked, nothing duplicated', async () => {
  const { server, client, doc } = await setup('abc');
  failNextOp(server, 'drop');
  doc.insert(3, 'X');
  await until(() => client.status === 'connecting', 'the drop');
  doc.insert(0, 'P'); // offline, pending
  server.commit('d', 'other', [1, '-']);
  server.replayFrom = 100;
  await until(() => client.status === 'connected' && doc.state === 'synced', 'resync');
  assert.equal(server.text('d'), 'Pa-bcX');
  assert.equal(doc.text, server.text('d'));
  const seqs = opsSent(server, 'd').map((m) => m.seq);
  assert.deepEqual(seqs, [1, 1, 2], 'probe with seq 1, then the pending op');
});

test('resume too old, inflight not committed: probe commits it once', async () => {
  const { server, client, doc } = await setup('abc');
  failNextOp(server, 'lose');
  doc.insert(3, 'X');
  await until(() => client.status === 'connecting', 'the drop');
  server.commit('d', 'other', [1, '-']);
  server.replayFrom = 100;
  const changes = [];
  doc.on('change', (c) => changes.push(c));
  await until(() => client.status === 'connected' && doc.state === 'synced', 'resync');
  assert.equal(server.text('d'), 'a-bcX');
  assert.equal(doc.text, 'a-bcX');
  assert.ok(changes.every((c) => c.remote), 'the rebase is a remote change');
});

test('rev_too_old on an op: full rejoin and rebase', async () => {
  const { server, doc } = await setup('abc');
  let n = 0;
  server.hooks.onOp = () => (++n === 1 ? { error: 'rev_too_old' } : undefined);
  doc.insert(0, 'X');
  await doc.whenSynced();
  assert.equal(server.text('d'), 'Xabc');
  assert.equal(doc.text, 'Xabc');
  assert.ok(server.sent.filter((m) => m.type === 'join').length >= 2, 'rejoined');
});
