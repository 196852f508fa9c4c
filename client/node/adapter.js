// Drop-in replacement for the backend's old tts-cache.ts and opus-encode.ts:
// the same exported names and signatures, served by ttscached instead of the
// local folder and an ffmpeg per request. The backend changes one import:
//   import { diskCacheGet, diskCachePut, ... } from 'ttscache/adapter';
//
// The cache must never take the backend down. When the daemon is absent,
// hung, restarting or busy: diskCacheGet resolves null (a miss),
// diskCachePut, initDiskCache and getDiskCacheStats resolve (stats as zeros),
// and encodeWavToOpus rejects with a TtscacheError — as the old one rejected
// when ffmpeg failed, so the backend falls back to WAV. Each call is bounded
// by a short timeout (TTSCACHE_TIMEOUT_MS, default 250 ms) for what the
// daemon answers from its event loop (get, stats, ping); what waits in its
// job queue for a worker — an encode, a put — gets max(1 s, 4 × that) plus
// 100 ms per second of audio. A daemon answering BUSY is asked once more
// after its retry-after hint (at most the call's timeout). Calls without an answer trip a circuit breaker (breaker.js):
// then calls fail fast without touching the socket until a probe gets an
// answer. Warnings are rate-limited, never one per request.
//
// The Opus variants: the backend's flow is get → (miss: synthesize, put) →
// encodeWavToOpus(wav). The adapter remembers which Buffers came from or went
// into the cache (cached-buffers.js), and encodes such a Buffer by asking for
// the entry's Opus variant, which the daemon encodes once and keeps: each
// (phrase, Opus parameters) is encoded once, not once per response. If the
// entry is gone, PUT_ENCODE stores the WAV and the variant again; a Buffer
// the adapter does not know is simply encoded.
//
// One synthesis per phrase (docs/migrating.md): diskCacheGet claims its
// misses. When several processes miss the same phrase at once, the first
// gets null (a miss: it synthesizes and its diskCachePut fills the entry),
// the others wait in the daemon — up to TTSCACHE_CLAIM_WAIT_MS (default
// 30000; 0: no claims, a miss is a miss as before) — and get the audio
// that put stored; null when the wait ended, or when the claim passed to
// them because the first process went away. Such a get's timeout is the
// wait plus the usual one: a long wait is not a daemon that does not
// answer. A put that is dropped gives the claim up, so the others move on.
// withSynthesisSlot (new) runs a synthesis holding a unit of a slot the
// daemon counts for every process on the host (TTS_MAX_PARALLEL's job,
// now over all of them); without an answer it runs the synthesis anyway.
//
// Other differences, on purpose: the cache dir, entry limit and eviction are
// the daemon's (its config, or the same TTS_CACHE_* variables in its
// environment); the stats hold every configured engine, not only xtts and piper.
import { Client, OPUS_CONTENT_TYPE, TtscacheError } from './index.js';
import { CircuitBreaker, RateLimitedWarnings, isNoAnswer } from './breaker.js';
import { CachedBuffers } from './cached-buffers.js';

const DEFAULT_TIMEOUT_MS = 250;
const DEFAULT_CLAIM_WAIT_MS = 30_000;
const DEFAULT_SLOT_WAIT_MS = 60_000;
// Claims this process holds, remembered until their put; one never put is
// forgotten once its lease has run out (the daemon passed it on by then).
const SWEEP_CLAIMS_ABOVE = 1024;

// A non-negative integer from the environment, else `fallback`.
function envMs(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  return Number.isInteger(v) && v >= 0 ? v : fallback;
}
// Bytes of requests each connection may hold unsent (Client maxQueuedBytes):
// a daemon that accepts and never reads would otherwise make the backend's
// puts pile up in this process until the breaker opens — 10,000 puts of
// 200 KB issued at once were 2 GB. A put over it is dropped, like a BUSY one.
const DEFAULT_MAX_QUEUED_BYTES = 16 * 1024 * 1024;

