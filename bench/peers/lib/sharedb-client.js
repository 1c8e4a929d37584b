'use strict';
// One ShareDB client of load.js: its own Connection over `ws`, one
// subscribed text-unicode document. ShareDB's Doc keeps one op in flight
// and composes what is submitted meanwhile into one pending op; load.js
// times what actually goes over the wire, from the Connection's 'send' and
// 'receive' events (an ack is an `op` reply with our src and no op).
const { performance } = require('perf_hooks');
const WebSocket = require('ws');
const ShareDB = require('sharedb/lib/client');
const textUnicode = require('ot-text-unicode').type;

ShareDB.types.register(textUnicode);
const COLLECTION = 'texts';

class SharedbClient {
  constructor(w, doc, index, url) {
    Object.assign(this, { w, doc, index, url, failed: false, sentAt: new Map() });
    this.keep = 1; // deletes leave the last char: see the create below
  }

  connect(create) {
    this.conn = new ShareDB.Connection(new WebSocket(this.url));
    this.sdoc = this.conn.get(COLLECTION, this.doc.name);
    this.conn.on('send', (m) => this.onSend(m));
    this.conn.on('receive', (req) => this.onReceive(req.data));
    this.conn.on('error', (e) => this.fail(`connection:${e.code || e.message}`));
    this.sdoc.on('error', (e) => this.fail(`doc:${e.code || e.message}`));
    return new Promise((resolve, reject) => {
      const done = (err) => (err ? reject(err) : resolve());
      if (!create) return this.sdoc.subscribe(done);
      this.sdoc.subscribe((err) => {
        if (err || this.sdoc.type) return done(err);
        // Never '': sharedb-postgres 5 reads an empty string back as no
        // data (`row.data || undefined`) and every op on it then fails. A
        // newline, like the one every Quill document ends with, and the
        // deletes of load.js leave one char (this.keep).
        this.sdoc.create('\n', textUnicode.uri, done);
      });
    });
  }

  onSend(m) {
    if (m.a !== 'op' || !m.op) return;
    this.sentAt.set(m.seq, performance.now());
    this.w.sent(this.doc, m.op.filter((c) => typeof c === 'string'));
  }

  onReceive(m) {
    if (!m || m.a !== 'op' || m.d !== this.doc.name) return;
    if (m.error) return this.fail(`op:${m.error.code || m.error.message}`);
    if (m.src === this.conn.id) {
      const at = this.sentAt.get(m.seq);
      if (at === undefined || m.op) return; // the create, or our op echoed back
      this.sentAt.delete(m.seq);
      // The Doc has not handled the ack yet (the event comes first): let it,
      // so that idle() is true when load.js asks.
      queueMicrotask(() => this.w.acked(this, at));
    } else if (m.op && m.v >= this.sdoc.version) { // new to us, not a resend
      for (const c of m.op) if (typeof c === 'string') this.w.remoteInsert(this.doc, c);
    }
  }

  fail(code) {
    this.w.error(code);
    this.failed = true;
  }

  submit(op) {
    this.sdoc.submitOp(op, (err) => err && this.fail(`submit:${err.code || err.message}`));
  }

  insert(pos, s) { this.submit(pos ? [pos, s] : [s]); }
  remove(pos, n) { this.submit(pos ? [pos, { d: n }] : [{ d: n }]); }
  idle() { return !this.sdoc.hasWritePending(); }
  text() { return this.sdoc.data; }
  length() { return this.sdoc.data.length; } // ASCII only: code units = code points
  close() { this.conn.close(); }
}

module.exports = SharedbClient;
