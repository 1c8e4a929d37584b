'use strict';
// Helpers for the cluster suites (cluster_*.test.js): private PostgreSQL +
// Redis per suite (tools/services), N collabd processes on loopback with
// distinct client and cluster ports that know each other as seeds, editors
// that reconnect to any live node, the owner/epoch view of PostgreSQL and
// the timing figures (delivery latency, failover, move pause).
//
// The cluster contract (issue "The cluster"): COLLAB_CLUSTER_PORT (0/unset:
// single node), COLLAB_CLUSTER_BIND, COLLAB_SEEDS (host:port of the other
// nodes' cluster ports; a node may list itself), COLLAB_NODE_ID,
// COLLAB_CLUSTER_KEY (every connection proves it; one random key per
// cluster here, or mutual TLS instead: Cluster.create(..., { key: false }),
// lib/pki.js). Any node
// accepts a socket for any document; each document has one owner (rendezvous
// hashing over the live, non-draining members); documents.owner/epoch in
// PostgreSQL record the last takeover.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const { session } = require('./client');
const {
  sleep, startServices, freePort, Node, ResilientDoc, waitFor, readyz,
} = require('./durability');

// ---------------------------------------------------------------------------
// Nodes

class ClusterNode extends Node {
  constructor(env, index) {
    super(env);
    this.index = index;     // 1-based, for labels
    this.down = false;      // killed (or being killed) by the test
    this.draining = false;  // SIGTERM sent: a load balancer would send nobody here
  }

  get id() { return this.env.COLLAB_NODE_ID; }
  get clusterPort() { return Number(this.env.COLLAB_CLUSTER_PORT); }
  get clusterAddr() { return `127.0.0.1:${this.clusterPort}`; }
  get name() { return `n${this.index}`; }
  // The admin API (docs/ADMIN.md) when the cluster was created with { admin: true }.
  get adminPort() { return Number(this.env.COLLAB_ADMIN_PORT || 0); }
  get adminAddr() { return `127.0.0.1:${this.adminPort}`; }

  // Somewhere a client (or a load balancer) would send a new socket.
  usable() { return this.alive() && !this.down && !this.draining; }

  async start(extra = {}) {
    this.down = false;
    this.draining = false;
    await super.start(extra);
    if (this.cluster) this.cluster.note(`start ${this.name}`);
    this.expectExit = false;
    const srv = this.srv;
    srv.exitPromise.then((r) => {
      if (this.expectExit || !this.cluster) return;
      // Nobody here asked this process to go: keep the evidence.
      this.cluster.unexpected.push({ node: this.name, exit: r, t: Date.now(),
        events: (this.events || []).slice(-10).map((e) => e.line), output: srv.output.slice(-20) });
      this.cluster.note(`unexpected exit of ${this.name} ${JSON.stringify(r)}`);
    });
    this.watchLog();
    return this;
  }

  // Follows the node's log (info level): the members it sees
  // (event=member_up / member_down) and every event=... line with its time.
  watchLog() {
    this.members = new Set();
    this.events = [];
    if (!this.allEvents) this.allEvents = [];
    const onLine = (line) => {
      const ev = /event=(\w+)/.exec(line);
      if (!ev) return;
      const m = /member=(\S+)/.exec(line);
      if (ev[1] === 'member_up' && m) this.members.add(m[1]);
      if (ev[1] === 'member_down' && m) this.members.delete(m[1]);
      const e = { t: Date.now(), event: ev[1], line };
      this.events.push(e);
      if (this.events.length > 5000) this.events.shift();
      this.allEvents.push(e);
      if (this.allEvents.length > 20000) this.allEvents.shift();
    };
    // lines before (and with) the ready line were kept by server.js; whole
    // lines after it come from its line emitter (never a chunk's fragment)
    for (const line of this.srv.output) onLine(line);
    this.srv.lines.on('line', onLine);
  }

