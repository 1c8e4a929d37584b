'use strict';
// The demo editor in real browsers (headless Debian Chromium via
// playwright-core) against a real three-node collab cluster with private
// PostgreSQL + Redis: two users typing into one document, remote cursors,
// offline editing, kill -9 of the node that holds a page's socket, no token
// readable by page script, static asset caching. Writes the screenshot
// docs/demo-two-users.png.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./lib/harness');

h.preflight();
const SKIP = h.skipReason();
if (SKIP) process.stderr.write(`\nbrowser: ${SKIP}\n\n`);
// (node:test reports a test as skipped whenever the option is present)
const RUN = SKIP ? { skip: SKIP } : {};

const { Cluster, docOwnedBy } = require(path.join(h.E2E_LIB, 'cluster'));
const { getDoc } = require(path.join(h.E2E_LIB, 'http'));
const { randomId } = require(path.join(h.E2E_LIB, 'client'));

const SCREENSHOT = process.env.BROWSER_SCREENSHOT || path.join(h.REPO, 'docs', 'demo-two-users.png');
const JWT_RE = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.?/;

let cluster;
let browser;
let web;
const users = [];
const t0 = Date.now();

const url = (node) => `http://localhost:${node.port}`;

async function serverText(doc, via) {
  const node = via || cluster.live()[0];
  return getDoc(node, doc, cluster.token({ sub: 'browser-suite', docs: ['*'] }));
}

async function openUser(node, name, color) {
  const u = await h.User.open(browser, url(node), name, { color });
  users.push(u);
  return u;
}

// Everyone converged, and the text is the server's.
async function convergedWithServer(list, doc) {
  const snap = await h.converge(list);
  const srv = await serverText(doc);
  assert.equal(srv.text, snap.text, `server text vs browsers' (server rev ${srv.rev}, browsers' ${snap.rev})`);
  assert.equal(srv.rev, snap.rev, 'server rev vs browsers\'');
  return snap;
}

before(async () => {
  if (SKIP) return;
  web = h.webDir();
  cluster = await Cluster.create('browser', 3, {
    COLLAB_DEV: '1',
    COLLAB_WEB_DIR: web,
    COLLAB_LOG_LEVEL: process.env.E2E_LOG_LEVEL || 'info',
  });
  // a page served by one node opens its socket on another after a failure:
  // every node's page origin is allowed everywhere
  const origins = cluster.nodes.map((n) => `http://localhost:${n.port}`).join(',');
  for (const n of cluster.nodes) n.env.COLLAB_ALLOWED_ORIGINS = origins;
  await cluster.start();
  await cluster.waitMembers(20000).catch(() => { /* /v1/config below tells */ });
  browser = await h.launch();
});

after(async () => {
  for (const u of users) await u.close();
  if (browser) await browser.close().catch(() => {});
  if (cluster) await cluster.shutdown();
});

