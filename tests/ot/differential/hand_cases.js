'use strict';
// Hand-written edge cases run before the random ones: boundaries (0, end),
// astral and multi-code-point characters, the insert tie rule, which delete
// form survives compose/transform, and every kind of refused op. Their
// expected answers come from the same oracle (expect.js) as random cases.
const flag = '\u{1f3f3}\ufe0f\u200d\u{1f308}'; // 4 code points
const doc = 'n\u0303o\u00e9 \u5b57\u{1f600}' + flag + '\nend'; // mixed, 15 code points

const apply = [
  [doc, []], [doc, ['X']], [doc, [15, 'X']], [doc, [16, 'X']], [doc, [7, { d: 1 }]],
  [doc, [8, { d: 2 }]], [doc, [{ d: 15 }]], [doc, [{ d: 16 }]], [doc, [14, { d: 2 }]],
  [doc, [{ d: doc }]], [doc, [{ d: doc + 'x' }]], [doc, [1, { d: '\u0303' }, '\u0301']],
  ['', ['\u{1f600}']], ['', [{ d: 1 }]], ['', [1]], ['', [1, 'a']], ['abc', [3, 'x', 'y']],
  ['abc', ['x', { d: 1 }, 'y', { d: 'b' }]], ['abc', [1, { d: 2 }]], ['abc', [1, { d: 3 }]],
  ['abc', [0, 'x']], ['abc', ['']], ['abc', [{ d: 0 }]], ['abc', [1, 1, 'x']], ['abc', [2]],
];
const transform = [
  [['a'], ['b']], [[1, 'a'], [1, 'b']], [[3, 'a'], [1, { d: 2 }]], [[1, { d: 2 }], [2, 'x']],
  [[{ d: 'abc' }], [1, { d: 1 }]], [[{ d: 3 }], [1, { d: 'b' }]], [[{ d: 'abc' }], [{ d: 'abc' }]],
  [[1, { d: 'bc' }, 'Q'], [2, '\u{1f600}']], [['a', 'b'], ['x']], [['a', 'b'], [1, 'x']],
  [[{ d: 1 }, { d: 'b' }], [1, 'x']], [[2, '\u5b57'], [2, '\u5b57']], [[], ['a']], [['a'], []],
  [[1, flag], [{ d: 2 }, flag]],
];
const compose = [
  [['abc'], [1, { d: 1 }]], [['abc'], [{ d: 'abc' }]], [[{ d: 'ab' }], [{ d: 'cd' }]],
  [[{ d: 2 }], [{ d: 'cd' }]], [[{ d: 'ab' }], [{ d: 2 }]], [[1, { d: 'b' }], [{ d: 'a' }]],
  [[2, 'xy'], [1, { d: 'bxy' }]], [[2, 'xy'], [1, { d: 3 }]], [[{ d: 1 }, 'a'], ['b', { d: 1 }]],
  [[3, '\u{1f600}\u{1f600}'], [4, { d: 1 }, 'z']], [[], []], [['a'], ['b']],
];
const normalize = [
  [], [0], [''], [{ d: 0 }], [{ d: '' }], [5], [1, 2, 'a'], ['a', 'b', 3, 4], [{ d: 'a' }, { d: 'b' }],
  [{ d: 'a' }, { d: 2 }], [{ d: 2 }, { d: 'a' }], [1, 0, 2, '', { d: 0 }, { d: '' }, 'a', 'b', { d: 'x' }, { d: 'y' }, { d: 2 }, 3],
  ['\u{1f3f3}\ufe0f', '\u200d\u{1f308}'], [{ d: '\u{1f600}' }, { d: 'e\u0301' }, 7],
];
const positions = [
  [3, [3, 'x']], [3, [2, 'x']], [3, [4, 'x']], [0, ['x']], [2, [1, { d: 5 }]], [2, [{ d: 1 }]],
  [2, [3]], [5, [1, 1, 'ab']], [2, [1, '\u{1f600}']], [9, ['a', { d: 'bc' }]], [1, [0, 'x']],
  [3, [{ d: 0 }, '']], [100, [2, 'x']],
];
const checks = [
  [], ['a'], [1, 'a'], [{ d: 1 }], [{ d: 'x' }], ['a', 'b'], [{ d: 1 }, { d: 'x' }], [1], [1, 2, 'a'],
  [0, 'a'], [''], [{ d: 0 }], [{ d: '' }], [null], [-1, 'a'], [{ d: -1 }], [{}], [{ x: 1 }], [[1]],
  [1.5, 'a'], [true], [{ d: 1, x: 2 }], [{ d: null }], [{ d: true }], 'abc', 5, null, {},
];

module.exports = [
  ...apply.map(([d, a]) => ({ kind: 'apply', doc: d, a })),
  ...transform.flatMap(([a, b]) => ['left', 'right'].map((side) => ({ kind: 'transform', doc, a, b, side }))),
  ...compose.map(([a, b]) => ({ kind: 'compose', doc, a, b })),
  ...normalize.map((a) => ({ kind: 'normalize', a })),
  ...positions.map(([cursor, a]) => ({ kind: 'transformPosition', doc, a, cursor })),
  ...checks.map((a) => ({ kind: 'check', a })),
];
