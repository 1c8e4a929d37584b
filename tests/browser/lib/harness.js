'use strict';
// Real-browser harness: Debian's headless Chromium driven by playwright-core
// against the demo editor that real collabd processes serve at `/`.
// The collabd side (private PostgreSQL + Redis, clusters, kill -9) reuses
// tests/e2e/lib (CommonJS); its npm packages come from tests/e2e/node_modules.
const fs = require('node:fs');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..', '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const E2E_LIB = path.join(REPO, 'tests', 'e2e', 'lib');

function preflight() {
  const missing = [];
  if (!fs.existsSync(path.join(__dirname, '..', 'node_modules', 'playwright-core', 'package.json'))) {
    missing.push(`playwright-core (npm ci --prefix ${path.join(REPO, 'tests', 'browser')})`);
  }
  for (const m of ['ws', 'ot-text-unicode']) {
    if (!fs.existsSync(path.join(REPO, 'tests', 'e2e', 'node_modules', m, 'package.json'))) {
      missing.push(`${m} (npm ci --prefix ${path.join(REPO, 'tests', 'e2e')})`);
    }
  }
  if (missing.length) {
    process.stderr.write(`\nbrowser: missing npm packages: ${missing.join(', ')}\n\n`);
    process.exit(1);
  }
}

// Why the suite cannot run here (null when it can): only a missing browser
// is a reason to skip; everything else is a failure.
function skipReason() {
  if (!fs.existsSync(CHROMIUM)) {
    return `SKIPPED: ${CHROMIUM} is missing (apt-get install chromium, or tools/install-deps); ` +
      'no real-browser test ran';
  }
  return null;
}

function webDir() {
  const d = process.env.COLLAB_WEB_DIR || path.join(REPO, 'build', 'web');
  if (!fs.existsSync(path.join(d, 'index.html'))) {
    throw new Error(`the demo page is not built: ${d}/index.html is missing ` +
      '(tools/build runs `node web/build.mjs build/web`; set COLLAB_WEB_DIR for another folder)');
  }
  return d;
}

