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

// An op turning `from` into `to`: common prefix and suffix kept, the middle
// replaced. Not minimal, but exact, which is all a rebase needs.
export function diff(from, to) {
  if (from === to) return [];
  const a = Array.from(from);
  const b = Array.from(to);
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre &&
         a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const del = a.length - pre - suf;
  const ins = b.slice(pre, b.length - suf).join('');
  const op = [pre];
  if (del > 0) op.push({ d: del });
  if (ins) op.push(ins);
  return normalize(op);
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
