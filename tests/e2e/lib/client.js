'use strict';
// A small promise-based client over `ws`: send JSON, await a matching
// message, keep every message, observe the close code.
const crypto = require('node:crypto');
const { EventEmitter } = require('node:events');
const { isDeepStrictEqual } = require('node:util');
const WebSocket = require('ws');

const DEFAULT_TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS || 10000);

function randomId(prefix = 'x') {
  return `${prefix}-${crypto.randomBytes(5).toString('hex')}`;
}

// pred: a type name ('ack'), an object whose every key must deep-equal the
// message's, or a function.
function toPredicate(pred) {
  if (typeof pred === 'function') return pred;
  if (typeof pred === 'string') return (m) => m && m.type === pred;
  if (pred && typeof pred === 'object') {
    return (m) => m && Object.entries(pred).every(([k, v]) => isDeepStrictEqual(m[k], v));
  }
  return () => true;
}

function describe(pred) {
  if (typeof pred === 'function') return pred.name || pred.toString().slice(0, 120);
  return JSON.stringify(pred);
}

const short = (m) => {
  const s = JSON.stringify(m);
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
};

class Client extends EventEmitter {
  constructor(ws, label) {
    super();
    this.ws = ws;
    this.label = label || 'client';
    this.all = [];      // every message, in order of arrival
    this.queue = [];    // not yet consumed by next()
    this.waiters = [];
    this.closeInfo = null; // {code, reason} once closed
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const w of this.waiters.splice(0)) w.onClose(this.closeInfo);
        resolve(this.closeInfo);
        this.emit('closed', this.closeInfo);
      });
    });
    ws.on('error', (e) => { this.lastError = e; });
    ws.on('message', (data, isBinary) => {
      let m;
      if (isBinary) m = { binary: true, length: data.length };
      else {
        try { m = JSON.parse(data.toString('utf8')); } catch { m = { raw: data.toString('utf8') }; }
      }
      this.all.push(m);
      this.emit('msg', m);
      for (let i = 0; i < this.waiters.length; i++) {
        const w = this.waiters[i];
        if (w.pred(m)) {
          this.waiters.splice(i, 1);
          w.resolve(m);
          return;
        }
      }
      this.queue.push(m);
    });
  }

  // Forgets every unconsumed message.
  drain() { this.queue.length = 0; }

  get isOpen() { return this.ws.readyState === WebSocket.OPEN; }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  sendRaw(data, opts = {}) {
    return new Promise((resolve) => this.ws.send(data, opts, () => resolve()));
  }

  // The first unconsumed message matching pred (consumed), else waits for one.
  next(pred, timeoutMs = DEFAULT_TIMEOUT_MS) {
    const p = toPredicate(pred);
    const i = this.queue.findIndex(p);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const fail = (why) => reject(new Error(
        `${this.label}: ${why} waiting for ${describe(pred)}; ` +
        `unconsumed: [${this.queue.slice(-8).map(short).join(', ')}]` +
        (this.closeInfo ? `; closed ${JSON.stringify(this.closeInfo)}` : '')));
      if (this.closeInfo) { fail('socket closed'); return; }
      const w = {
        pred: p,
        resolve: (m) => { clearTimeout(timer); resolve(m); },
        onClose: () => { clearTimeout(timer); fail('socket closed'); },
      };
      const timer = setTimeout(() => {
        const k = this.waiters.indexOf(w);
        if (k >= 0) this.waiters.splice(k, 1);
        fail(`timeout after ${timeoutMs} ms`);
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  // Resolves with the matching message if one arrives within ms, else null.
  async maybe(pred, ms) {
    try { return await this.next(pred, ms); } catch { return null; }
  }

  // Asserts that nothing matching pred arrives within ms (for negative checks
  // where no ordering barrier exists).
  async expectNone(pred, ms = 300) {
    const m = await this.maybe(pred, ms);
    if (m) throw new Error(`${this.label}: unexpected message ${short(m)}`);
  }

  // Waits for the socket to close; resolves {code, reason}.
  waitClose(timeoutMs = DEFAULT_TIMEOUT_MS) {
    if (this.closeInfo) return Promise.resolve(this.closeInfo);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.label}: not closed within ${timeoutMs} ms`)), timeoutMs);
      this.closed.then((c) => { clearTimeout(t); resolve(c); });
    });
  }

  async hello(clientId = randomId('c')) {
    this.clientId = clientId;
    this.send({ type: 'hello', client: clientId, v: 1 });
    const m = await this.next((x) => x.type === 'welcome' || x.type === 'error');
    if (m.type !== 'welcome') throw new Error(`${this.label}: hello refused: ${short(m)}`);
    this.welcome = m;
    return m;
  }

  // join; resolves with `joined` (or throws with the error message)
  async join(doc, rev) {
    const msg = { type: 'join', doc };
    if (rev !== undefined) msg.rev = rev;
    this.send(msg);
    const m = await this.next((x) => (x.type === 'joined' && x.doc === doc) ||
      (x.type === 'error' && x.doc === doc));
    if (m.type !== 'joined') throw new Error(`${this.label}: join ${doc} refused: ${short(m)}`);
    return m;
  }

  // Sends an op and resolves with its ack or error (whichever comes first).
  async op(doc, rev, seq, op, timeoutMs) {
    this.send({ type: 'op', doc, rev, seq, op });
    return this.next((x) => (x.type === 'ack' && x.doc === doc && x.seq === seq) ||
      (x.type === 'error' && (x.seq === seq || (x.seq === undefined && x.doc === doc))), timeoutMs);
  }

  // Like op() but throws unless acked.
  async opAck(doc, rev, seq, op, timeoutMs) {
    const m = await this.op(doc, rev, seq, op, timeoutMs);
    if (m.type !== 'ack') throw new Error(`${this.label}: op seq ${seq} on ${doc} not acked: ${short(m)}`);
    return m;
  }

  async ping(timeoutMs) {
    this.send({ type: 'ping' });
    return this.next('pong', timeoutMs);
  }

  // Awaits the server's answer for an erroring request: an `error`.
  async error(pred = {}, timeoutMs) {
    const p = toPredicate(pred);
    return this.next((x) => x.type === 'error' && p(x), timeoutMs);
  }

  close(code = 1000) {
    try { this.ws.close(code); } catch { /* already closed */ }
  }

  terminate() {
    try { this.ws.terminate(); } catch { /* already closed */ }
  }
}

// Opens a WebSocket to the server. opts:
//   token      a JWT sent as Authorization: Bearer (default: a fresh ['*'] token);
//              false sends no Authorization header
//   tokenOpts  knobs for the default token (see jwt.js)
//   cookie     a Cookie header value
//   origin     an Origin header value
//   headers    extra headers
//   query      query string appended to /v1/ws (without '?')
//   path       replaces /v1/ws
// Resolves { status: 101, client } or { status, headers, body } when the
// upgrade is refused (never throws for an HTTP refusal).
function tryConnect(server, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  let token = opts.token;
  if (token === undefined) {
    // One editor, one user: a client id is owned by the user who uses it
    // (a reconnect with the same client id comes from the same user).
    const owner = opts.client ? { sub: `user-of-${opts.client}` } : {};
    token = server.token({ ...owner, ...(opts.tokenOpts || {}) });
  }
  if (token) headers.Authorization = `Bearer ${token}`;
  if (opts.cookie) headers.Cookie = opts.cookie;
  let url = `ws://${server.host}:${server.port}${opts.path || '/v1/ws'}`;
  if (opts.query) url += `?${opts.query}`;
  const wsOpts = { headers, handshakeTimeout: 15000, maxPayload: 256 * 1024 * 1024, perMessageDeflate: false };
  if (opts.origin) wsOpts.origin = opts.origin;
  const ws = new WebSocket(url, wsOpts);
  const client = new Client(ws, opts.label);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ status: 101, client }));
    ws.once('unexpected-response', (req, res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      const done = () => {
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        req.destroy();
      };
      res.on('end', done);
      res.on('error', done);
      res.on('close', done);
    });
    ws.once('error', (e) => {
      if (ws.readyState === WebSocket.OPEN) return;
      if (server.alive && !server.alive()) {
        try { server.assertAlive(); } catch (died) { reject(died); return; }
      }
      reject(e);
    });
  });
}

// Opens a socket and throws unless the upgrade succeeded.
async function connect(server, opts = {}) {
  const r = await tryConnect(server, opts);
  if (r.status !== 101) {
    const e = new Error(`upgrade refused: HTTP ${r.status} ${r.body || ''}`);
    e.status = r.status;
    throw e;
  }
  return r.client;
}

// connect + hello.
async function session(server, opts = {}) {
  // The client id is chosen before the token so that the default token's
  // user is the client id's owner (see tryConnect).
  const client = opts.client || randomId('c');
  const c = await connect(server, { ...opts, client });
  await c.hello(client);
  return c;
}

module.exports = { Client, connect, tryConnect, session, randomId, toPredicate, DEFAULT_TIMEOUT_MS };
