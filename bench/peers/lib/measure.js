'use strict';
// Process CPU and RSS from /proc, and latency quantiles.
const fs = require('fs');

// Clock ticks per second: 100 on every Linux this runs on (USER_HZ).
const HZ = 100;

// utime + stime of a process in seconds (fields 14 and 15 of
// /proc/PID/stat, counted after the command name, which may hold spaces).
function procCpuSeconds(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / HZ;
}

function procRssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0; // the process is gone; the caller reports what it had
  }
}

// count, p50/p95/p99/max and mean of a list of milliseconds.
function summary(xs) {
  if (!xs.length) return { count: 0 };
  const a = Float64Array.from(xs).sort();
  const q = (p) => a[Math.min(a.length - 1, Math.floor(p * a.length))];
  return {
    count: a.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: a[a.length - 1],
    mean: a.reduce((s, x) => s + x, 0) / a.length,
  };
}

module.exports = { procCpuSeconds, procRssBytes, summary };
