// Which WAV Buffers the adapter knows to be a cache entry's audio, so that
// encodeWavToOpus can ask the daemon for the entry's Opus variant (encoded
// once, then served from the cache) instead of encoding the bytes again.
//
// The backend's flow never names the entry when it encodes — it passes the
// Buffer it got from diskCacheGet or gave to diskCachePut. So the adapter
// remembers those Buffers in a WeakMap (a Buffer the backend drops is
// forgotten with it) with the entry's (engine, text) and a fingerprint of the
// bytes: the backend may change a Buffer in place before encoding it, and
// then it is no longer the entry's audio.
//
// The fingerprint is the length plus a 64-bit mix of the first 64 bytes (the
// WAV header) and about 1024 words spread evenly over the rest: a constant
// cost. Measured on the project's shared 2-core VM (node 20, load ~6), in one
// run: 19–20 µs whatever the size, against SHA-1 of the whole buffer at
// 46 µs for 44 KB, 264 µs for 240 KB (5 s of 24 kHz speech) and 2.5 ms for
// 2.4 MB; MD5 was 3.5× slower than SHA-1. It is paid twice per request
// (remember, then check), on the event loop, so a full hash would cost more
// than the cache hit it guards. A change to a few bytes between two sampled
// words goes unseen: the encode is then of the cached WAV for the same
// engine and text — the same phrase.

const SAMPLES = 1024;
const HEAD = 64;

export function fingerprint(buf) {
  let a = 0x811c9dc5 ^ buf.length;
  let b = 0x9e3779b9 ^ buf.length;
  const mix = (word) => {
    a = Math.imul(a ^ word, 0x01000193);
    b = Math.imul((b + word) ^ (b >>> 15), 0x85ebca6b);
  };
  const head = Math.min(HEAD, buf.length);
  for (let i = 0; i < head; i++) mix(buf[i]);
  const words = Math.floor(buf.length / 4);
  const step = Math.max(1, Math.floor(words / SAMPLES));
  for (let w = 0; w < words; w += step) mix(buf.readUInt32LE(4 * w));
  for (let i = 4 * words; i < buf.length; i++) mix(buf[i]);
  if (words) mix(buf.readUInt32LE(buf.length - 4));
  return `${buf.length}:${(a >>> 0).toString(16)}:${(b >>> 0).toString(16)}`;
}

export class CachedBuffers {
  #entries = new WeakMap();  // Buffer → {engine, text, print, stored}

  // stored: a promise that settles when the entry is in the cache (a put in
  // flight), so an encode asked for meanwhile does not miss and store twice.
  remember(buf, engine, text, stored = Promise.resolve()) {
    if (!Buffer.isBuffer(buf)) return;
    this.#entries.set(buf, { engine, text, print: fingerprint(buf), stored });
  }

  // → {engine, text, stored} if `buf` is still the bytes of a known entry; else null.
  find(buf) {
    const e = Buffer.isBuffer(buf) ? this.#entries.get(buf) : undefined;
    if (!e) return null;
    if (fingerprint(buf) !== e.print) {
      this.#entries.delete(buf);
      return null;
    }
    return e;
  }
}
