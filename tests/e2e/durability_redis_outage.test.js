'use strict';
// Redis stopped under write load and restarted: Redis is not on the
// durability path (docs/DESIGN.md), so editing goes on (acks keep coming), a
// client resuming during the outage is served from PostgreSQL, and once Redis
// is back new ops appear in the replay stream again. Same final checks as the
// crash suite.
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { randomId } = require('./lib/client');
const {
  sleep, mulberry32, seedFor, startServices, Node, openEditors, startLoad, settleAll,
  checkDocument, readyz, healthz, waitFor, metricsLine, resumeOnce, assertExactReplay, allOps, checkStreamAgainstLog,
} = require('./lib/durability');

const DOCS = 3;
const CLIENTS = 3;
const OUTAGE_MS = Number(process.env.E2E_OUTAGE_MS || 3000);
// Ops kept in the document actor's memory: a resume further back than this
// cannot be served from memory (only from Redis or PostgreSQL).
const WINDOW = 30;

let services;
let node;

before(async () => {
  services = await startServices('redisout');
  node = await Node.create(services, { COLLAB_HISTORY_WINDOW: String(WINDOW) });
  await node.start();
});

after(async () => {
  if (node) await node.kill().catch(() => {});
  if (services) await services.stop();
});

test('Redis down under load: editing goes on, resume from PostgreSQL, the stream resumes', { timeout: 240000 }, async (t) => {
  const seed = seedFor(t);
  const rnd = mulberry32(seed);
  const docs = Array.from({ length: DOCS }, () => randomId('dur-redisout'));
  const byDoc = await openEditors(node, docs, CLIENTS);
  const [resumerA, resumerB] = (await openEditors(node, [docs[0]], 2)).get(docs[0]);
  resumerA.label += '/resumerA';
  resumerB.label += '/resumerB';
  byDoc.get(docs[0]).push(resumerA, resumerB);
  const editors = [...byDoc.values()].flat();
  const writers = editors.filter((d) => d !== resumerA && d !== resumerB);
  const rev0 = () => byDoc.get(docs[0])[0].rev;
  const stopLoad = startLoad(editors, rnd);
  let stopBegan;
  let stopDone;
  let startBegan;
  let startDone;
  const probes = [];
  let fromA;
  let fromB;
  try {
    // before: the ops reach the stream
    await waitFor(async () => (await services.streamLen(docs[0])) > 20, 20000, 'ops in the stream of doc 0');

    resumerA.offline();
    fromA = resumerA.rev;
    stopBegan = Date.now();
    await services.stopRedis();
    stopDone = Date.now();
    assert.ok(await services.redisRaw('PING').then(() => false, () => true), 'Redis still answers after stop-redis');
    t.diagnostic(`redis stop took ${stopDone - stopBegan} ms; resumer A offline at rev ${fromA}`);

    // during: editing goes on
    await waitFor(() => rev0() >= fromA + 2 * WINDOW, 20000,
      `doc 0 to move ${2 * WINDOW} revisions past ${fromA} while Redis is down`);
    resumerB.offline();
    fromB = resumerB.rev;
    // resumer A misses more than the memory window: served from PostgreSQL
    const tA = Date.now();
    await resumerA.online();
    t.diagnostic(`resumer A rejoined from ${fromA} at ${resumerA.rev} in ${Date.now() - tA} ms during the outage`);
    assert.ok(Date.now() < stopDone + OUTAGE_MS + 5000, 'the resume took too long to stay inside the outage');
    assert.deepEqual(resumerA.problems, [], 'resumer A: problems');
    assert.deepEqual(resumerA.textOnResume, [], 'resumer A: resume answered with the full text');
    assert.ok(resumerA.rev > fromA + WINDOW, `resumer A replayed ${resumerA.rev - fromA} ops`);
    const replayed = [...resumerA.seen.keys()].filter((r) => r > fromA).sort((a, b) => a - b);
    assert.deepEqual(replayed.slice(0, resumerA.rev - fromA),
      Array.from({ length: resumerA.rev - fromA }, (_, i) => fromA + 1 + i), 'resumer A: ops fromA+1.. in order');

    while (Date.now() < stopDone + OUTAGE_MS) {
      probes.push({ t: Date.now(), readyz: await readyz(node), healthz: await healthz(node) });
      await sleep(150);
    }
    node.assertAlive();
    startBegan = Date.now();
    await services.startRedis();
    startDone = Date.now();
    const revAtStart = rev0();
    t.diagnostic(`redis start took ${startDone - startBegan} ms; doc 0 at rev ${revAtStart}`);

    // after: new ops reach the (now empty) stream again
    await waitFor(async () => {
      const revs = await services.streamRevs(docs[0]);
      return revs.length > 0 && revs[revs.length - 1] > revAtStart;
    }, 30000, `new ops of doc 0 (after rev ${revAtStart}) in the stream after Redis came back`, 100);

    // resumer B missed ops of the outage (not in the stream): exact resume
    await waitFor(() => rev0() >= fromB + 2 * WINDOW, 20000, 'doc 0 to move on');
    await resumerB.online();
    assert.deepEqual(resumerB.problems, [], 'resumer B: problems');
    assert.deepEqual(resumerB.textOnResume, [], 'resumer B: resume answered with the full text');
    await sleep(300);
  } finally {
    await stopLoad();
    if (stopDone && !startDone) await services.startRedis().catch(() => {});
  }
  await settleAll(editors, 60000);

  // acks kept coming while Redis was down, on every document
  for (const doc of docs) {
    const n = byDoc.get(doc).reduce((k, d) => k + d.acks.filter((a) => a.t > stopDone + 200 && a.t < startBegan).length, 0);
    t.diagnostic(`${doc}: ${n} acks while Redis was down`);
    assert.ok(n > 0, `${doc}: no ack while Redis was down`);
  }
  assert.deepEqual(probes.filter((p) => p.healthz !== 200), [], '/healthz 200 while Redis is down');
  t.diagnostic(`/readyz while Redis was down: ${JSON.stringify([...new Set(probes.map((p) => `${p.readyz.status} ${p.readyz.body.trim()}`))])}`);

  let total = 0;
  for (const doc of docs) {
    const r = await checkDocument(node, doc, byDoc.get(doc), { services });
    total += r.rev;
    // a lagging stream catches up: the last op reaches it
    await waitFor(async () => {
      const revs = await services.streamRevs(doc);
      return revs.length > 0 && revs[revs.length - 1] === r.rev;
    }, 15000, `the last op (rev ${r.rev}) of ${doc} in the stream`, 100);
    const entries = await services.streamEntries(doc);
    checkStreamAgainstLog(entries, r.ops, doc);
    t.diagnostic(`${doc}: ${r.rev} revisions; stream holds ${entries.length} entries ` +
      `(${entries.length ? `${entries[0].rev}..${entries[entries.length - 1].rev}` : 'none'})`);
  }
  assert.ok(total >= DOCS * 20, `too few ops committed (${total})`);
  t.diagnostic(await metricsLine(node, ['collab_redis_', 'collab_stream_']));
  for (const d of editors) d.stop();
  node.assertAlive();
});

