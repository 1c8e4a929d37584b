// One document seen through one CollabClient: the local text and the OT
// bookkeeping between it and the server (ot.js / ShareDB discipline).
//
//   serverText (at rev) --inflight--> --pending--> text (what the user sees)
//
// At most one op is unacknowledged (`inflight`, with its seq); later local
// edits compose into `pending`. An incoming op transforms inflight and
// pending with side 'left' and is itself transformed with side 'right'
// (docs/PROTOCOL.md). Everything runs on the caller's event loop, no locking.
//
// Reconnect: resume with join{rev}; the replay may contain our inflight op
// (our client id and seq: that is its ack); otherwise it is resent with the
// same seq once `joined` arrives, and the server dedupes it.
//
// A `joined` WITH text after a resume (the server no longer has the ops since
// our rev) is rebased, not dropped: pending is transformed over diff(old
// server text, new text). An inflight op may or may not be in the new text, so
// it is resent (transformed over the diff, same seq, base = new rev) as a
// probe, and the messages after `joined` wait until the answer:
//   ack with rev <= joined rev: it was committed before, it is in the text;
//   ack with a newer rev: it was committed now, exactly as transformed.
// A diff is not the real op history, so where edits overlapped the merge can
// differ from what a replay would have given; it never duplicates or loses a
// committed op, and the result is what the server holds.
import { Emitter } from './emitter.js';
import { Backoff } from './backoff.js';
import { LocalPresence, RemotePresence } from './presence.js';
import {
  apply, compose, transform, normalize, diff, fits, insertOp, deleteOp,
} from './ot.js';

// Errors that say "later" (about our inflight op: send it again as it is;
// about a join: join again). The server may say when: retry_after_ms.
const RETRY_LATER = new Set(['unavailable', 'rate_limited', 'overloaded']);

export class Doc extends Emitter {
  constructor(client, id) {
    super();
    this.id = id;
    this._client = client;
    this._text = '';
    this._serverText = ''; // the text at _rev, as committed
    this._rev = null;      // null until the first `joined`
    this._seq = 0;         // last seq used
    this._inflight = null; // { op, seq, base }: sent, not acknowledged
    this._pending = null;  // op composed of local edits not sent yet
    this._joined = false;  // `joined` received on the current socket
    this._joining = false; // a join was sent and is not answered yet
    this._fullJoin = false; // next join without rev (resume impossible)
    this._probe = null;    // { text, rev, diff, buffer } see header comment
    this._left = false;
    this._state = 'joining';
    this._syncWaiters = [];
    this._retry = new Backoff({ initialMs: 200, maxMs: 5000 });
    this._retryTimer = null;
    this.ready = new Promise((resolve) => { this._resolveReady = resolve; });
    this._local = new LocalPresence((data) =>
      this._send({ type: 'presence', doc: id, data }));
    this._remote = new RemotePresence((client, { user, data }) =>
      this.emit('presence', { client, user, data }));
  }

  get text() { return this._text; }
  get rev() { return this._rev; }
  get state() { return this._state; }
  get presence() { return this._remote.map; }

  // ---- Local edits ---------------------------------------------------------

  insert(pos, str) { this.submitOp(insertOp(pos, str)); }
  delete(pos, n) { this.submitOp(deleteOp(pos, n)); }

  // op: a text-unicode op made on the current `text`. Throws (changing
  // nothing) when the document was never joined or the op does not fit.
  submitOp(op) {
    if (this._left) throw new Error(`doc ${this.id}: left`);
    if (this._rev === null) throw new Error(`doc ${this.id}: not joined yet (await doc.ready)`);
    op = normalize(op);
    if (!fits(this._text, op)) throw new RangeError(`doc ${this.id}: op does not fit the text`);
    if (op.length === 0) return;
    this._text = apply(this._text, op);
    this._pending = this._pending ? compose(this._pending, op) : op;
    this._local.transform(op, true, this._joined);
    this._remote.transform(op);
    this.emit('change', { op, remote: false });
    this._flush();
    this._updateState();
  }

