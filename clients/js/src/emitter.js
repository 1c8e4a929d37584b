// A minimal event emitter that works the same in browsers and Node. Unlike
// Node's EventEmitter, an 'error' event without listeners is not thrown:
// errors are reported, the client keeps going. A listener that throws is
// reported on the console and does not stop the others or the client.
export class Emitter {
  constructor() {
    this._listeners = new Map();
  }

  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return this;
  }

  off(event, fn) {
    this._listeners.get(event)?.delete(fn);
    return this;
  }

  once(event, fn) {
    const wrapper = (...args) => {
      this.off(event, wrapper);
      fn(...args);
    };
    return this.on(event, wrapper);
  }

  emit(event, ...args) {
    const set = this._listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (e) {
        console.error(`collab client: '${event}' listener threw`, e);
      }
    }
  }
}