test('static assets: hashed names, immutable caching; / and the API are not cached', RUN, async () => {
  const n1 = cluster.nodes[0];
  const root = await fetch(`${url(n1)}/`);
  assert.equal(root.status, 200);
  assert.match(root.headers.get('content-type') || '', /^text\/html/);
  assert.match(root.headers.get('cache-control') || '', /no-cache/, 'GET / Cache-Control');
  assert.doesNotMatch(root.headers.get('cache-control') || '', /immutable|max-age=[1-9]/);
  const html = await root.text();
  assert.equal(html, fs.readFileSync(path.join(web, 'index.html'), 'utf8'), 'GET / is the built index.html');
  const refs = [...html.matchAll(/(?:src|href)="\/assets\/([^"]+)"/g)].map((m) => m[1]);
  assert.equal(refs.length, 3, `index.html references the icon, one stylesheet and one script: ${refs}`);
  for (const name of refs) {
    assert.match(name, /^(app|favicon)-[A-Z0-9]{8}\.(js|css|svg)$/, 'content-hashed asset name');
    const r = await fetch(`${url(n1)}/assets/${name}`);
    assert.equal(r.status, 200, `GET /assets/${name}`);
    const cc = r.headers.get('cache-control') || '';
    assert.match(cc, /public/, `${name} Cache-Control: ${cc}`);
    assert.match(cc, /max-age=31536000/, `${name} Cache-Control: ${cc}`);
    assert.match(cc, /immutable/, `${name} Cache-Control: ${cc}`);
    const ct = r.headers.get('content-type') || '';
    if (name.endsWith('.js')) assert.match(ct, /^(text|application)\/javascript/, `${name} Content-Type`);
    else if (name.endsWith('.svg')) assert.match(ct, /^image\/svg\+xml/, `${name} Content-Type`);
    else assert.match(ct, /^text\/css/, `${name} Content-Type`);
    const body = Buffer.from(await r.arrayBuffer());
    assert.ok(body.equals(fs.readFileSync(path.join(web, 'assets', name))), `${name} is the built file`);
  }
  for (const p of ['/assets/app-00000000.js', '/assets/', '/assets/%2e%2e/index.html',
    '/assets/..%2findex.html', '/index.html.bak', '/nope']) {
    const r = await fetch(`${url(n1)}${p}`);
    assert.equal(r.status, 404, `GET ${p}`);
    await r.arrayBuffer();
  }
  const cfg = await fetch(`${url(n1)}/v1/config`);
  assert.equal(cfg.status, 200);
  assert.match(cfg.headers.get('cache-control') || '', /no-store/, '/v1/config Cache-Control');
  const body = await cfg.json();
  assert.equal(body.node, n1.id);
  assert.equal(body.dev, true);
  const ports = new Map(body.nodes.map((x) => [x.node, x.client_port]));
  for (const n of cluster.nodes) assert.equal(ports.get(n.id), n.port, `/v1/config nodes: ${JSON.stringify(body.nodes)}`);
  const doc = await fetch(`${url(n1)}/v1/docs/${randomId('cache')}`,
    { headers: { Authorization: `Bearer ${cluster.token()}` } });
  assert.equal(doc.status, 200);
  assert.match(doc.headers.get('cache-control') || '', /no-store/, '/v1/docs Cache-Control');
});

