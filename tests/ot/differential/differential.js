#!/usr/bin/env node
'use strict';
// Differential test: build/bin/collab-ot against npm ot-text-unicode 4.0.0.
//
//   node differential.js <path/to/collab-ot>      (or env COLLAB_OT)
//   env OT_DIFF_SEED=<int>   seed (default 20240601; printed, so failures reproduce)
//   env OT_DIFF_CASES=<int>  random cases per kind (default 10000)
//
// Generates hand-written and random cases for every kind of docs/OT-ADAPTER.md,
// computes the expected answers with the reference (expect.js), feeds all
// cases to the adapter in one run and compares canonical JSON. Prints the
// first mismatches with their case and a summary per kind; exits 1 on any
// mismatch or missing answer, 2 on a setup problem.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

if (!fs.existsSync(path.join(__dirname, 'node_modules', 'ot-text-unicode', 'package.json'))) {
  console.error('differential: node_modules missing. Run: npm ci --prefix tests/ot/differential');
  process.exit(2);
}
const { type } = require('ot-text-unicode');
const { Gen, clone } = require('./gen');
const { expected } = require('./expect');
const handCases = require('./hand_cases');

const bin = process.argv[2] || process.env.COLLAB_OT;
if (!bin || !fs.existsSync(bin)) {
  console.error('usage: node differential.js <collab-ot binary>  (or env COLLAB_OT); got: ' + bin);
  process.exit(2);
}
const SEED = Number(process.env.OT_DIFF_SEED || 20240601);
const PER_KIND = Number(process.env.OT_DIFF_CASES || 10000);
const gen = new Gen(SEED);
const normalize = (op) => type.normalize(op);
const cps = (s) => Array.from(s);

// --- case generation -------------------------------------------------------
// Each entry: {label, kase} where kase is the JSON sent (without id).
const cases = [];
const add = (label, kase) => cases.push({ label, kase });

// An op on `doc`, broken with probability `pBad`; returns [op, badLabel].
function maybeBad(doc, pBad, op) {
  if (!gen.chance(pBad)) return [op, null];
  return gen.corrupt(op, cps(doc));
}

for (const h of handCases) add(h.kind + ' (hand)', h);

for (let i = 0; i < PER_KIND; i++) {
  const doc = gen.doc();
  const [a, bad] = maybeBad(doc, 0.15, gen.validOp(cps(doc), normalize));
  add('apply', { kind: 'apply', doc, a, bad });
}
for (let i = 0; i < PER_KIND; i++) {
  // Both sides of the same pair, so the tie rule is seen from each side.
  const doc = gen.doc();
  const [a, badA] = maybeBad(doc, 0.04, gen.validOp(cps(doc), normalize));
  const [b, badB] = maybeBad(doc, 0.04, gen.validOp(cps(doc), normalize));
  add('transform left', { kind: 'transform', doc, a, b, side: 'left', bad: badA || badB });
  add('transform right', { kind: 'transform', doc, a: clone(a), b: clone(b), side: 'right', bad: badA || badB });
}
for (let i = 0; i < PER_KIND; i++) {
  const doc = gen.doc();
  const [a, badA] = maybeBad(doc, 0.04, gen.validOp(cps(doc), normalize));
  let after = doc;
  try { if (!badA) after = type.apply(doc, clone(a)); } catch (e) { /* a is bad: b is made for doc */ }
  const [b, badB] = maybeBad(after, 0.04, gen.validOp(cps(after), normalize));
  add('compose', { kind: 'compose', doc, a, b, bad: badA || badB });
}
for (let i = 0; i < PER_KIND; i++) {
  const doc = gen.doc();
  const [a, bad] = gen.chance(0.05) ? gen.corrupt([], cps(doc)) : [gen.unnormalized(cps(doc), normalize), null];
  add('normalize', { kind: 'normalize', a, bad });
}
for (let i = 0; i < PER_KIND; i++) {
  const doc = gen.doc();
  const len = cps(doc).length;
  // The generator's op may have adjacent/trailing skips: transformPosition
  // does not check its op, so those must still give the reference's answer.
  const a = gen.chance(0.8) ? gen.validOp(cps(doc), normalize) : gen.rawOp(cps(doc));
  const [op, bad] = maybeBad(doc, 0.05, a);
  const r = gen.rand();
  const cursor = r < 0.15 ? 0 : r < 0.3 ? len : r < 0.35 ? len + 1 + gen.int(3) : gen.int(len + 1);
  add('transformPosition', { kind: 'transformPosition', doc, a: op, cursor, bad });
}
for (let i = 0; i < PER_KIND; i++) {
  const doc = gen.doc();
  const a0 = gen.chance(0.8) ? gen.validOp(cps(doc), normalize) : gen.rawOp(cps(doc));
  const [a, bad] = maybeBad(doc, 0.4, a0);
  add('check', { kind: 'check', a, bad });
}

// --- wire encoding ------------------------------------------------------------
// About a third of the lines escape every non-ASCII UTF-16 unit (\u00e9,
// \ud83d\ude00) so both raw UTF-8 and escapes are exercised.
const escapeAll = (s) => s.replace(/[\u007f-\uffff]/g, (ch) => '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'));

