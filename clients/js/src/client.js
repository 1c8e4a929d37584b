// CollabClient: one WebSocket to one collab node at a time, the hello/welcome
// handshake, routing of server messages to Doc objects, reconnecting with
// backoff across a list of node URLs, and token refresh. The documents' OT
// state lives in doc.js; this file only knows about sockets and sessions.
//
// Socket contract (browser WebSocket and the `ws` package both satisfy it):
// `send(string)`, `close(code?)`, and the onopen / onmessage({data}) /
// onerror / onclose({code, reason}) handler properties. All callbacks run on
// the caller's event loop; nothing here blocks.
import { Emitter } from './emitter.js';
import { Backoff } from './backoff.js';
import { Doc } from './doc.js';

const CLIENT_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
const REFRESH_BEFORE_EXP_MS = 30000;
const MIN_REFRESH_DELAY_MS = 1000; // a token that is already old must not spin

export function randomClientId(length = 16) {
  const bytes = new Uint8Array(length);
  globalThis.crypto.getRandomValues(bytes);
  let id = '';
  for (const b of bytes) id += ID_ALPHABET[b & 63];
  return id;
}

function defaultCreateSocket(url) {
  if (typeof globalThis.WebSocket !== 'function') {
    throw new Error('no global WebSocket: pass createSocket (e.g. the ws package) in Node');
  }
  return new globalThis.WebSocket(url); // the browser sends the collab_token cookie
}

// The `exp` claim (seconds) of a JWT, or undefined when it is not one.
function jwtExp(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const exp = JSON.parse(atob(part)).exp;
    return typeof exp === 'number' ? exp : undefined;
  } catch {
    return undefined;
  }
}

export class CollabClient extends Emitter {
  constructor(opts = {}) {
    super();
    const urls = typeof opts.urls === 'string' ? [opts.urls] : opts.urls;
    if (!Array.isArray(urls) || urls.length === 0) {
      throw new TypeError('urls: a non-empty array of ws:// or wss:// URLs');
    }
    this.clientId = opts.clientId ?? randomClientId();
    if (!CLIENT_ID_RE.test(this.clientId)) {
      throw new TypeError('clientId: 1 to 64 characters of [A-Za-z0-9_-]');
    }
    // Constant after construction
    this.urls = [...urls];
    this.createSocket = opts.createSocket ?? defaultCreateSocket;
    this.refreshToken = opts.refreshToken ?? null;
    this.pingIntervalMs = opts.pingIntervalMs ?? 25000;
    // Batched delivery (docs/PROTOCOL.md): one frame per document per tick
    // for ops and presence; `batch: false` asks for one frame per op.
    this.batch = opts.batch ?? true;
    this._backoff = new Backoff(opts.backoff);
    // After 1001 (the node drains): reconnect within this many ms, at random,
    // so that a node's thousands of sockets do not all land in one instant.
    this.drainJitterMs = opts.drainJitterMs ?? 500;

    this.token = opts.token;   // last token from refreshToken (or the initial one)
    this.status = 'offline';
    this.node = null;
    this.session = null;
    this.url = null;           // URL of the current or last socket

    this._docs = new Map();
    this._socket = null;
    this._welcomed = false;    // welcome received on _socket
    this._urlIndex = -1;       // the first attempt takes urls[0]
    this._wanted = false;      // connect() called, no disconnect() since
    this._closed = false;      // close() called: for good
    this._reconnectTimer = null;
    this._pingTimer = null;
    this._lastMessageAt = 0;
    this._refreshing = null;   // promise of the refresh under way
    this._refreshTimer = null;
    this._expiredRefresh = null; // refresh started by error token_expired
    this._authFailure = false; // the last socket was refused for its token
    if (opts.tokenExp) this._scheduleRefresh(opts.tokenExp);
    else if (typeof this.token === 'string') this._scheduleRefresh(jwtExp(this.token));
  }

  // ---- Public API ----------------------------------------------------------

  connect() {
    if (this._closed || this._wanted) return;
    this._wanted = true;
    if (!this._socket && !this._reconnectTimer) this._open();
  }

  // Going offline on purpose (tests, the demo's offline switch): local edits
  // keep composing into pending until reconnect().
  disconnect() {
    this._wanted = false;
    this._cancelReconnect();
    this._drop();
    this._setStatus('offline');
  }