  setPresence(data) {
    if (this._left) return;
    this._local.set(data === undefined ? null : data, this._joined);
  }

  whenSynced() {
    if (this._state === 'synced') return Promise.resolve();
    return new Promise((resolve) => this._syncWaiters.push(resolve));
  }

  // Unsubscribes. Unacknowledged edits are dropped: await whenSynced() first.
  leave() {
    if (this._left) return;
    if (this._joined || this._joining) this._send({ type: 'leave', doc: this.id });
    this._left = true;
    this._reset();
    this._client._forget(this);
  }

  // ---- Called by the client ------------------------------------------------

  _onConnected() {
    if (!this._left) this._join();
  }

  _onDisconnected() {
    this._reset();
    this._updateState();
  }

  _handle(m) {
    if (this._left) return;
    if (m.type === 'ops' || m.type === 'presences') return this._unbatch(m);
    if (m.type === 'joined') return this._onJoined(m);
    if (this._probe) return this._onProbeMessage(m);
    switch (m.type) {
      case 'op': return this._onOp(m);
      case 'ack': return this._onAck(m);
      case 'presence': return this._onPresence(m);
      case 'error': return this._onError(m);
      default: return undefined; // left, and types a newer server adds
    }
  }

  // Batched delivery (hello `batch`): each entry is handled as the frame v1
  // would have sent, in order; our own op in flight is its ack.
  _unbatch(m) {
    if (m.type === 'presences') {
      for (const e of Array.isArray(m.presence) ? m.presence : []) {
        this._handle({ ...e, type: 'presence', doc: m.doc });
      }
      return;
    }
    for (const e of Array.isArray(m.ops) ? m.ops : []) {
      if (this._left) return;
      const f = this._inflight;
      const ours = e.client === this._client.clientId && f && e.seq === f.seq;
      this._handle(ours ? { type: 'ack', doc: m.doc, seq: e.seq, rev: e.rev }
        : { ...e, type: 'op', doc: m.doc });
    }
  }

  // ---- Internals -----------------------------------------------------------

  _send(msg) { return this._client._send(msg); }

  _reset() {
    this._joined = false;
    this._joining = false;
    this._probe = null; // nothing was learned: the next join starts over
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._local.cancel();
    this._remote.clear();
  }

  _join() {
    const msg = { type: 'join', doc: this.id };
    if (this._rev !== null && !this._fullJoin) msg.rev = this._rev;
    this._joined = false;
    this._joining = true;
    this._probe = null;
    this._send(msg);
    this._updateState();
  }

  // Re-subscribes on the same socket (the server allows a join of a joined
  // document); full = without rev, answered with the whole text.
  _rejoin(full) {
    if (full) this._fullJoin = true;
    if (this._joining || !this._client._welcomed) return; // the answer to that join decides
    this._join();
  }

  _onJoined(m) {
    if (!this._joining) return;
    this._joining = false;
    if (typeof m.text === 'string') {
      this._fullJoin = false;
      this._joined = true;
      if (this._rev === null) {
        this._serverText = m.text;
        this._rev = m.rev;
        this._setText(m.text);
        this._resolveReady();
      } else {
        this._rebaseOnto(m.text, m.rev);
      }
    } else if (m.rev !== this._rev) {
      // The replay did not bring us to the joined rev: start over with text.
      this._problem('resync', `resume joined at ${m.rev} but replay reached ${this._rev}`);
      this._rejoin(true);
      return;
    } else {
      this._joined = true;
    }
    if (!this._probe) this._afterJoin();
    this._updateState();
  }

  _afterJoin() {
    if (this._fullJoin) return this._rejoin(true); // asked for while the join was out
    if (this._inflight) this._sendInflight(); // not seen committed: same seq
    this._flush();
    this._local.flush(); // the server forgot our presence with the old socket
    this._updateState();
    return undefined;
  }

