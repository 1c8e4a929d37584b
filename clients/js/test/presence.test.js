import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeServer, until } from './fake-server.js';
import { makeClient } from './helpers.js';

async function pair() {
  const server = new FakeServer();
  server.commit('d', 'seed', ['0123456789']);
  const a = makeClient(server, { clientId: 'A' });
  const b = makeClient(server, { clientId: 'B' });
  a.connect();
  b.connect();
  const da = a.doc('d');
  const db = b.doc('d');
  await Promise.all([da.ready, db.ready]);
  return { server, a, b, da, db };
}

test('presence is relayed and its selection follows remote and local ops', async () => {
  const { server, da, db } = await pair();
  const seen = [];
  db.on('presence', (p) => seen.push(p));
  da.setPresence({ index: 4, length: 2, name: 'ann' });
  await until(() => db.presence.has('A'), 'presence at B');
  assert.deepEqual(db.presence.get('A'), { user: 'u-A', data: { index: 4, length: 2, name: 'ann' } });

  // B inserts before A's selection: B's copy of it moves at once.
  db.insert(0, 'xy');
  assert.deepEqual(db.presence.get('A').data, { index: 6, length: 2, name: 'ann' });
  assert.deepEqual(seen.at(-1), { client: 'A', user: 'u-A', data: { index: 6, length: 2, name: 'ann' } });
  // A's own selection moves when B's op arrives (transformed, not resent).
  await da.whenSynced();
  await until(() => da.text === 'xy0123456789', 'op at A');
  const sentBefore = server.sent.filter((m) => m.type === 'presence').length;
  da.insert(6, 'Z'); // typing at its caret moves the caret after the insert
  await until(() => server.sent.filter((m) => m.type === 'presence').length > sentBefore, 'resent');
  const last = server.sent.filter((m) => m.type === 'presence').at(-1);
  assert.deepEqual(last.data, { index: 7, length: 2, name: 'ann' });
  await until(() => db.presence.get('A')?.data.index === 7, 'B sees the moved caret');
});

test('presence: no selection fields, null clears, gone on disconnect, back on rejoin', async () => {
  const { a, da, db } = await pair();
  da.setPresence({ name: 'ann' });
  await until(() => db.presence.has('A'), 'presence at B');
  db.insert(0, 'x');
  assert.deepEqual(db.presence.get('A').data, { name: 'ann' }, 'untouched without index/length');
  da.setPresence(null);
  await until(() => !db.presence.has('A'), 'cleared');
  da.setPresence({ index: 1, length: 0 });
  await until(() => db.presence.has('A'), 'set again');
  a.disconnect();
  await until(() => !db.presence.has('A'), 'gone with the socket');
  a.reconnect();
  await until(() => db.presence.has('A'), 'resent after rejoin');
});

test('local presence is throttled to about 20 updates a second', async () => {
  const { server, da } = await pair();
  const t0 = Date.now();
  for (let i = 0; i < 10; i++) {
    da.setPresence({ index: i, length: 0 });
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 80));
  const sent = server.sent.filter((m) => m.type === 'presence');
  const elapsed = Date.now() - t0;
  assert.ok(sent.length <= Math.ceil(elapsed / 50) + 1, `${sent.length} sent in ${elapsed} ms`);
  assert.deepEqual(sent.at(-1).data, { index: 9, length: 0 }, 'the latest wins');
});