// The daemon as the adapter uses it: two connections behind one breaker,
// with short timeouts. Encodes (and variant GETs, which may encode) have their
// own connection: the daemon queues a connection's jobs in order and serves
// connections in turns, so a put on the other one waits for a worker's current
// slice, not for every encode this process asked for before it.
class DaemonLink {
  constructor(options = {}) {
    const fromEnv = parseInt(process.env.TTSCACHE_TIMEOUT_MS ?? '', 10);
    this.options = {
      ...options,
      timeoutMs: options.timeoutMs ?? (fromEnv > 0 ? fromEnv : DEFAULT_TIMEOUT_MS),
      maxQueuedBytes: options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES,
    };
    this.options.connectTimeoutMs ??= this.options.timeoutMs;
    this.timeoutMs = this.options.timeoutMs;
    this.claimWaitMs = options.claimWaitMs ?? envMs('TTSCACHE_CLAIM_WAIT_MS', DEFAULT_CLAIM_WAIT_MS);
    this.slotWaitMs = options.slotWaitMs ?? envMs('TTSCACHE_SLOT_WAIT_MS', DEFAULT_SLOT_WAIT_MS);
    this.claimsUnknown = false;  // the daemon predates claims (a bad request for the claim block)
    this.claims = new Map();  // engine \0 text → {client (its connection holds the claim), until}
    this.closed = false;  // replaced by initDiskCache: see close()
    this.cache = new Client(this.options);
    this.encoder = new Client(this.options);
    this.warnings = new RateLimitedWarnings();
    this.breaker = new CircuitBreaker({
      failures: options.breakerFailures, openMs: options.breakerOpenMs, maxOpenMs: options.breakerMaxOpenMs,
      probe: () => this.cache.ping(),
      describe: () => `ttscached at ${this.cache.socketPath}`,
      warnings: this.warnings,
    });
    // A hung daemon's connections hold requests it may serve much later (and
    // their audio in this process): drop them; the probe opens a new one.
    this.breaker.onOpen = () => {
      this.cache.close();
      this.encoder.close();
      this.cache = new Client(this.options);
      this.encoder = new Client(this.options);
    };
  }

  // initDiskCache replaces the link: its calls in flight fail ('closed'), not the daemon.
  close() {
    this.closed = true;
    this.cache.close();
    this.encoder.close();
  }

  // Runs call(client) unless the breaker is open; a BUSY answer is retried
  // once after the daemon's hint (unless retryBusy is false: a slot that
  // stayed busy for the whole wait). Rejects with the daemon's or the link's error.
  async run(call, { timeoutMs = this.timeoutMs, encoding = false, retryBusy = true } = {}) {
    for (let attempt = 1; ; attempt++) {
      if (!this.breaker.allows()) throw this.breaker.fastFailure();
      try {
        const value = await call(encoding ? this.encoder : this.cache);
        this.breaker.succeeded();
        return value;
      } catch (err) {
        // The caller's mistake (a RangeError, …), or refused in this process
        // (err.local: too large, too much queued): says nothing of the daemon's health.
        if (!(err instanceof TtscacheError) || this.closed || err.local) throw err;
        if (isNoAnswer(err)) {
          this.breaker.failed(err);
          throw err;
        }
        this.breaker.succeeded();
        if (err.code !== 'busy' || attempt > 1 || !retryBusy) throw err;
        const hint = err.retryAfterMs > 0 ? err.retryAfterMs : 10;
        await new Promise((r) => setTimeout(r, Math.min(hint, timeoutMs) * (1 + Math.random() / 4)));
      }
    }
  }

  // The claim this process got on a miss, until its put.
  rememberClaim(engine, text, client, leaseMs) {
    const now = Date.now();
    if (this.claims.size >= SWEEP_CLAIMS_ABOVE) {
      for (const [key, claim] of this.claims) if (claim.until <= now) this.claims.delete(key);
    }
    this.claims.set(`${engine}\0${text}`, { client, until: now + leaseMs });
  }
  takeClaim(engine, text) {
    const key = `${engine}\0${text}`;
    const claim = this.claims.get(key);
    this.claims.delete(key);
    return claim;
  }

  // Dropped work that the "does not answer" warning does not already cover.
  dropped(what, err) {
    if (isNoAnswer(err)) return;  // the breaker's warning says so, once
    this.warnings.warn(`${what}:${err.code}`, `${what}: ${err.message}`);
  }
}

