'use strict';
// Every docs/PROTOCOL.md error code, produced by the input that should produce it.
// Not here: `unavailable` needs a failing store (durability_pg_outage.test.js)
// and `internal` is a bug, not something input can cause.
// After every hostile input the node still answers /healthz and other
// clients (a sentinel pair on its own document) keep working.
require('./lib/deps');
const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { startServer, withServer } = require('./lib/server');
const { connect, session, randomId } = require('./lib/client');
const { getDoc } = require('./lib/http');

const LIMITS = {
  COLLAB_HISTORY_WINDOW: '5',
  COLLAB_MAX_DOC_BYTES: '2000',
  COLLAB_MAX_FRAME_BYTES: '65536',
};

let srv;
const sentinel = { doc: randomId('e2e-sentinel'), a: null, b: null, rev: 0, seq: 0 };

before(async () => {
  srv = await startServer(LIMITS);
  sentinel.a = await session(srv, { label: 'sentinelA' });
  sentinel.b = await session(srv, { label: 'sentinelB' });
  await sentinel.a.join(sentinel.doc);
  await sentinel.b.join(sentinel.doc);
});
after(async () => {
  if (!srv) return;
  sentinel.a?.close();
  sentinel.b?.close();
  const alive = srv.alive();
  await srv.stop();
  if (!alive) srv.assertAlive();
});

// The node is healthy and unaffected clients keep editing.
async function assertHealthy(s = srv, sent = sentinel) {
  s.assertAlive();
  const h = await s.fetch('/healthz');
  assert.equal(h.status, 200, 'healthz');
  await h.text();
  if (!sent) return;
  // the sentinel doc stays small: replace its text each time
  const op = sent.rev === 0 ? ['ok'] : ['ok', { d: 2 }];
  const ack = await sent.a.opAck(sent.doc, sent.rev, ++sent.seq, op);
  assert.equal(ack.rev, sent.rev + 1);
  sent.rev = ack.rev;
  await sent.b.next({ type: 'op', doc: sent.doc, rev: ack.rev });
}
afterEach(async () => { if (srv) await assertHealthy(); });

const newDoc = (p = 'err') => randomId(`e2e-${p}`);

// Sends raw text and awaits the error it must cause.
async function expectError(c, frame, codes, what) {
  codes = [].concat(codes);
  c.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  const e = await c.next((m) => m.type === 'error' || m.type === 'welcome' || m.type === 'joined' ||
    m.type === 'ack' || m.type === 'left' || m.type === 'pong', 10000)
    .catch((err) => { throw new Error(`${what}: ${err.message}`); });
  assert.equal(e.type, 'error', `${what}: expected error ${codes}, got ${JSON.stringify(e)}`);
  assert.ok(codes.includes(e.code), `${what}: expected ${codes.join('|')}, got ${JSON.stringify(e)}`);
  assert.equal(typeof e.message, 'string', `${what}: error has a message`);
  assert.ok(c.isOpen, `${what}: socket stays open after an error`);
  return e;
}

test('bad_request: not JSON, not an object, unknown type, missing and mistyped fields', async () => {
  const doc = newDoc();
  const c = await session(srv);
  try {
    await c.join(doc);
    const cases = [
      ['{"type":', 'truncated JSON'],
      ['hello', 'bare word'],
      ['', 'empty frame'],
      ['[1,2]', 'array'],
      ['42', 'number'],
      ['null', 'null'],
      ['"ping"', 'string'],
      [{ type: 'frobnicate' }, 'unknown type'],
      [{ type: 42 }, 'numeric type'],
      [{ doc }, 'missing type'],
      [{ type: 'join' }, 'join without doc'],
      [{ type: 'join', doc: 5 }, 'numeric doc'],
      [{ type: 'join', doc: [doc] }, 'array doc'],
      [{ type: 'join', doc, rev: 'zero' }, 'string rev on join'],
      [{ type: 'join', doc, rev: -1 }, 'negative rev on join'],
      [{ type: 'op', doc, seq: 1, op: ['a'] }, 'op without rev'],
      [{ type: 'op', doc, rev: 0, op: ['a'] }, 'op without seq'],
      [{ type: 'op', doc, rev: 0, seq: 1 }, 'op without op'],
      [{ type: 'op', rev: 0, seq: 1, op: ['a'] }, 'op without doc'],
      [{ type: 'op', doc, rev: '0', seq: 1, op: ['a'] }, 'string rev'],
      [{ type: 'op', doc, rev: 0, seq: '1', op: ['a'] }, 'string seq'],
      [{ type: 'op', doc, rev: 0, seq: 1.5, op: ['a'] }, 'fractional seq'],
      [{ type: 'op', doc, rev: 0.5, seq: 1, op: ['a'] }, 'fractional rev'],
      [{ type: 'op', doc, rev: -1, seq: 1, op: ['a'] }, 'negative rev'],
      [{ type: 'op', doc, rev: 0, seq: -1, op: ['a'] }, 'negative seq'],
      ['{"type":"op","doc":"' + doc + '","rev":0,"seq":1e400,"op":["a"]}', 'seq 1e400'],
      [{ type: 'leave' }, 'leave without doc'],
      [{ type: 'presence', doc: 7, data: null }, 'numeric presence doc'],
      [{ type: 'auth' }, 'auth without token'],
      [{ type: 'auth', token: 17 }, 'numeric auth token'],
    ];
    for (const [frame, what] of cases) await expectError(c, frame, 'bad_request', what);
    // nothing was applied by any of them
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 0, text: '' });
    // and the socket still works
    assert.equal((await c.opAck(doc, 0, 1, ['fine'])).rev, 1);
  } finally { c.close(); }
});

