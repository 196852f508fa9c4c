// The backend's unchanged flow — get, on a miss synthesize and put, then
// encodeWavToOpus(wav) — encodes each (phrase, Opus parameters) once: the
// adapter asks for the entry's cached Opus variant. Counted by the daemon's
// `encodes` (every encode a worker ran: ENCODE, PUT_ENCODE, variant; a
// request that joined an encode in flight is counted in sharedEncodes instead).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as adapter from '../adapter.js';
import { Client } from '../index.js';
import { startDaemon, makeWav, assertValidOpus } from './daemon.mjs';

let daemon;
let observer;
before(async () => {
  daemon = await startDaemon();
  observer = new Client({ socketPath: daemon.socket, timeoutMs: 10_000 });
  // Not a test about timing: room for a sanitizer build's daemon.
  await adapter.initDiskCache({ socketPath: daemon.socket, timeoutMs: 5000 });
});
after(async () => {
  observer.close();
  await daemon.stop();
  daemon.cleanup();
});

const encodes = async () => (await observer.stats()).encodes;
const synthesize = (text) => makeWav(22050, [...text].reduce((h, ch) => h * 31 + ch.charCodeAt(0), 7) % 1000);

// The backend's request handler, unchanged: the put is not awaited.
async function respond(text, engine, bitrate) {
  let wav = await adapter.diskCacheGet(text, engine);
  if (!wav) {
    wav = synthesize(text);
    adapter.diskCachePut(text, engine, wav);
  }
  return (await adapter.encodeWavToOpus(wav, bitrate)).buffer;
}

test('the old flow, 100 requests over 10 phrases: 10 encodes', async () => {
  const phrases = Array.from({ length: 10 }, (_, i) => `Flow phrase number ${i}.`);
  const start = await encodes();
  const first = new Map();
  let reencoded = 0;  // responses whose bytes differ from the phrase's first (an Ogg stream's serial is random)
  for (let i = 0; i < 100; i++) {
    const text = phrases[i % 10];
    const opus = await respond(text, 'xtts');
    if (!first.has(text)) first.set(text, opus);
    else if (!opus.equals(first.get(text))) reencoded++;
  }
  assert.equal(await encodes() - start, 10);
  assert.equal(reencoded, 0, 'every repeat is the cached variant, byte for byte');
  assertValidOpus(first.get(phrases[0]), daemon.dir);
});

test('each bitrate is its own variant, encoded once', async () => {
  const phrases = ['Bitrate one.', 'Bitrate two.', 'Bitrate three.'];
  const start = await encodes();
  for (let round = 0; round < 4; round++) {
    for (const text of phrases) {
      const low = await respond(text, 'piper', 16);
      const high = await respond(text, 'piper', 64);
      assert.ok(high.length > low.length, `${high.length} vs ${low.length} bytes`);
    }
  }
  assert.equal(await encodes() - start, 6);
});

test('an entry gone from the cache: the WAV and its variant are stored again (PUT_ENCODE)', async () => {
  const text = 'Evicted meanwhile.';
  const wav = synthesize(text);
  await adapter.diskCachePut(text, 'xtts', wav);
  // The daemon loses the entry (evicted, or the cache folder cleared): another daemon, empty.
  const other = await startDaemon();
  const otherObserver = new Client({ socketPath: other.socket, timeoutMs: 10_000 });
  try {
    await adapter.initDiskCache({ socketPath: other.socket, timeoutMs: 5000 });
    const opus = await adapter.encodeWavToOpus(wav);
    assertValidOpus(opus.buffer, other.dir);
    assert.ok((await otherObserver.get('xtts', text)).equals(wav), 'the WAV is stored again');
    const variant = await otherObserver.get('xtts', text, { format: 'opus' });
    assert.ok(variant.equals(opus.buffer), 'so is its variant');
    assert.equal((await otherObserver.stats()).encodes, 1);
  } finally {
    otherObserver.close();
    await other.stop();
    other.cleanup();
    await adapter.initDiskCache({ socketPath: daemon.socket, timeoutMs: 5000 });
  }
});

test('a Buffer changed after the get, or a copy, is encoded as given — not served the variant', async () => {
  const text = 'Changed in place.';
  await adapter.diskCachePut(text, 'xtts', synthesize(text));
  const cached = await adapter.diskCacheGet(text, 'xtts');
  const variant = (await adapter.encodeWavToOpus(cached)).buffer;
  let start = await encodes();
  assert.ok((await adapter.encodeWavToOpus(cached)).buffer.equals(variant));
  assert.equal(await encodes() - start, 0, 'the unchanged Buffer: the variant');

  const copy = Buffer.from(cached);
  start = await encodes();
  await adapter.encodeWavToOpus(copy);
  assert.equal(await encodes() - start, 1, 'a copy the adapter never saw: a plain encode');

  for (let i = 44; i + 1 < cached.length; i += 2) cached.writeInt16LE(cached.readInt16LE(i) >> 2, i);  // quieter
  start = await encodes();
  const changed = (await adapter.encodeWavToOpus(cached)).buffer;
  assert.equal(await encodes() - start, 1, 'the changed Buffer: encoded');
  assert.ok(!changed.equals(variant));
});
