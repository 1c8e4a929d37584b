'use strict';
// Resume and exactly-once across compaction (COLLAB_OPS_RETENTION with
// COLLAB_SNAPSHOT_EVERY): once the ops behind the snapshot are deleted, a
// resume from before the horizon is answered as a plain join (`joined` with
// the text, docs/PROTOCOL.md), a resume inside the kept range is exact, and a
// client's last seq whose op was compacted is still re-acked with its
// original revision (client_seqs), never applied again.
// The store's retention job runs on a timer (60 s in pg_store_options), so
// this suite waits for it.
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { session, randomId } = require('./lib/client');
const {
  startServices, Node, fillDoc, resumeOnce, assertExactReplay, waitFor, getDoc,
} = require('./lib/durability');

const RETENTION = 20;
const SNAPSHOT_EVERY = 50;

let services;
let node;

before(async () => {
  services = await startServices('compact');
  node = await Node.create(services, {
    COLLAB_OPS_RETENTION: String(RETENTION),
    COLLAB_RETENTION_INTERVAL_MS: '1000',
    COLLAB_SNAPSHOT_EVERY: String(SNAPSHOT_EVERY),
    COLLAB_STREAM_MAXLEN: '50',
    COLLAB_HISTORY_WINDOW: '20',
    COLLAB_SNAPSHOT_QUIET_MS: '600000',
  });
  await node.start();
});

after(async () => {
  if (node) await node.kill().catch(() => {});
  if (services) await services.stop();
});

async function keptOps(doc, from) {
  const out = [];
  for (;;) {
    const r = await node.fetch(`/v1/docs/${doc}/ops?from=${from}&limit=1000`, {
      headers: { Authorization: `Bearer ${node.token()}` } });
    const text = await r.text();
    assert.equal(r.status, 200, `GET /ops from=${from}: ${text.slice(0, 200)}`);
    const body = JSON.parse(text);
    if (body.ops.length === 0) break;
    out.push(...body.ops);
    from = body.ops[body.ops.length - 1].rev;
  }
  return out;
}

