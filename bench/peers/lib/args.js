'use strict';
// `--key value` / `--flag` parsing against a table of defaults: enough for
// these scripts, no dependency. Unknown keys are an error (a typo must not
// silently run the default workload).
function args(defaults, argv = process.argv.slice(2)) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in defaults)) throw new Error(`unknown option ${a}`);
    if (typeof defaults[key] === 'boolean') { out[key] = true; continue; }
    if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
    const v = argv[++i];
    out[key] = typeof defaults[key] === 'number' ? Number(v) : v;
    if (Number.isNaN(out[key])) throw new Error(`${a}: not a number: ${v}`);
  }
  return out;
}

module.exports = { args };
