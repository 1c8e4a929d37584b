// Reconnect delays: exponential growth from initialMs up to maxMs, with
// "equal jitter" (half fixed, half random) so that many clients cut off by one
// node failure do not all come back in the same millisecond, while a single
// client still waits at least half the nominal delay (no tight loop).
export class Backoff {
  constructor({ initialMs = 100, maxMs = 5000, random = Math.random } = {}) {
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.random = random;
    this.attempt = 0;
  }

  // The delay before the next attempt; each call doubles the nominal delay.
  next() {
    const nominal = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30); // 2**30 is plenty and stays finite
    return nominal / 2 + this.random() * (nominal / 2);
  }

  // After a good connection (welcome received).
  reset() {
    this.attempt = 0;
  }
}
