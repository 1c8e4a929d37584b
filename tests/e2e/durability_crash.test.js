'use strict';
// kill -9 under write load, many times: every acked op survives with its
// revision, the history stays gapless and exactly-once, clients that follow
// the ot.js discipline (reconnect, join with their rev, resend the unacked op
// with the same seq) converge on the server's text.
// docs/DESIGN.md contracts 1, 3, 4; docs/PROTOCOL.md "Exactly once".
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { randomId } = require('./lib/client');
const {
  sleep, mulberry32, seedFor, startServices, Node, openEditors, startLoad, settleAll,
  checkDocument, metricsLine, waitFor, checkStreamAgainstLog, resumeSweep,
} = require('./lib/durability');

const DOCS = Number(process.env.E2E_CRASH_DOCS || 6);
const CLIENTS = Number(process.env.E2E_CRASH_CLIENTS || 3);
const KILLS = Number(process.env.E2E_CRASH_KILLS || 8);

let services;
let node;

before(async () => {
  services = await startServices('crash');
  node = await Node.create(services);
  await node.start();
});

after(async () => {
  if (node) await node.kill().catch(() => {});
  if (services) await services.stop();
});

async function crashRun(t, { kills, docs: nDocs, clients }) {
  const seed = seedFor(t);
  const rnd = mulberry32(seed);
  const docs = Array.from({ length: nDocs }, () => randomId('dur-crash'));
  const byDoc = await openEditors(node, docs, clients);
  // one more editor per document keeps dropping off for a while (missing
  // hundreds of ops, sometimes across a crash) and resuming
  const laggards = [...(await openEditors(node, docs, 1)).entries()].map(([doc, [d]]) => {
    d.label += '/laggard';
    byDoc.get(doc).push(d);
    return d;
  });
  const editors = [...byDoc.values()].flat();
  const stopLoad = startLoad(editors, rnd);
  let lagging = true;
  const lagLoops = laggards.map(async (d) => {
    while (lagging) {
      await sleep(200 + Math.floor(rnd() * 800));
      if (!lagging) break;
      d.offline();
      await sleep(200 + Math.floor(rnd() * 1500));
      await d.online();
    }
  });
  const started = Date.now();
  const killLog = [];
  try {
    for (let i = 0; i < kills; i++) {
      await sleep(300 + Math.floor(rnd() * 1700));
      const acksBefore = editors.reduce((n, d) => n + d.acks.length, 0);
      const r = await node.kill('SIGKILL');
      assert.equal(r.signal, 'SIGKILL', 'collabd was killed, it did not exit by itself');
      const killedAt = Date.now();
      await node.start();
      killLog.push({ acksBefore, restartMs: Date.now() - killedAt });
    }
    // some load after the last restart, until every editor had an ack again
    const lastStart = Date.now();
    await Promise.all(editors.map(async (d) => {
      const deadline = Date.now() + 30000;
      while (!d.acks.some((a) => a.t > lastStart)) {
        assert.ok(Date.now() < deadline,
          `${d.label}: no ack within 30 s after the last restart (reconnect error: ${d.lastReconnectError})`);
        await sleep(50);
      }
    }));
  } finally {
    lagging = false;
    await Promise.all(lagLoops);
    await stopLoad();
  }
  await settleAll(editors, 60000);
  t.diagnostic(`kills: ${JSON.stringify(killLog)}; load ran ${Date.now() - started} ms`);
  let total = 0;
  for (const doc of docs) {
    const r = await checkDocument(node, doc, byDoc.get(doc), { services });
    total += r.rev;
    const ed = byDoc.get(doc);
    // the replay stream never holds anything but the committed op of a rev
    await waitFor(async () => {
      const revs = await services.streamRevs(doc);
      return revs.length > 0 && revs[revs.length - 1] === r.rev;
    }, 15000, `the last op (rev ${r.rev}) of ${doc} in the stream`, 100);
    const entries = await services.streamEntries(doc);
    checkStreamAgainstLog(entries, r.ops, doc);
    // resumes from anywhere after the crashes are exact
    const N = r.rev;
    const sweep = await resumeSweep(node, doc, r.ops,
      [0, Math.floor(N / 4), Math.floor(N / 2), N - 150, N - 50, N - 5].filter((x) => x >= 0));
    t.diagnostic(`${doc}: stream ${entries.length ? `${entries[0].rev}..${entries[entries.length - 1].rev} (${entries.length})` : 'empty'}; resumes ${sweep}`);
    t.diagnostic(`${doc}: ${r.rev} revisions, ${r.length} code points, ` +
      `${ed.reduce((n, d) => n + d.reconnects, 0)} reconnects, ` +
      `${ed.reduce((n, d) => n + d.unavailable.length, 0)} unavailable answers, ` +
      `${ed.reduce((n, d) => n + [...d.sent.values()].filter((x) => x.length > 1).length, 0)} ops resent, ` +
      `${ed.reduce((n, d) => n + d.learned, 0)} own ops learned from a replay (ack lost), ` +
      `${ed.reduce((n, d) => n + (d.revTooOld || 0), 0)} rev_too_old`);
  }
  t.diagnostic(await metricsLine(node, ['collab_pg_', 'collab_stream_', 'collab_duplicate']));
  assert.ok(total >= nDocs * 20, `too few ops committed (${total}): the test did not exercise much`);
  for (const d of editors) d.stop();
  node.assertAlive();
}

test(`kill -9 a node ${KILLS} times under load (${DOCS} docs x ${CLIENTS} clients): nothing acked is lost`,
  { timeout: 240000 }, async (t) => {
    await crashRun(t, { kills: KILLS, docs: DOCS, clients: CLIENTS });
  });

test('kill -9 under load with a snapshot every 25 ops (reload from snapshot + ops)', { timeout: 240000 }, async (t) => {
  await node.kill();
  await node.start({ COLLAB_SNAPSHOT_EVERY: '25', COLLAB_HISTORY_WINDOW: '100', COLLAB_STREAM_MAXLEN: '200' });
  await crashRun(t, { kills: Math.max(3, Math.floor(KILLS / 2)), docs: 3, clients: CLIENTS });
});