let link = null;
function shared() {
  link ??= new DaemonLink();
  return link;
}
const cached = new CachedBuffers();

// Points the adapter at a socket (default: $TTSCACHE_SOCKET, else the
// installed daemon's) and checks the daemon answers; resolves either way (a
// warning says if it does not). The old module created the cache folders
// here; the daemon owns them now. Options: those of Client, plus
// breakerFailures (3), breakerOpenMs (1000), breakerMaxOpenMs (30000).
export async function initDiskCache(options = {}) {
  link?.close();
  link = new DaemonLink(options);
  try {
    await link.run((c) => c.ping());
  } catch (err) {
    link.dropped('initDiskCache', err);
  }
}

// null: a miss — synthesize and diskCachePut. With claims on, a miss that
// another process is already synthesizing waits for its put instead.
export async function diskCacheGet(text, engine) {
  const d = shared();
  try {
    let wav;
    if (d.claimWaitMs === 0 || d.claimsUnknown) {
      wav = await d.run((c) => c.get(engine, text));
    } else {
      wav = await claimingGet(d, engine, text);
    }
    if (wav) cached.remember(wav, engine, text);
    return wav;
  } catch (err) {
    d.dropped('diskCacheGet treated as a miss', err);
    return null;
  }
}

// A get that claims its miss (Client.getOrClaim): the audio, or null when
// this process got the claim or the wait ended. A daemon older than claims
// refuses the claim block as a bad request: then plain gets, from then on.
async function claimingGet(d, engine, text) {
  const waitMs = d.claimWaitMs;
  let holder = null;
  let got;
  try {
    // The call's own timeout is the wait plus the usual one (getOrClaim);
    // a BUSY is retried after at most the usual timeout.
    got = await d.run((c) => {
      holder = c;
      return c.getOrClaim(engine, text, { waitMs });
    });
  } catch (err) {
    if (!(err instanceof TtscacheError) || err.code !== 'bad_request') throw err;
    const wav = await d.run((c) => c.get(engine, text));
    d.claimsUnknown = true;  // the plain get was answered: it was the claim block
    d.warnings.warn('claims', `${holder?.socketPath ?? 'ttscached'} does not know claims (${err.message}); ` +
      'misses are not coordinated until initDiskCache runs again or the process restarts');
    return wav;
  }
  if (got.claimed) d.rememberClaim(engine, text, holder, got.leaseMs);
  return got.audio;
}

export function diskCachePut(text, engine, buffer) {
  const d = shared();
  const timeoutMs = Buffer.isBuffer(buffer) ? jobTimeoutMs(buffer, d.timeoutMs) : d.timeoutMs;
  const claim = d.takeClaim(engine, text);
  const stored = d.run((c) => c.put(engine, text, buffer, { timeoutMs }), { timeoutMs }).catch((err) => {
    d.dropped('diskCachePut dropped', err);
    // Nobody will fill the entry: let a waiting process take the claim now
    // rather than at the lease's end. On the claim's own connection; if it
    // is gone, so is the claim.
    claim?.client.dropClaim(engine, text, { timeoutMs: d.timeoutMs }).catch(() => {});
  });
  cached.remember(buffer, engine, text, stored);
  return stored;
}

// Runs fn() holding a unit of the synthesis slot `engine` (an engine, or a
// slot of [coordinate] slots such as 'gpu'), waiting up to waitMs (default
// $TTSCACHE_SLOT_WAIT_MS, else 60000) for one, and gives it back when fn
// settles. fn's value or rejection is the call's. When no unit comes — the
// daemon does not answer, the breaker is open, the wait ended, the name is
// unknown — fn runs without one (a rate-limited warning says so): the
// cache never fails a synthesis.
export async function withSynthesisSlot(engine, fn, { waitMs } = {}) {
  const d = shared();
  const wait = waitMs ?? d.slotWaitMs;
  let holder = null;
  let acquired;
  try {
    acquired = await d.run((c) => {
      holder = c;
      return c.acquireSlot(engine, { waitMs: wait });
    }, { retryBusy: false });
  } catch (err) {
    if (!(err instanceof TtscacheError)) throw err;  // the caller's mistake (a RangeError)
    d.warnings.warn(`withSynthesisSlot:${err.code}`, `withSynthesisSlot(${engine}) ran without a slot: ${err.message}`);
    return fn();
  }
  try {
    return await fn();
  } finally {
    // Not awaited: the answer need not wait a round trip (or a hung daemon's
    // timeout); the connection sends it before any later acquire.
    holder.releaseSlot(acquired, { timeoutMs: d.timeoutMs }).catch(() => {});
  }
}

