'use strict';
// Random case generation for the collab-ot differential test: documents of
// mixed scripts (ASCII, accents, combining marks, CJK, astral emoji and ZWJ
// sequences, newlines, JSON-hostile characters), ops that fit them (normalized
// and merely checkOp-valid forms), broken ops, and non-normalized inputs for
// normalize. Deterministic for a given seed (mulberry32).

const { mulberry32 } = require('../../e2e/lib/prng');

// Units are what a person would type; several are more than one code point.
const UNITS = [
  'a', 'b', 'c', 'x', 'Z', '0', '7', ' ', ' ', '\n', '\t', '.', '[', '"', '\\', '/',
  '\u00e9', '\u00f1', 'e\u0301', 'n\u0303', '\u1ed9', '\u00c5', '\u0627',
  '\u5b57', '\u4e2d', '\u6587', '\u3042', '\ud55c',
  '\ud83d\ude00', '\ud83c\udff3\ufe0f\u200d\ud83c\udf08', '\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67',
  '\ud83d\udc4d\ud83c\udffd', '\ud834\udd1e', '\u{10ffff}', '\uffff', '\u2028', '\u0001', '\u0000',
];

class Gen {
  constructor(seed) {
    this.rand = mulberry32(seed);
  }

  int(n) { return Math.floor(this.rand() * n); } // 0 .. n-1
  chance(p) { return this.rand() < p; }
  pick(list) { return list[this.int(list.length)]; }

  text(units) {
    let s = '';
    for (let i = 0; i < units; i++) s += this.pick(UNITS);
    return s;
  }

  // Mostly short documents; some empty, some longer than a rope leaf (1 KiB).
  doc() {
    const r = this.rand();
    if (r < 0.08) return '';
    if (r < 0.75) return this.text(1 + this.int(20));
    if (r < 0.93) return this.text(20 + this.int(80));
    return this.text(400 + this.int(1600));
  }

  // Raw components of a random edit of a document given as code points. It
  // may contain adjacent inserts/deletes (still checkOp-valid) and adjacent
  // or trailing skips (not valid until normalized).
  rawOp(cps) {
    const len = cps.length;
    const out = [];
    let pos = 0;
    const steps = 1 + this.int(this.chance(0.3) ? 8 : 3);
    for (let i = 0; i < steps; i++) {
      const rem = len - pos;
      const action = this.int(10);
      if (action < 3 && rem > 0) { // skip
        const k = this.chance(0.15) ? rem : 1 + this.int(Math.min(rem, this.chance(0.1) ? rem : 8));
        out.push(k);
        pos += k;
      } else if (action < 6) { // insert
        out.push(this.text(1 + this.int(this.chance(0.1) ? 12 : 4)));
      } else if (rem > 0) { // delete, counted or with its text
        const k = this.chance(0.15) ? rem : 1 + this.int(Math.min(rem, 8));
        out.push({ d: this.chance(0.5) ? k : cps.slice(pos, pos + k).join('') });
        pos += k;
      }
    }
    if (this.chance(0.2)) { // an insert at the very end of the document
      if (len > pos) out.push(len - pos);
      out.push(this.text(1 + this.int(3)));
    }
    return out;
  }

  // A valid op in one of the forms clients send; `normalize` is the
  // reference's normalize (it mutates its argument, hence the clone).
  validOp(cps, normalize) {
    const raw = this.rawOp(cps);
    const r = this.rand();
    if (r < 0.7) return normalize(clone(raw));
    // checkOp-valid only: adjacent skips merged, trailing skip dropped,
    // adjacent inserts/deletes kept.
    const out = [];
    for (const c of raw) {
      if (typeof c === 'number' && typeof out[out.length - 1] === 'number') out[out.length - 1] += c;
      else out.push(c);
    }
    if (typeof out[out.length - 1] === 'number') out.pop();
    return out;
  }