test('bad_request: bad document ids (join, op, presence, leave)', async () => {
  const c = await session(srv);
  try {
    const bad = ['', '/abs', 'has space', 'a'.repeat(201), 'ünï', 'a?b', 'a\\b', 'a#b', 'a:b', 'tab\t', 'a%2Fb', 'nul\u0000'];
    for (const id of bad) {
      await expectError(c, { type: 'join', doc: id }, 'bad_request', `join ${JSON.stringify(id)}`);
      await expectError(c, { type: 'op', doc: id, rev: 0, seq: 1, op: ['x'] }, 'bad_request', `op ${JSON.stringify(id)}`);
      await expectError(c, { type: 'presence', doc: id, data: null }, 'bad_request', `presence ${JSON.stringify(id)}`);
    }
    // the edges of the grammar are fine
    for (const id of ['a'.repeat(200), `x.y~z_w-v/${randomId('u')}/`, 'A9', '-', '~']) {
      const j = await c.join(id);
      assert.equal(j.doc, id);
    }
  } finally { c.close(); }
});

test('bad_request: bad client ids in hello; a good hello afterwards works', async () => {
  const bad = ['', 'a b', 'a'.repeat(65), 'a/b', 'é', 'a.b', 'a~b', 5, null];
  for (const id of bad) {
    const c = await connect(srv);
    try {
      await expectError(c, { type: 'hello', client: id, v: 1 }, 'bad_request', `client ${JSON.stringify(id)}`);
      const w = await c.hello(randomId('ok'));
      assert.equal(w.type, 'welcome');
    } finally { c.close(); }
  }
  const c = await connect(srv);
  try {
    await expectError(c, { type: 'hello', v: 1 }, 'bad_request', 'hello without client');
    const w = await c.hello('a'.repeat(64));
    assert.equal(w.type, 'welcome', '64-character client id is valid');
  } finally { c.close(); }
});

test('bad_request: anything before hello', async () => {
  const doc = newDoc();
  const c = await connect(srv);
  try {
    await expectError(c, { type: 'join', doc }, 'bad_request', 'join before hello');
    await expectError(c, { type: 'op', doc, rev: 0, seq: 1, op: ['x'] }, 'bad_request', 'op before hello');
    await expectError(c, { type: 'presence', doc, data: 1 }, 'bad_request', 'presence before hello');
    await c.hello();
    assert.deepEqual(await c.join(doc), { type: 'joined', doc, rev: 0, text: '' });
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 0, text: '' });
  } finally { c.close(); }
});