async function launch() {
  const { chromium } = require('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage'],
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(fn, timeoutMs, what, every = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? await what() : what}`);
    await sleep(every);
  }
}

// ---------------------------------------------------------------------------
// One user: a browser context (its own cookies and storage) with the page.

class User {
  constructor(context, page, name, label) {
    this.context = context;
    this.page = page;
    this.name = name;
    this.label = label || name;
    this.consoleErrors = [];
    page.on('console', (m) => {
      if (m.type() === 'error') this.consoleErrors.push(m.text());
      if (process.env.BROWSER_VERBOSE) process.stderr.write(`[${this.label} console.${m.type()}] ${m.text()}\n`);
    });
    page.on('pageerror', (e) => this.consoleErrors.push(`pageerror: ${e.message}`));
  }

  static async open(browser, baseUrl, name, { color, viewport = { width: 1000, height: 470 } } = {}) {
    const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const u = new User(context, page, name);
    u.baseUrl = baseUrl;
    const r = await page.goto(`${baseUrl}/`, { waitUntil: 'load' });
    if (!r || r.status() !== 200) throw new Error(`${name}: GET ${baseUrl}/ answered ${r && r.status()}`);
    await page.waitForFunction(() => document.body.dataset.booted === '1', null, { timeout: 15000 });
    await u.login(color);
    return u;
  }

  async login(color) {
    const p = this.page;
    await p.fill('#login-name', this.name);
    if (color) await p.$eval('#login-color', (e, c) => { e.value = c; }, color);
    const resp = p.waitForResponse((r) => r.url().endsWith('/v1/dev/login'), { timeout: 10000 });
    await p.click('#login-form button[type=submit]');
    const r = await resp;
    if (r.status() !== 204) throw new Error(`${this.name}: POST /v1/dev/login answered ${r.status()}: ${await r.text()}`);
    await this.waitConnected();
  }

  async waitConnected(timeoutMs = 15000) {
    await waitFor(() => this.page.evaluate(() => !!window.collab.client && window.collab.client.status === 'connected'),
      timeoutMs, async () => `${this.label} connected (status ${await this.status()})`);
  }

  status() {
    return this.page.evaluate(() => (window.collab.client ? window.collab.client.status : 'none')).catch((e) => e.message);
  }

  async openDoc(id) {
    await this.page.fill('#doc-id', id);
    await this.page.click('#doc-form button[type=submit]');
    await this.waitSynced();
  }

  // Connected, the document synced (nothing unacknowledged) and the
  // textarea showing the document's text.
  async waitSynced(timeoutMs = 20000) {
    await waitFor(() => this.page.evaluate(() => {
      const c = window.collab;
      return !!c.doc && c.client.status === 'connected' && c.doc.state === 'synced' &&
        document.getElementById('editor').value === c.doc.text && !document.getElementById('editor').readOnly;
    }), timeoutMs, async () => `${this.label} synced: ${JSON.stringify(await this.snapshot())}`);
  }

  snapshot() {
    return this.page.evaluate(() => {
      const c = window.collab;
      const ta = document.getElementById('editor');
      return {
        status: c.client && c.client.status,
        node: c.client && c.client.node,
        state: c.doc && c.doc.state,
        rev: c.doc && c.doc.rev,
        text: c.doc && c.doc.text,
        value: ta.value,
        ui: {
          conn: document.getElementById('conn').textContent,
          sync: document.getElementById('sync').textContent,
          rev: document.getElementById('rev').textContent,
          node: document.getElementById('node').textContent,
          error: document.getElementById('error').hidden ? '' : document.getElementById('error').textContent,
        },
      };
    }).catch((e) => ({ error: e.message }));
  }

  text() { return this.page.$eval('#editor', (e) => e.value); }

  // Places the selection (code-unit offsets of the textarea) and focuses it.
  async select(start, end = start) {
    await this.page.$eval('#editor', (ta, [s, e]) => {
      ta.focus();
      ta.setSelectionRange(s, e);
      ta.dispatchEvent(new Event('select'));
    }, [start, end]);
  }

  async caretToEnd() {
    const len = (await this.text()).length;
    await this.select(len);
  }

  // Types like a person (one key event per character).
  async type(s, delay = 15) {
    await this.page.keyboard.type(s, { delay });
  }

  async press(key, times = 1, delay = 15) {
    for (let i = 0; i < times; i++) {
      await this.page.keyboard.press(key);
      if (delay) await sleep(delay);
    }
  }

  // The overlay's carets: [{client, name, user, index, length, label, box}]
  carets() {
    return this.page.$$eval('#overlay .caret', (list) => list.map((c) => {
      const bar = c.querySelector('.caret-bar').getBoundingClientRect();
      return {
        client: c.dataset.client,
        name: c.dataset.name,
        user: c.dataset.user,
        index: Number(c.dataset.index),
        length: Number(c.dataset.length),
        label: c.querySelector('.caret-label').textContent,
        color: getComputedStyle(c.querySelector('.caret-bar')).backgroundColor,
        box: { x: bar.x, y: bar.y, w: bar.width, h: bar.height },
      };
    }));
  }

  // The selection in code points, as the page reports it to others.
  selectionCp() {
    return this.page.evaluate(() => {
      const ta = document.getElementById('editor');
      const cp = (s) => [...s].length;
      return { index: cp(ta.value.slice(0, ta.selectionStart)), end: cp(ta.value.slice(0, ta.selectionEnd)) };
    });
  }

  clientId() { return this.page.evaluate(() => window.collab.me.clientId); }

  async close() {
    await this.context.close().catch(() => {});
  }
}

// Waits until every user shows the same text at the same revision, synced.
async function converge(users, timeoutMs = 30000) {
  let snaps = [];
  await waitFor(async () => {
    snaps = await Promise.all(users.map((u) => u.snapshot()));
    const ok = snaps.every((s) => s.status === 'connected' && s.state === 'synced' && s.text === s.value);
    return ok && snaps.every((s) => s.text === snaps[0].text && s.rev === snaps[0].rev);
  }, timeoutMs, () => `convergence of ${users.map((u) => u.label).join(', ')}: ` +
    JSON.stringify(snaps.map((s, i) => ({ user: users[i].label, ...s })), null, 1));
  return snaps[0];
}

module.exports = {
  REPO, CHROMIUM, E2E_LIB, preflight, skipReason, webDir, launch, sleep, waitFor, User, converge,
};
