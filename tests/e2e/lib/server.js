'use strict';
// Starts a real `collabd` as a child process on a free port, waits for its
// ready line (docs/CONFIG-KEYS.md) and stops it again.
const { spawn } = require('node:child_process');
const { EventEmitter } = require('node:events');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { mintToken } = require('./jwt');

const READY_RE = /collabd listening on https?:\/\/(\S+):(\d+) node=(\S+)/;
const START_TIMEOUT_MS = Number(process.env.E2E_START_TIMEOUT_MS || 30000);

let serial = 0;
const running = new Set();

function collabdPath() {
  const p = process.env.COLLABD ||
    path.resolve(__dirname, '..', '..', '..', 'build', 'bin', 'collabd');
  if (!fs.existsSync(p)) {
    throw new Error(`collabd not found at ${p} (set COLLABD=/path/to/collabd)`);
  }
  return p;
}

// Kill leftovers if the test process dies without running its `after` hooks.
process.on('exit', () => {
  for (const s of running) {
    try { s.proc.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

class Server {
  constructor(proc, info, env) {
    this.proc = proc;
    this.host = info.host;
    this.port = info.port;
    this.nodeId = info.nodeId;
    this.env = env;
    this.secret = env.COLLAB_JWT_SECRET;
    this.httpUrl = `http://${this.host}:${this.port}`;
    this.wsUrl = `ws://${this.host}:${this.port}/v1/ws`;
    this.output = info.output; // last lines of stdout+stderr, for failure messages
    this.lines = info.lines;   // emits 'line' for every later line
    this.exited = null;        // {code, signal} once the process ended
    this.exitPromise = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.exited = { code, signal };
        running.delete(this);
        resolve(this.exited);
      });
    });
  }

  // A token signed with this server's secret (see jwt.js for the knobs).
  token(opts = {}) {
    return mintToken(this.secret, opts);
  }

  alive() {
    return this.exited === null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  assertAlive() {
    if (!this.alive()) {
      throw new Error(`collabd ${this.nodeId} died: ${JSON.stringify(this.exited)}\n` +
        `--- last output ---\n${this.output.join('\n')}`);
    }
  }

  async stop() {
    if (!this.alive()) return this.exited;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => {
      // A node that does not exit after SIGTERM is a defect (operators
      // wait for it): say so, the run goes on.
      process.stderr.write(`# collabd ${this.nodeId} still running 5 s after SIGTERM: SIGKILL\n`);
      try { this.proc.kill('SIGKILL'); } catch { /* gone */ }
    }, 5000);
    const r = await this.exitPromise;
    clearTimeout(t);
    return r;
  }

  fetch(pathname, init = {}) {
    return fetch(this.httpUrl + pathname, { ...init, signal: AbortSignal.timeout(15000) });
  }
}

// Starts collabd; `overrides` are extra env vars (COLLAB_*).
async function startServer(overrides = {}) {
  const bin = collabdPath();
  const n = ++serial;
  const env = {};
  // A clean environment: nothing COLLAB_* leaks in from the caller's shell.
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('COLLAB_')) env[k] = v;
  }
  Object.assign(env, {
    COLLAB_BIND: '127.0.0.1',
    COLLAB_CLIENT_PORT: '0',
    COLLAB_JWT_SECRET: crypto.randomBytes(32).toString('hex'),
    COLLAB_JWT_LEEWAY: '0',
    COLLAB_NODE_ID: `e2e-${process.pid}-${n}`,
    COLLAB_LOG_LEVEL: process.env.E2E_LOG_LEVEL || 'warn',
  }, overrides);
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];

  const proc = spawn(bin, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  // Every whole line of stdout and stderr, also after the ready line
  // (server.lines.on('line', fn); lines before it are in server.output).
  const lines = new EventEmitter();
  const keep = (line) => {
    lines.emit('line', line);
    output.push(line);
    if (output.length > 200) output.shift();
    if (process.env.E2E_VERBOSE) process.stderr.write(`[collabd ${n}] ${line}\n`);
  };
  readline.createInterface({ input: proc.stderr }).on('line', keep);
  const rl = readline.createInterface({ input: proc.stdout });

  const info = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`collabd did not print its ready line within ${START_TIMEOUT_MS} ms\n` +
        output.join('\n')));
    }, START_TIMEOUT_MS);
    const onExit = (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`collabd exited before ready (code ${code}, signal ${signal})\n` +
        output.join('\n')));
    };
    proc.once('exit', onExit);
    proc.once('error', (e) => { clearTimeout(timer); reject(e); });
    rl.on('line', (line) => {
      keep(line);
      const m = READY_RE.exec(line);
      if (m) {
        clearTimeout(timer);
        proc.off('exit', onExit);
        resolve({ host: m[1], port: Number(m[2]), nodeId: m[3], output, lines });
      }
    });
  });
  const s = new Server(proc, info, env);
  running.add(s);
  return s;
}

// Runs fn(server) against a fresh server and always stops it afterwards.
async function withServer(overrides, fn) {
  const s = await startServer(overrides);
  let result;
  let error;
  try {
    result = await fn(s);
  } catch (e) {
    error = e;
  }
  const alive = s.alive();
  await s.stop();
  if (error) {
    if (!alive && error instanceof Error) {
      error.message += `\n(collabd had died: ${JSON.stringify(s.exited)})\n${s.output.join('\n')}`;
    }
    throw error;
  }
  if (!alive) s.assertAlive();
  return result;
}

module.exports = { startServer, withServer, READY_RE };
