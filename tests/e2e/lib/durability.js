'use strict';
// Helpers for the durability suites (durability_*.test.js): private
// PostgreSQL + Redis per suite (tools/services), a collabd on a fixed port
// that can be killed and restarted, an ot.js client that survives crashes and
// outages (reconnect, resume, resend with the same seq, retry `unavailable`),
// and the final history checks.
const { execFile, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');
const { isDeepStrictEqual } = require('node:util');
const { startServer } = require('./server');
const { session } = require('./client');
const { getDoc, allOps, getJson } = require('./http');
const { OTDoc, type } = require('./otclient');
const { mulberry32 } = require('./prng');

const REPO = path.resolve(__dirname, '..', '..', '..');
const SERVICES = path.join(REPO, 'tools', 'services');
const PSQL = fs.existsSync('/usr/lib/postgresql/15/bin/psql')
  ? '/usr/lib/postgresql/15/bin/psql' : 'psql';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function run(cmd, args, timeoutMs = 120000) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n${cmd} ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`;
        reject(err);
      } else resolve(stdout);
    });
  });
}

// ---------------------------------------------------------------------------
// Private PostgreSQL + Redis (tools/services) in a temporary folder.

const liveServices = new Set();
process.on('exit', () => {
  for (const s of liveServices) {
    try { if (s.frozenPg) s.thawPg(); if (s.frozenRedis) s.thawRedis(); } catch { /* best effort */ }
    try { execFileSync(SERVICES, ['stop', s.dir], { stdio: 'ignore', timeout: 30000 }); } catch { /* best effort */ }
    try { fs.rmSync(s.dir, { recursive: true, force: true }); } catch { /* best effort */ }
  }
});

class Services {
  constructor(dir) {
    this.dir = dir;
    this.env = {};
  }

  async start() {
    await run(SERVICES, ['start', this.dir]);
    liveServices.add(this);
    for (const line of fs.readFileSync(path.join(this.dir, 'env'), 'utf8').split('\n')) {
      const m = /^(\w+)=(.*)$/.exec(line.trim());
      if (m) this.env[m[1]] = m[2];
    }
    this.pgPort = Number(fs.readFileSync(path.join(this.dir, 'pg.port'), 'utf8').trim());
    this.redisPort = Number(fs.readFileSync(path.join(this.dir, 'redis.port'), 'utf8').trim());
    return this;
  }

  stopPg() { return run(SERVICES, ['stop-pg', this.dir]); }
  startPg() { return run(SERVICES, ['start-pg', this.dir]); }
  stopRedis() { return run(SERVICES, ['stop-redis', this.dir]); }

  // A synchronous standby (tools/services start-standby); resolves the
  // COLLAB_PG_URL that names both servers, the read-write one wanted.
  async startStandby() {
    await run(SERVICES, ['start-standby', this.dir], 120000);
    this.standbyPort = Number(fs.readFileSync(path.join(this.dir, 'pg-standby.port'), 'utf8').trim());
    return /^COLLAB_PG_URL=(.*)$/m.exec(fs.readFileSync(path.join(this.dir, 'env-failover'), 'utf8'))[1].trim();
  }

  // kill -9 of the primary's postmaster.
  killPg() { return run(SERVICES, ['kill-pg', this.dir]); }

  // A replica of the Redis and a Sentinel watching it as master `collab`
  // (tools/services start-redis-failover); resolves the redis-sentinel://
  // COLLAB_REDIS_URL.
  async startRedisFailover() {
    await run(SERVICES, ['start-redis-failover', this.dir], 120000);
    const port = (name) => Number(fs.readFileSync(path.join(this.dir, `${name}.port`), 'utf8').trim());
    this.replicaPort = port('redis-replica');
    this.sentinelPort = port('sentinel');
    return /^COLLAB_REDIS_URL=(.*)$/m.exec(fs.readFileSync(path.join(this.dir, 'env-redis-failover'), 'utf8'))[1].trim();
  }

  // kill -9 of the Redis master.
  killRedis() { return run(SERVICES, ['kill-redis', this.dir]); }

  // Resolves once the Sentinel names the replica as master; redis() and
  // the stream helpers ask it from then on.
  async waitRedisFailover(timeoutMs = 30000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const out = await run('redis-cli', ['-p', String(this.sentinelPort), '--raw', 'SENTINEL',
        'get-master-addr-by-name', 'collab'], 5000).catch(() => '');
      if (out.split('\n').map((l) => l.trim()).includes(String(this.replicaPort))) {
        this.redisPort = this.replicaPort;
        return;
      }
      if (Date.now() > deadline) throw new Error(`no failover within ${timeoutMs} ms: the Sentinel says ${out.trim()}`);
      await sleep(50);
    }
  }

  // The standby becomes the primary; sql() asks it from now on.
  async promoteStandby() {
    await run(SERVICES, ['promote-standby', this.dir], 120000);
    this.pgPort = this.standbyPort;
  }
  startRedis() { return run(SERVICES, ['start-redis', this.dir]); }

  // Hangs PostgreSQL (SIGSTOP to the postmaster and every backend) or
  // resumes it (SIGCONT): a hung, not a stopped, database.
  pgPids() {
    const pm = Number(fs.readFileSync(path.join(this.dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    let kids = [];
    try {
      kids = execFileSync('pgrep', ['-P', String(pm)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    } catch { /* no children */ }
    return [pm, ...kids];
  }

  freezePg() {
    this.frozenPg = this.pgPids();
    for (const pid of this.frozenPg) { try { process.kill(pid, 'SIGSTOP'); } catch { /* gone */ } }
  }

  thawPg() {
    for (const pid of this.frozenPg || []) { try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ } }
    this.frozenPg = null;
  }

  redisPid() {
    return Number(fs.readFileSync(path.join(this.dir, 'redis', 'redis.pid'), 'utf8').trim());
  }

  freezeRedis() {
    this.frozenRedis = this.redisPid();
    process.kill(this.frozenRedis, 'SIGSTOP');
  }

  thawRedis() {
    if (this.frozenRedis) { try { process.kill(this.frozenRedis, 'SIGCONT'); } catch { /* gone */ } }
    this.frozenRedis = null;
  }

  async stop() {
    if (this.frozenPg) this.thawPg();
    if (this.frozenRedis) this.thawRedis();
    if (!liveServices.has(this)) return;
    try {
      await run(SERVICES, ['stop', this.dir], 60000);
    } finally {
      liveServices.delete(this);
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }

  // redis-cli against the private Redis; resolves its stdout (raw lines).
  redis(...args) {
    return run('redis-cli', ['-p', String(this.redisPort), '--no-raw', ...args], 15000);
  }

  redisRaw(...args) {
    return run('redis-cli', ['-p', String(this.redisPort), '--raw', ...args], 15000);
  }

  // The revisions held in a document's replay stream (entry ids <rev>-0).
  async streamRevs(doc) {
    const out = await run('redis-cli', ['-p', String(this.redisPort), '--raw', 'XRANGE',
      `collab:{${doc}}:ops`, '-', '+'], 30000);
    const revs = [];
    for (const line of out.split('\n')) {
      const m = /^(\d+)-0$/.exec(line.trim());
      if (m) revs.push(Number(m[1]));
    }
    return revs;
  }

  // The entries of a document's replay stream: [{rev, client, seq, user, op}].
  async streamEntries(doc) {
    const out = await run('redis-cli', ['-p', String(this.redisPort), '-2', '--json', 'XRANGE',
      `collab:{${doc}}:ops`, '-', '+'], 30000);
    const arr = JSON.parse(out.trim() || '[]');
    return arr.map(([id, fields]) => {
      const f = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
      const [ms, sub] = id.split('-').map(Number);
      let op;
      try { op = JSON.parse(f.o); } catch { op = f.o; }
      return { id, rev: ms, sub, client: f.c, seq: Number(f.s), user: f.u, op };
    });
  }

  async streamLen(doc) {
    const out = await this.redisRaw('XLEN', `collab:{${doc}}:ops`);
    return Number(out.trim());
  }

  // One SQL statement through psql; resolves the unaligned, tuples-only output.
  sql(statement) {
    return run(PSQL, ['-h', '127.0.0.1', '-p', String(this.pgPort), '-U', 'collab', '-d', 'collab',
      '-qtAX', '-v', 'ON_ERROR_STOP=1', '-c', statement], 30000);
  }
}

async function startServices(label = 'dur') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `collab-${label}-`));
  const s = new Services(dir);
  try {
    await s.start();
  } catch (e) {
    liveServices.add(s);
    await s.stop().catch(() => {});
    throw e;
  }
  return s;
}

// ---------------------------------------------------------------------------
// A collabd on a fixed port, restartable with the same secret and settings.

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

class Node {
  constructor(env) {
    this.env = env;
    this.srv = null;
    this.starts = 0;
  }

  static async create(services, extra = {}) {
    const port = await freePort();
    return new Node({
      COLLAB_PG_URL: services.env.COLLAB_PG_URL,
      COLLAB_REDIS_URL: services.env.COLLAB_REDIS_URL,
      COLLAB_CLIENT_PORT: String(port),
      COLLAB_JWT_SECRET: crypto.randomBytes(32).toString('hex'),
      COLLAB_NODE_ID: `dur-${process.pid}-${port}`,
      COLLAB_RATE_LIMIT: '100000',
      COLLAB_RATE_BURST: '100000',
      ...extra,
    });
  }

  async start(extra = {}) {
    Object.assign(this.env, extra);
    const deadline = Date.now() + 30000;
    // The fixed port may still be held briefly by the killed process.
    for (;;) {
      try {
        this.srv = await startServer(this.env);
        break;
      } catch (e) {
        if (Date.now() > deadline || !/listen_failed|address in use/i.test(e.message)) throw e;
        await sleep(200);
      }
    }
    this.starts++;
    return this;
  }

  get host() { return this.srv ? this.srv.host : '127.0.0.1'; }
  get port() { return Number(this.env.COLLAB_CLIENT_PORT); }
  get secret() { return this.env.COLLAB_JWT_SECRET; }
  get output() { return this.srv ? this.srv.output : []; }
  token(opts) { return this.srv.token(opts); }
  alive() { return !!this.srv && this.srv.alive(); }
  assertAlive() { assert.ok(this.srv, 'collabd never started'); this.srv.assertAlive(); }
  fetch(pathname, init) { return this.srv.fetch(pathname, init); }

  async kill(signal = 'SIGKILL') {
    if (!this.alive()) return this.srv ? this.srv.exited : null;
    this.srv.proc.kill(signal);
    return this.srv.exitPromise;
  }

  // Graceful stop (SIGTERM; SIGKILL after 5 s). Resolves {code, signal}.
  stop() { return this.srv ? this.srv.stop() : null; }
}

// ---------------------------------------------------------------------------
// An ot.js client document that survives node crashes and storage outages:
// on socket loss it reconnects (same client id), joins with its rev and
// resends its inflight op with the same seq; an `unavailable` answer to its
// op is retried with the same seq after a backoff. Every ack is recorded with
// its arrival time; every op seen is recorded by rev.

class ResilientDoc extends OTDoc {
  constructor(client, doc, node, opts = {}) {
    super(client, doc);
    this.node = node;
    this.label = client.label;
    this.stopped = false;
    this.reconnecting = false;
    this.reconnects = 0;
    this.acks = [];          // {seq, rev, t}
    this.seen = new Map();   // rev -> {client, seq, op} of every op message
    this.unavailable = [];   // {t, seq, message}
    this.retryDelay = opts.retryDelay || (() => 50 + Math.floor(Math.random() * 100));
    this.textOnResume = [];  // joined-with-text answers to a resume
    this.learned = 0;        // own ops learned as `op` (committed, ack lost)
    this.closes = [];        // close codes of its sockets
  }

  attach(client) {
    super.attach(client);
    client.once('closed', (info) => {
      this.closes.push(info.code);
      if (this.client === client && !this.stopped && !this.paused) this.reconnect();
    });
  }

  handle(m) {
    if (m.doc !== this.doc) return;
    if (m.type === 'ack') {
      this.acks.push({ seq: m.seq, rev: m.rev, t: Date.now() });
    } else if (m.type === 'op' && this.rev !== null) {
      const prev = this.seen.get(m.rev);
      if (prev && (prev.client !== m.client || prev.seq !== m.seq)) {
        this.problems.push(`rev ${m.rev} seen as ${JSON.stringify(prev)} and as ${m.client}/${m.seq}`);
      }
      this.seen.set(m.rev, { client: m.client, seq: m.seq, op: m.op });
      if (m.client === this.clientId) this.learned++;
    } else if (m.type === 'joined' && this.joining && this.rev !== null && 'text' in m) {
      // A resume answered with the full text: allowed only when the history
      // is gone. The client can take it only when nothing is in flight.
      this.textOnResume.push({ from: this.rev, at: m.rev });
    } else if (m.type === 'error') {
      this.onError(m);
      return;
    }
    super.handle(m);
  }

  onError(m) {
    if (m.code === 'unavailable' && m.seq !== undefined) {
      this.unavailable.push({ t: Date.now(), seq: m.seq, message: m.message });
      if (this.inflight && this.inflight.seq === m.seq) {
        const client = this.client;
        setTimeout(() => {
          if (this.stopped || this.client !== client || !this.connected) return;
          if (this.inflight && this.inflight.seq === m.seq) this.send();
        }, this.retryDelay());
      }
      return;
    }
    if (m.code === 'rev_too_old' && this.inflight && m.seq === this.inflight.seq) {
      // "the client must rejoin and rebase": resume on a fresh socket (the
      // replay transforms the inflight op), then resend it with the same seq
      this.revTooOld = (this.revTooOld || 0) + 1;
      if (!this.reconnecting) this.reconnect();
      return;
    }
    if (m.code === 'unavailable' || m.code === 'not_joined') {
      // The server dropped our subscription (e.g. the document could not be
      // loaded): start over on a fresh socket.
      this.unavailable.push({ t: Date.now(), seq: m.seq, message: m.message, code: m.code });
      // (a failed join inside reconnect() is retried by reconnect() itself)
      if (!this.reconnecting && !this.joining) {
        setTimeout(() => { if (!this.stopped && !this.paused) this.reconnect(); }, this.retryDelay());
      }
      return;
    }
    this.errors.push(m);
  }

  // Reconnects until joined again (never gives up before stop()).
  async reconnect() {
    if (this.reconnecting || this.stopped || this.paused) return;
    this.reconnecting = true;
    this.connected = false;
    let backoff = 30;
    try {
      while (!this.stopped) {
        try {
          this.client.terminate();
          const c = await session(this.node, { client: this.clientId, label: this.label });
          if (this.stopped) { c.terminate(); return; }
          this.attach(c);
          this.joining = true;
          if (this.rev === null) await c.join(this.doc);
          else await c.join(this.doc, this.rev);
          this.reconnects++;
          if (!c.isOpen) continue;
          return;
        } catch (e) {
          this.lastReconnectError = e.message;
          this.joining = false;
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 400);
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  // Drops the socket and stays away until online() (edits queue up locally).
  offline() {
    this.paused = true;
    this.connected = false;
    this.client.terminate();
  }

  // Comes back: reconnect, join with the last rev, resend. Resolves once joined.
  async online() {
    this.paused = false;
    await this.reconnect();
  }

  stop() {
    this.stopped = true;
    this.client.close();
  }
}

// Opens `clients` editors on each doc.
async function openEditors(node, docs, clients) {
  const byDoc = new Map();
  for (const doc of docs) {
    const list = [];
    for (let i = 0; i < clients; i++) {
      const c = await session(node, { label: `${doc}#${i}` });
      const d = new ResilientDoc(c, doc, node);
      await d.join();
      list.push(d);
    }
    byDoc.set(doc, list);
  }
  return byDoc;
}

