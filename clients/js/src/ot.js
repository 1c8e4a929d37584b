// The text-unicode OT type (ot-text-unicode, the same code ShareDB uses) plus
// the few helpers the client needs on top of it. All positions are Unicode
// code points, as on the wire. No OT is implemented here: apply, transform,
// compose and transformPosition come from the package; `diff` only builds an
// op from two texts (used to rebase onto a text the server sent whole).
import otText from 'ot-text-unicode'; // CommonJS: its exports are the default import

export const { type } = otText;

export const apply = (text, op) => type.apply(text, op);
export const compose = (a, b) => type.compose(a, b);
export const transform = (op, other, side) => type.transform(op, other, side);
export const normalize = (op) => type.normalize(op);
export const transformPosition = (pos, op) => type.transformPosition(pos, op);

// Length in code points (what positions count).
export const cpLength = (s) => {
  let n = 0;
  for (const _ of s) n++; // eslint-disable-line no-unused-vars
  return n;
};

export const insertOp = (pos, str) => normalize([pos, str]);
export const deleteOp = (pos, n) => normalize([pos, { d: n }]);

// A position that, unlike transformPosition, moves past an insert made exactly
// at it: how the author's own caret follows its own typing. Computed by
// transforming a one-character insert at `pos` with side 'right'.
export function transformOwnPosition(pos, op) {
  const marked = transform(normalize([pos, '\u0000']), op, 'right');
  return typeof marked[0] === 'number' ? marked[0] : 0;
}

// An op turning `from` into `to`, used to rebase local edits onto a text the
// server sent whole. Common prefix and suffix are kept; the middle is a
// shortest edit script (Myers) so edits on both sides of the change keep
// their places, or one replacement when that would cost too much.
export function diff(from, to, maxEdits = 1000) {
  if (from === to) return [];
  const a = Array.from(from);
  const b = Array.from(to);
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre &&
         a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const x = a.slice(pre, a.length - suf);
  const y = b.slice(pre, b.length - suf);
  const op = [pre];
  for (const [kind, v] of editScript(x, y, maxEdits)) {
    op.push(kind === 'keep' ? v : kind === 'del' ? { d: v } : v);
  }
  return normalize(op);
}

// Myers' O(ND) diff of two arrays as runs of ['keep', n] / ['del', n] /
// ['ins', string]; one del+ins when more than maxEdits edits are needed.
function editScript(x, y, maxEdits) {
  const n = x.length;
  const m = y.length;
  const whole = () => [['del', n], ['ins', y.join('')]];
  if (n === 0 || m === 0 || n + m > 200000) return whole();
  const max = Math.min(n + m, maxEdits);
  const off = max + 1;
  let v = new Int32Array(2 * max + 3);
  const trace = [];
  let found = false;
  for (let d = 0; d <= max && !found; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let i = (k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]))
        ? v[off + k + 1] : v[off + k - 1] + 1;
      let j = i - k;
      while (i < n && j < m && x[i] === y[j]) { i++; j++; }
      v[off + k] = i;
      if (i >= n && j >= m) { found = true; break; }
    }
  }
  if (!found) return whole();
  // Walk back from (n, m) through the saved frontiers.
  const steps = []; // 'k' keep one, 'd' delete one, ['i', ch] insert one
  let i = n;
  let j = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const vd = trace[d];
    const k = i - j;
    let prevK;
    if (d === 0) prevK = 0;
    else prevK = (k === -d || (k !== d && vd[off + k - 1] < vd[off + k + 1])) ? k + 1 : k - 1;
    const prevI = d === 0 ? 0 : vd[off + prevK];
    const prevJ = prevI - prevK;
    while (i > prevI && j > prevJ) { steps.push('k'); i--; j--; }
    if (d > 0) {
      if (i === prevI) { steps.push(['i', y[j - 1]]); j--; } else { steps.push('d'); i--; }
    }
  }
  const runs = [];
  for (let s = steps.length - 1; s >= 0; s--) {
    const st = steps[s];
    const kind = st === 'k' ? 'keep' : st === 'd' ? 'del' : 'ins';
    const val = kind === 'ins' ? st[1] : 1;
    const last = runs[runs.length - 1];
    if (last && last[0] === kind) last[1] += val;
    else runs.push([kind, val]);
  }
  return runs;
}

// Whether op fits text: its skips and deletes stay within it. (apply() lets a
// delete run past the end; the server refuses such an op as bad_op.)
export function fits(text, op) {
  let used = 0;
  for (const c of op) {
    if (typeof c === 'number') used += c;
    else if (typeof c === 'object') used += typeof c.d === 'number' ? c.d : cpLength(c.d);
  }
  return used <= cpLength(text);
}