let knownEngines = ['xtts', 'piper'];
// → { xtts: entries, piper: entries, ... } for every engine the daemon serves;
// zeros while it does not answer.
export async function getDiskCacheStats() {
  const d = shared();
  try {
    const { engines } = await d.run((c) => c.stats());
    knownEngines = [...new Set([...knownEngines, ...Object.keys(engines)])];
    return { xtts: 0, piper: 0, ...Object.fromEntries(Object.entries(engines).map(([n, e]) => [n, e.entries])) };
  } catch (err) {
    d.dropped('getDiskCacheStats', err);
    return Object.fromEntries(knownEngines.map((n) => [n, 0]));
  }
}

// The audio's duration in seconds, from the WAV header's byte rate; a header
// that does not say is taken as 8 kHz 16-bit mono (a long estimate: a larger timeout).
function durationSeconds(wav) {
  const byteRate = wav.length >= 44 && wav.toString('latin1', 8, 16) === 'WAVEfmt ' ? wav.readUInt32LE(28) : 0;
  return wav.length / (byteRate > 0 ? byteRate : 16000);
}

// For a request that waits in the daemon's job queue (an encode, a put).
// The duration comes from the caller's header: it counts for at most 600 s
// (the daemon's default max_encode_seconds) — a header claiming 1 byte/s made
// a 25 MB put wait 30 days, which setTimeout cut to 1 ms: an instant
// "timeout" that the breaker took for a daemon not answering.
const MAX_TIMED_AUDIO_SECONDS = 600;
function jobTimeoutMs(wav, timeoutMs) {
  return Math.round(Math.max(1000, 4 * timeoutMs) + 100 * Math.min(durationSeconds(wav), MAX_TIMED_AUDIO_SECONDS));
}

// Bitrate in kb/s; default $OPUS_BITRATE as before, else the daemon's setting.
// Encoded as the old ffmpeg command did: VBR on, application voip.
export async function encodeWavToOpus(wavBuffer, bitrate) {
  // Not bytes at all: the documented rejection (a TtscacheError), not a
  // TypeError from reading the header.
  if (!(wavBuffer instanceof Uint8Array)) {
    throw new TtscacheError('bad_audio', `ttscache: Opus encoding failed: expected the WAV as a Buffer, got ${typeof wavBuffer}`,
      { local: true });
  }
  const kbps = bitrate ?? (process.env.OPUS_BITRATE ? parseInt(process.env.OPUS_BITRATE, 10) : undefined);
  const d = shared();
  const timeoutMs = jobTimeoutMs(wavBuffer, d.timeoutMs);
  const opus = { ...(kbps === undefined ? {} : { bitrate: kbps, vbr: 'on', application: 'voip' }), timeoutMs };
  const job = { timeoutMs, encoding: true };
  const entry = cached.find(wavBuffer);
  try {
    let buffer = null;
    if (entry) {
      await entry.stored;
      buffer = await d.run((c) => c.get(entry.engine, entry.text, { format: 'opus', ...opus }), job);
      // Evicted (or the put was dropped): store the WAV and its variant again.
      buffer ??= await d.run((c) => c.putEncode(entry.engine, entry.text, wavBuffer, opus), job);
    } else {
      buffer = await d.run((c) => c.encode(wavBuffer, opus), job);
    }
    return { buffer, contentType: OPUS_CONTENT_TYPE };
  } catch (err) {
    if (!(err instanceof TtscacheError)) throw err;
    throw new TtscacheError(err.code, `ttscache: Opus encoding failed: ${err.message}`,
      { retryAfterMs: err.retryAfterMs, cause: err });
  }
}

// As before: OPUS_ENABLED=true in the backend's environment.
export function isOpusEnabled() {
  return process.env.OPUS_ENABLED === 'true';
}