test('resume from before the compaction horizon: joined with the text; exactly-once survives compaction', { timeout: 240000 }, async (t) => {
  const doc = randomId('dur-compact');
  // W commits seqs 1..5 (revs 1..5), V seqs 1..2 (revs 6..7), then both go away
  const w = await session(node, { label: 'W' });
  await w.join(doc);
  for (let s = 1; s <= 5; s++) assert.equal((await w.opAck(doc, s - 1, s, [`w${s}`])).rev, s);
  const v = await session(node, { label: 'V' });
  await v.join(doc, 5);
  assert.equal((await v.opAck(doc, 5, 1, ['v1'])).rev, 6);
  assert.equal((await v.opAck(doc, 6, 2, ['v2'])).rev, 7);
  w.close();
  v.close();

  await fillDoc(node, doc, 300, { seed: 21 });
  const final = await getDoc(node, doc);
  const N = final.rev;
  const q = (sql) => services.sql(sql).then((s) => s.trim());
  const docLit = `'${doc}'`;
  // compaction is asynchronous: wait until the old ops are gone and it settled
  let stable = 0;
  let last = '';
  const started = Date.now();
  const horizon = await waitFor(async () => {
    const row = await q(`SELECT coalesce((SELECT min(rev) FROM ops WHERE doc_id = ${docLit}), 0) || ',' || ` +
      `coalesce((SELECT oldest_rev FROM documents WHERE doc_id = ${docLit}), -1)`);
    const [minRev, oldest] = row.split(',').map(Number);
    stable = row === last ? stable + 1 : 0;
    last = row;
    return minRev > 8 && stable >= 5 ? { minRev, oldest } : null;
  }, 150000, 'ops deleted behind the snapshot (COLLAB_OPS_RETENTION)', 250);
  const snaps = await q(`SELECT string_agg(rev::text, ',' ORDER BY rev) FROM snapshots WHERE doc_id = ${docLit}`);
  t.diagnostic(`${doc}: ${N} revisions; after ${Date.now() - started} ms the op log keeps ${horizon.minRev}..${N} ` +
    `(documents.oldest_rev ${horizon.oldest}); snapshots at ${snaps}`);
  assert.equal(horizon.oldest, horizon.minRev - 1, 'documents.oldest_rev: ops (oldest_rev, head_rev] are kept');
  assert.ok(horizon.oldest <= N - RETENTION, `at least ${RETENTION} ops behind the latest snapshot are kept`);
  const from0 = await node.fetch(`/v1/docs/${doc}/ops?from=0&limit=5`, {
    headers: { Authorization: `Bearer ${node.token()}` } });
  t.diagnostic(`GET /ops?from=0 on the compacted document: HTTP ${from0.status} ${(await from0.text()).slice(0, 200)}`);

  const kept = await keptOps(doc, horizon.oldest);
  assert.deepEqual(kept.map((o) => o.rev), Array.from({ length: N - horizon.oldest }, (_, i) => horizon.oldest + 1 + i),
    'GET /ops from the horizon lists the kept ops');

  // before the horizon (and before the stream): a plain join, with the text
  const stream = await services.streamEntries(doc);
  t.diagnostic(`stream holds ${stream.length ? `${stream[0].rev}..${stream[stream.length - 1].rev}` : 'nothing'}`);
  for (const from of [0, 5, horizon.minRev - 2]) {
    if (from < 0) continue;
    const res = await resumeOnce(node, doc, from);
    if (stream.length && stream[0].rev <= from + 1) {
      // compacted in PostgreSQL but still in the stream: either answer is right
      const how = assertExactReplay(res, [...stream.filter((e) => e.rev < horizon.minRev), ...kept], from,
        { allowText: true, finalText: final.text });
      t.diagnostic(`resume from ${from} (compacted, still in the stream): answered with ${how}`);
      continue;
    }
    assert.ok(res.joined, `resume from ${from}: refused: ${JSON.stringify(res.error)}`);
    assert.equal(typeof res.joined.text, 'string',
      `resume from ${from} (ops ${from + 1}..${horizon.minRev - 1} compacted): joined without text after ${res.ops.length} ops`);
    assert.equal(res.ops.length, 0, `resume from ${from}: ops before a full-text joined`);
    assert.equal(res.joined.rev, N);
    assert.equal(res.joined.text, final.text, `resume from ${from}: the text`);
  }
  // inside the kept range: exact
  for (const from of [horizon.oldest, N - 10, N]) {
    const res = await resumeOnce(node, doc, from);
    assertExactReplay(res, kept, from);
  }

  // V never saw its ack for seq 2 (rev 7, compacted): it rejoins from 6 and
  // resends seq 2 with the same seq -> re-acked with rev 7, not applied again
  const v2 = await session(node, { client: v.clientId, label: 'V again' });
  const vj = await v2.join(doc, 6);
  assert.equal(typeof vj.text, 'string', 'V resumes from before the horizon: joined with the text');
  const va = await v2.op(doc, 6, 2, ['v2'], 15000);
  assert.deepEqual({ type: va.type, seq: va.seq, rev: va.rev }, { type: 'ack', seq: 2, rev: 7 },
    `V's compacted last seq resent: ${JSON.stringify(va)}`);
  assert.equal((await getDoc(node, doc)).rev, N, 'the resent op was not applied again');
  // W resends an older seq (3 of 1..5, compacted): never applied again; if
  // acked, with its original rev
  const w2 = await session(node, { client: w.clientId, label: 'W again' });
  await w2.join(doc);
  const wa = await w2.op(doc, 2, 3, ['w3'], 15000);
  t.diagnostic(`W resends compacted seq 3 (not its last): ${JSON.stringify(wa)}`);
  if (wa.type === 'ack') assert.equal(wa.rev, 3, 'an old seq is re-acked with its original rev');
  const wlast = await w2.op(doc, 4, 5, ['w5'], 15000);
  assert.deepEqual({ type: wlast.type, rev: wlast.rev }, { type: 'ack', rev: 5 }, `W's last seq 5 resent: ${JSON.stringify(wlast)}`);
  assert.equal((await getDoc(node, doc)).rev, N, 'resent ops were not applied again');
  const wn = await w2.opAck(doc, N, 6, ['w6'], 15000);
  assert.equal(wn.rev, N + 1, 'the next seq commits as the next revision');
  v2.close();
  w2.close();
});
