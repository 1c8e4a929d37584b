// Shared test setup: clients wired to a FakeServer with fast backoff.
import { after } from 'node:test';
import { CollabClient } from '../src/index.js';
import { mulberry32 } from '../../../tests/e2e/lib/prng.js';

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
export const rng = mulberry32;

export const opsSent = (server, doc) => server.sent.filter((m) => m.type === 'op' && m.doc === doc);
