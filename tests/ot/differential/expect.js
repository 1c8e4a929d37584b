'use strict';
// The oracle of the differential test: what collab-ot must answer for a
// case, computed with ot-text-unicode 4.0.0 itself plus the project's
// documented rules (docs/PROTOCOL.md, actors/ot/op_json.cpp):
//
//  1. apply refuses an op that reads past the end of the document. The
//     reference throws for a skip past the end but truncates a delete
//     silently; we refuse both.
//  2. Structurally broken ops are refused by every kind: not an array, or a
//     component that is not a non-negative integer (<= 2^53-1), a string, or
//     an object whose only key is "d" holding one of those. The reference
//     throws for most of these; it lets through booleans, fractions and
//     extra keys in checkOp, and negatives in normalize/transformPosition.
//
// Anything the reference throws becomes "error". Returns {error: true} or
// {result: value}.
const { type } = require('ot-text-unicode');
const { clone, dlen } = require('./gen');

const MAX_COUNT = 2 ** 53 - 1;
const isCount = (x) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= MAX_COUNT;

function structurallyBroken(op) {
  if (!Array.isArray(op)) return true;
  return !op.every((c) => {
    if (typeof c === 'number') return isCount(c);
    if (typeof c === 'string') return true;
    if (c === null || typeof c !== 'object' || Array.isArray(c)) return false;
    const keys = Object.keys(c);
    return keys.length === 1 && keys[0] === 'd' && (typeof c.d === 'string' || isCount(c.d));
  });
}

const codePoints = (s) => Array.from(s).length;
const consumed = (op) => op.reduce((n, c) => n + (typeof c === 'number' ? c
  : typeof c === 'object' ? dlen(c.d) : 0), 0);

const ERROR = { error: true };

function expected(c) {
  const ops = c.kind === 'transform' || c.kind === 'compose' ? [c.a, c.b] : [c.a];
  if (ops.some(structurallyBroken)) return ERROR;
  try {
    switch (c.kind) {
      case 'apply': {
        type.checkOp(c.a);
        if (consumed(c.a) > codePoints(c.doc)) return ERROR; // rule 1
        return { result: type.apply(c.doc, clone(c.a)) };
      }
      case 'transform':
        return { result: type.transform(clone(c.a), clone(c.b), c.side) };
      case 'compose':
        return { result: type.compose(clone(c.a), clone(c.b)) };
      case 'normalize':
        return { result: type.normalize(clone(c.a)) };
      case 'transformPosition':
        return { result: type.transformPosition(c.cursor, clone(c.a)) };
      case 'check':
        type.checkOp(c.a);
        return { result: true };
      default:
        throw Error('unknown kind ' + c.kind);
    }
  } catch (e) {
    return ERROR;
  }
}

module.exports = { expected, structurallyBroken };