test('hostile frames: deep nesting, huge numbers, long strings, lone surrogates, invalid UTF-8', async (t) => {
  const doc = newDoc();
  const c = await session(srv);
  try {
    await c.join(doc);
    await expectError(c, '['.repeat(60000), 'bad_request', 'deeply nested arrays');
    await expectError(c, '{"a":'.repeat(8000) + '1' + '}'.repeat(8000), 'bad_request', 'deeply nested objects');
    await expectError(c, { type: 'op', doc, rev: 0, seq: 1, op: [{ d: 1 }].concat(Array(5000).fill(null)) }, ['bad_op', 'bad_request'], 'op with 5000 nulls');
    await expectError(c, `{"type":"op","doc":"${doc}","rev":18446744073709551616,"seq":1,"op":["a"]}`, ['bad_request', 'rev_ahead'], 'rev 2^64');
    await expectError(c, { type: 'op', doc, rev: 0, seq: 1, op: ['\ud800'] }, ['bad_op', 'bad_request'], 'lone surrogate insert');
    await expectError(c, { type: 'op', doc, rev: 0, seq: 1, op: [1e300, 'x'] }, ['bad_op', 'bad_request'], 'skip 1e300');
    await expectError(c, { type: 'op', doc, rev: 0, seq: 1, op: [{ d: 1e300 }] }, ['bad_op', 'bad_request'], 'delete 1e300');
    await expectError(c, { type: 'nope', extra: 'x'.repeat(50000) }, 'bad_request', 'long unknown frame');
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 0, text: '' });

    // invalid UTF-8 in a text frame: RFC 6455 fails the connection with 1007;
    // an error reply is acceptable too
    const u = await session(srv);
    await u.sendRaw(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
    const r = await Promise.race([
      u.next('error', 10000).then((m) => ({ error: m }), () => new Promise(() => {})),
      u.waitClose(10000).then((cl) => ({ close: cl })),
    ]);
    t.diagnostic(`invalid UTF-8 text frame: ${JSON.stringify(r)}`);
    if (r.close) assert.equal(r.close.code, 1007, 'invalid UTF-8 closes with 1007');
    else assert.equal(r.error.code, 'bad_request');
    u.close();
  } finally { c.close(); }
});

test('not_joined: op or presence for a document not joined (or left)', async () => {
  const doc = newDoc();
  const c = await session(srv);
  try {
    const e = await expectError(c, { type: 'op', doc, rev: 0, seq: 1, op: ['x'] }, 'not_joined', 'op, never joined');
    assert.equal(e.doc, doc);
    assert.equal(e.seq, 1);
    const p = await expectError(c, { type: 'presence', doc, data: { cursor: 1 } }, 'not_joined', 'presence, never joined');
    assert.equal(p.doc, doc);
    await c.join(doc);
    await c.opAck(doc, 0, 1, ['x']);
    c.send({ type: 'leave', doc });
    await c.next('left');
    const e2 = await expectError(c, { type: 'op', doc, rev: 1, seq: 2, op: ['y'] }, 'not_joined', 'op after leave');
    assert.equal(e2.doc, doc);
    assert.equal(e2.seq, 2);
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 1, text: 'x' });
  } finally { c.close(); }
});

test('forbidden: join outside the token docs; read-only join works but op is forbidden', async () => {
  const org = randomId('org');
  const mine = `${org}/notes`;
  const other = `${randomId('org2')}/notes`;
  const c = await session(srv, { tokenOpts: { docs: [`${org}/*`] } });
  const ro = await session(srv, { tokenOpts: { docs: [], read: [`${org}/*`] } });
  const w = await session(srv, { label: 'writer' });
  try {
    const e = await expectError(c, { type: 'join', doc: other }, 'forbidden', 'join outside docs');
    assert.equal(e.doc, other);
    const e2 = await expectError(c, { type: 'op', doc: other, rev: 0, seq: 1, op: ['x'] }, ['forbidden', 'not_joined'], 'op on a forbidden doc');
    assert.equal(e2.doc, other);
    assert.equal(e2.seq, 1);
    await c.join(mine);
    await c.opAck(mine, 0, 1, ['mine']);

    // read-only: may join (with text), receives ops, may not edit
    const j = await ro.join(mine);
    assert.equal(j.text, 'mine');
    const f = await expectError(ro, { type: 'op', doc: mine, rev: 1, seq: 1, op: ['evil'] }, 'forbidden', 'op with read-only access');
    assert.equal(f.doc, mine);
    assert.equal(f.seq, 1);
    await w.join(mine);
    await w.opAck(mine, 1, 1, [4, '!']);
    const seen = await ro.next({ type: 'op', doc: mine });
    assert.equal(seen.rev, 2);
    assert.deepEqual(await getDoc(srv, mine), { doc: mine, rev: 2, text: 'mine!' });

    // read patterns do not grant anything outside them
    await expectError(ro, { type: 'join', doc: other }, 'forbidden', 'read-only join outside read');
  } finally { c.close(); ro.close(); w.close(); }
});

