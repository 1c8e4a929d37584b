'use strict';
// Redis fails over under write load (issue 15): a master, a replica and a
// Sentinel; the node is given the Sentinel (COLLAB_REDIS_URL=
// redis-sentinel://host:port/collab). The master is killed (-9) and the
// Sentinel promotes the replica. Editing never stops (PostgreSQL is the
// truth; the stream is only the replay log), a resume meanwhile is served
// from PostgreSQL, and once the Sentinel names the new master the node
// appends there by itself and resumes are served exactly again.
require('./lib/deps');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { randomId } = require('./lib/client');
const {
  sleep, mulberry32, seedFor, startServices, Node, openEditors, startLoad, settleAll,
  checkDocument, waitFor, metricsLine, checkStreamAgainstLog,
} = require('./lib/durability');

const DOCS = 3;
const CLIENTS = 3;
// A small memory window: a resume across the failover needs a log.
const WINDOW = 30;

let services;
let node;

before(async () => {
  services = await startServices('redisfo');
  const url = await services.startRedisFailover();
  node = await Node.create(services, { COLLAB_REDIS_URL: url, COLLAB_HISTORY_WINDOW: String(WINDOW) });
  await node.start();
});

after(async () => {
  if (node) await node.kill().catch(() => {});
  if (services) await services.stop();
});

test('the Redis master is killed and the Sentinel promotes the replica under load: editing goes on, the node follows the new master, resumes are exact', { timeout: 240000 }, async (t) => {
  const rnd = mulberry32(seedFor(t));
  const docs = Array.from({ length: DOCS }, () => randomId('dur-redisfo'));
  const byDoc = await openEditors(node, docs, CLIENTS);
  const [resumer] = (await openEditors(node, [docs[0]], 1)).get(docs[0]);
  resumer.label += '/resumer';
  byDoc.get(docs[0]).push(resumer);
  const editors = [...byDoc.values()].flat();
  const rev0 = () => byDoc.get(docs[0])[0].rev;
  const stopLoad = startLoad(editors, rnd);
  let killedAt;
  let failedOverAt;
  let from;
  try {
    await waitFor(async () => (await services.streamLen(docs[0])) > 20, 20000, 'ops in the stream of doc 0');
    resumer.offline();
    from = resumer.rev;
    await services.killRedis();
    killedAt = Date.now();
    await services.waitRedisFailover();
    failedOverAt = Date.now();
    const revAtFailover = rev0();
    t.diagnostic(`the Sentinel named the new master ${failedOverAt - killedAt} ms after the kill; doc 0 at rev ${revAtFailover}`);
    // the node appends to the new master by itself
    await waitFor(async () => {
      const revs = await services.streamRevs(docs[0]);
      return revs.length > 0 && revs[revs.length - 1] > revAtFailover;
    }, 30000, `new ops of doc 0 (after rev ${revAtFailover}) on the new master`, 100);
    t.diagnostic(`appending to the new master ${Date.now() - failedOverAt} ms after the failover`);
    // the resumer missed more than the memory window, across the failover
    await waitFor(() => rev0() >= from + 2 * WINDOW, 20000, `doc 0 to move ${2 * WINDOW} revisions past ${from}`);
    await resumer.online();
    assert.deepEqual(resumer.problems, [], 'resumer: problems');
    assert.deepEqual(resumer.textOnResume, [], 'resumer: resume answered with the full text');
    const replayed = [...resumer.seen.keys()].filter((r) => r > from).sort((a, b) => a - b);
    assert.deepEqual(replayed.slice(0, resumer.rev - from),
      Array.from({ length: resumer.rev - from }, (_, i) => from + 1 + i), 'resumer: ops from+1.. in order');
    await sleep(300);
  } finally {
    await stopLoad();
  }
  await settleAll(editors, 60000);

  // editing never stopped: acks between the kill and the failover
  const during = editors.reduce((n, d) => n + d.acks.filter((a) => a.t > killedAt + 200 && a.t < failedOverAt).length, 0);
  t.diagnostic(`${during} acks between the kill and the failover`);
  assert.ok(during > 0, 'no ack while the Redis master was gone');

  for (const doc of docs) {
    const r = await checkDocument(node, doc, byDoc.get(doc), { services });
    // the last op reaches the new master's stream; what it holds is the log
    await waitFor(async () => {
      const revs = await services.streamRevs(doc);
      return revs.length > 0 && revs[revs.length - 1] === r.rev;
    }, 15000, `the last op (rev ${r.rev}) of ${doc} on the new master`, 100);
    checkStreamAgainstLog(await services.streamEntries(doc), r.ops, doc);
    t.diagnostic(`${doc}: ${r.rev} revisions`);
  }
  t.diagnostic(await metricsLine(node, ['collab_redis_', 'collab_stream_']));
  for (const d of editors) d.stop();
  node.assertAlive();
});