  eventsOf(name, since = 0) { return (this.events || []).filter((e) => e.event === name && e.t >= since); }

  async kill(signal = 'SIGKILL') {
    this.expectExit = true;
    if (signal === 'SIGKILL') this.down = true;
    if (this.cluster && this.alive()) this.cluster.note(`${signal === 'SIGKILL' ? 'kill' : signal} ${this.name}`);
    return super.kill(signal);
  }

  stop() {
    this.expectExit = true;
    return super.stop();
  }

  // SIGTERM without waiting for the exit (drain); resolves the exit promise.
  drain() {
    this.expectExit = true;
    this.draining = true;
    if (this.cluster) this.cluster.note(`SIGTERM (drain) ${this.name}`);
    const p = this.srv.exitPromise;
    this.srv.proc.kill('SIGTERM');
    return p;
  }
}

class Cluster {
  constructor(services, label) {
    this.services = services;
    this.label = label;
    this.secret = crypto.randomBytes(32).toString('hex');
    this.clusterKey = crypto.randomBytes(24).toString('hex');
    this.nodes = [];
    this.editors = [];   // every ClusterDoc, stopped by shutdown()
    this.unexpected = []; // processes that exited without the test asking
    this.timeline = [];  // {t, what}: kills, starts, drains (for diagnostics)
    this.tag = crypto.randomBytes(2).toString('hex');
  }

  // Private services and `size` nodes (created, not started). opts.admin:
  // every node gets an admin port (COLLAB_ADMIN_PORT) and the cluster's
  // admin token (COLLAB_ADMIN_TOKEN, cluster.adminToken). opts.key false: no
  // cluster key (the caller gives the nodes mutual TLS).
  static async create(label, size, extra = {}, opts = {}) {
    const services = await startServices(label);
    const c = new Cluster(services, label);
    if (opts.admin) c.adminToken = crypto.randomBytes(24).toString('hex');
    if (opts.key === false) c.clusterKey = undefined;
    try {
      for (let i = 0; i < size; i++) await c.addNode(extra);
      c.setSeeds(c.nodes);
    } catch (e) {
      await c.shutdown();
      throw e;
    }
    return c;
  }

  // A new node (not started): its own client and cluster ports, the shared
  // secret. Its seeds are set by setSeeds (default: every node so far).
  async addNode(extra = {}) {
    const index = this.nodes.length + 1;
    const clientPort = await freePort();
    let clusterPort = await freePort();
    while (clusterPort === clientPort) clusterPort = await freePort();
    const admin = {};
    if (this.adminToken) {
      let adminPort = await freePort();
      while (adminPort === clientPort || adminPort === clusterPort) adminPort = await freePort();
      admin.COLLAB_ADMIN_PORT = String(adminPort);
      admin.COLLAB_ADMIN_TOKEN = this.adminToken;
    }
    const base = await Node.create(this.services, {
      COLLAB_CLIENT_PORT: String(clientPort),
      COLLAB_CLUSTER_PORT: String(clusterPort),
      COLLAB_CLUSTER_BIND: '127.0.0.1',
      COLLAB_JWT_SECRET: this.secret,
      COLLAB_CLUSTER_KEY: this.clusterKey,
      COLLAB_NODE_ID: `${this.label}-${this.tag}-n${index}`,
      // debug: the nodes' activate/passivate lines are part of the evidence
      COLLAB_LOG_LEVEL: process.env.E2E_LOG_LEVEL || 'debug',
      ...admin,
      ...extra,
    });
    const n = new ClusterNode(base.env, index);
    n.cluster = this;
    this.nodes.push(n);
    return n;
  }

  // COLLAB_SEEDS of every node in `who` := the cluster ports of `of` (which
  // may include the node itself: the contract says it is ignored).
  setSeeds(who, of = this.nodes) {
    const seeds = of.map((n) => n.clusterAddr).join(',');
    for (const n of who) n.env.COLLAB_SEEDS = seeds;
  }