  // Resumes after disconnect(), or replaces the current socket at once.
  reconnect() {
    if (this._closed) return;
    this._wanted = true;
    this._cancelReconnect();
    this._backoff.reset();
    this._drop();
    this._open();
  }

  close() {
    this.disconnect();
    this._closed = true;
    clearTimeout(this._refreshTimer);
    this._refreshTimer = null;
  }

  doc(id) {
    let d = this._docs.get(id);
    if (!d) {
      d = new Doc(this, id);
      this._docs.set(id, d);
      if (this._welcomed) d._onConnected();
    }
    return d;
  }

  // ---- Socket lifecycle ----------------------------------------------------

  _open() {
    this._reconnectTimer = null;
    if (!this._wanted) return;
    this._urlIndex = (this._urlIndex + 1) % this.urls.length;
    const url = this.urls[this._urlIndex];
    this.url = url;
    this._setStatus('connecting');
    let sock;
    try {
      sock = this.createSocket(url);
    } catch (e) {
      this._transportError(`createSocket(${url}) failed: ${e.message}`);
      this._scheduleReconnect(this._backoff.next());
      return;
    }
    this._socket = sock;
    this._welcomed = false;
    this._authFailure = false;
    this._lastMessageAt = Date.now();
    sock.onopen = () => {
      if (sock !== this._socket) return;
      const hello = { type: 'hello', client: this.clientId, v: 1 };
      if (this.batch) hello.batch = true;
      this._sendRaw(hello);
    };
    sock.onmessage = (ev) => {
      if (sock === this._socket) this._onMessage(ev.data);
    };
    sock.onerror = (ev) => {
      if (sock !== this._socket) return;
      const message = ev?.message ?? ev?.error?.message ?? `WebSocket error on ${url}`;
      // ws reports a refused upgrade as "Unexpected server response: 401";
      // a browser cannot see it and gets a plain close 1006.
      if (/\b(401|403)\b/.test(message)) this._authFailure = true;
      this._transportError(message);
    };
    sock.onclose = (ev) => {
      if (sock !== this._socket) return;
      this._socket = null;
      this._onClosed(ev?.code ?? 1006, ev?.reason ?? '');
    };
  }

  // Forgets the current socket and closes it without waiting for its close
  // event (a dead network can take minutes to deliver one).
  _drop(code = 1000) {
    const sock = this._socket;
    if (!sock) return;
    this._socket = null;
    try { sock.close(code); } catch { /* already closing */ }
    this._afterSocket();
  }

  // Whatever ended the socket: stop its timers, tell the documents.
  _afterSocket() {
    const wasWelcomed = this._welcomed;
    this._welcomed = false;
    clearInterval(this._pingTimer);
    this._pingTimer = null;
    for (const d of this._docs.values()) d._onDisconnected();
    return wasWelcomed;
  }

  _onClosed(code, reason) {
    const wasWelcomed = this._afterSocket();
    if (!this._wanted) {
      this._setStatus('offline');
      return;
    }
    if (code === 1008 || (this._authFailure && !this.refreshToken)) {
      // Policy / auth: retrying with the same credentials cannot help.
      this._wanted = false;
      this._setStatus('offline');
      this.emit('error', { code: 'unauthorized', message: reason || `refused by ${this.url} (close ${code})` });
      return;
    }
    if (code === 4001 || this._authFailure) {
      // Token expired (or refused at the upgrade): refresh, then reconnect;
      // at once after a good session, with backoff when it keeps failing.
      this._setStatus('connecting');
      const delay = wasWelcomed ? 0 : this._backoff.next();
      const refreshed = this._expiredRefresh ?? this._refresh();
      this._expiredRefresh = null;
      refreshed.then(() => {
        if (this._wanted && !this._socket && !this._reconnectTimer) this._scheduleReconnect(delay);
      });
      return;
    }
    // 1001: the node drains or the document moved; any node will do, soon.
    this._scheduleReconnect(code === 1001 && wasWelcomed
      ? Math.random() * this.drainJitterMs : this._backoff.next());
  }

  _scheduleReconnect(delay) {
    this._cancelReconnect();
    this._setStatus('connecting');
    this._reconnectTimer = setTimeout(() => this._open(), delay);
  }

  _cancelReconnect() {
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
  }

  // ---- Messages ------------------------------------------------------------

