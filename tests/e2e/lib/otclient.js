'use strict';
// A client-side OT document over one joined Client, with ot.js/ShareDB
// discipline: at most one op in flight; later local edits composed into
// `pending`; an incoming op transforms inflight/pending with side 'left'
// and is itself transformed with side 'right'.
const { type } = require('ot-text-unicode');

class OTDoc {
  // client: a Client that has said hello. doc: document id.
  constructor(client, doc) {
    this.client = client;
    this.doc = doc;
    this.text = null;
    this.rev = null;
    this.seq = 0;          // last seq used
    this.inflight = null;  // {op, seq}
    this.pending = null;   // op
    this.errors = [];      // any error the server sent about this doc
    this.acked = 0;
    this.received = 0;
    this.problems = [];    // protocol violations seen (gaps, unexpected acks)
    this.ackWaiters = [];
    this.onMsg = (m) => this.handle(m);
    client.on('msg', this.onMsg);
  }

  async join() {
    // The state is taken synchronously in handle(): ops may arrive in the
    // same chunk as `joined`, before this promise resumes.
    this.joining = true;
    const j = await this.client.join(this.doc);
    if (typeof j.text !== 'string') throw new Error(`joined without text: ${JSON.stringify(j)}`);
    return j;
  }

  get idle() { return !this.inflight && !this.pending; }

  // Applies op locally (op made on the current local text) and queues it.
  submit(op) {
    this.text = type.apply(this.text, op);
    if (this.inflight) this.pending = this.pending ? type.compose(this.pending, op) : op;
    else this.sendInflight(op);
  }

  sendInflight(op) {
    this.inflight = { op, seq: ++this.seq };
    this.client.send({ type: 'op', doc: this.doc, rev: this.rev, seq: this.inflight.seq, op });
  }

  flushPending() {
    if (!this.inflight && this.pending) {
      const p = this.pending;
      this.pending = null;
      this.sendInflight(p);
    }
    if (this.idle) for (const w of this.ackWaiters.splice(0)) w();
  }

  handle(m) {
    if (m.doc !== this.doc) return;
    if (m.type === 'joined' && this.joining) {
      this.joining = false;
      this.text = m.text;
      this.rev = m.rev;
      return;
    }
    if (this.rev === null) return;
    if (m.type === 'ack') {
      if (!this.inflight || m.seq !== this.inflight.seq) {
        this.problems.push(`unexpected ack ${JSON.stringify(m)} (inflight ${JSON.stringify(this.inflight)})`);
        return;
      }
      if (m.rev !== this.rev + 1) this.problems.push(`ack rev ${m.rev} after rev ${this.rev}`);
      this.rev = m.rev;
      this.inflight = null;
      this.acked++;
      this.flushPending();
    } else if (m.type === 'op') {
      if (m.rev !== this.rev + 1) this.problems.push(`op rev ${m.rev} after rev ${this.rev}`);
      this.received++;
      let incoming = m.op;
      if (this.inflight && m.client === this.client.clientId && m.seq === this.inflight.seq) {
        // our own op, learned as an `op` (resume): it is the ack
        this.rev = m.rev;
        this.inflight = null;
        this.acked++;
        this.flushPending();
        return;
      }
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
      this.text = type.apply(this.text, incoming);
      this.rev = m.rev;
    } else if (m.type === 'error') {
      this.errors.push(m);
    }
  }

  // Resolves once nothing is in flight or pending.
  settle(timeoutMs = 20000) {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(
        `${this.client.label}: ${this.doc} not settled in ${timeoutMs} ms ` +
        `(inflight ${JSON.stringify(this.inflight)}, errors ${JSON.stringify(this.errors)})`)), timeoutMs);
      this.ackWaiters.push(() => { clearTimeout(t); resolve(); });
    });
  }

  detach() { this.client.off('msg', this.onMsg); }
}

// Code-point helpers: positions in ot-text-unicode are code points.
const cpLength = (s) => [...s].length;

module.exports = { OTDoc, cpLength, type };