  // Breaks an op. Returns [op, label]; labels group the summary.
  corrupt(op, cps) {
    const len = cps.length;
    const consumed = op.reduce((n, c) => n + (typeof c === 'number' ? c
      : typeof c === 'object' ? (typeof c.d === 'number' ? c.d : Array.from(c.d).length) : 0), 0);
    const rest = Math.max(0, len - consumed);
    const at = (x) => { const o = op.slice(); o.splice(this.int(o.length + 1), 0, x); return o; };
    switch (this.int(22)) {
      case 0: return [[len + 1 + this.int(3), 'x'], 'skip past end'];
      case 1: return [op.concat(rest ? [rest] : [], [{ d: 1 + this.int(3) }]), 'delete past end'];
      case 2: return [[{ d: cps.join('') + 'q' }], 'text delete past end'];
      case 3: return [op.concat(rest ? [rest + 1 + this.int(2), 'y'] : [1, 'y']), 'skip past end'];
      case 4: return [at(''), 'empty insert'];
      case 5: return [at({ d: 0 }), '{d:0}'];
      case 6: return [at({ d: '' }), '{d:""}'];
      case 7: return [at(0), 'zero skip'];
      case 8: return [[2, 3, 'z'], 'adjacent skips'];
      case 9: return [op.concat([1 + this.int(4)]), 'trailing skip'];
      case 10: return [at(null), 'null component'];
      case 11: return [this.pick(['abc', 5, {}, null, { d: 1 }, true]), 'not an array'];
      case 12: return [at(-1 - this.int(3)), 'negative skip'];
      case 13: return [at({ d: -2 }), 'negative delete'];
      case 14: return [at(1.5), 'non-integer (project rule)'];
      case 15: return [at({ d: 2.5 }), 'non-integer (project rule)'];
      case 16: return [at(true), 'boolean (project rule)'];
      case 17: return [at([1]), 'nested array'];
      case 18: return [at({ x: 1 }), 'object without d'];
      case 19: return [at({ d: 1, x: 2 }), 'extra key (project rule)'];
      case 20: return [at({ d: this.pick([true, null, [1], {}]) }), 'bad delete'];
      default: return [op.concat(rest ? [rest, { d: 'zz' }] : [{ d: 'zz' }]), 'text delete past end'];
    }
  }

  // Input for normalize: a valid op taken apart again (split components,
  // no-op components, trailing skips).
  unnormalized(cps, normalize) {
    const out = [];
    const junk = () => this.pick([0, '', { d: 0 }, { d: '' }]);
    for (const c of this.validOp(cps, normalize)) {
      if (this.chance(0.2)) out.push(junk());
      if (typeof c === 'number' && c > 1 && this.chance(0.5)) {
        const k = 1 + this.int(c - 1);
        out.push(k, c - k);
      } else if (typeof c === 'string' && Array.from(c).length > 1 && this.chance(0.5)) {
        const u = Array.from(c);
        const k = 1 + this.int(u.length - 1);
        out.push(u.slice(0, k).join(''), u.slice(k).join(''));
      } else if (typeof c === 'object' && dlen(c.d) > 1 && this.chance(0.6)) {
        // Split a delete into two, each part counted or with text.
        const n = dlen(c.d);
        const k = 1 + this.int(n - 1);
        const text = typeof c.d === 'string' ? Array.from(c.d) : null;
        const part = (from, to) => (text && this.chance(0.7) ? { d: text.slice(from, to).join('') } : { d: to - from });
        out.push(part(0, k), part(k, n));
      } else {
        out.push(c);
      }
    }
    if (this.chance(0.3)) out.push(junk());
    if (this.chance(0.3)) out.push(1 + this.int(5));
    if (this.chance(0.1)) out.push(1 + this.int(5));
    return out;
  }
}

const clone = (x) => (x === undefined ? x : JSON.parse(JSON.stringify(x)));
const dlen = (d) => (typeof d === 'number' ? d : Array.from(d).length);

module.exports = { Gen, clone, dlen };