  // Starts the given nodes concurrently, then waits until each is ready.
  async start(nodes = this.nodes, { readyMs = 30000 } = {}) {
    await Promise.all(nodes.map((n) => n.start()));
    await this.waitReady(nodes, readyMs);
  }

  async waitReady(nodes = this.nodes, timeoutMs = 30000) {
    await Promise.all(nodes.map((n) => waitFor(async () => (await readyz(n)).status === 200,
      timeoutMs, `${n.name} /readyz 200 (last: ${JSON.stringify(this.lastReadyz)})`, 100)));
  }

  live() { return this.nodes.filter((n) => n.usable()); }

  byId(id) { return this.nodes.find((n) => n.id === id); }

  nameOf(id) {
    const n = this.byId(id);
    return n ? n.name : `?${id}`;
  }

  token(opts) { return this.nodes[0].srv.token(opts); }

  // Waits until every usable node sees every other usable node as a member
  // (from their logs: event=member_up / member_down). Resolves {name: [names]}.
  async waitMembers(timeoutMs = 20000) {
    const view = () => {
      const out = {};
      for (const n of this.live()) out[n.name] = [...n.members].map((id) => this.nameOf(id)).sort();
      return out;
    };
    await waitFor(() => {
      const live = this.live();
      return live.every((n) => live.every((o) => o === n || n.members.has(o.id)));
    }, timeoutMs, `every node to see the others as members (${JSON.stringify(view())})`, 50);
    return view();
  }

  // documents rows: Map doc -> {owner, epoch, head}
  async owners(docs) {
    const list = docs.map((d) => `'${d.replace(/'/g, "''")}'`).join(',');
    const out = await this.services.sql(
      `SELECT doc_id || '|' || owner || '|' || epoch || '|' || head_rev FROM documents WHERE doc_id IN (${list})`);
    const m = new Map();
    for (const line of out.split('\n')) {
      if (!line.trim()) continue;
      const [doc, owner, epoch, head] = line.trim().split('|');
      m.set(doc, { owner, epoch: Number(epoch), head: Number(head) });
    }
    return m;
  }

  // "n1: 5, n2: 3, ..." of an owners() map.
  ownerSpread(owners) {
    const count = {};
    for (const n of this.nodes) count[n.name] = 0;
    for (const { owner } of owners.values()) {
      const k = this.nameOf(owner);
      count[k] = (count[k] || 0) + 1;
    }
    return count;
  }

  // Counts of the nodes' notable log events: {n1: {member_up: 2, fenced: 1}, ...}
  eventSummary(names = ['member_up', 'member_down', 'hand_off', 'handed_off', 'activate', 'fenced', 'commit_failed',
    'load_failed', 'internal_error', 'join_failed', 'join_refused', 'shutdown', 'drained', 'resolve_failed']) {
    const out = {};
    for (const n of this.nodes) {
      const c = {};
      for (const e of n.allEvents || []) if (names.includes(e.event)) c[e.event] = (c[e.event] || 0) + 1;
      out[n.name] = c;
    }
    return out;
  }

  // Every log line about one document, across nodes, in time order.
  docHistory(doc, max = 40) {
    const out = [];
    for (const n of this.nodes) {
      for (const e of n.allEvents || []) if (e.line.includes(`doc=${doc} `)) out.push({ t: e.t, s: `${n.name} ${this.when(e.t)}: ${e.line.replace(/^.*?doc=/, 'doc=')}` });
    }
    return out.sort((a, b) => a.t - b.t).slice(-max).map((x) => x.s);
  }