test('forbidden: `*` patterns match any run of characters, everything else literally', async () => {
  const p = randomId('pat');
  const c = await session(srv, { tokenOpts: { docs: [`${p}-*-end`, `${p}.x`] } });
  try {
    for (const ok of [`${p}-a-end`, `${p}--end`, `${p}-a/b/c-end`, `${p}.x`]) {
      assert.equal((await c.join(ok)).doc, ok);
    }
    for (const bad of [`${p}-a-endx`, `${p}-end`, `${p}Ax`, `${p}.xy`, `x${p}-a-end`]) {
      const e = await expectError(c, { type: 'join', doc: bad }, 'forbidden', `join ${bad}`);
      assert.equal(e.doc, bad);
    }
  } finally { c.close(); }
});

test('bad_op: malformed ops, and ops that do not fit the document', async () => {
  const doc = newDoc();
  const c = await session(srv);
  try {
    await c.join(doc);
    const malformed = [[0], [{ d: 0 }], [1], [-3, 'a'], [{ x: 1 }], [null], [''], [1, 2, 'a'], [[1]], [{ d: '' }], ['a', 0], [true]];
    for (const op of malformed) {
      const e = await expectError(c, { type: 'op', doc, rev: 0, seq: 1, op }, 'bad_op', `op ${JSON.stringify(op)}`);
      assert.equal(e.doc, doc);
      assert.equal(e.seq, 1);
    }
    for (const op of ['abc', {}, 5]) {
      await expectError(c, { type: 'op', doc, rev: 0, seq: 1, op }, ['bad_op', 'bad_request'], `op ${JSON.stringify(op)}`);
    }
    await c.opAck(doc, 0, 1, ['abc']);
    const unfit = [[5, 'x'], [4, 'x'], [{ d: 10 }], [2, { d: 5 }], [3, { d: 1 }], [{ d: 4 }]];
    for (const op of unfit) {
      const e = await expectError(c, { type: 'op', doc, rev: 1, seq: 2, op }, 'bad_op', `op ${JSON.stringify(op)} on "abc"`);
      assert.equal(e.doc, doc);
      assert.equal(e.seq, 2);
    }
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 1, text: 'abc' });
    // a fitting op with the same seq is then fine: insert at the very end, delete all
    assert.equal((await c.opAck(doc, 1, 2, [3, 'x'])).rev, 2);
    assert.equal((await c.opAck(doc, 2, 3, [{ d: 4 }])).rev, 3);
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 3, text: '' });
  } finally { c.close(); }
});

test('bad_op: an op that fits its base rev but not after transform is judged after transform', async () => {
  // A deletes 'bc' (rev 2); B, still on rev 1, deletes 'c' and inserts: the
  // transformed op must fit. Then B sends an op that does not fit rev 1 at all.
  const doc = newDoc();
  const a = await session(srv);
  const b = await session(srv);
  try {
    await a.join(doc);
    await b.join(doc);
    await a.opAck(doc, 0, 1, ['abc']);
    await a.opAck(doc, 1, 2, [1, { d: 2 }]);
    const ack = await b.opAck(doc, 1, 1, [2, { d: 1 }, 'Z']);
    assert.equal(ack.rev, 3);
    assert.equal((await getDoc(srv, doc)).text, 'aZ');
    const e = await expectError(b, { type: 'op', doc, rev: 1, seq: 2, op: [9, 'x'] }, 'bad_op', 'op past the end of its base');
    assert.equal(e.seq, 2);
  } finally { a.close(); b.close(); }
});

test('seq_gap: a seq that is neither committed nor the next one', async () => {
  const doc = newDoc();
  const c = await session(srv);
  try {
    await c.join(doc);
    const e = await expectError(c, { type: 'op', doc, rev: 0, seq: 5, op: ['x'] }, 'seq_gap', 'seq 5 first');
    assert.equal(e.doc, doc);
    assert.equal(e.seq, 5);
    await c.opAck(doc, 0, 1, ['x']);
    await expectError(c, { type: 'op', doc, rev: 1, seq: 3, op: ['x'] }, 'seq_gap', 'seq 3 after 1');
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 1, text: 'x' });
  } finally { c.close(); }
});

