// Text helpers for the editor: the textarea speaks UTF-16 code units, the
// protocol (ot-text-unicode) speaks Unicode code points.

const isHigh = (c) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c) => c >= 0xdc00 && c <= 0xdfff;

// Number of code points in s.
export function cpLength(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    if (isHigh(s.charCodeAt(i)) && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) i++;
    n++;
  }
  return n;
}

// Code-unit offset cu in s -> code-point offset (an offset inside a
// surrogate pair counts as after it).
export function cuToCp(s, cu) {
  let n = 0;
  for (let i = 0; i < cu && i < s.length; i++) {
    if (isHigh(s.charCodeAt(i)) && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) i++;
    n++;
  }
  return n;
}

// Code-point offset cp in s -> code-unit offset (clamped to the end).
export function cpToCu(s, cp) {
  let i = 0;
  for (let n = 0; n < cp && i < s.length; n++) {
    if (isHigh(s.charCodeAt(i)) && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) i += 2;
    else i += 1;
  }
  return i;
}

// The ot-text-unicode op that turns oldText into newText, from one changed
// region (what one input event does). `caret` (code units in newText, when
// the selection is collapsed after the input) disambiguates repeated
// characters: the changed region ends at the caret, so typing "a" before an
// "a" inserts at the caret rather than after it. Returns null when equal.
export function diffOp(oldText, newText, caret = null) {
  if (oldText === newText) return null;
  let endOld = oldText.length;
  let endNew = newText.length;
  const floor = caret === null ? 0 : Math.min(caret, newText.length);
  while (endOld > 0 && endNew > floor &&
         oldText.charCodeAt(endOld - 1) === newText.charCodeAt(endNew - 1)) {
    endOld--;
    endNew--;
  }
  let start = 0;
  const max = Math.min(endOld, endNew);
  while (start < max && oldText.charCodeAt(start) === newText.charCodeAt(start)) start++;
  // never split a surrogate pair
  if (start > 0 && isHigh(oldText.charCodeAt(start - 1))) start--;
  if (endOld < oldText.length && isLow(oldText.charCodeAt(endOld))) {
    endOld++;
    endNew++;
  }
  const skip = cpLength(oldText.slice(0, start));
  const del = cpLength(oldText.slice(start, endOld));
  const ins = newText.slice(start, endNew);
  const op = [];
  if (skip > 0 && (del > 0 || ins.length > 0)) op.push(skip);
  if (del > 0) op.push({ d: del });
  if (ins.length > 0) op.push(ins);
  return op.length ? op : null;
}

// ot-text-unicode's transformPosition (code points): where a position moves
// when op is applied. An insert exactly at the position leaves it before
// the inserted text.
export function transformPosition(cursor, op) {
  let pos = 0;
  for (let i = 0; i < op.length && cursor > pos; i++) {
    const c = op[i];
    if (typeof c === 'number') {
      pos += c;
    } else if (typeof c === 'string') {
      const n = cpLength(c);
      pos += n;
      cursor += n;
    } else if (c && typeof c === 'object') {
      const n = typeof c.d === 'number' ? c.d : cpLength(c.d);
      cursor -= Math.min(n, cursor - pos);
    }
  }
  return cursor;
}
