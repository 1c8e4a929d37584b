// The demo editor served by collabd at `/`: pick a document, edit it with
// others in a textarea, see their cursors and names, the connection state,
// the revision and the node that holds this page's socket.
//
// Login (development): POST /v1/dev/login {"user"} sets the HttpOnly
// collab_token cookie; this script never sees the token. Only the user's
// display name, the recent document ids (localStorage) and the client id
// (sessionStorage, one per tab) are stored.
import { CollabClient, type } from '../../clients/js/src/index.js';
import { cpLength, cpToCu, cuToCp, diffOp, transformPosition } from './text.js';
import './style.css';

const $ = (id) => document.getElementById(id);
const el = {
  loginForm: $('login-form'),
  loginName: $('login-name'),
  loginColor: $('login-color'),
  loginError: $('login-error'),
  whoami: $('whoami'),
  docForm: $('doc-form'),
  docId: $('doc-id'),
  recent: $('recent'),
  users: $('users'),
  conn: $('conn'),
  sync: $('sync'),
  rev: $('rev'),
  node: $('node'),
  error: $('error'),
  docTitle: $('doc-title'),
  editor: $('editor'),
  overlay: $('overlay'),
  wrap: $('editor-wrap'),
  placeholder: $('placeholder'),
};

const DOC_ID_RE = /^[A-Za-z0-9._~-][A-Za-z0-9._~/-]{0,199}$/;
const USER_RE = /^[A-Za-z0-9_ .-]{1,64}$/;
const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#008080',
  '#f032e6', '#9a6324', '#800000', '#000075', '#808000', '#e6a800'];

// ---------------------------------------------------------------------------
// Local state (never a token)

function clientId() {
  let id = sessionStorage.getItem('collab.clientId');
  if (!id || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    id = 'web-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    sessionStorage.setItem('collab.clientId', id);
  }
  return id;
}

function recentDocs() {
  try {
    const list = JSON.parse(localStorage.getItem('collab.recent') || '[]');
    return Array.isArray(list) ? list.filter((d) => typeof d === 'string' && DOC_ID_RE.test(d)) : [];
  } catch {
    return [];
  }
}

function rememberDoc(id) {
  const list = [id, ...recentDocs().filter((d) => d !== id)].slice(0, 12);
  localStorage.setItem('collab.recent', JSON.stringify(list));
  renderRecent();
}

function colorFor(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

const me = {
  clientId: clientId(),
  name: sessionStorage.getItem('collab.user') || localStorage.getItem('collab.name') || '',
  color: localStorage.getItem('collab.color') || '',
  signedIn: !!sessionStorage.getItem('collab.user'),
};

// ---------------------------------------------------------------------------
// Server configuration: the live nodes and their client ports

let config = { node: null, dev: false, nodes: [] };

async function loadConfig() {
  try {
    const r = await fetch('/v1/config', { cache: 'no-store', credentials: 'same-origin' });
    if (r.ok) config = await r.json();
  } catch { /* served elsewhere: only this host */ }
}

function socketUrls() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const nodes = (Array.isArray(config.nodes) ? config.nodes : [])
    .filter((n) => n && Number.isInteger(n.client_port) && (!n.state || n.state === 'up'));
  // this page's own node first, then the other live members; the host is
  // the page's own, so the (per-host) cookie goes along
  nodes.sort((a, b) => (b.node === config.node) - (a.node === config.node));
  const urls = [];
  for (const n of nodes) {
    const u = `${scheme}://${location.hostname}:${n.client_port}/v1/ws`;
    if (!urls.includes(u)) urls.push(u);
  }
  if (urls.length === 0) urls.push(`${scheme}://${location.host}/v1/ws`);
  return urls;
}

// ---------------------------------------------------------------------------
// Login (development)