test('rev_ahead: op base or join rev the document never had', async () => {
  const doc = newDoc();
  const c = await session(srv);
  try {
    await c.join(doc);
    const e = await expectError(c, { type: 'op', doc, rev: 1, seq: 1, op: ['x'] }, 'rev_ahead', 'op base 1 on rev 0');
    assert.equal(e.doc, doc);
    assert.equal(e.seq, 1);
    await expectError(c, { type: 'op', doc, rev: 9007199254740991, seq: 1, op: ['x'] }, 'rev_ahead', 'op base 2^53-1');
    await c.opAck(doc, 0, 1, ['x']);
    const c2 = await session(srv);
    const j = await expectError(c2, { type: 'join', doc, rev: 2 }, 'rev_ahead', 'join rev 2 on rev 1');
    assert.equal(j.doc, doc);
    c2.close();
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 1, text: 'x' });
  } finally { c.close(); }
});

test('rev_too_old: base older than COLLAB_HISTORY_WINDOW=5', async () => {
  const doc = newDoc();
  const a = await session(srv);
  const b = await session(srv);
  try {
    await a.join(doc);
    await b.join(doc);
    let rev = 0;
    for (let i = 1; i <= 12; i++) rev = (await a.opAck(doc, rev, i, rev === 0 ? ['a'] : [rev, 'a'])).rev;
    const e = await expectError(b, { type: 'op', doc, rev: 0, seq: 1, op: ['old'] }, 'rev_too_old', 'base 0 of 12, window 5');
    assert.equal(e.doc, doc);
    assert.equal(e.seq, 1);
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 12, text: 'a'.repeat(12) });
    // within the window: transformed and applied (seq 1 is still the next one)
    const ack = await b.opAck(doc, 10, 1, ['new']);
    assert.equal(ack.rev, 13);
    assert.equal((await getDoc(srv, doc)).text, `new${'a'.repeat(12)}`);
    // a join far behind still works: replay or full text
    const c = await session(srv);
    c.send({ type: 'join', doc, rev: 0 });
    const j = await c.next({ type: 'joined', doc });
    assert.equal(j.rev, 13);
    const replayed = c.all.filter((m) => m.type === 'op').map((m) => m.rev);
    if ('text' in j) assert.deepEqual(replayed, [], 'full text: no replay before it');
    else assert.deepEqual(replayed, Array.from({ length: 13 }, (_, i) => i + 1));
    c.close();
  } finally { a.close(); b.close(); }
});

test('rev_too_old: the client leaves, joins again and rebases', async () => {
  const doc = newDoc();
  const a = await session(srv);
  const b = await session(srv);
  try {
    await a.join(doc);
    await b.join(doc);
    let rev = 0;
    for (let i = 1; i <= 8; i++) rev = (await a.opAck(doc, rev, i, rev === 0 ? ['a'] : [rev, 'a'])).rev;
    await expectError(b, { type: 'op', doc, rev: 0, seq: 1, op: ['old'] }, 'rev_too_old', 'base 0 of 8, window 5');
    b.send({ type: 'leave', doc });
    await b.next('left');
    b.drain();
    const j = await b.join(doc);
    assert.deepEqual(j, { type: 'joined', doc, rev: 8, text: 'a'.repeat(8) });
    assert.equal((await b.opAck(doc, 8, 1, ['old'])).rev, 9);
  } finally { a.close(); b.close(); }
});

test('rev_too_old: "rejoin" as a join on the same socket (ShareDB re-subscribes idempotently)', async () => {
  const doc = newDoc();
  const a = await session(srv);
  const b = await session(srv);
  try {
    await a.join(doc);
    await b.join(doc);
    let rev = 0;
    for (let i = 1; i <= 8; i++) rev = (await a.opAck(doc, rev, i, rev === 0 ? ['a'] : [rev, 'a'])).rev;
    await expectError(b, { type: 'op', doc, rev: 0, seq: 1, op: ['old'] }, 'rev_too_old', 'base 0 of 8, window 5');
    b.drain();
    const j = await b.join(doc);
    assert.deepEqual(j, { type: 'joined', doc, rev: 8, text: 'a'.repeat(8) });
    assert.equal((await b.opAck(doc, 8, 1, ['old'])).rev, 9);
    // and the session is subscribed once: the next op arrives once
    await a.opAck(doc, 9, 9, ['!']);
    await b.next({ type: 'op', doc, rev: 10 });
    await a.opAck(doc, 10, 10, ['!']);
    await b.next({ type: 'op', doc, rev: 11 });
    assert.equal(b.all.filter((m) => m.type === 'op' && m.rev === 10).length, 1);
  } finally { a.close(); b.close(); }
});