  // Membership and hand-off lines of every node since `since`, in time order.
  membershipHistory(since = 0, max = 40) {
    const out = [];
    for (const n of this.nodes) {
      for (const e of n.allEvents || []) {
        if (e.t >= since && /^(member_|hand_off|join_|drain|shutdown|seed_)/.test(e.event)) {
          out.push({ t: e.t, s: `${n.name} ${this.when(e.t)}: ${e.line.replace(/^.*?event=/, 'event=')}` });
        }
      }
    }
    return out.sort((a, b) => a.t - b.t).slice(0, max).map((x) => x.s);
  }

  // The log lines of one event across nodes (for failure messages).
  eventLines(name, max = 5) {
    const out = [];
    for (const n of this.nodes) {
      for (const e of n.allEvents || []) if (e.event === name) out.push(`${n.name} ${this.when(e.t)}: ${e.line}`);
    }
    return out.slice(0, max);
  }

  // Throws when a node exited without the test asking (with its last words).
  assertNoUnexpectedExit() {
    if (this.unexpected.length === 0) return;
    throw new Error(`node(s) exited on their own: ${JSON.stringify(this.unexpected, null, 1)}`);
  }

  note(what) { this.timeline.push({ t: Date.now(), what }); }

  // "1234 ms after kill n1" for a time stamp.
  when(t) {
    let best = null;
    for (const e of this.timeline) if (e.t <= t && (!best || e.t >= best.t)) best = e;
    return best ? `${t - best.t} ms after ${best.what}` : `at ${t}`;
  }

  // Kills every node and stops the services (never throws).
  async shutdown() {
    for (const d of this.editors) { try { d.stop(); } catch { /* gone */ } }
    for (const n of this.nodes) await n.kill().catch(() => {});
    if (this.services) await this.services.stop().catch(() => {});
  }
}

// ---------------------------------------------------------------------------
// An editor of one document whose socket lives on a "home" node; when the
// socket is lost it reconnects to its home if usable, else to any usable
// node (what a client behind a load balancer does). Records which node held
// each socket, why each socket closed, when each op was first sent.

class ClusterDoc extends ResilientDoc {
  constructor(client, doc, home, cluster) {
    super(client, doc, home);
    this.cluster = cluster;
    if (cluster) cluster.editors.push(this);
    this.attempt = 0;
    this.sockets = [client.welcome && client.welcome.node];
    this.closeLog = [];          // {code, node, t, self}
    this.firstSent = new Map();  // seq -> performance.now() of the first send
    this.ackLatency = [];        // {seq, rev, ms, t} (first send to ack)
    this.watchClose(client);
  }

  // The node a reconnect goes to.
  get node() {
    const home = this.home;
    if (!this.cluster || (home && home.usable())) return home;
    const live = this.cluster.live();
    if (live.length === 0) return home;
    this.attempt++;
    return live[(this.attempt + this.cluster.nodes.indexOf(home)) % live.length];
  }

  set node(n) { this.home = n; }

  get socketNode() { return this.client.welcome ? this.client.welcome.node : null; }

  watchClose(client) {
    // our own terminate()/close() on an open socket is not the server's doing
    for (const k of ['terminate', 'close']) {
      const orig = client[k].bind(client);
      client[k] = (...args) => {
        if (client.isOpen) client.selfClosed = true;
        return orig(...args);
      };
    }
    client.once('closed', (info) => {
      this.closeLog.push({ code: info.code, node: client.welcome && client.welcome.node,
        t: Date.now(), self: !!client.selfClosed });
    });
  }

  attach(client) {
    super.attach(client);
    if (this.closeLog) {
      this.watchClose(client);
      this.sockets.push(client.welcome && client.welcome.node);
    }
  }

  // Moves to another home: drops the socket (our own doing) and resumes there.
  roam(node) {
    this.home = node;
    if (this.client.isOpen) this.client.terminate();
  }

  send() {
    const seq = this.inflight.seq;
    if (this.firstSent && !this.firstSent.has(seq)) this.firstSent.set(seq, performance.now());
    super.send();
  }