test('development login: an HttpOnly cookie; no token readable by page script', RUN, async () => {
  const n1 = cluster.nodes[0];
  const r = await fetch(`${url(n1)}/v1/dev/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user: 'probe' }),
  });
  assert.equal(r.status, 204);
  const sc = r.headers.get('set-cookie') || '';
  assert.match(sc, /^collab_token=[^;]+/, `Set-Cookie: ${sc}`);
  assert.match(sc, /;\s*HttpOnly/i);
  assert.match(sc, /;\s*SameSite=Strict/i);
  assert.match(sc, /;\s*Path=\//i);
  for (const bad of [{ user: '' }, { user: 'x'.repeat(65) }, { user: 'a<b' }, {}]) {
    const b = await fetch(`${url(n1)}/v1/dev/login`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(bad),
    });
    assert.equal(b.status, 400, `login with ${JSON.stringify(bad)}`);
    assert.equal(b.headers.get('set-cookie'), null);
  }

  const alice = await openUser(n1, 'alice', '#d81b60');
  const page = alice.page;
  await alice.openDoc(randomId('secret'));
  const seen = await page.evaluate(() => ({
    cookie: document.cookie,
    href: location.href,
    local: Object.fromEntries(Object.keys(localStorage).map((k) => [k, localStorage.getItem(k)])),
    session: Object.fromEntries(Object.keys(sessionStorage).map((k) => [k, sessionStorage.getItem(k)])),
  }));
  assert.doesNotMatch(seen.cookie, /collab_token/, `document.cookie: ${seen.cookie}`);
  assert.doesNotMatch(seen.href, JWT_RE, 'token in the URL');
  assert.doesNotMatch(seen.href, /token/i, 'token in the URL');
  for (const [k, v] of [...Object.entries(seen.local), ...Object.entries(seen.session)]) {
    assert.doesNotMatch(`${k}=${v}`, JWT_RE, `storage ${k} holds a token-like value`);
    assert.doesNotMatch(k, /token|jwt|auth/i, `storage key ${k}`);
  }
  assert.match(seen.session['collab.clientId'] || '', /^[A-Za-z0-9_-]{1,64}$/, 'clientId in sessionStorage');
  const cookies = await alice.context.cookies();
  const tok = cookies.find((c) => c.name === 'collab_token');
  assert.ok(tok, `the browser holds the cookie: ${JSON.stringify(cookies.map((c) => c.name))}`);
  assert.equal(tok.httpOnly, true);
  assert.equal(tok.sameSite, 'Strict');
  assert.equal(tok.path, '/');
  // the page shows where its socket is
  const snap = await alice.snapshot();
  assert.equal(snap.ui.conn, 'connected');
  assert.equal(snap.ui.node, n1.id, 'the page shows welcome.node');
  assert.equal(snap.ui.sync, 'synced');
  assert.deepEqual(alice.consoleErrors, []);
});

let shared; // the document of the two-user tests
let alice;
let bob;

test('two users type at the same place and delete over each other: identical text, equal to the server\'s', RUN, async () => {
  const [n1, n2, n3] = cluster.nodes;
  // owned by the third node: both pages' sockets are on other nodes
  shared = docOwnedBy('two', n3, cluster.nodes);
  alice = users.find((u) => u.name === 'alice') || await openUser(n1, 'alice', '#d81b60');
  bob = await openUser(n2, 'bob', '#1e88e5');
  await alice.openDoc(shared);
  await bob.openDoc(shared);
  assert.equal((await bob.snapshot()).ui.node, n2.id);

  await alice.caretToEnd();
  await alice.type('Hello 😀 world!');
  let snap = await convergedWithServer([alice, bob], shared);
  assert.equal(snap.text, 'Hello 😀 world!');

  // both carets at one place (after "Hello 😀 ": 9 code units, 8 code points), typing at once
  const at = 'Hello 😀 '.length;
  await alice.select(at);
  await bob.select(at);
  await Promise.all([alice.type('aaaaaaaa', 25), bob.type('bbbbbbbb', 30)]);
  snap = await convergedWithServer([alice, bob], shared);
  const mid = snap.text.slice(at, at + 16);
  assert.equal(snap.text.slice(0, at), 'Hello 😀 ');
  assert.equal(snap.text.slice(at + 16), 'world!');
  assert.equal([...mid].filter((c) => c === 'a').length, 8, `all of alice's keys: ${snap.text}`);
  assert.equal([...mid].filter((c) => c === 'b').length, 8, `all of bob's keys: ${snap.text}`);

  // delete over each other's text: alice selects bob's b's (and more) and
  // deletes them while bob backspaces into alice's a's and types
  const t = await alice.text();
  const firstB = t.indexOf('b');
  const lastB = t.lastIndexOf('b');
  await alice.select(firstB, lastB + 1 + 3);
  await bob.select(t.lastIndexOf('a') + 1);
  await Promise.all([
    (async () => { await alice.press('Backspace'); await alice.type('<A>', 20); })(),
    (async () => { await bob.press('Backspace', 4, 20); await bob.type('<B>', 20); })(),
  ]);
  snap = await convergedWithServer([alice, bob], shared);
  assert.ok(snap.text.includes('<A>') && snap.text.includes('<B>'), `both insertions survive: ${snap.text}`);
  assert.ok(!snap.text.includes('b'), `alice deleted every b: ${snap.text}`);
  assert.ok(snap.text.startsWith('Hello 😀 ') && snap.text.endsWith('ld!'), snap.text);
  assert.deepEqual([...alice.consoleErrors, ...bob.consoleErrors], []);
});

test('remote cursors and names at the right places after concurrent edits; screenshot', RUN, async () => {
  const doc = randomId('cursors');
  await alice.openDoc(doc);
  await bob.openDoc(doc);
  await alice.caretToEnd();
  await alice.type('Saturday 😀\n- apples\n- tea & cake 😀\n- bread', 5);
  await h.converge([alice, bob]);
  const aliceId = await alice.clientId();
  const bobId = await bob.clientId();

  // alice's caret after "cake 😀" (astral characters before it)
  let t = await alice.text();
  const afterCake = (s) => s.indexOf('😀', s.indexOf('cake')) + 2;
  await alice.select(afterCake(t));
  // concurrent edits before both: bob types at the top, alice types at her caret
  await bob.select(0);
  await Promise.all([bob.type('Weekend: ', 20), alice.type(' x2', 20)]);
  await h.converge([alice, bob]);
  t = await bob.text();
  await bob.select(t.indexOf('apples'), t.indexOf('apples') + 'apples'.length);

  const expectAlice = [...t.slice(0, afterCake(t) + ' x2'.length)].length;
  assert.deepEqual(await alice.selectionCp(), { index: expectAlice, end: expectAlice },
    'alice\'s own caret stays after her text through bob\'s insert');
  const expectBob = [...t.slice(0, t.indexOf('apples'))].length;

  // each sees the other's caret and name where the other's selection is
  const check = async (viewer, who, id, index, length) => {
    let seen = [];
    await h.waitFor(async () => {
      seen = await viewer.carets();
      const c = seen.find((x) => x.client === id);
      return c && c.index === index && c.length === length && c.box.h > 0;
    }, 10000, () => `${viewer.name} sees ${who}'s caret at ${index}+${length}: ${JSON.stringify(seen)}`);
    const c = seen.find((x) => x.client === id);
    assert.equal(c.label, who, 'the caret carries the name');
    assert.equal(seen.filter((x) => x.client === id).length, 1);
    assert.ok(!seen.some((x) => x.client === (viewer === alice ? aliceId : bobId)), 'no caret of one\'s own');
    // on screen inside the editor, on the line of the text before it
    const box = await viewer.page.$eval('#editor', (e) => { const r = e.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; });
    assert.ok(c.box.x >= box.x && c.box.x <= box.x + box.w && c.box.y >= box.y && c.box.y <= box.y + box.h,
      `${who}'s caret ${JSON.stringify(c.box)} inside the editor ${JSON.stringify(box)}`);
    return c;
  };
  const aliceAtBob = await check(bob, 'alice', aliceId, expectAlice, 0);
  const bobAtAlice = await check(alice, 'bob', bobId, expectBob, 'apples'.length);
  // line positions: alice's caret is on the third line (after "- tea & cake 😀 x2"), bob's on the second
  const lineH = await bob.page.$eval('#editor', (e) => parseFloat(getComputedStyle(e).lineHeight));
  const top = await bob.page.$eval('#editor', (e) => e.getBoundingClientRect().y + e.clientTop + parseFloat(getComputedStyle(e).paddingTop));
  assert.equal(Math.round((aliceAtBob.box.y - top) / lineH), 2, `alice's caret on the third line (${JSON.stringify(aliceAtBob.box)}, top ${top}, line ${lineH})`);
  const topA = await alice.page.$eval('#editor', (e) => e.getBoundingClientRect().y + e.clientTop + parseFloat(getComputedStyle(e).paddingTop));
  assert.equal(Math.round((bobAtAlice.box.y - topA) / lineH), 1, `bob's caret on the second line (${JSON.stringify(bobAtAlice.box)})`);
  // the selection is highlighted in bob's colour on alice's screen
  const sel = await alice.page.$$eval('#overlay .sel', (l) => l.map((s) => ({ client: s.dataset.client, text: s.textContent })));
  assert.deepEqual(sel, [{ client: bobId, text: 'apples' }]);
  // names in the list of people here
  const names = await alice.page.$$eval('#users li .user-name', (l) => l.map((x) => x.textContent));
  assert.deepEqual(names.sort(), ['alice', 'bob']);

  // the screenshot: alice's and bob's screens side by side
  const shots = await Promise.all([alice, bob].map(async (u) => ({
    who: u.name, png: (await u.page.screenshot()).toString('base64'),
  })));
  const ctx = await browser.newContext({ viewport: { width: 2040, height: 525 }, deviceScaleFactor: 1 });
  try {
    const p = await ctx.newPage();
    await p.setContent(`<!doctype html><body style="margin:0;background:#c9ced8;font:600 15px system-ui,sans-serif;display:flex;gap:20px;padding:12px 10px">${
      shots.map((s) => `<figure style="margin:0"><figcaption style="padding:0 0 6px 4px;color:#1d2330">${s.who}'s browser</figcaption>` +
        `<img style="display:block;box-shadow:0 2px 8px #0004" src="data:image/png;base64,${s.png}"></figure>`).join('')}</body>`);
    await p.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0));
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await p.screenshot({ path: SCREENSHOT });
  } finally {
    await ctx.close();
  }
});

test('offline for a while: typing goes on, edits merge on reconnect', RUN, async () => {
  const doc = randomId('offline');
  await alice.openDoc(doc);
  await bob.openDoc(doc);
  await alice.caretToEnd();
  await alice.type('base', 5);
  await h.converge([alice, bob]);

  // 1. Chromium's network emulation offline (what context.setOffline uses):
  // it does not close an open WebSocket, it holds its frames; typing goes on
  // and nothing of alice's reaches anyone until the network is back.
  const cdp = await alice.context.newCDPSession(alice.page);
  await cdp.send('Network.enable');
  const net = (offline) => cdp.send('Network.emulateNetworkConditions',
    { offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await net(true);
  await alice.caretToEnd();
  await bob.caretToEnd();
  await Promise.all([alice.type(' [stalled A]', 10), bob.type(' [B1]', 10)]);
  await h.sleep(1500);
  await bob.waitSynced();
  assert.equal((await serverText(doc)).text, 'base [B1]', 'nothing of alice\'s passes the emulated outage');
  assert.equal(await alice.text(), 'base [stalled A]', 'alice sees only her own text while stalled');
  await net(false);
  let snap = await convergedWithServer([alice, bob], doc);
  assert.ok(snap.text.includes(' [stalled A]') && snap.text.includes(' [B1]'), snap.text);
  const afterStall = snap.text;

  // 2. The socket cut (the library's disconnect(), exposed by the page):
  // offline for a while, both type, then reconnect and merge.
  await alice.page.evaluate(() => window.collab.disconnect());
  await h.waitFor(() => alice.page.evaluate(() => window.collab.client.status === 'offline'), 5000, 'alice offline');
  assert.equal(await alice.page.$eval('#conn', (e) => e.textContent), 'offline');
  await alice.caretToEnd();
  await bob.select(0);
  await Promise.all([alice.type(' written offline', 10), bob.type('online: ', 10)]);
  await h.sleep(1500); // a while: nothing of alice's reaches anyone
  await bob.waitSynced();
  const during = await serverText(doc);
  assert.equal(during.text, `online: ${afterStall}`, 'the server has bob\'s text and none of alice\'s offline text');
  assert.equal(await bob.text(), `online: ${afterStall}`);
  assert.equal(await alice.text(), `${afterStall} written offline`);
  assert.equal(await alice.page.$eval('#sync', (e) => e.textContent), 'syncing', 'alice shows unsynced edits');

  await alice.page.evaluate(() => window.collab.reconnect());
  snap = await convergedWithServer([alice, bob], doc);
  assert.equal(snap.text, `online: ${afterStall} written offline`);
  await cdp.detach().catch(() => {});
});

test('kill -9 of the node holding a page\'s socket: it moves to another node, nothing typed is lost', RUN, async () => {
  const [n1, n2] = cluster.nodes;
  // alice's socket and the document's owner are both on n1
  const doc = docOwnedBy('kill', n1, cluster.nodes);
  // the library takes the next URL at every reconnect: bring alice's socket
  // back to n1 (bob's stayed on n2)
  for (let i = 0; i < 6 && (await alice.snapshot()).node !== n1.id; i++) {
    await alice.page.evaluate(() => window.collab.reconnect());
    await alice.waitConnected();
  }
  assert.equal((await alice.snapshot()).node, n1.id);
  assert.equal((await bob.snapshot()).node, n2.id);
  await alice.openDoc(doc);
  await bob.openDoc(doc);
  await alice.caretToEnd();
  await alice.type('start.', 5);
  await h.converge([alice, bob]);
  await bob.select(0);

  const before = 'typed before the kill; ';
  const during = 'and during the outage.';
  const fromBob = 'bob was here: ';
  const typing = alice.type(before, 20);
  const bobTyping = bob.type(fromBob, 40);
  await h.sleep(before.length * 10); // mid-word
  const killedAt = Date.now();
  await n1.kill('SIGKILL');
  await typing;
  await alice.type(during, 20);
  await bobTyping;
  // the page finds another node
  await h.waitFor(async () => {
    const s = await alice.snapshot();
    return s.status === 'connected' && s.node && s.node !== n1.id;
  }, 20000, async () => `alice reconnected elsewhere: ${JSON.stringify(await alice.snapshot())}`);
  const moved = Date.now() - killedAt;
  const snap = await convergedWithServer([alice, bob], doc);
  assert.equal(snap.text, `${fromBob}start.${before}${during}`);
  const ui = await alice.snapshot();
  assert.notEqual(ui.ui.node, n1.id, 'the page shows the new node');
  assert.ok([n2.id, cluster.nodes[2].id].includes(ui.ui.node));
  process.stderr.write(`browser: alice's socket moved from ${n1.name} to ${cluster.nameOf(ui.node)} ` +
    `${moved} ms after the kill; suite ${Date.now() - t0} ms so far\n`);
});