test('too_large: an op that makes the document exceed COLLAB_MAX_DOC_BYTES=2000', async () => {
  const doc = newDoc();
  const c = await session(srv);
  try {
    await c.join(doc);
    await c.opAck(doc, 0, 1, ['a'.repeat(1500)]);
    const e = await expectError(c, { type: 'op', doc, rev: 1, seq: 2, op: [1500, 'b'.repeat(600)] }, 'too_large', '1500 + 600 bytes');
    assert.equal(e.doc, doc);
    assert.equal(e.seq, 2);
    assert.deepEqual(await getDoc(srv, doc), { doc, rev: 1, text: 'a'.repeat(1500) });
    assert.equal((await c.opAck(doc, 1, 2, [1500, 'c'.repeat(300)])).rev, 2);
    // an op bigger than the limit by itself
    await expectError(c, { type: 'op', doc, rev: 2, seq: 3, op: ['d'.repeat(2500), { d: 1800 }] }, 'too_large', '2500-byte replacement');
    assert.equal((await getDoc(srv, doc)).rev, 2);
  } finally { c.close(); }
});

test('too_large: the document size counts UTF-8 bytes, not code points', async () => {
  const doc = newDoc();
  const c = await session(srv);
  try {
    await c.join(doc);
    await c.opAck(doc, 0, 1, ['a'.repeat(1800)]);
    // 80 × '字' = 80 code points, 160 UTF-16 bytes, 240 UTF-8 bytes: 2040 > 2000
    const e = await expectError(c, { type: 'op', doc, rev: 1, seq: 2, op: ['字'.repeat(80)] }, 'too_large', '1800 + 240 UTF-8 bytes');
    assert.equal(e.seq, 2);
    assert.equal((await getDoc(srv, doc)).rev, 1);
  } finally { c.close(); }
});

test('too_large: presence data over 4 KiB', async () => {
  const doc = newDoc();
  const c = await session(srv);
  try {
    await c.join(doc);
    const e = await expectError(c, { type: 'presence', doc, data: { s: 'x'.repeat(4200) } }, 'too_large', 'presence 4.2 KB');
    assert.equal(e.doc, doc);
    c.send({ type: 'presence', doc, data: { s: 'x'.repeat(3500) } });
    await c.expectNone('error', 300);
  } finally { c.close(); }
});

test('rate_limited: a burst over COLLAB_RATE_LIMIT is refused, the op not applied; later the same seq works', async (t) => {
  await withServer({ COLLAB_RATE_LIMIT: '5', COLLAB_RATE_BURST: '5' }, async (s) => {
    const doc = newDoc();
    const sub = randomId('user');
    const c = await session(s, { tokenOpts: { sub } });
    await c.join(doc);
    for (let i = 0; i < 30; i++) c.send({ type: 'ping' });
    c.send({ type: 'op', doc, rev: 0, seq: 1, op: ['burst'] });
    const e = await c.next({ type: 'error', code: 'rate_limited' });
    t.diagnostic(`first rate_limited: ${JSON.stringify(e)}`);
    const opAnswer = await c.next((m) => m.seq === 1 && (m.type === 'ack' || m.type === 'error'));
    assert.equal(opAnswer.type, 'error', `the op in the burst must be refused: ${JSON.stringify(opAnswer)}`);
    assert.equal(opAnswer.code, 'rate_limited');
    assert.equal(opAnswer.doc, doc);
    // When the bucket holds a message again: at 5 a second, within ~7 s
    // for the whole burst's debt, and never 0.
    assert.ok(Number.isInteger(opAnswer.retry_after_ms) && opAnswer.retry_after_ms >= 1 && opAnswer.retry_after_ms <= 7000,
      `retry_after_ms ${opAnswer.retry_after_ms}`);
    const pongs = c.all.filter((m) => m.type === 'pong').length;
    assert.ok(pongs < 30, `only part of the burst was served (${pongs} pongs)`);
    assert.ok(c.isOpen, 'a rate-limited socket stays open');
    const d = await getDoc(s, doc);
    assert.deepEqual(d, { doc, rev: 0, text: '' }, 'the rate-limited op was not applied');
    // the bucket refills: retrying the same seq eventually succeeds
    let ack = null;
    for (let i = 0; i < 20 && !ack; i++) {
      await new Promise((r) => setTimeout(r, 500));
      c.drain();
      const m = await c.op(doc, 0, 1, ['burst']);
      if (m.type === 'ack') ack = m;
      else assert.equal(m.code, 'rate_limited');
    }
    assert.deepEqual(ack, { type: 'ack', doc, seq: 1, rev: 1 });
    // another connection (same user) was never limited by this one: the
    // limit is per connection
    const o = await session(s, { tokenOpts: { sub } });
    await o.join(doc);
    assert.equal((await o.opAck(doc, 1, 1, ['x'])).rev, 2);
    await assertHealthy(s, null);
    c.close();
    o.close();
  });
});

