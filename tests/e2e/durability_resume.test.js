'use strict';
// Exact resume (docs/DESIGN.md contract 4; docs/PROTOCOL.md join with rev): from the
// actor's memory, from inside the Redis stream, from before the stream's
// start (PostgreSQL), with commits going on during a long replay, and after a
// kill -9. Prints the time to resume a client that missed 1,000 ops (p50/p99).
// (From before the compaction horizon: durability_compaction.test.js.)
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { session, randomId } = require('./lib/client');
const {
  sleep, mulberry32, startServices, Node, ResilientDoc, startLoad, settleAll, fillDoc,
  resumeOnce, assertExactReplay, percentile, waitFor, getDoc, allOps, readyz,
} = require('./lib/durability');

// Ops kept in the document actor's memory: resumes further back than this
// must come from Redis or PostgreSQL.
const WINDOW = 20;
const MAXLEN = 50;

let services;
let node;

before(async () => {
  services = await startServices('resume');
  node = await Node.create(services, {
    COLLAB_HISTORY_WINDOW: String(WINDOW),
    COLLAB_STREAM_MAXLEN: String(MAXLEN),
    COLLAB_SNAPSHOT_QUIET_MS: '600000',
  });
  await node.start();
});

after(async () => {
  if (node) await node.kill().catch(() => {});
  if (services) await services.stop();
});

async function restart(extraEnv = {}) {
  await node.stop();
  await node.start(extraEnv);
}

const fill = (doc, target, opts) => fillDoc(node, doc, target, opts);

async function streamRange(doc) {
  const revs = await services.streamRevs(doc);
  return revs.length ? { first: revs[0], last: revs[revs.length - 1], len: revs.length } : null;
}

let docA;     // 300+ ops, stream trimmed to ~MAXLEN
let logA;

test('resume from memory, inside the Redis stream, before its start, from 0, at head; rev_ahead', { timeout: 180000 }, async (t) => {
  docA = randomId('dur-resume-a');
  await fill(docA, 300);
  logA = await allOps(node, docA);
  const N = logA.length;
  const final = await getDoc(node, docA);
  assert.equal(final.rev, N);
  // the stream holds the newest ops only (COLLAB_STREAM_MAXLEN, approximate trim)
  const range = await waitFor(async () => {
    const r = await streamRange(docA);
    return r && r.last === N ? r : null;
  }, 15000, 'the stream to hold the newest op');
  t.diagnostic(`${docA}: ${N} revisions; stream holds ${range.first}..${range.last} (${range.len} entries)`);
  assert.ok(range.first > 12, `COLLAB_STREAM_MAXLEN=${MAXLEN}: the stream was not trimmed (it starts at ${range.first})`);
  assert.ok(N - range.first >= 40, `stream too short to test a resume from inside it (${range.first}..${range.last})`);

  const cases = [
    ['head', N],
    ['memory', N - 5],
    ['stream (beyond the memory window)', N - 40],
    ['stream start', range.first - 1],
    ['just before the stream', range.first - 2],
    ['PostgreSQL', 10],
    ['from 0', 0],
  ];
  for (const [what, from] of cases) {
    const res = await resumeOnce(node, docA, from);
    assertExactReplay(res, logA, from);
    assert.equal(res.joined.rev, N, `${what}: joined at the head`);
    t.diagnostic(`resume from ${from} (${what}): ${res.ops.length} ops in ${res.ms.toFixed(1)} ms`);
  }

  // the stream alone serves a range it holds: with PostgreSQL stopped, a
  // resume from inside the stream (beyond the actor's memory) is still exact
  await services.stopPg();
  try {
    for (const from of [N - 40, range.first - 1]) {
      const res = await resumeOnce(node, docA, from, { timeoutMs: 30000 });
      assertExactReplay(res, logA, from);
      t.diagnostic(`resume from ${from} with PostgreSQL stopped (stream only): ${res.ops.length} ops in ${res.ms.toFixed(1)} ms`);
    }
  } finally {
    await services.startPg();
  }
  await waitFor(async () => (await readyz(node)).status === 200, 30000, '/readyz 200 after PostgreSQL is back', 100);

  for (const from of [N + 1, N + 1000]) {
    const res = await resumeOnce(node, docA, from);
    assert.ok(res.error, `resume from ${from} (ahead of ${N}) was accepted: ${JSON.stringify(res.joined)}`);
    assert.equal(res.error.code, 'rev_ahead', `resume from ${from}`);
    assert.equal(res.error.doc, docA);
  }
});