async function login(name) {
  const r = await fetch('/v1/dev/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: name }),
    credentials: 'same-origin',
  });
  if (r.status === 404) throw new Error('this server does not run with --dev: no development login');
  if (!r.ok) throw new Error(`login refused: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
}

function showIdentity() {
  el.whoami.textContent = '';
  if (me.signedIn) {
    const dot = document.createElement('span');
    dot.className = 'dot';
    dot.style.backgroundColor = me.color;
    el.whoami.append(dot, `signed in as ${me.name}`);
    el.loginForm.querySelector('button').textContent = 'Switch user';
  }
  el.whoami.hidden = !me.signedIn;
}

el.loginForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const name = el.loginName.value.trim();
  el.loginError.textContent = '';
  if (!USER_RE.test(name)) {
    el.loginError.textContent = 'a name is 1 to 64 of A-Z a-z 0-9 _ space . -';
    return;
  }
  try {
    await login(name);
  } catch (e) {
    el.loginError.textContent = e.message;
    return;
  }
  const switched = me.signedIn && me.name !== name;
  me.name = name;
  me.color = el.loginColor.value || colorFor(name);
  me.signedIn = true;
  sessionStorage.setItem('collab.user', name);
  localStorage.setItem('collab.name', name);
  localStorage.setItem('collab.color', me.color);
  showIdentity();
  if (switched && client) {
    // the socket carries the old user: start a new one with the new cookie
    client.reconnect();
  } else {
    start();
  }
  sendPresence(true);
});

el.loginColor.addEventListener('input', () => {
  me.color = el.loginColor.value;
  localStorage.setItem('collab.color', me.color);
  showIdentity();
  sendPresence(true);
});

// ---------------------------------------------------------------------------
// The client and the open document

let client = null;
let doc = null;
let docOff = [];     // unsubscribe functions of the open document's listeners
let shadow = '';     // what the textarea showed after the last sync
let docId = null;    // the open document's id
let dirty = false;   // local edits not acknowledged yet (as far as the page knows)

function on(emitter, name, fn) {
  emitter.on(name, fn);
  return () => (emitter.off ? emitter.off(name, fn) : emitter.removeListener && emitter.removeListener(name, fn));
}

function start() {
  if (client) return;
  client = new CollabClient({
    urls: socketUrls(),
    clientId: me.clientId,
    // the cookie is the credential; in development a new login renews it
    refreshToken: async () => {
      if (config.dev && me.signedIn) {
        try { await login(me.name); } catch { /* shown by the next failure */ }
      }
      return undefined;
    },
    backoff: { initialMs: 100, maxMs: 5000 },
  });
  window.collab.client = client;
  client.on('status', renderStatus);
  client.on('welcome', ({ node }) => {
    el.node.textContent = node || '?';
    el.node.dataset.node = node || '';
    renderStatus();
  });
  client.on('error', ({ code, message, doc: d, seq }) => {
    showError(`${code}${d ? ` (${d}${seq !== undefined ? ` seq ${seq}` : ''})` : ''}: ${message || ''}`);
  });
  client.connect();
  renderStatus();
  const wanted = docFromHash() || recentDocs()[0];
  if (wanted) openDoc(wanted);
}

function docFromHash() {
  const m = /^#doc=(.+)$/.exec(location.hash);
  if (!m) return null;
  const id = decodeURIComponent(m[1]);
  return DOC_ID_RE.test(id) ? id : null;
}

function openDoc(id) {
  if (!client) return;
  if (doc && docId === id) return;
  if (doc) {
    for (const off of docOff) off();
    docOff = [];
    try { doc.leave(); } catch { /* already gone */ }
  }
  doc = client.doc(id);
  docId = id;
  dirty = false;
  window.collab.doc = doc;
  rememberDoc(id);
  if (location.hash !== `#doc=${encodeURIComponent(id)}`) {
    history.replaceState(null, '', `#doc=${encodeURIComponent(id)}`);
  }
  el.docId.value = id;
  el.docTitle.textContent = id;
  el.placeholder.hidden = true;
  el.wrap.hidden = false;
  el.editor.readOnly = true;   // until the first joined
  syncFromDoc(null);
  docOff.push(on(doc, 'change', ({ op, remote }) => {
    if (remote) syncFromDoc(op);
    else if (doc.text !== el.editor.value) syncFromDoc(null);
    renderDocState();
    renderOverlay();
  }));
  docOff.push(on(doc, 'state', () => {
    if (doc.text !== el.editor.value) syncFromDoc(null);
    el.editor.readOnly = doc.text === undefined || doc.text === null;
    renderDocState();
    renderOverlay();
  }));
  docOff.push(on(doc, 'ack', renderDocState));
  docOff.push(on(doc, 'presence', () => { renderOverlay(); renderUsers(); }));
  Promise.resolve(doc.ready).then(() => {
    if (!doc || docId !== id) return;
    el.editor.readOnly = false;
    syncFromDoc(null);
    renderDocState();
    sendPresence(true);
  }, (e) => showError(`join ${id}: ${e && e.message ? e.message : e}`));
  renderDocState();
  renderUsers();
  renderOverlay();
}

el.docForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const id = el.docId.value.trim();
  if (!DOC_ID_RE.test(id)) {
    showError('a document id is 1 to 200 of A-Z a-z 0-9 . _ ~ / - (not starting with /)');
    return;
  }
  if (!client) {
    showError('sign in first');
    return;
  }
  openDoc(id);
});

window.addEventListener('hashchange', () => {
  const id = docFromHash();
  if (id && client) openDoc(id);
});

// ---------------------------------------------------------------------------
// Textarea <-> document