// Random edits on every editor until stopLoad() is called.
function startLoad(editors, rnd, { minPause = 3, maxPause = 12 } = {}) {
  const { randomOp } = require('./otclient');
  let running = true;
  const loops = editors.map(async (d) => {
    while (running && !d.stopped) {
      if (d.text !== null && d.rev !== null) {
        d.submit(randomOp(d.text, rnd));
      }
      await sleep(minPause + Math.floor(rnd() * (maxPause - minPause + 1)));
    }
  });
  return async function stopLoad() {
    running = false;
    await Promise.all(loops);
  };
}

// Several editors make random edits on doc until it has at least `target`
// revisions. Resolves the editors (still joined unless close).
async function fillDoc(node, doc, target, { editors = 4, close = true, seed = 7 } = {}) {
  const rnd = mulberry32(seed);
  const eds = [];
  for (let i = 0; i < editors; i++) {
    const c = await session(node, { label: `${doc}#w${i}` });
    const d = new ResilientDoc(c, doc, node);
    await d.join();
    eds.push(d);
  }
  const stopLoad = startLoad(eds, rnd, { minPause: 0, maxPause: 2 });
  try {
    await waitFor(() => eds[0].rev >= target, 120000, `${doc} at rev ${target} (at ${eds[0].rev})`, 20);
  } finally {
    await stopLoad();
  }
  await settleAll(eds, 30000);
  for (const d of eds) {
    assert.deepEqual(d.errors, [], `${d.label}: errors while filling`);
    assert.deepEqual(d.problems, [], `${d.label}: problems while filling`);
  }
  if (close) for (const d of eds) d.stop();
  return eds;
}