  ownCommitted(seq, rev) {
    if (this.firstSent && this.firstSent.has(seq)) {
      this.ackLatency.push({ seq, rev, ms: performance.now() - this.firstSent.get(seq), t: Date.now() });
    }
    super.ownCommitted(seq, rev);
  }

  onError(m) {
    const nu = this.unavailable.length;
    const ne = this.errors.length;
    super.onError(m);
    for (const e of [...this.unavailable.slice(nu), ...this.errors.slice(ne)]) {
      Object.defineProperty(e, 'where', { value: { node: this.socketNode, t: Date.now() }, enumerable: false });
    }
  }

  // Closes that the server did (not our own terminate/close).
  serverCloses() { return this.closeLog.filter((c) => !c.self); }
}

// Opens one ClusterDoc per (doc, home node) pair.
async function openClusterEditor(cluster, doc, home, label) {
  const c = await session(home, { label });
  const d = new ClusterDoc(c, doc, home, cluster);
  await d.join();
  return d;
}

// For every doc, one editor on each of `homes` (in parallel per doc).
async function openSpread(cluster, docs, homes, suffix = '') {
  const byDoc = new Map();
  await Promise.all(docs.map(async (doc) => {
    const list = [];
    for (const h of homes) list.push(await openClusterEditor(cluster, doc, h, `${doc}#${h.name}${suffix}`));
    byDoc.set(doc, list);
  }));
  return byDoc;
}

// ---------------------------------------------------------------------------
// Placement as the server computes it (actors/placement.cpp): rendezvous
// hashing, weight = splitmix64(FNV-1a 64 of node id, NUL, doc id), highest
// weight wins, ties to the smaller node id. Used to pick documents with a
// given owner and to predict moves; the tests check the prediction against
// documents.owner rather than trusting it.

const M64 = (1n << 64n) - 1n;

function stableHash(a, b) {
  let h = 14695981039346656037n;
  const feed = (buf) => {
    for (const c of buf) {
      h ^= BigInt(c);
      h = (h * 1099511628211n) & M64;
    }
  };
  feed(Buffer.from(a, 'utf8'));
  feed(Buffer.from([0]));
  feed(Buffer.from(b, 'utf8'));
  h ^= h >> 30n;
  h = (h * 0xbf58476d1ce4e5b9n) & M64;
  h ^= h >> 27n;
  h = (h * 0x94d049bb133111ebn) & M64;
  h ^= h >> 31n;
  return h;
}

function rendezvousOwner(nodeIds, doc) {
  let best = null;
  let bestW = 0n;
  for (const n of nodeIds) {
    const w = stableHash(n, doc);
    if (best === null || w > bestW || (w === bestW && n < best)) {
      best = n;
      bestW = w;
    }
  }
  return best;
}

// A random document id (prefix-...) whose predicted owner among `nodes` is `owner`.
function docOwnedBy(prefix, owner, nodes) {
  const { randomId } = require('./client');
  const ids = nodes.map((n) => n.id);
  for (;;) {
    const doc = randomId(prefix);
    if (rendezvousOwner(ids, doc) === owner.id) return doc;
  }
}

// ---------------------------------------------------------------------------
// Figures

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  const r = (x) => Math.round(x * 10) / 10;
  return {
    n: s.length,
    p50: r(percentile(s, 50)),
    p99: r(percentile(s, 99)),
    max: r(s.length ? s[s.length - 1] : NaN),
  };
}

const fmt = (st) => `n=${st.n} p50=${st.p50} ms p99=${st.p99} ms max=${st.max} ms`;