test('token_expired: error, then close 4001 when the token expires on an open socket', async () => {
  const exp = Math.floor(Date.now() / 1000) + 2;
  const doc = newDoc();
  const c = await session(srv, { tokenOpts: { exp } });
  try {
    await c.join(doc);
    assert.deepEqual(await c.ping(), { type: 'pong' });
    const e = await c.next({ type: 'error', code: 'token_expired' }, 15000);
    assert.ok(Date.now() >= exp * 1000 - 1000, 'not before exp');
    assert.equal(typeof e.message, 'string');
    const cl = await c.waitClose(5000);
    assert.equal(cl.code, 4001);
    const errIdx = c.all.findIndex((m) => m.type === 'error' && m.code === 'token_expired');
    assert.ok(errIdx >= 0);
  } finally { c.close(); }
});

test('auth: a fresh token sent before expiry keeps the socket open', async () => {
  const exp = Math.floor(Date.now() / 1000) + 2;
  const doc = newDoc();
  const sub = randomId('user');
  const c = await session(srv, { tokenOpts: { exp, sub } });
  try {
    await c.join(doc);
    c.send({ type: 'auth', token: srv.token({ sub, ttl: 120 }) });
    // wait past the first token's expiry (plus the server's check interval)
    const until = exp * 1000 + 4000;
    const bad = await c.maybe((m) => m.type === 'error', until - Date.now());
    assert.equal(bad, null, `no error after auth: ${JSON.stringify(bad)}`);
    assert.equal(c.closeInfo, null, 'still open');
    assert.deepEqual(await c.ping(), { type: 'pong' });
    assert.equal((await c.opAck(doc, 0, 1, ['still here'])).rev, 1);
  } finally { c.close(); }
});

test('frame over COLLAB_MAX_FRAME_BYTES: close 1009', async () => {
  const c = await session(srv);
  try {
    c.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(70000) }));
    const cl = await c.waitClose(10000);
    assert.equal(cl.code, 1009);
  } finally { c.terminate(); }
  // a frame just under the limit is fine (answered with an error, not a close)
  const d = await session(srv);
  try {
    d.send(JSON.stringify({ type: 'nope', pad: 'x'.repeat(60000) }));
    assert.equal((await d.next('error')).code, 'bad_request');
    assert.ok(d.isOpen);
  } finally { d.close(); }
});

test('default frame limit is 1 MiB: a larger frame closes 1009, a smaller one is read', async () => {
  await withServer({}, async (s) => {
    const ok = await session(s);
    ok.send(JSON.stringify({ type: 'nope', pad: 'x'.repeat(1000 * 1000) }));
    assert.equal((await ok.next('error')).code, 'bad_request');
    ok.close();
    const big = await session(s);
    // well over the limit, so that the client is still sending when the
    // server refuses the frame (the close handshake must survive that)
    big.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(4 * 1024 * 1024) }));
    assert.equal((await big.waitClose(10000)).code, 1009);
    await assertHealthy(s, null);
  });
});

test('binary frame: a protocol error', async (t) => {
  const c = await session(srv);
  try {
    await c.sendRaw(Buffer.from(JSON.stringify({ type: 'ping' })), { binary: true });
    const r = await Promise.race([
      c.next((m) => m.type === 'error' || m.type === 'pong', 10000).then((m) => ({ msg: m }), () => new Promise(() => {})),
      c.waitClose(10000).then((cl) => ({ close: cl })),
    ]);
    t.diagnostic(`binary frame answered with ${JSON.stringify(r)}`);
    if (r.msg) {
      assert.equal(r.msg.type, 'error', 'a binary frame is not processed as a message');
      assert.equal(r.msg.code, 'bad_request');
    } else {
      assert.ok([1003, 1002, 1008].includes(r.close.code), `close code for a binary frame: ${r.close.code}`);
    }
  } finally { c.close(); }
});