// Local edit: the op is the diff of this input event (code points).
el.editor.addEventListener('input', () => {
  if (!doc) return;
  const value = el.editor.value;
  const collapsed = el.editor.selectionStart === el.editor.selectionEnd;
  const op = diffOp(shadow, value, collapsed ? el.editor.selectionEnd : null);
  shadow = value;
  if (op) {
    dirty = true;
    try {
      doc.submitOp(op);
    } catch (e) {
      showError(`edit refused locally: ${e.message}`);
      syncFromDoc(null);
    }
  }
  sendPresence();
  renderDocState();
  renderOverlay();
});

// Shows doc.text in the textarea, keeping the local selection: moved through
// the remote op when there is one that explains the change, else through
// the diff between what was shown and the new text.
function syncFromDoc(op) {
  const text = doc && typeof doc.text === 'string' ? doc.text : '';
  const ta = el.editor;
  const old = ta.value;
  if (old === text) {
    shadow = text;
    return;
  }
  let how = op;
  if (how) {
    try {
      if (type.apply(old, how) !== text) how = null;
    } catch {
      how = null;
    }
  }
  if (!how) how = diffOp(old, text) || [];
  const dir = ta.selectionDirection;
  const s = transformPosition(cuToCp(old, ta.selectionStart), how);
  const e = transformPosition(cuToCp(old, ta.selectionEnd), how);
  const top = ta.scrollTop;
  ta.value = text;
  shadow = text;
  ta.setSelectionRange(cpToCu(text, s), cpToCu(text, Math.max(s, e)), dir);
  ta.scrollTop = top;
}

// ---------------------------------------------------------------------------
// Presence: my selection, name and colour (the library transforms index and
// length through later ops); the others' as carets and highlights.

let lastPresence = '';
let presenceTimer = null;

function sendPresence(force = false) {
  if (!doc || !me.signedIn) return;
  if (presenceTimer) return;
  const fire = () => {
    presenceTimer = null;
    if (!doc) return;
    const ta = el.editor;
    const text = ta.value;
    const s = cuToCp(text, ta.selectionStart);
    const e = cuToCp(text, ta.selectionEnd);
    const data = { index: s, length: e - s, name: me.name, color: me.color };
    const key = JSON.stringify(data);
    if (key === lastPresence && !force) return;
    lastPresence = key;
    try { doc.setPresence(data); } catch { /* not joined yet: sent after ready */ }
  };
  if (force) fire();
  else presenceTimer = setTimeout(fire, 40);
}

for (const ev of ['select', 'keyup', 'mouseup', 'focus']) el.editor.addEventListener(ev, () => sendPresence());
document.addEventListener('selectionchange', () => {
  if (document.activeElement === el.editor) sendPresence();
});

function others() {
  const out = [];
  if (!doc || !doc.presence) return out;
  for (const [cid, p] of doc.presence) {
    if (cid === me.clientId || !p || !p.data || typeof p.data !== 'object') continue;
    const d = p.data;
    if (!Number.isInteger(d.index)) continue;
    out.push({
      client: cid,
      user: p.user || '',
      name: typeof d.name === 'string' && d.name ? d.name : (p.user || cid),
      color: typeof d.color === 'string' && /^#[0-9a-fA-F]{3,8}$/.test(d.color) ? d.color : colorFor(p.user || cid),
      index: d.index,
      length: Number.isInteger(d.length) ? d.length : 0,
    });
  }
  return out;
}

// The overlay is a mirror of the textarea (same box, font and wrapping,
// transparent text) with highlights for the others' selections and a caret
// with the name at each one's position. Each caret carries its position
// in code points (data-index, data-length) for tests and tools.
function renderOverlay() {
  const ov = el.overlay;
  const text = el.editor.value;
  const total = cpLength(text);
  const marks = others().map((m) => {
    const a = Math.max(0, Math.min(total, m.index));
    const b = Math.max(a, Math.min(total, m.index + Math.max(0, m.length)));
    return { ...m, a, b };
  });
  const cuts = new Set([0, total]);
  for (const m of marks) { cuts.add(m.a); cuts.add(m.b); }
  const points = [...cuts].sort((x, y) => x - y);
  const frag = document.createDocumentFragment();
  const caretsAt = (p) => marks.filter((m) => m.b === p);
  const addCarets = (p) => {
    for (const m of caretsAt(p)) {
      const c = document.createElement('span');
      c.className = 'caret';
      c.dataset.client = m.client;
      c.dataset.user = m.user;
      c.dataset.name = m.name;
      c.dataset.index = String(m.index);
      c.dataset.length = String(m.length);
      c.style.setProperty('--c', m.color);
      const bar = document.createElement('span');
      bar.className = 'caret-bar';
      const label = document.createElement('span');
      label.className = 'caret-label';
      label.textContent = m.name;
      c.append(bar, label);
      frag.append(c);
    }
  };
  for (let i = 0; i + 1 < points.length; i++) {
    const p = points[i];
    const q = points[i + 1];
    if (i > 0) addCarets(p);
    const seg = text.slice(cpToCu(text, p), cpToCu(text, q));
    const sel = marks.find((m) => m.a <= p && q <= m.b && m.a < m.b);
    if (sel) {
      const s = document.createElement('span');
      s.className = 'sel';
      s.dataset.client = sel.client;
      s.style.setProperty('--c', sel.color);
      s.textContent = seg;
      frag.append(s);
    } else {
      frag.append(seg);
    }
  }
  if (points.length === 1 || total === 0) addCarets(0);
  else addCarets(total);
  // a trailing newline needs a line of its own in the mirror
  frag.append('\u200b');
  ov.replaceChildren(frag);
  fitOverlay();
}

