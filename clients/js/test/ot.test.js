import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diff, apply, cpLength } from '../src/ot.js';
import { rng } from './helpers.js';

test('diff turns one text into the other, minimally around both edits', () => {
  assert.deepEqual(diff('hello', 'Jello world'), [{ d: 1 }, 'J', 4, ' world']);
  assert.deepEqual(diff('same', 'same'), []);
  assert.deepEqual(diff('a😀b', 'a😀xb'), [2, 'x']);
  const rnd = rng(7);
  const alphabet = Array.from('ab😀字 ');
  const pick = () => alphabet[Math.floor(rnd() * alphabet.length)];
  for (let n = 0; n < 300; n++) {
    let a = '';
    let b = '';
    for (let i = Math.floor(rnd() * 30); i > 0; i--) a += pick();
    for (let i = Math.floor(rnd() * 30); i > 0; i--) b += pick();
    assert.equal(apply(a, diff(a, b)), b);
    assert.equal(apply(a, diff(a, b, 2)), b, 'the fallback is exact too');
  }
  assert.equal(cpLength('a😀'), 2);
});
