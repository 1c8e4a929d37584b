'use strict';
// One Hocuspocus client of load.js: the Hocuspocus wire protocol spoken
// directly over `ws` (every message: varString document name, varUint
// type, payload; the Yjs sync messages are y-protocols'), so that the
// client keeps one update in flight like the OT clients, and costs the
// load generator little.
//
// The "ack": Hocuspocus answers each Sync update (and SyncStep2) of a
// connection with a SyncStatus message once it has applied it to the
// server's Y.Doc in memory; it says nothing about storage (there is none
// here). A connection's messages are handled in order, so the replies
// match our sends first in, first out.
const { performance } = require('perf_hooks');
const WebSocket = require('ws');
const Y = require('yjs');
const encoding = require('lib0/encoding');
const decoding = require('lib0/decoding');
const syncProtocol = require('y-protocols/sync');

const MSG = { sync: 0, awareness: 1, auth: 2, syncReply: 4, syncStatus: 8 };
const AUTH = { token: 0, denied: 1, authenticated: 2 };
const REMOTE = Symbol('remote'); // transaction origin of what the server sent

class HocuspocusClient {
  constructor(w, doc, index, url) {
    Object.assign(this, { w, doc, index, url, failed: false, keep: 0 });
    this.ydoc = new Y.Doc();
    this.ytext = this.ydoc.getText('t');
    this.expect = []; // one entry per message the server will SyncStatus: {at, measured}
    this.pending = []; // local updates made while one is in flight
    this.pendingTexts = [];
    this.lastTexts = []; // inserts of the edit being made now
  }

  connect() {
    return new Promise((resolve, reject) => {
      this.joined = resolve;
      const ws = (this.ws = new WebSocket(this.url));
      ws.binaryType = 'nodebuffer';
      ws.on('open', () => {
        this.send((e) => { // no onAuthenticate hook on the server: any token
          encoding.writeVarUint(e, MSG.auth);
          encoding.writeVarUint(e, AUTH.token);
          encoding.writeVarString(e, '');
        });
        this.send((e) => {
          encoding.writeVarUint(e, MSG.sync);
          syncProtocol.writeSyncStep1(e, this.ydoc);
        });
      });
      ws.on('message', (data) => this.onMessage(new Uint8Array(data)));
      ws.on('error', (e) => { this.fail(`ws:${e.code || e.message}`); reject(e); });
      ws.on('close', () => this.closing || this.fail('closed'));
    }).then(() => {
      this.ydoc.on('update', (u, origin) => origin !== REMOTE && this.onLocalUpdate(u));
    });
  }

  send(write) {
    const e = encoding.createEncoder();
    encoding.writeVarString(e, this.doc.name);
    write(e);
    this.ws.send(encoding.toUint8Array(e));
  }

  onMessage(buf) {
    const d = decoding.createDecoder(buf);
    decoding.readVarString(d); // our document
    const type = decoding.readVarUint(d);
    if (type === MSG.sync || type === MSG.syncReply) {
      if (this.synced) this.noteInserts(decoding.clone(d));
      // Step 1 from the server wants our step 2 (the server acks it too).
      const reply = encoding.createEncoder();
      encoding.writeVarString(reply, this.doc.name);
      encoding.writeVarUint(reply, MSG.sync);
      const before = encoding.length(reply);
      const kind = syncProtocol.readSyncMessage(d, reply, this.ydoc, REMOTE);
      if (encoding.length(reply) > before) {
        this.expect.push({ measured: false });
        this.ws.send(encoding.toUint8Array(reply));
      }
      if (kind === syncProtocol.messageYjsSyncStep2) this.synced = true;
    } else if (type === MSG.auth) {
      if (decoding.readVarUint(d) === AUTH.denied) this.fail('permission_denied');
    } else if (type === MSG.syncStatus) {
      const applied = decoding.readVarInt(d) === 1;
      const e = this.expect.shift();
      if (!applied) this.fail('update_not_applied');
      if (e && e.measured) this.onAck(e.at);
    } // awareness and the rest: not part of this workload
    if (this.synced && this.expect.length === 0 && this.joined) {
      this.joined();
      this.joined = null;
    }
  }

  // The inserted strings of a remote update, read from the update itself:
  // a text observer's delta walks the whole document on every event and
  // made the load generator the bottleneck.
  noteInserts(d) {
    if (decoding.readVarUint(d) !== syncProtocol.messageYjsUpdate) return;
    for (const s of Y.decodeUpdate(decoding.readVarUint8Array(d)).structs) {
      if (s.content && typeof s.content.str === 'string') this.w.remoteInsert(this.doc, s.content.str);
    }
  }

  onLocalUpdate(u) {
    if (this.inflight) {
      this.pending.push(u);
      this.pendingTexts.push(...this.lastTexts);
    } else {
      this.sendUpdate(u, this.lastTexts);
    }
  }

  sendUpdate(u, texts) {
    this.inflight = true;
    this.expect.push({ at: performance.now(), measured: true });
    this.w.sent(this.doc, texts);
    this.send((e) => {
      encoding.writeVarUint(e, MSG.sync);
      syncProtocol.writeUpdate(e, u);
    });
  }

  onAck(at) {
    this.inflight = false;
    if (this.pending.length) { // what was typed meanwhile goes out as one update
      const u = Y.mergeUpdates(this.pending);
      const texts = this.pendingTexts;
      this.pending = [];
      this.pendingTexts = [];
      this.sendUpdate(u, texts);
    }
    this.w.acked(this, at);
  }

  fail(code) {
    this.w.error(code);
    this.failed = true;
  }

  insert(pos, s) {
    this.lastTexts = [s];
    this.ytext.insert(pos, s);
  }

  remove(pos, n) {
    this.lastTexts = [];
    this.ytext.delete(pos, n);
  }

  idle() { return !this.inflight && this.pending.length === 0; }
  text() { return this.ytext.toString(); }
  length() { return this.ytext.length; }
  close() { this.closing = true; this.ws.close(); }
}

module.exports = HocuspocusClient;