  _flush() {
    if (!this._joined || this._probe || this._inflight || !this._pending) return;
    this._inflight = { op: this._pending, seq: ++this._seq, base: this._rev };
    this._pending = null;
    this._sendInflight();
  }

  _sendInflight() {
    const f = this._inflight;
    f.base = this._rev;
    this._send({ type: 'op', doc: this.id, rev: f.base, seq: f.seq, op: f.op });
  }

  _onOp(m) {
    if (this._rev === null || m.rev <= this._rev) return; // before our join / seen
    if (m.rev !== this._rev + 1) {
      this._problem('resync', `op ${m.rev} after rev ${this._rev}`);
      this._rejoin(true);
      return;
    }
    if (m.client === this._client.clientId && this._inflight && m.seq === this._inflight.seq) {
      this._acked(m.seq, m.rev); // our op, learned from a replay: that is its ack
      return;
    }
    let incoming = m.op;
    let serverText;
    try {
      serverText = apply(this._serverText, incoming);
      if (this._inflight) {
        const op = transform(this._inflight.op, incoming, 'left');
        incoming = transform(incoming, this._inflight.op, 'right');
        this._inflight.op = op;
      }
      if (this._pending) {
        const op = transform(this._pending, incoming, 'left');
        incoming = transform(incoming, this._pending, 'right');
        this._pending = op;
      }
    } catch (e) {
      this._problem('resync', `cannot apply op ${m.rev}: ${e.message}`);
      this._rejoin(true);
      return;
    }
    this._serverText = serverText;
    this._rev = m.rev;
    this._applyRemote(incoming);
  }

  _onAck(m) {
    const f = this._inflight;
    if (!f || m.seq !== f.seq) return; // a late re-ack of an op already settled
    if (m.rev <= f.base) {
      // Committed before we even sent it: an earlier instance with our client
      // id used this seq. Ours was not applied; take the next seq.
      f.seq = ++this._seq;
      this._sendInflight();
      return;
    }
    if (m.rev !== this._rev + 1) {
      this._problem('resync', `ack ${m.rev} after rev ${this._rev}`);
      this._acked(m.seq, m.rev);
      this._rejoin(true);
      return;
    }
    this._acked(m.seq, m.rev);
  }

  _acked(seq, rev) {
    this._serverText = apply(this._serverText, this._inflight.op);
    this._rev = rev;
    this._inflight = null;
    this._retry.reset();
    this.emit('ack', { seq, rev });
    this._flush();
    this._updateState();
  }

  _onPresence(m) {
    if (m.client === this._client.clientId) return; // an older session of ours
    this._remote.set(m.client, m.user, m.data === undefined ? null : m.data);
  }

  _onError(m) {
    const f = this._inflight;
    if (m.seq !== undefined && f && m.seq === f.seq) {
      if (RETRY_LATER.has(m.code)) return this._retryLater(m, () => this._sendInflight());
      if (m.code === 'rev_too_old') return this._rejoin(true);
      if (m.code === 'not_joined') return this._rejoin(false);
      // Refused for good (bad_op, too_large, forbidden, ...): the local edits
      // built on it cannot be kept; the server's text replaces them. Its seq
      // was not used up: the next op takes it again.
      this._seq = f.seq - 1;
      this._inflight = null;
      this._pending = null;
      return this._rejoin(true);
    }
    if (m.seq === undefined && this._joining) {
      if (m.code === 'rev_ahead') { this._joining = false; return this._rejoin(true); }
      if (RETRY_LATER.has(m.code)) { // e.g. a node loading a restart's documents
        this._joining = false;
        return this._retryLater(m, () => this._join(), { joined: false });
      }
      if (m.code === 'forbidden' || m.code === 'bad_request') this._joining = false;
    }
    return undefined;
  }

