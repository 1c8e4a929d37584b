// Integration: two clients against a real collabd (env COLLABD points at the
// binary; skipped otherwise). Started like tests/e2e/lib/server.js does:
// port 0, a random HS256 secret, the ready line tells the port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { CollabClient } from '../src/index.js';

const BIN = process.env.COLLABD;
const READY_RE = /collabd listening on http:\/\/(\S+):(\d+) node=(\S+)/;

function mintToken(secret, claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

async function startCollabd() {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('COLLAB_')));
  const secret = randomBytes(32).toString('hex');
  Object.assign(env, {
    COLLAB_BIND: '127.0.0.1', COLLAB_CLIENT_PORT: '0', COLLAB_JWT_SECRET: secret,
    COLLAB_NODE_ID: `jsclient-${process.pid}`, COLLAB_LOG_LEVEL: 'warn',
  });
  const proc = spawn(BIN, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  createInterface({ input: proc.stderr }).on('line', (l) => output.push(l));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`collabd not ready:\n${output.join('\n')}`)), 30000);
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`collabd exited ${code}:\n${output.join('\n')}`)); });
    createInterface({ input: proc.stdout }).on('line', (l) => {
      output.push(l);
      const m = READY_RE.exec(l);
      if (m) { clearTimeout(timer); resolve(Number(m[2])); }
    });
  });
  return { proc, port, secret };
}

test('two clients edit one doc on a real collabd and converge to its text', {
  skip: BIN ? false : 'set COLLABD=/path/to/collabd (e.g. build/bin/collabd) to run against a real server',
  timeout: 60000,
}, async () => {
  const { proc, port, secret } = await startCollabd();
  const clients = [];
  try {
    const token = (sub) => mintToken(secret, { sub, docs: ['*'], exp: Math.floor(Date.now() / 1000) + 600 });
    const make = (sub) => {
      const c = new CollabClient({
        urls: [`ws://127.0.0.1:${port}/v1/ws`],
        token: token(sub),
        createSocket: (url) => new WebSocket(url, { headers: { Authorization: `Bearer ${c.token}` } }),
      });
      clients.push(c);
      c.connect();
      return c;
    };
    const docId = `js/${randomBytes(4).toString('hex')}`;
    const [a, b] = [make('alice'), make('bob')];
    const [da, db] = [a.doc(docId), b.doc(docId)];
    await Promise.all([da.ready, db.ready]);
    for (let i = 0; i < 20; i++) {
      da.insert(Math.min(i, [...da.text].length), ['a', '😀'][i % 2]);
      db.insert(0, 'b');
      if (i === 7) db.delete(0, 2);
      if (i === 10) { a.disconnect(); }
      if (i === 14) { a.reconnect(); }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all([da.whenSynced(), db.whenSynced()]);
    const res = await fetch(`http://127.0.0.1:${port}/v1/docs/${docId}`, {
      headers: { Authorization: `Bearer ${token('reader')}` },
    });
    assert.equal(res.status, 200);
    const server = await res.json();
    await new Promise((r) => setTimeout(r, 100)); // the last ops reach the other side
    assert.equal(da.text, server.text);
    assert.equal(db.text, server.text);
    assert.equal(da.rev, server.rev);
    assert.equal([...server.text].length, 40 - 2);
  } finally {
    clients.forEach((c) => c.close());
    proc.kill('SIGTERM');
  }
});
