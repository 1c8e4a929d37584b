// An in-memory collab server for unit tests: just enough of docs/PROTOCOL.md,
// with real ot-text-unicode transforms (side left, like collabd), exactly-once
// by (client, doc, seq), resume with replay, and knobs to break things.
// `server.createSocket` is what a CollabClient gets as its socket factory; the
// fake sockets deliver every frame asynchronously (setImmediate), in order.
import otText from 'ot-text-unicode';

const { type } = otText;

class FakeSocket {
  constructor(server, url) {
    this.server = server;
    this.url = url;
    this.readyState = 0;
    this.session = null; // server side: { id, client, docs:Set }
    this.onopen = this.onmessage = this.onerror = this.onclose = null;
  }

  send(text) {
    if (this.readyState !== 1) throw new Error('socket not open');
    this.server.sent.push(JSON.parse(text));
    setImmediate(() => { if (this.readyState === 1) this.server._receive(this, JSON.parse(text)); });
  }

  close(code = 1000) {
    if (this.readyState >= 2) return;
    this.server._detach(this);
    this.readyState = 3;
    setImmediate(() => this.onclose?.({ code, reason: '' }));
  }

  // Server side helpers.
  deliver(msg) {
    if (this.readyState !== 1) return;
    const text = JSON.stringify(msg);
    setImmediate(() => { if (this.readyState === 1) this.onmessage?.({ data: text }); });
  }

  serverClose(code, reason = '') {
    if (this.readyState >= 2) return;
    this.server._detach(this);
    setImmediate(() => {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    });
  }
}

export class FakeServer {
  constructor() {
    this.docs = new Map();   // id -> { text, ops: [{rev, client, seq, op}], seqs: Map client->lastSeq }
    this.sockets = new Set();
    this.connects = [];      // urls in the order sockets were created
    this.sent = [];          // every client->server message
    this.down = new Set();   // urls that refuse connections
    this.refuse = null;      // (url) => close code to refuse with before welcome, or null
    this.replayFrom = 0;     // resumes from a rev below this get `joined` with text
    this.historyFrom = 0;    // ops based on a rev below this get rev_too_old
    this.hooks = {};         // onOp(sock, msg) -> 'drop' (commit, lose the ack) | 'lose' | {error, retry_after_ms?} | undefined
                             // onJoin(sock, msg) -> {error, retry_after_ms?} | undefined
    this.batching = false;   // grant `hello batch`: ops and presence in batches (docs/PROTOCOL.md)
    this.batchFrames = 0;    // ops frames sent, and the most ops in one
    this.largestBatch = 0;
    this.nextSession = 1;
    this.createSocket = (url) => this._connect(url);
  }

  doc(id) {
    if (!this.docs.has(id)) this.docs.set(id, { text: '', ops: [], seqs: new Map(), subs: new Set(), batch: null });
    return this.docs.get(id);
  }

  text(id) { return this.doc(id).text; }

  // Closes every open socket with code (a node going away).
  closeAll(code = 1001) {
    for (const s of [...this.sockets]) s.serverClose(code);
  }

  // Commits an op as another client would (no socket needed).
  commit(id, client, op) {
    const d = this.doc(id);
    const seq = (d.seqs.get(client) ?? 0) + 1;
    return this._commit(id, { client, seq, op, rev: d.ops.length });
  }

  _connect(url) {
    this.connects.push(url);
    const sock = new FakeSocket(this, url);
    setImmediate(() => {
      if (this.down.has(url)) {
        sock.readyState = 3;
        sock.onerror?.({ message: `connect ECONNREFUSED ${url}` });
        sock.onclose?.({ code: 1006, reason: '' });
        return;
      }
      sock.readyState = 1;
      this.sockets.add(sock);
      sock.onopen?.({});
    });
    return sock;
  }

  _detach(sock) {
    if (!this.sockets.delete(sock)) return;
    const s = sock.session;
    if (!s) return;
    for (const id of s.docs) {
      const d = this.doc(id);
      d.subs.delete(sock);
      if (s.presence?.get(id) != null) this._broadcast(id, sock, { type: 'presence', doc: id, client: s.client, user: s.user, data: null });
    }
  }

