'use strict';
// A client-side OT document with ot.js/ShareDB discipline: at most one op in
// flight; later local edits composed into `pending`; an incoming op
// transforms inflight/pending with side 'left' and is itself transformed
// with side 'right'. Survives reconnects: resume with join{rev}, then resend
// the inflight op with the same seq.
const { type } = require('ot-text-unicode');
const { session } = require('./client');

class OTDoc {
  // client: a Client that has said hello. doc: document id.
  constructor(client, doc) {
    this.doc = doc;
    this.clientId = client.clientId;
    this.text = null;
    this.rev = null;
    this.seq = 0;          // last seq used
    this.inflight = null;  // {op, seq}
    this.pending = null;   // op
    this.errors = [];      // any error the server sent about this doc
    this.acked = 0;
    this.received = 0;
    this.committed = new Map(); // own seq -> rev
    this.sent = new Map();      // own seq -> [{op, base}] as sent (resends included)
    this.problems = [];    // protocol violations seen (gaps, unexpected acks)
    this.idleWaiters = [];
    this.revWaiters = [];
    this.onMsg = (m) => this.handle(m);
    this.attach(client);
  }

  attach(client) {
    if (this.client) this.client.off('msg', this.onMsg);
    this.client = client;
    this.connected = false;
    client.on('msg', this.onMsg);
  }

  // First join (full text).
  async join() {
    // The state is taken synchronously in handle(): ops may arrive in the
    // same chunk as `joined`, before this promise resumes.
    this.joining = true;
    const j = await this.client.join(this.doc);
    if (typeof j.text !== 'string') throw new Error(`joined without text: ${JSON.stringify(j)}`);
    return j;
  }

  // Drops the socket (abruptly) and resumes on a new one with the same client
  // id: join{rev}, then resend the inflight op with its seq.
  async reconnect(server, opts = {}) {
    this.client.terminate();
    this.connected = false;
    const c = await session(server, { ...opts, client: this.clientId, label: this.client.label });
    this.attach(c);
    this.joining = true;
    // (handle() checks the joined rev against the replay synchronously)
    return c.join(this.doc, this.rev);
  }

  get idle() { return !this.inflight && !this.pending; }

  // Applies op locally (op made on the current local text) and queues it.
  submit(op) {
    this.text = type.apply(this.text, op);
    this.pending = this.pending ? type.compose(this.pending, op) : op;
    this.flush();
  }

  send() {
    const { op, seq } = this.inflight;
    if (!this.sent.has(seq)) this.sent.set(seq, []);
    this.sent.get(seq).push({ op, base: this.rev });
    this.client.send({ type: 'op', doc: this.doc, rev: this.rev, seq, op });
  }

  flush() {
    if (!this.connected) return;
    if (!this.inflight && this.pending) {
      this.inflight = { op: this.pending, seq: ++this.seq };
      this.pending = null;
      this.send();
    }
    if (this.idle) for (const w of this.idleWaiters.splice(0)) w();
  }

  ownCommitted(seq, rev) {
    this.committed.set(seq, rev);
    this.rev = rev;
    this.inflight = null;
    this.acked++;
  }