test('commits going on during a long replay: every rev exactly once, in order, no gap at the seam', { timeout: 240000 }, async (t) => {
  const doc = randomId('dur-resume-live');
  const writers = await fill(doc, 1500, { close: false, seed: 11 });
  const N0 = writers[0].rev;
  const rnd = mulberry32(12);
  const stopLoad = startLoad(writers, rnd, { minPause: 1, maxPause: 4 });
  const resumers = [];
  try {
    await waitFor(() => writers[0].rev >= N0 + 20, 20000, 'commits going on');
    for (const from of [0, N0 - 1000, N0 - 300, N0 - 30, N0 - 5]) {
      const c = await session(node, { label: `resumer-from-${from}` });
      c.send({ type: 'join', doc, rev: from });
      resumers.push({ from, c });
      await sleep(50 + Math.floor(rnd() * 100));
    }
    await Promise.all(resumers.map(({ c }) => c.next({ type: 'joined', doc }, 60000)));
    await waitFor(() => writers[0].rev >= N0 + 200, 60000, 'more commits after the resumes joined');
  } finally {
    await stopLoad();
  }
  await settleAll(writers, 30000);
  const final = await getDoc(node, doc);
  const log = await allOps(node, doc);
  assert.equal(log.length, final.rev);
  for (const { from, c } of resumers) {
    await waitFor(() => c.all.some((m) => m.type === 'op' && m.doc === doc && m.rev === final.rev),
      30000, `resumer from ${from} to see rev ${final.rev}`);
    const mine = c.all.filter((m) => m.doc === doc && (m.type === 'op' || m.type === 'joined' || m.type === 'error'));
    assert.deepEqual(mine.filter((m) => m.type === 'error'), [], `resumer from ${from}: errors`);
    const joinedAt = mine.findIndex((m) => m.type === 'joined');
    const joined = mine[joinedAt];
    assert.ok(!('text' in joined), `resumer from ${from}: answered with the full text`);
    const revs = mine.filter((m) => m.type === 'op').map((m) => m.rev);
    assert.deepEqual(revs, Array.from({ length: final.rev - from }, (_, i) => from + 1 + i),
      `resumer from ${from}: revisions ${from + 1}..${final.rev}, each once, in order`);
    assert.equal(joinedAt, joined.rev - from, `resumer from ${from}: joined at ${joined.rev} after ${joinedAt} ops`);
    for (const m of mine) {
      if (m.type !== 'op') continue;
      const o = log[m.rev - 1];
      assert.deepEqual({ client: m.client, seq: m.seq, op: m.op }, { client: o.client, seq: o.seq, op: o.op },
        `resumer from ${from}: rev ${m.rev} differs from the log`);
    }
    t.diagnostic(`resume from ${from}: ${joinedAt} ops replayed, joined at ${joined.rev}, ` +
      `${revs.length - joinedAt} live ops after it (final ${final.rev})`);
    c.close();
  }
  for (const d of writers) d.stop();
});

test('resume after kill -9 and restart', { timeout: 120000 }, async (t) => {
  assert.ok(docA, 'needs the first test');
  await node.kill('SIGKILL');
  await node.start();
  const N = logA.length;
  const final = await getDoc(node, docA);
  assert.equal(final.rev, N, 'the revision survived kill -9');
  for (const from of [N - 40, 10, N - 3, N]) {
    const res = await resumeOnce(node, docA, from);
    assertExactReplay(res, logA, from);
    assert.equal(res.joined.rev, N);
    t.diagnostic(`after kill -9: resume from ${from}: ${res.ops.length} ops in ${res.ms.toFixed(1)} ms`);
  }
  // the first thing after a restart being a resume (document not yet active)
  await node.kill('SIGKILL');
  await node.start();
  const res = await resumeOnce(node, docA, N - 100);
  assertExactReplay(res, logA, N - 100);
  t.diagnostic(`cold resume of 100 ops right after a restart: ${res.ms.toFixed(1)} ms`);
});

// Resume of a client that missed 1,000 ops: join with rev -> joined.
async function measure(t, doc, what, tries = 20) {
  const d = await getDoc(node, doc);
  const from = d.rev - 1000;
  assert.ok(from >= 0);
  const times = [];
  for (let i = 0; i < tries; i++) {
    const c = await session(node, { label: `measure-${i}` });
    const res = await resumeOnce(node, doc, from, { client: c });
    assert.ok(res.joined && !('text' in res.joined), `${what}: resume refused or answered with text`);
    assert.equal(res.ops.length, 1000, `${what}: ops replayed`);
    times.push(res.ms);
  }
  times.sort((a, b) => a - b);
  const line = `resume of 1,000 missed ops (${what}): p50 ${percentile(times, 50).toFixed(1)} ms, ` +
    `p99 ${percentile(times, 99).toFixed(1)} ms, min ${times[0].toFixed(1)}, max ${times[times.length - 1].toFixed(1)} (${tries} tries)`;
  console.log(line);
  t.diagnostic(line);
  return times;
}

test('figure: time to resume a client that missed 1,000 ops (p50/p99)', { timeout: 300000 }, async (t) => {
  // stream path: the actor keeps WINDOW ops, the stream all of them
  await restart({ COLLAB_STREAM_MAXLEN: '10000', COLLAB_HISTORY_WINDOW: String(WINDOW) });
  const doc = randomId('dur-resume-figure');
  await fill(doc, 1100, { seed: 31 });
  const range = await waitFor(async () => {
    const r = await streamRange(doc);
    return r && r.first === 1 && r.last >= 1100 ? r : null;
  }, 15000, 'the whole history in the stream');
  t.diagnostic(`stream holds ${range.first}..${range.last}`);
  // (that 1,000 ops come from the stream: exact with PostgreSQL stopped)
  const log = await allOps(node, doc);
  await services.stopPg();
  try {
    const res = await resumeOnce(node, doc, log.length - 1000, { timeoutMs: 30000 });
    assertExactReplay(res, log, log.length - 1000);
  } finally {
    await services.startPg();
  }
  await waitFor(async () => (await readyz(node)).status === 200, 30000, '/readyz 200 after PostgreSQL is back', 100);
  await measure(t, doc, `Redis stream; actor keeps ${WINDOW}`);

  // PostgreSQL path: no stream
  await services.redisRaw('DEL', `collab:{${doc}}:ops`);
  await measure(t, doc, `PostgreSQL; no stream; actor keeps ${WINDOW}`);

  // memory path: default history window (10,000)
  await restart({ COLLAB_STREAM_MAXLEN: '10000', COLLAB_HISTORY_WINDOW: '10000' });
  await measure(t, doc, 'default settings (actor memory)');
});
