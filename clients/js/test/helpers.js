// Shared test setup: clients wired to a FakeServer with fast backoff.
import { after } from 'node:test';
import { CollabClient } from '../src/index.js';

const open = new Set();
after(() => { for (const c of open) c.close(); });

export function makeClient(server, opts = {}) {
  const c = new CollabClient({
    urls: ['ws://a'],
    createSocket: server.createSocket,
    backoff: { initialMs: 5, maxMs: 20 },
    pingIntervalMs: 0,
    ...opts,
  });
  open.add(c);
  return c;
}

// A small seeded PRNG (mulberry32) so a failing random test can be replayed.
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const opsSent = (server, doc) => server.sent.filter((m) => m.type === 'op' && m.doc === doc);