// Waits until every editor has nothing in flight or pending.
async function settleAll(editors, timeoutMs = 60000) {
  await Promise.all(editors.map((d) => d.settle(timeoutMs)));
}

// The final checks shared by the crash and outage suites, for one document
// and the editors that wrote it.
async function checkDocument(node, doc, editors, { services } = {}) {
  const final = await getDoc(node, doc);
  await Promise.all(editors.map((d) => d.waitRev(final.rev, 30000)));
  const ops = await allOps(node, doc);
  // gapless, in order
  assert.deepEqual(ops.map((o) => o.rev), Array.from({ length: final.rev }, (_, i) => i + 1),
    `${doc}: revisions 1..${final.rev}, each exactly once`);
  // no (client, seq) twice; per client seqs 1..k in commit order
  const seen = new Set();
  const perClient = new Map();
  let text = '';
  for (const o of ops) {
    const key = `${o.client}\u0000${o.seq}`;
    assert.ok(!seen.has(key), `${doc}: (client, seq) committed twice: ${o.client} ${o.seq}`);
    seen.add(key);
    if (!perClient.has(o.client)) perClient.set(o.client, []);
    perClient.get(o.client).push(o.seq);
    text = type.apply(text, o.op);
  }
  assert.equal(text, final.text, `${doc}: replaying the op log from the empty text gives the document's text`);
  for (const [client, seqs] of perClient) {
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1),
      `${doc}: seqs of ${client} are 1..k in commit order`);
  }
  for (const d of editors) {
    assert.deepEqual(d.problems, [], `${d.label}: protocol problems`);
    assert.deepEqual(d.errors, [], `${d.label}: errors from the server`);
    assert.deepEqual(d.textOnResume, [], `${d.label}: resumes answered with the full text although no op was compacted`);
    assert.equal(d.rev, final.rev, `${d.label}: rev`);
    assert.equal(d.text, final.text, `${d.label}: text differs from the server's`);
    assert.ok(d.idle, `${d.label}: still has an op in flight or pending`);
    // every acked (client, seq, rev) is in the op log with that rev
    for (const a of d.acks) {
      const o = ops[a.rev - 1];
      assert.ok(o && o.client === d.clientId && o.seq === a.seq,
        `${d.label}: ack seq ${a.seq} rev ${a.rev} but the op log has ${JSON.stringify(o && { client: o.client, seq: o.seq, rev: o.rev })}`);
    }
    for (const [seq, rev] of d.committed) {
      const o = ops[rev - 1];
      assert.ok(o && o.client === d.clientId && o.seq === seq,
        `${d.label}: learned seq ${seq} committed as rev ${rev}, op log has ${JSON.stringify(o && { client: o.client, seq: o.seq })}`);
    }
    // every op a client saw (durable before visible) is in the log as seen
    for (const [rev, s] of d.seen) {
      const o = ops[rev - 1];
      assert.ok(o && o.client === s.client && o.seq === s.seq && isDeepStrictEqual(o.op, s.op),
        `${d.label}: saw rev ${rev} as ${JSON.stringify(s)}, op log has ${JSON.stringify(o)}`);
    }
    // nothing typed is lost: every seq the client used is committed
    const mine = perClient.get(d.clientId) || [];
    assert.equal(mine.length, d.seq, `${d.label}: used seqs 1..${d.seq}, the log has ${mine.length} of them`);
    assert.equal(d.committed.size, d.seq, `${d.label}: learned ${d.committed.size} of its ${d.seq} ops as committed`);
  }
  // the server's transform is ot-text-unicode's (side left over B+1..N-1)
  const byClient = new Map(editors.map((d) => [d.clientId, d]));
  for (const o of ops) {
    const d = byClient.get(o.client);
    const sends = d && d.sent.get(o.seq);
    assert.ok(sends, `${doc}: committed op ${o.rev} (${o.client}/${o.seq}) was never sent`);
    const candidates = sends.map(({ op, base }) => {
      let x = op;
      for (let r = base + 1; r < o.rev; r++) x = type.transform(x, ops[r - 1].op, 'left');
      return x;
    });
    assert.ok(candidates.some((x) => isDeepStrictEqual(x, o.op)),
      `${doc} rev ${o.rev}: committed ${JSON.stringify(o.op)}, ot-text-unicode gives ${JSON.stringify(candidates)}`);
  }
  if (services) {
    // the same history in PostgreSQL itself (not only what the node serves)
    const row = (await services.sql(`SELECT count(*) || ',' || coalesce(min(rev), 0) || ',' || ` +
      `coalesce(max(rev), 0) || ',' || count(DISTINCT (client, seq)) || ',' || ` +
      `coalesce((SELECT head_rev FROM documents WHERE doc_id = '${doc}'), -1) ` +
      `FROM ops WHERE doc_id = '${doc}'`)).trim();
    assert.equal(row, [final.rev, final.rev ? 1 : 0, final.rev, final.rev, final.rev].join(','),
      `${doc}: SQL ops count,min,max,distinct(client,seq),documents.head_rev`);
  }
  return { rev: final.rev, length: [...final.text].length, ops };
}