  _sendRaw(msg) {
    try {
      this._socket.send(JSON.stringify(msg));
      return true;
    } catch (e) {
      this._transportError(`send failed: ${e.message}`);
      return false;
    }
  }

  // Sends on the current session; false when there is none (the caller's
  // state is resent after the next welcome anyway).
  _send(msg) {
    if (!this._socket || !this._welcomed) return false;
    return this._sendRaw(msg);
  }

  _onMessage(data) {
    this._lastMessageAt = Date.now();
    let m;
    try {
      m = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data));
    } catch {
      this._transportError('a frame that is not JSON');
      return;
    }
    if (!m || typeof m !== 'object') return;
    switch (m.type) {
      case 'welcome': return this._onWelcome(m);
      case 'pong': return undefined;
      case 'error': return this._onError(m);
      default: {
        const d = typeof m.doc === 'string' ? this._docs.get(m.doc) : undefined;
        return d?._handle(m);
      }
    }
  }

  _onWelcome(m) {
    this.node = m.node ?? null;
    this.session = m.session ?? null;
    this._welcomed = true;
    this._backoff.reset();
    this._startPing();
    this._setStatus('connected');
    this.emit('welcome', { node: this.node, session: this.session });
    for (const d of this._docs.values()) d._onConnected();
  }

  _onError(m) {
    const err = { code: m.code, message: m.message ?? '' };
    if (m.doc !== undefined) err.doc = m.doc;
    if (m.seq !== undefined) err.seq = m.seq;
    this.emit('error', err);
    // Close 4001 follows; the refresh started now serves it.
    if (m.code === 'token_expired') this._expiredRefresh = this._refresh();
    const d = typeof m.doc === 'string' ? this._docs.get(m.doc) : undefined;
    if (d) {
      d.emit('error', err);
      d._handle(m);
    }
  }

  _transportError(message) {
    this.emit('error', { code: 'transport', message });
  }

  // A socket that went silent (no pong) is dropped and replaced.
  _startPing() {
    clearInterval(this._pingTimer);
    if (!(this.pingIntervalMs > 0)) return;
    this._pingTimer = setInterval(() => {
      if (Date.now() - this._lastMessageAt > 2 * this.pingIntervalMs) {
        this._transportError(`no answer from ${this.url} for ${2 * this.pingIntervalMs} ms`);
        this._drop(4000);
        this._scheduleReconnect(this._backoff.next());
        return;
      }
      this._send({ type: 'ping' });
    }, this.pingIntervalMs);
  }

  // ---- Tokens --------------------------------------------------------------

  // Calls refreshToken once even when several triggers race. Resolves to
  // { ok, token }.
  _refresh() {
    if (!this.refreshToken) return Promise.resolve({ ok: false });
    if (this._refreshing) return this._refreshing;
    this._refreshing = (async () => {
      try {
        const token = await this.refreshToken();
        if (typeof token === 'string') {
          this.token = token;
          this._scheduleRefresh(jwtExp(token));
        }
        return { ok: true, token };
      } catch (e) {
        this.emit('error', { code: 'refresh_failed', message: e?.message ?? String(e) });
        return { ok: false };
      } finally {
        this._refreshing = null;
      }
    })();
    return this._refreshing;
  }

  // expSeconds: the token's `exp`; refresh about 30 s before it.
  _scheduleRefresh(expSeconds) {
    clearTimeout(this._refreshTimer);
    this._refreshTimer = null;
    if (!this.refreshToken || typeof expSeconds !== 'number' || this._closed) return;
    const delay = Math.max(MIN_REFRESH_DELAY_MS, expSeconds * 1000 - REFRESH_BEFORE_EXP_MS - Date.now());
    this._refreshTimer = setTimeout(() => this._refreshBeforeExpiry(), Math.min(delay, 2 ** 31 - 1));
  }

  async _refreshBeforeExpiry() {
    this._refreshTimer = null;
    const { ok, token } = await this._refresh();
    if (!ok || !this._welcomed) return; // the next socket uses the new credentials
    if (typeof token === 'string') this._send({ type: 'auth', token });
    else this.reconnect(); // a new cookie only counts at the upgrade
  }

  // ---- Bookkeeping ---------------------------------------------------------

  _forget(doc) {
    if (this._docs.get(doc.id) === doc) this._docs.delete(doc.id);
  }

  _setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.emit('status', status);
  }
}
