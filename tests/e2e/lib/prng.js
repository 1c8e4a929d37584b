'use strict';
// mulberry32: a small seeded PRNG, so that a failing randomized run can be
// replayed from its seed (E2E_SEED in the e2e suites). The one copy for the
// e2e suites, the OT differential test (tests/ot/differential) and the
// client library's tests (clients/js/test).

// A function returning floats in [0, 1), deterministic for `seed`.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

module.exports = { mulberry32 };