// The replay stream holds exactly the log's ops for the revisions it has
// (entry id <rev>-0), in order: nothing that was not committed as such.
function checkStreamAgainstLog(entries, log, what) {
  for (const e of entries) {
    assert.equal(e.sub, 0, `${what}: entry id ${e.id} is not <rev>-0`);
    const o = log[e.rev - 1];
    assert.ok(o, `${what}: stream entry ${e.id} beyond the op log`);
    assert.deepEqual({ rev: e.rev, client: e.client, seq: e.seq, op: e.op },
      { rev: o.rev, client: o.client, seq: o.seq, op: o.op }, `${what}: stream entry ${e.id}`);
  }
  for (let i = 1; i < entries.length; i++) {
    assert.ok(entries[i].rev > entries[i - 1].rev, `${what}: stream ids out of order`);
  }
}

// Resumes a fresh session from several revisions and checks each replay
// against the log (exact; no full text since nothing is compacted).
async function resumeSweep(node, doc, log, froms) {
  const out = [];
  for (const from of froms) {
    const res = await resumeOnce(node, doc, from, { timeoutMs: 30000 });
    assertExactReplay(res, log, from);
    out.push(`${from}:${res.ops.length}`);
  }
  return out.join(' ');
}

// ---------------------------------------------------------------------------
// Resume checks on a raw session.

