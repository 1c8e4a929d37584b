// Presence: the local user's ephemeral state (sent to others, throttled) and
// the other clients' states (received). A presence object whose `index` and
// `length` are numbers is a selection in code points; it is moved through
// every op applied to the local text so it keeps pointing at the same
// characters until the next update arrives.
import { transformOwnPosition, transformPosition } from './ot.js';

export const PRESENCE_INTERVAL_MS = 50; // at most ~20 updates per second

const hasSelection = (data) =>
  data !== null && typeof data === 'object' &&
  typeof data.index === 'number' && typeof data.length === 'number';

// Returns data with its selection moved through op, or the same object when
// nothing moved. `own` = op made by the owner of the selection: its caret then
// follows its own inserts (an insert at the caret lands before it).
export function transformSelection(data, op, own) {
  if (!hasSelection(data)) return data;
  const move = own ? transformOwnPosition : transformPosition;
  const start = move(data.index, op);
  const end = data.length > 0 ? move(data.index + data.length, op) : start;
  const length = Math.max(0, end - start);
  if (start === data.index && length === data.length) return data;
  return { ...data, index: start, length };
}

// The local presence: remembers the latest data, sends it at most every
// PRESENCE_INTERVAL_MS through `send(data)`, and resends it after a (re)join.
export class LocalPresence {
  constructor(send) {
    this.send = send;
    this.data = undefined; // undefined: never set, nothing to send
    this.lastSent = -Infinity;
    this.timer = null;
  }

  set(data, canSend) {
    this.data = data;
    if (canSend) this.schedule();
  }

  // The local text changed under the selection.
  transform(op, own, canSend) {
    const moved = transformSelection(this.data, op, own);
    if (moved === this.data) return;
    this.data = moved;
    // Others move our caret through remote ops themselves; only our own ops
    // move it differently from how they would (caret after our insert).
    if (own && canSend) this.schedule();
  }

  schedule() {
    if (this.data === undefined || this.timer) return;
    const wait = this.lastSent + PRESENCE_INTERVAL_MS - Date.now();
    if (wait <= 0) return this.flush();
    this.timer = setTimeout(() => this.flush(), wait);
  }

  flush() {
    this.cancel();
    if (this.data === undefined) return;
    this.lastSent = Date.now();
    this.send(this.data);
  }

  cancel() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

// The other clients' presence, keyed by client id; `onChange(client, entry)`
// is told about every change (entry null = gone).
export class RemotePresence {
  constructor(onChange) {
    this.map = new Map(); // clientId -> { user, data }
    this.onChange = onChange;
  }

  set(client, user, data) {
    if (data === null) {
      if (!this.map.delete(client)) return;
      this.onChange(client, { user, data: null });
      return;
    }
    const entry = { user, data };
    this.map.set(client, entry);
    this.onChange(client, entry);
  }

  // An op was applied to the local text: move every selection through it.
  transform(op) {
    for (const [client, entry] of this.map) {
      const data = transformSelection(entry.data, op, false);
      if (data === entry.data) continue;
      const moved = { user: entry.user, data };
      this.map.set(client, moved);
      this.onChange(client, moved);
    }
  }

  // Our socket went away: the server resends everyone's presence after the
  // next `joined`, and whoever left meanwhile must not linger.
  clear() {
    for (const [client, entry] of [...this.map]) {
      this.map.delete(client);
      this.onChange(client, { user: entry.user, data: null });
    }
  }
}