function fitOverlay() {
  const ta = el.editor;
  const ov = el.overlay;
  ov.style.left = `${ta.offsetLeft + ta.clientLeft}px`;
  ov.style.top = `${ta.offsetTop + ta.clientTop}px`;
  ov.style.width = `${ta.clientWidth}px`;
  ov.style.height = `${ta.clientHeight}px`;
  ov.scrollTop = ta.scrollTop;
  ov.scrollLeft = ta.scrollLeft;
}

el.editor.addEventListener('scroll', fitOverlay);
new ResizeObserver(fitOverlay).observe(el.editor);

function renderUsers() {
  const ul = el.users;
  ul.replaceChildren();
  const li = (name, color, note, cid) => {
    const item = document.createElement('li');
    const dot = document.createElement('span');
    dot.className = 'dot';
    dot.style.backgroundColor = color;
    const n = document.createElement('span');
    n.className = 'user-name';
    n.style.color = color;
    n.textContent = name;
    item.append(dot, n);
    if (note) {
      const s = document.createElement('span');
      s.className = 'note';
      s.textContent = note;
      item.append(s);
    }
    if (cid) item.dataset.client = cid;
    ul.append(item);
  };
  if (me.signedIn) li(me.name, me.color, '(you)', me.clientId);
  for (const m of others()) li(m.name, m.color, m.user && m.user !== m.name ? `(${m.user})` : '', m.client);
}

// ---------------------------------------------------------------------------
// Status

function renderStatus() {
  const s = client ? client.status : 'offline';
  el.conn.textContent = s;
  el.conn.dataset.status = s;
  if (client && client.node) {
    el.node.textContent = client.node;
    el.node.dataset.node = client.node;
  } else if (s !== 'connected') {
    el.node.textContent = '—';
    el.node.dataset.node = '';
  }
  renderDocState();
}

function renderDocState() {
  if (!doc) {
    el.sync.textContent = '—';
    el.sync.dataset.state = '';
    el.rev.textContent = '—';
    return;
  }
  // the library's state is 'joining' whenever the socket is away; local
  // edits not yet acknowledged show as 'syncing' (also while offline)
  const st = doc.state || 'joining';
  if (st === 'synced') dirty = false;
  const shown = st === 'synced' ? 'synced' : (dirty || st === 'syncing' ? 'syncing' : 'joining');
  el.sync.textContent = shown;
  el.sync.dataset.state = shown;
  el.rev.textContent = doc.rev === undefined || doc.rev === null ? '—' : String(doc.rev);
  el.rev.dataset.rev = el.rev.textContent;
}

let errorTimer = null;
function showError(msg) {
  el.error.textContent = msg;
  el.error.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { el.error.hidden = true; }, 8000);
}

function renderRecent() {
  const ul = el.recent;
  ul.replaceChildren();
  for (const id of recentDocs()) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = `#doc=${encodeURIComponent(id)}`;
    a.textContent = id;
    a.dataset.doc = id;
    li.append(a);
    ul.append(li);
  }
}

// ---------------------------------------------------------------------------
// Boot

window.collab = {
  client: null,
  doc: null,
  me,
  // for tests and demos: simulate going offline and coming back
  disconnect: () => client && client.disconnect(),
  reconnect: () => client && client.reconnect(),
};

async function boot() {
  renderRecent();
  el.loginName.value = me.name;
  if (!me.color) me.color = colorFor(me.name || me.clientId);
  el.loginColor.value = me.color;
  showIdentity();
  await loadConfig();
  document.body.dataset.dev = config.dev ? '1' : '0';
  if (!config.dev) {
    el.loginForm.hidden = true;
    // no development login: the cookie comes from the application (POST /v1/session)
    me.signedIn = true;
    me.name = me.name || 'anonymous';
    start();
  } else if (me.signedIn) {
    start();
  }
  renderStatus();
  renderUsers();
  document.body.dataset.booted = '1';
}

boot();