// Sends join{doc, rev} on a fresh session and collects everything up to and
// including `joined`. Resolves {ops, joined, error, ms} (ms: join to joined).
async function resumeOnce(node, doc, rev, opts = {}) {
  const c = opts.client || await session(node, { label: opts.label || `resume-${doc}` });
  const ops = [];
  const onMsg = (m) => { if (m.doc === doc && m.type === 'op') ops.push(m); };
  c.on('msg', onMsg);
  const t0 = process.hrtime.bigint();
  c.send(rev === undefined ? { type: 'join', doc } : { type: 'join', doc, rev });
  const m = await c.next((x) => x.doc === doc && (x.type === 'joined' || x.type === 'error'),
    opts.timeoutMs || 60000);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  c.off('msg', onMsg);
  if (!opts.keep) c.close();
  // ops after `joined` are live ones: the collector stopped at joined, but
  // messages of the same chunk may have been pushed already
  const before = ops.filter((o) => c.all.indexOf(o) < c.all.indexOf(m));
  return {
    client: c,
    ops: before,
    joined: m.type === 'joined' ? m : null,
    error: m.type === 'error' ? m : null,
    ms,
  };
}

// Asserts that a resume from `from` replayed exactly the log's ops
// from+1..joined.rev (or, when allowText, answered with the full text).
function assertExactReplay(res, log, from, { allowText = false, finalText } = {}) {
  assert.ok(res.joined, `resume from ${from}: refused: ${JSON.stringify(res.error)}`);
  if ('text' in res.joined) {
    assert.ok(allowText, `resume from ${from}: answered with the full text at ${res.joined.rev} ` +
      `(${res.ops.length} ops before it) although the ops can be replayed`);
    assert.equal(res.ops.length, 0, `resume from ${from}: ops before a full-text joined`);
    if (finalText !== undefined) assert.equal(res.joined.text, finalText, `resume from ${from}: text`);
    return 'text';
  }
  const want = log.filter((o) => o.rev > from && o.rev <= res.joined.rev);
  assert.equal(res.ops.length, res.joined.rev - from,
    `resume from ${from}: ${res.ops.length} ops before joined at ${res.joined.rev}`);
  res.ops.forEach((o, i) => {
    const w = want[i];
    assert.ok(w, `resume from ${from}: op ${o.rev} not in the log`);
    assert.deepEqual({ rev: o.rev, client: o.client, seq: o.seq, op: o.op },
      { rev: w.rev, client: w.client, seq: w.seq, op: w.op }, `resume from ${from}: op #${i + 1}`);
  });
  return 'ops';
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

async function readyz(node) {
  try {
    const r = await node.fetch('/readyz');
    return { status: r.status, body: await r.text() };
  } catch (e) {
    return { status: 0, body: e.message };
  }
}

// GET /metrics as {name{labels}: number}.
async function metrics(node) {
  const r = await node.fetch('/metrics');
  const out = {};
  for (const line of (await r.text()).split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (m && !line.startsWith('#')) out[m[1]] = Number(m[2]);
  }
  return out;
}

// The metrics whose names start with one of the prefixes, as one line.
async function metricsLine(node, prefixes) {
  const m = await metrics(node);
  return Object.entries(m).filter(([k]) => prefixes.some((p) => k.startsWith(p)) && !/_bucket|_sum|_count/.test(k))
    .map(([k, v]) => `${k}=${v}`).join(' ');
}

async function healthz(node) {
  try {
    const r = await node.fetch('/healthz');
    return r.status;
  } catch {
    return 0;
  }
}

// Polls fn() every `every` ms until it returns a truthy value.
async function waitFor(fn, timeoutMs, what, every = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(every);
  }
}

// The seed of a randomized run (E2E_SEED replays one).
function seedFor(t) {
  const seed = Number(process.env.E2E_SEED || Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed ${seed}`);
  return seed;
}

module.exports = {
  sleep, mulberry32, seedFor, run, startServices, Services, freePort, Node, ResilientDoc,
  openEditors, startLoad, settleAll, fillDoc, checkDocument, resumeOnce, assertExactReplay,
  checkStreamAgainstLog, resumeSweep,
  percentile, readyz, healthz, metrics, metricsLine, waitFor, getDoc, allOps, getJson,
};
