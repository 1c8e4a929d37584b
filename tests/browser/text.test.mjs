// The editor's text helpers (web/src/text.js): code points vs UTF-16 code
// units, the op of one input event, cursor transform. No browser needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { cpLength, cuToCp, cpToCu, diffOp, transformPosition } from '../../web/src/text.js';

const require = createRequire(import.meta.url);
const { type } = require('../e2e/node_modules/ot-text-unicode');

test('code points vs code units', () => {
  const s = 'a😀b🍐';
  assert.equal(cpLength(s), 4);
  assert.equal(cuToCp(s, 0), 0);
  assert.equal(cuToCp(s, 1), 1);
  assert.equal(cuToCp(s, 3), 2);
  assert.equal(cuToCp(s, 2), 2, 'inside a pair counts as after it');
  assert.equal(cpToCu(s, 2), 3);
  assert.equal(cpToCu(s, 4), 6);
  assert.equal(cpToCu(s, 99), 6);
});

test('diffOp: the op of one edit, in code points, as ot-text-unicode applies it', () => {
  const cases = [
    ['', 'abc', 3, [['abc']]],
    ['abc', 'abXc', 3, [[2, 'X']]],
    ['a😀c', 'a😀Xc', 4, [[2, 'X']]],
    ['a😀c', 'ac', 1, [[1, { d: 1 }]]],
    ['a😀c', 'a🍐c', 3, [[1, { d: 1 }, '🍐']]],
    ['a', 'aa', 1, [['a']]],              // typed before the a: at the caret
    ['a', 'aa', 2, [[1, 'a']]],
    ['aa', 'a', 0, [[{ d: 1 }]]],          // backspace at 1
    ['hello world', 'hello', null, [[5, { d: 6 }]]],
    ['😀😀', '😀', 2, [[1, { d: 1 }]]],
    ['x😀', 'x😁', 3, [[1, { d: 1 }, '😁']]], // same high surrogate: never split
  ];
  for (const [a, b, caret, wants] of cases) {
    const op = diffOp(a, b, caret);
    assert.ok(wants.some((w) => JSON.stringify(w) === JSON.stringify(op)), `${a} -> ${b} @${caret}: ${JSON.stringify(op)}`);
    assert.equal(type.apply(a, op), b);
    assert.deepEqual(type.normalize(op), op, 'normalized');
  }
  assert.equal(diffOp('same', 'same'), null);
});

test('diffOp on random edits always applies to the new text', () => {
  const alphabet = ['a', 'b', ' ', '\n', '😀', '🍐', 'é'];
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  for (let i = 0; i < 2000; i++) {
    const cps = Array.from({ length: Math.floor(rnd() * 12) }, () => alphabet[Math.floor(rnd() * alphabet.length)]);
    const a = cps.join('');
    const at = Math.floor(rnd() * (cps.length + 1));
    const del = Math.floor(rnd() * (cps.length - at + 1));
    const ins = Array.from({ length: Math.floor(rnd() * 3) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
    const b = [...cps.slice(0, at), ins, ...cps.slice(at + del)].join('');
    const caret = cps.slice(0, at).join('').length + ins.length;
    const op = diffOp(a, b, rnd() < 0.5 ? caret : null);
    if (a === b) { assert.equal(op, null); continue; }
    assert.equal(type.apply(a, op), b, `${JSON.stringify(a)} -> ${JSON.stringify(b)}: ${JSON.stringify(op)}`);
    assert.deepEqual(type.normalize(op), op);
  }
});

test('transformPosition is ot-text-unicode\'s', () => {
  const ops = [[3, 'xy'], [{ d: 2 }], [1, '😀', { d: 1 }], ['abc'], [5, { d: 3 }, 'q']];
  for (const op of ops) {
    for (let p = 0; p < 10; p++) assert.equal(transformPosition(p, op), type.transformPosition(p, op), `${p} ${JSON.stringify(op)}`);
  }
});