test('Redis hung (SIGSTOP) under load: editing goes on, a resume is served without waiting for Redis', { timeout: 240000 }, async (t) => {
  const HANG_MS = Number(process.env.E2E_HANG_MS || 4000);
  const rnd = mulberry32(seedFor(t));
  const docs = Array.from({ length: DOCS }, () => randomId('dur-redishang'));
  const byDoc = await openEditors(node, docs, CLIENTS);
  const editors = [...byDoc.values()].flat();
  const writer0 = byDoc.get(docs[0])[0];
  const stopLoad = startLoad(editors, rnd);
  let frozen;
  let thawed;
  const resumes = [];
  try {
    await waitFor(async () => (await services.streamLen(docs[0])) > 3 * WINDOW, 20000, 'ops in the stream of doc 0');
    const inStream = writer0.rev - 2 * WINDOW; // in the stream, not in the actor's memory
    services.freezeRedis();
    frozen = Date.now();
    // resumes during the hang: from inside the stream and from 0
    await sleep(500);
    const log0 = await allOps(node, docs[0]);
    for (const from of [inStream, 0]) {
      const res = await resumeOnce(node, docs[0], from, { timeoutMs: 30000 });
      assertExactReplay(res, await allOps(node, docs[0]), from);
      resumes.push({ from, ops: res.ops.length, ms: Math.round(res.ms), at: Date.now() - frozen });
    }
    assert.ok(log0.length > 0);
    while (Date.now() < frozen + HANG_MS) await sleep(100);
    node.assertAlive();
    services.thawRedis();
    thawed = Date.now();
    await sleep(500);
  } finally {
    if (frozen && !thawed) services.thawRedis();
    await stopLoad();
  }
  await settleAll(editors, 60000);
  t.diagnostic(`resumes during the hang: ${JSON.stringify(resumes)}`);
  for (const r of resumes) {
    assert.ok(r.ms < 3000, `a resume of ${r.ops} ops from ${r.from} took ${r.ms} ms while Redis was hung`);
  }
  for (const doc of docs) {
    const ed = byDoc.get(doc);
    const n = ed.reduce((k, d) => k + d.acks.filter((a) => a.t > frozen + 200 && a.t < thawed).length, 0);
    // the longest pause between two acks on this document while hung
    const times = ed.flatMap((d) => d.acks.map((a) => a.t)).filter((x) => x > frozen && x < thawed).sort((a, b) => a - b);
    let gap = times.length ? times[0] - frozen : thawed - frozen;
    for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i] - times[i - 1]);
    t.diagnostic(`${doc}: ${n} acks while Redis was hung; longest pause ${gap} ms`);
    assert.ok(n > 0, `${doc}: no ack while Redis was hung`);
    assert.ok(gap < 2000, `${doc}: editing paused ${gap} ms while Redis was hung`);
  }
  for (const doc of docs) {
    const r = await checkDocument(node, doc, byDoc.get(doc), { services });
    await waitFor(async () => {
      const revs = await services.streamRevs(doc);
      return revs.length > 0 && revs[revs.length - 1] === r.rev;
    }, 15000, `the last op (rev ${r.rev}) of ${doc} in the stream`, 100);
    checkStreamAgainstLog(await services.streamEntries(doc), r.ops, doc);
  }
  t.diagnostic(await metricsLine(node, ['collab_redis_', 'collab_stream_']));
  for (const d of editors) d.stop();
  node.assertAlive();
});