const lines = [];
const records = [];
cases.forEach(({ label, kase }, i) => {
  const { bad, ...wire } = kase;
  const id = i % 7 === 0 ? 'c' + i : i;
  let line = JSON.stringify({ id, ...wire });
  if (gen.chance(0.33)) line = escapeAll(line);
  lines.push(Buffer.from(line + '\n', 'utf8'));
  records.push({ label: bad ? label + ' [invalid]' : label, badKind: bad, id, kase: wire, want: expected(wire) });
});
// Lines that are not cases at all: each must still get one {"error"} line.
const malformed = ['garbage', '{', '', '[1,2]', '"str"', '{"kind":"apply","doc":"a"', 'null',
  '{"kind":"nope"}', '{"kind":"apply","doc":5,"a":[]}', '{"kind":"transform","a":[],"b":[],"side":"up"}',
  '{"kind":"transformPosition","a":[],"cursor":-1}', '{"kind":"check"}'];
for (const m of malformed) {
  lines.push(Buffer.from(m + '\n', 'utf8'));
  records.push({ label: 'malformed line', id: undefined, kase: m, want: { error: true } });
}
lines.push(Buffer.from([0x7b, 0x22, 0x6b, 0xff, 0xfe, 0x22, 0x7d, 0x0a])); // invalid UTF-8
records.push({ label: 'malformed line', id: undefined, kase: '<invalid UTF-8 bytes>', want: { error: true } });

// --- run and compare -------------------------------------------------------------
const started = Date.now();
const run = spawnSync(bin, [], { input: Buffer.concat(lines), maxBuffer: 1 << 30, timeout: 600000 });
// EPIPE means the adapter died before reading all input: compare what it
// answered, so the first 'no answer' points at the case that killed it.
if (run.error && (run.error.code !== 'EPIPE' || !run.stdout)) {
  console.error('differential: could not run ' + bin + ': ' + run.error.message);
  process.exit(2);
}
if (run.status !== 0) console.error(`differential: collab-ot exited with status ${run.status} signal ${run.signal}`);
const out = run.stdout.toString('utf8').split('\n');
if (out[out.length - 1] === '') out.pop();

const canon = (v) => (Array.isArray(v) ? '[' + v.map(canon).join(',') + ']'
  : v && typeof v === 'object' ? '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canon(v[k])).join(',') + '}'
    : JSON.stringify(v));

function verdict(rec, line) {
  if (line === undefined) return 'no answer';
  let got;
  try { got = JSON.parse(line); } catch (e) { return 'unparseable answer'; }
  if (!got || typeof got !== 'object') return 'answer is not an object';
  if (rec.id !== undefined && canon(got.id) !== canon(rec.id)) return 'wrong id';
  if (rec.want.error) return 'error' in got ? null : 'expected an error';
  if (!('result' in got)) return 'unexpected error';
  return canon(got.result) === canon(rec.want.result) ? null : 'wrong result';
}

const summary = new Map();
const failures = [];
records.forEach((rec, i) => {
  const why = verdict(rec, out[i]);
  const s = summary.get(rec.label) || { cases: 0, errors: 0, fail: 0 };
  s.cases++;
  if (rec.want.error) s.errors++;
  if (why) {
    s.fail++;
    failures.push({ why, rec, got: out[i] });
  }
  summary.set(rec.label, s);
});
if (out.length > records.length) failures.push({ why: `${out.length - records.length} extra answer lines`, rec: {}, got: '' });

for (const f of failures.slice(0, 15)) {
  console.log(`MISMATCH (${f.why}) ${f.rec.label || ''}${f.rec.badKind ? ' / ' + f.rec.badKind : ''}`);
  console.log('  case:     ' + (typeof f.rec.kase === 'string' ? f.rec.kase : JSON.stringify({ id: f.rec.id, ...f.rec.kase })));
  console.log('  expected: ' + JSON.stringify(f.rec.want));
  console.log('  got:      ' + f.got);
}
console.log(`\nseed ${SEED}, ${PER_KIND} random cases per kind, ${records.length} lines, ${Date.now() - started} ms`);
console.log('kind'.padEnd(36) + 'cases'.padStart(8) + 'errors'.padStart(8) + 'fail'.padStart(6));
const order = [...summary.keys()].sort();
let total = 0;
for (const k of order) {
  const s = summary.get(k);
  total += s.cases;
  console.log(k.padEnd(36) + String(s.cases).padStart(8) + String(s.errors).padStart(8) + String(s.fail).padStart(6));
}
const perKind = new Map();
records.forEach((rec) => {
  const k = typeof rec.kase === 'object' ? rec.kase.kind + (rec.kase.side ? ' ' + rec.kase.side : '') : 'malformed';
  perKind.set(k, (perKind.get(k) || 0) + 1);
});
console.log('per kind: ' + [...perKind].map(([k, n]) => `${k} ${n}`).join(', '));
console.log(`total ${total} cases, ${failures.length} mismatches`);
console.log(failures.length ? 'FAIL' : 'PASS');
process.exit(failures.length ? 1 : 0);