  handle(m) {
    if (m.doc !== this.doc) return;
    if (m.type === 'joined' && this.joining) {
      this.joining = false;
      if (this.rev === null) {
        this.text = m.text;
        this.rev = m.rev;
      } else if ('text' in m) {
        this.problems.push(`resume from ${this.rev} answered with full text at ${m.rev}`);
      } else if (m.rev !== this.rev) {
        this.problems.push(`resume joined at ${m.rev}, replay brought us to ${this.rev}`);
      }
      this.connected = true;
      if (this.inflight) this.send(); // not seen committed: resend, same seq
      this.flush();
      return;
    }
    if (this.rev === null) return;
    if (m.type === 'ack') {
      if (!this.inflight || m.seq !== this.inflight.seq) {
        // a re-ack of an op we already learned was committed is fine
        if (this.committed.get(m.seq) === m.rev) return;
        this.problems.push(`unexpected ack ${JSON.stringify(m)} (inflight ${JSON.stringify(this.inflight)})`);
        return;
      }
      if (m.rev !== this.rev + 1) this.problems.push(`ack rev ${m.rev} after rev ${this.rev}`);
      this.ownCommitted(m.seq, m.rev);
      this.flush();
    } else if (m.type === 'op') {
      if (m.rev !== this.rev + 1) this.problems.push(`op rev ${m.rev} after rev ${this.rev}`);
      this.received++;
      if (m.client === this.clientId) {
        // our own op, learned as an `op` (resume): it is the ack
        if (this.inflight && m.seq === this.inflight.seq) {
          this.ownCommitted(m.seq, m.rev);
          this.flush();
        } else {
          this.problems.push(`own op ${JSON.stringify(m)} not inflight (${JSON.stringify(this.inflight)})`);
        }
        this.notifyRev();
        return;
      }
      let incoming = m.op;
      if (this.inflight) {
        const inf = type.transform(this.inflight.op, incoming, 'left');
        incoming = type.transform(incoming, this.inflight.op, 'right');
        this.inflight.op = inf;
      }
      if (this.pending) {
        const pen = type.transform(this.pending, incoming, 'left');
        incoming = type.transform(incoming, this.pending, 'right');
        this.pending = pen;
      }
      try {
        this.text = type.apply(this.text, incoming);
      } catch (e) {
        this.problems.push(`cannot apply ${JSON.stringify(m)}: ${e.message}`);
      }
      this.rev = m.rev;
      this.notifyRev();
    } else if (m.type === 'error') {
      this.errors.push(m);
    }
  }

  notifyRev() {
    this.revWaiters = this.revWaiters.filter((w) => !(this.rev >= w.rev && (w.resolve(), true)));
  }

  // Resolves once nothing is in flight or pending.
  settle(timeoutMs = 20000) {
    if (this.idle && this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(
        `${this.client.label}: ${this.doc} not settled in ${timeoutMs} ms ` +
        `(inflight ${JSON.stringify(this.inflight)}, errors ${JSON.stringify(this.errors)})`)), timeoutMs);
      this.idleWaiters.push(() => { clearTimeout(t); resolve(); });
    });
  }

  // Resolves once the local rev reached rev.
  waitRev(rev, timeoutMs = 20000) {
    if (this.rev >= rev) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(
        `${this.client.label}: ${this.doc} at rev ${this.rev}, wanted ${rev} within ${timeoutMs} ms`)), timeoutMs);
      this.revWaiters.push({ rev, resolve: () => { clearTimeout(t); resolve(); } });
    });
  }

  detach() { this.client.off('msg', this.onMsg); }
}

// Code-point helpers: positions in ot-text-unicode are code points.
const cpLength = (s) => [...s].length;

const ALPHABET = ['a', 'b', 'c', 'x', ' ', 'é', 'ß', '字', '漢', '語', 'の', '한',
  '😀', '👍🏽', '🏳️‍🌈', '🎉', '\n', 'Ω', 'ж'];

// A random valid op on `text` (a string), keeping the text near `target` code points.
function randomOp(text, rnd = Math.random, target = 200) {
  const len = cpLength(text);
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const randomString = () => {
    let s = '';
    const n = 1 + Math.floor(rnd() * 4);
    for (let i = 0; i < n; i++) s += pick(ALPHABET);
    return s;
  };
  const delProb = len === 0 ? 0 : Math.min(0.8, 0.3 + 0.4 * (len / target));
  let op;
  if (rnd() < delProb) {
    const pos = Math.floor(rnd() * len);
    const n = 1 + Math.floor(rnd() * Math.min(5, len - pos));
    // a third of the deletes in the invertible form {d: "text"}
    const del = rnd() < 0.33 ? { d: [...text].slice(pos, pos + n).join('') } : { d: n };
    op = [pos, del];
    if (rnd() < 0.3) op = [pos, randomString(), del]; // replace
  } else {
    const pos = Math.floor(rnd() * (len + 1));
    op = [pos, randomString()];
  }
  return type.normalize(op);
}

module.exports = { OTDoc, cpLength, randomOp, type };