  _receive(sock, m) {
    if (m.type === 'hello') {
      const code = this.refuse?.(sock.url);
      if (code) return sock.serverClose(code, 'refused');
      const batch = this.batching && m.batch === true;
      sock.session = { id: `s${this.nextSession++}`, client: m.client, user: `u-${m.client}`, docs: new Set(), presence: new Map(), batch };
      return sock.deliver({ type: 'welcome', node: `node-${sock.url}`, session: sock.session.id, v: 1, ...(batch ? { batch } : {}) });
    }
    const s = sock.session;
    if (!s) return sock.serverClose(1008, 'hello first');
    switch (m.type) {
      case 'join': return this._join(sock, m);
      case 'op': return this._op(sock, m);
      case 'presence': {
        s.presence.set(m.doc, m.data);
        return this._broadcast(m.doc, sock, { type: 'presence', doc: m.doc, client: s.client, user: s.user, data: m.data });
      }
      case 'leave':
        s.docs.delete(m.doc);
        this.doc(m.doc).subs.delete(sock);
        return sock.deliver({ type: 'left', doc: m.doc });
      case 'ping': return sock.deliver({ type: 'pong' });
      case 'auth': s.token = m.token; return undefined;
      default: return sock.deliver({ type: 'error', code: 'bad_request', message: m.type });
    }
  }

  _join(sock, m) {
    const hook = this.hooks.onJoin?.(sock, m);
    if (hook?.error) {
      return sock.deliver({ type: 'error', code: hook.error, message: hook.error, doc: m.doc, retry_after_ms: hook.retry_after_ms });
    }
    const d = this.doc(m.doc);
    const head = d.ops.length;
    if (m.rev !== undefined && m.rev > head) {
      return sock.deliver({ type: 'error', code: 'rev_ahead', message: 'ahead', doc: m.doc });
    }
    sock.session.docs.add(m.doc);
    d.subs.add(sock);
    if (m.rev !== undefined && m.rev >= this.replayFrom) {
      for (const o of d.ops.slice(m.rev)) sock.deliver({ type: 'op', doc: m.doc, ...o });
      sock.deliver({ type: 'joined', doc: m.doc, rev: head });
    } else {
      sock.deliver({ type: 'joined', doc: m.doc, rev: head, text: d.text });
    }
    for (const other of d.subs) {
      const p = other.session.presence.get(m.doc);
      if (other !== sock && p != null) {
        sock.deliver({ type: 'presence', doc: m.doc, client: other.session.client, user: other.session.user, data: p });
      }
    }
    return undefined;
  }

  _op(sock, m) {
    const d = this.doc(m.doc);
    const s = sock.session;
    const err = (code, retryAfterMs) => sock.deliver({ type: 'error', code, message: code, doc: m.doc, seq: m.seq, retry_after_ms: retryAfterMs });
    if (!s.docs.has(m.doc)) return err('not_joined');
    const hook = this.hooks.onOp?.(sock, m);
    if (hook?.error) return err(hook.error, hook.retry_after_ms);
    if (hook === 'lose') return undefined; // never reached the document
    const last = d.seqs.get(s.client) ?? 0;
    if (m.seq <= last) {
      const o = d.ops.find((x) => x.client === s.client && x.seq === m.seq);
      return sock.deliver({ type: 'ack', doc: m.doc, seq: m.seq, rev: o.rev });
    }
    if (m.seq !== last + 1) return err('seq_gap');
    if (m.rev > d.ops.length) return err('rev_ahead');
    if (m.rev < this.historyFrom) return err('rev_too_old');
    let op = m.op;
    try {
      for (const o of d.ops.slice(m.rev)) op = type.transform(op, o.op, 'left');
      type.apply(d.text, op);
    } catch {
      return err('bad_op');
    }
    const committed = this._commit(m.doc, { client: s.client, seq: m.seq, op, rev: m.rev }, sock);
    if (hook === 'drop') return undefined; // committed, the ack is lost with the socket
    if (s.batch) return undefined; // the op in the next batch is the ack
    return sock.deliver({ type: 'ack', doc: m.doc, seq: m.seq, rev: committed.rev });
  }

  // Commits an op already transformed to the head; fans it out.
  _commit(id, { client, seq, op }, from = null) {
    const d = this.doc(id);
    d.text = type.apply(d.text, op);
    const o = { rev: d.ops.length + 1, client, seq, op };
    d.ops.push(o);
    d.seqs.set(client, seq);
    for (const sub of d.subs) if (sub !== from && !sub.session.batch) sub.deliver({ type: 'op', doc: id, ...o });
    this._batch(id, o);
    return o;
  }

  // Batched subscribers get the ops of one turn of the event loop as one
  // frame, their own included (the sender's ack).
  _batch(id, o) {
    const d = this.doc(id);
    if (d.batch) return void d.batch.push(o);
    d.batch = [o];
    setImmediate(() => {
      const ops = d.batch;
      d.batch = null;
      this.batchFrames++;
      this.largestBatch = Math.max(this.largestBatch, ops.length);
      for (const sub of d.subs) if (sub.session.batch) sub.deliver({ type: 'ops', doc: id, ops });
    });
  }

  _broadcast(id, from, msg) {
    for (const sub of this.doc(id).subs) if (sub !== from) sub.deliver(msg);
  }
}

// Resolves when pred() holds, checking after every macrotask turn.
export async function until(pred, what = 'condition', timeoutMs = 3000) {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
