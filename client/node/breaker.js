// The adapter's view of the daemon's health: a circuit breaker, and the
// warnings that tell the operator when the cache stops and starts answering.
//
// Closed: calls go to the daemon. After `failures` consecutive calls that got
// no answer (timeout, no daemon, connection lost), it opens: calls fail at
// once without touching the socket, for `openMs`. The first call after that
// starts one probe (a PING, in the background — that call still fails fast);
// a reply closes the breaker on trial, no reply opens it again for twice as
// long, up to `maxOpenMs`. On trial, the first call without an answer opens
// it again at once: a daemon that answers PING but not real calls costs one
// slow call per opening, not `failures`. The wait goes back to `openMs`, and
// the "answers again" warning is shown, once a real call succeeds.
// An answer from the daemon — an error such as bad_audio or busy included —
// counts as success: the daemon is there.
//
// Warnings: one when calls start failing, one when the daemon answers again
// (only if the first was shown), and each kind of dropped work at most once a
// minute, saying how many were dropped since. Never one per request.
import { TtscacheError } from './index.js';

// Errors that mean "the daemon did not answer", as opposed to its answers.
const NO_ANSWER = new Set(['timeout', 'unavailable', 'closed', 'protocol']);
export function isNoAnswer(err) {
  return err instanceof TtscacheError && NO_ANSWER.has(err.code);
}

export const WARNING_INTERVAL_MS = 60_000;

// process.emitWarning, at most once per `intervalMs` per kind; the next one
// shown says how many were held back meanwhile.
export class RateLimitedWarnings {
  constructor({ intervalMs = WARNING_INTERVAL_MS, now = Date.now } = {}) {
    this.intervalMs = intervalMs;
    this.now = now;
    this.kinds = new Map();  // kind → {last, held}
  }

  // → true if shown.
  warn(kind, message) {
    const k = this.kinds.get(kind) ?? { last: -Infinity, held: 0 };
    this.kinds.set(kind, k);
    const now = this.now();
    if (now - k.last < this.intervalMs) {
      k.held++;
      return false;
    }
    const held = k.held ? ` (${k.held} more like it in the last ${Math.round((now - k.last) / 1000)} s)` : '';
    k.last = now;
    k.held = 0;
    process.emitWarning(`ttscache: ${message}${held}`, { code: 'TTSCACHE_DEGRADED' });
    return true;
  }
}

export class CircuitBreaker {
  // probe: () => Promise, a cheap call to the daemon (a PING with the short timeout).
  constructor({ failures = 3, openMs = 1000, maxOpenMs = 30_000, probe, describe = () => 'ttscached',
    warnings = new RateLimitedWarnings(), now = Date.now } = {}) {
    this.threshold = failures;
    this.baseOpenMs = openMs;
    this.maxOpenMs = maxOpenMs;
    this.probe = probe;
    this.describe = describe;
    this.warnings = warnings;
    this.now = now;
    this.state = 'closed';       // 'closed' | 'open' | 'half-open' (a probe in flight)
    this.consecutive = 0;        // calls without an answer, in a row
    this.openMs = openMs;        // how long the next opening lasts
    this.openUntil = 0;
    this.lastError = null;
    this.announcedDown = false;  // the "not answering" warning was shown
    this.failedCalls = 0;        // since it was shown
    this.onOpen = () => {};      // set by the owner: e.g. drop a connection to a hung daemon
  }

  // → true: make the call. false: fail fast (and maybe start the probe).
  allows() {
    if (this.state === 'closed') return true;
    if (this.state === 'open' && this.now() >= this.openUntil) this.#probe();
    this.failedCalls++;
    return false;
  }

  // The error a call gets while the breaker is open.
  fastFailure() {
    const wait = Math.max(0, this.openUntil - this.now());
    return new TtscacheError('unavailable', `${this.describe()} skipped after ${this.threshold} calls without an ` +
      `answer (last: ${this.lastError?.message ?? 'unknown'}); next try in ${wait} ms`);
  }

  succeeded({ probe = false } = {}) {
    if (this.state !== 'closed') this.state = 'closed';
    if (probe) {
      // On trial: the PING proves the socket answers, not that real calls do.
      this.consecutive = this.threshold - 1;
      return;
    }
    this.consecutive = 0;
    this.openMs = this.baseOpenMs;
    if (this.announcedDown) {
      this.announcedDown = false;
      process.emitWarning(`ttscache: ${this.describe()} answers again (${this.failedCalls} calls degraded meanwhile)`,
        { code: 'TTSCACHE_RECOVERED' });
    }
  }

  failed(err) {
    this.lastError = err;
    this.failedCalls++;
    if (!this.announcedDown && this.warnings.warn('down', `${this.describe()} does not answer (${err.message}); ` +
        'until it does, lookups are misses, puts are dropped and encodes fail')) {
      this.announcedDown = true;
      this.failedCalls = 1;
    }
    if (this.state !== 'closed') return;  // already open: calls in flight before it opened
    if (++this.consecutive >= this.threshold) this.#open();
  }

  #open() {
    this.state = 'open';
    this.openUntil = this.now() + this.openMs;
    this.openMs = Math.min(this.openMs * 2, this.maxOpenMs);
    this.onOpen();
  }

  #probe() {
    this.state = 'half-open';
    this.probe().then(() => this.succeeded({ probe: true }), (err) => {
      this.lastError = err;
      if (isNoAnswer(err)) this.#open();
      else this.succeeded({ probe: true });
    });
  }
}
