'use strict';
// Helpers for the admin suite (admin_cli.test.js): `collabctl` as a child
// process, raw HTTP to a node's admin and client ports (no keep-alive, so
// the test's own probes never linger as extra connections), editors with a
// known user id, and a typing loop that can hold one document still.
//
// The contract is docs/ADMIN.md: an admin API on COLLAB_ADMIN_PORT of every
// node (Bearer COLLAB_ADMIN_TOKEN), and collabctl
//   [--node HOST:PORT] [--token T] [--json] [--timeout S] COMMAND
// with exit codes 0 done, 1 error answer, 2 bad usage, 3 unreachable,
// 4 unauthorized.
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { session } = require('./client');
const { ClusterDoc } = require('./cluster');
const { randomOp } = require('./otclient');
const { sleep } = require('./durability');

const REPO = path.resolve(__dirname, '..', '..', '..');

function collabctlPath() {
  const p = process.env.COLLABCTL || path.join(REPO, 'build', 'bin', 'collabctl');
  if (!fs.existsSync(p)) throw new Error(`collabctl not found at ${p} (set COLLABCTL=/path/to/collabctl)`);
  return p;
}

// Runs collabctl. opts: node (HOST:PORT of an admin port; omitted when
// null), token (omitted when null), json (default true), timeoutMs, env
// (extra environment; nothing COLLAB_* leaks in from the caller's shell).
// Resolves {code, stdout, stderr, json, argv, ms}; never throws for a
// non-zero exit. json: the parsed stdout when it is one JSON value, else
// undefined.
function collabctl(args, opts = {}) {
  const argv = [];
  if (opts.node != null) argv.push('--node', opts.node);
  if (opts.token != null) argv.push('--token', opts.token);
  if (opts.json !== false) argv.push('--json');
  argv.push(...args);
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('COLLAB_')) env[k] = v;
  Object.assign(env, opts.env || {});
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(collabctlPath(), argv, { env, timeout: opts.timeoutMs || 30000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        let code = 0;
        if (err) code = typeof err.code === 'number' ? err.code : (err.killed ? 'timeout' : String(err.code || err.message));
        let json;
        try { json = JSON.parse(stdout); } catch { json = undefined; }
        resolve({ code, stdout, stderr, json, argv, ms: Date.now() - t0, signal: err && err.signal });
      });
  });
}

const show = (r) => `collabctl ${r.argv.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')} -> exit ${r.code}` +
  `${r.signal ? ` (signal ${r.signal})` : ''} in ${r.ms} ms\nstdout: ${r.stdout.slice(0, 1500)}\nstderr: ${r.stderr.slice(0, 1500)}`;

// An admin client bound to a cluster's token: ctl.via(node).run(...args)
// runs collabctl against that node's admin port; json(...args) also asserts
// exit 0 and one JSON object on stdout and resolves it.
class Ctl {
  constructor(token) { this.token = token; }

  run(node, args, opts = {}) {
    return collabctl(args, { node: node.adminAddr, token: this.token, ...opts });
  }

  async json(node, args, opts = {}) {
    const r = await this.run(node, args, opts);
    if (r.code !== 0) throw new Error(`expected exit 0 from ${node.name}: ${show(r)}`);
    if (!r.json || typeof r.json !== 'object' || Array.isArray(r.json)) {
      throw new Error(`expected one JSON object on stdout: ${show(r)}`);
    }
    return r.json;
  }
}

// One HTTP request without keep-alive. Resolves {status, headers, text, body}
// (body: parsed JSON or null); {status: 0, error} when nothing answered.
function httpRequest(port, pathname, { method = 'GET', headers = {}, body, host = '127.0.0.1', timeoutMs = 15000 } = {}) {
  return new Promise((resolve) => {
    const data = body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body));
    const h = { ...headers };
    if (data !== undefined) {
      h['Content-Type'] = h['Content-Type'] || 'application/json';
      h['Content-Length'] = Buffer.byteLength(data);
    }
    const req = http.request({ host, port, path: pathname, method, headers: h, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed = null;
        try { parsed = JSON.parse(text); } catch { parsed = null; }
        resolve({ status: res.statusCode, headers: res.headers, text, body: parsed });
      });
      res.on('error', (e) => resolve({ status: 0, error: e.message, text: '' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, error: e.message, text: '' }));
    if (data !== undefined) req.write(data);
    req.end();
  });
}

// The admin API of a node, raw (token: undefined -> no Authorization header).
function adminHttp(node, pathname, { token, method, body, headers = {} } = {}) {
  const h = { ...headers };
  if (token !== undefined) h.Authorization = `Bearer ${token}`;
  return httpRequest(node.adminPort, pathname, { method, body, headers: h });
}

// The node's client port (docs/PROTOCOL.md "HTTP on the same port").
function clientHttp(node, pathname, { token, method, body, headers = {} } = {}) {
  const h = { ...headers };
  if (token !== undefined) h.Authorization = `Bearer ${token}`;
  return httpRequest(node.port, pathname, { method, body, headers: h });
}

// A ClusterNode seen as one user: its token() mints tokens for `sub`, so
// every socket opened through it (reconnects included) carries that user.
function asUser(node, sub) {
  const o = Object.create(node);
  o.token = (opts = {}) => node.token({ ...opts, sub });
  return o;
}

// A ClusterDoc whose sockets (the first and every reconnect) belong to a
// known user.
class UserDoc extends ClusterDoc {
  constructor(client, doc, home, cluster, user) {
    super(client, doc, home, cluster);
    this.user = user;
  }

  get node() {
    const n = super.node;
    return this.user && n ? asUser(n, this.user) : n;
  }

  set node(n) { super.node = n; }

  // The session id and node of the socket it holds now (welcome message).
  get sessionId() { return this.client.welcome ? this.client.welcome.session : null; }
}

async function openUserEditor(cluster, doc, home, user, label) {
  const c = await session(asUser(home, user), { label });
  const d = new UserDoc(c, doc, home, cluster, user);
  await d.join();
  return d;
}

// Random edits on every editor until the returned stop() is called; an
// editor with `hold` set makes no edits (its document can settle) until
// hold is cleared. pause(d) -> [min, max] ms between edits.
function startTyping(editors, rnd, pause) {
  let running = true;
  const loops = editors.map(async (d) => {
    const [lo, hi] = pause(d);
    await sleep(Math.floor(rnd() * hi));
    while (running && !d.stopped) {
      if (!d.hold && d.text !== null && d.rev !== null) d.submit(randomOp(d.text, rnd));
      await sleep(lo + Math.floor(rnd() * (hi - lo + 1)));
    }
  });
  return async () => {
    running = false;
    await Promise.all(loops);
  };
}

module.exports = {
  collabctl, collabctlPath, show, Ctl, httpRequest, adminHttp, clientHttp, asUser, UserDoc, openUserEditor, startTyping,
};