  // Runs fn after the error's retry_after_ms (else our backoff), if the
  // socket has not changed meanwhile (a new socket rejoins by itself) and
  // the document is still joined (or, for a join, neither joined nor joining).
  _retryLater(m, fn, { joined = true } = {}) {
    clearTimeout(this._retryTimer);
    const after = Number.isFinite(m.retry_after_ms) && m.retry_after_ms >= 0
      ? m.retry_after_ms : this._retry.next();
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (this._left || !this._client._welcomed) return;
      if (joined ? this._joined : !this._joined && !this._joining) fn();
    }, after);
  }

  // ---- Rebase after a `joined` with text (see header comment) ---------------

  _rebaseOnto(text, rev) {
    const d = diff(this._serverText, text);
    if (!this._inflight) {
      this._adopt(text, rev, this._pending && transform(this._pending, d, 'left'));
      return;
    }
    this._probe = { text, rev, diff: d, buffer: [] };
    this._sendProbe();
  }

  _sendProbe() {
    const p = this._probe;
    const op = transform(this._inflight.op, p.diff, 'left');
    this._send({ type: 'op', doc: this.id, rev: p.rev, seq: this._inflight.seq, op });
  }

  _onProbeMessage(m) {
    const p = this._probe;
    const f = this._inflight;
    const answer = (m.type === 'ack' || m.type === 'error') && m.seq === f.seq;
    if (!answer) {
      p.buffer.push(m);
      return;
    }
    if (m.type === 'error' && RETRY_LATER.has(m.code)) {
      this._retryLater(m, () => { if (this._probe === p) this._sendProbe(); });
      return;
    }
    this._probe = null;
    if (m.type === 'ack' && m.rev <= p.rev) {
      // Committed earlier: it is part of the new text already.
      const d = diff(apply(this._serverText, f.op), p.text);
      this._inflight = null;
      this._adopt(p.text, p.rev, this._pending && transform(this._pending, d, 'left'));
      this.emit('ack', { seq: m.seq, rev: m.rev });
    } else if (m.type === 'ack') {
      // Committed now, as transformed over the diff; the ack is replayed below.
      const op = transform(f.op, p.diff, 'left');
      const d = transform(p.diff, f.op, 'right');
      f.op = op;
      f.base = p.rev;
      this._adopt(p.text, p.rev, this._pending && transform(this._pending, d, 'left'));
      p.buffer.push(m);
    } else {
      this._seq = f.seq - 1; // refused: see _onError
      this._inflight = null;
      this._adopt(p.text, p.rev, null);
      p.buffer.push(m);
    }
    for (const msg of p.buffer) this._handle(msg);
    this._afterJoin();
  }

  // The server's text at rev becomes the base; pending is already rebased.
  _adopt(text, rev, pending) {
    this._serverText = text;
    this._rev = rev;
    this._pending = pending && pending.length ? pending : null;
    let local = text;
    if (this._inflight) local = apply(local, this._inflight.op);
    if (this._pending) local = apply(local, this._pending);
    this._setText(local);
  }

  // ---- Local view ----------------------------------------------------------

  // Replaces the whole local text (joins, rebases): one remote change.
  _setText(text) {
    const op = diff(this._text, text);
    if (op.length === 0) return;
    this._text = text;
    this._applyRemote(op, true);
  }

  _applyRemote(op, alreadyApplied = false) {
    if (!alreadyApplied) this._text = apply(this._text, op);
    this._local.transform(op, false, this._joined);
    this._remote.transform(op);
    this.emit('change', { op, remote: true });
  }

  _problem(code, message) {
    const err = { code, message, doc: this.id };
    this.emit('error', err);
    this._client.emit('error', err);
  }

  _updateState() {
    let state = 'synced';
    if (!this._joined) state = 'joining';
    else if (this._inflight || this._pending || this._probe) state = 'syncing';
    if (state === this._state) return;
    this._state = state;
    this.emit('state', state);
    if (state === 'synced') for (const w of this._syncWaiters.splice(0)) w();
  }
}