// Every problem an editor recorded, for one assertion message.
function editorTrouble(d) {
  const out = [];
  const where = (list) => list.slice(0, 3).map((e) => {
    const w = e.where;
    const at = w ? ` on ${d.cluster ? d.cluster.nameOf(w.node) : w.node}, ${d.cluster ? d.cluster.when(w.t) : w.t}` : '';
    return `${e.code || 'unavailable'} seq ${e.seq} "${e.message}"${at}`;
  });
  if (d.cluster) {
    if (d.errors.length) out.push(`errors [${where(d.errors).join('; ')}]${d.errors.length > 3 ? ` +${d.errors.length - 3}` : ''}`);
    if (d.problems.length) out.push(`problems ${JSON.stringify(d.problems.slice(0, 3))}`);
    if (d.unavailable.length) out.push(`unavailable/not_joined [${where(d.unavailable).join('; ')}]${d.unavailable.length > 3 ? ` +${d.unavailable.length - 3}` : ''}`);
    return out;
  }
  if (d.errors.length) out.push(`errors ${JSON.stringify(d.errors.slice(0, 3))}`);
  if (d.problems.length) out.push(`problems ${JSON.stringify(d.problems.slice(0, 3))}`);
  if (d.unavailable.length) out.push(`unavailable/not_joined ${JSON.stringify(d.unavailable.slice(0, 3))}`);
  return out;
}

// ---------------------------------------------------------------------------
// A node process seen from outside: what it listens on, how much memory it
// holds, how a start that must fail ends.

// Listening sockets of process `pid`: {tcp: [{addr, port}], unix: [path]}
// (the sockets among its file descriptors, found in its /proc/net tables).
function listeningSockets(pid) {
  const inodes = new Set();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let link;
    try { link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m) inodes.add(m[1]);
  }
  const tcp = [];
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try { text = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address rem_address st ... inode; st 0A = LISTEN
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9])) continue;
      const [addr, port] = f[1].split(':');
      tcp.push({ addr, port: parseInt(port, 16) });
    }
  }
  const unix = [];
  for (const line of fs.readFileSync(`/proc/${pid}/net/unix`, 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // Num RefCount Protocol Flags Type St Inode [Path]; flag 0x10000 = listening
    if (f.length < 7 || !inodes.has(f[6]) || (parseInt(f[3], 16) & 0x10000) === 0) continue;
    unix.push(f[7] || `(unnamed inode ${f[6]})`);
  }
  return { tcp, unix };
}

// {rss, data} of process `pid` in bytes (VmRSS, VmData of /proc/pid/status).
function memoryOf(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number((new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text) || [0, 0])[1]) * 1024;
  return { rss: kb('VmRSS'), data: kb('VmData') };
}

// Runs collabd with exactly `env` (no COLLAB_* of the caller) and `args`,
// expecting it to exit by itself; resolves {code, signal, ready, output}
// (ready: it printed its ready line, and was killed then).
function runToExit(env, { args = [], timeoutMs = 20000 } = {}) {
  const bin = process.env.COLLABD || path.resolve(__dirname, '..', '..', '..', 'build', 'bin', 'collabd');
  const clean = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('COLLAB_')) clean[k] = v;
  Object.assign(clean, env);
  for (const k of Object.keys(clean)) if (clean[k] === undefined) delete clean[k];
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, args, { env: clean, stdio: ['ignore', 'pipe', 'pipe'] });
    const output = [];
    let ready = false;
    const onLine = (line) => {
      output.push(line);
      if (/collabd listening on/.test(line)) {
        ready = true;
        proc.kill('SIGKILL');
      }
    };
    readline.createInterface({ input: proc.stdout }).on('line', onLine);
    readline.createInterface({ input: proc.stderr }).on('line', onLine);
    const timer = setTimeout(() => { proc.kill('SIGKILL'); }, timeoutMs);
    proc.once('error', (e) => { clearTimeout(timer); reject(e); });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      // let readline drain what is left
      setTimeout(() => resolve({ code, signal, ready, output }), 50);
    });
  });
}

module.exports = {
  ClusterNode, Cluster, ClusterDoc, openClusterEditor, openSpread, stats, fmt, percentile,
  editorTrouble, assert, rendezvousOwner, stableHash, docOwnedBy,
  listeningSockets, memoryOf, runToExit,
};
