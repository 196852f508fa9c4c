// The drop-in adapter: the old module's names and behaviour, served by a real
// ttscached — including a cache folder the old module wrote, adopted as is.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as adapter from '../adapter.js';
import { startDaemon, speak, assertValidOpus, tempDir } from './daemon.mjs';

const oldModule = join(dirname(fileURLToPath(import.meta.url)), '../../../tests/node/old-tts-cache.mjs');
let daemon;
let wav;

before(async () => {
  // The old Node module fills the folder first, as it would have in production.
  const dir = tempDir();
  wav = speak('Good morning.', dir);
  const put = spawnSync('node', [oldModule, 'put', join(dir, 'cache'), 'xtts', '500', '  Good   MORNING. ', join(dir, Buffer.from('Good morning.').toString('hex').slice(0, 32) + '.wav')]);
  assert.equal(put.status, 0, String(put.stderr));
  daemon = await startDaemon({ dir });
  await adapter.initDiskCache({ socketPath: daemon.socket });
});
after(async () => {
  await daemon.stop();
  daemon.cleanup();
});

test('exports exactly the old module names, and withSynthesisSlot', () => {
  assert.deepEqual(Object.keys(adapter).sort(),
    ['diskCacheGet', 'diskCachePut', 'encodeWavToOpus', 'getDiskCacheStats', 'initDiskCache', 'isOpusEnabled',
      'withSynthesisSlot']);
});

test('an entry the old module wrote is a hit through the adapter', async () => {
  const hit = await adapter.diskCacheGet('good morning.', 'xtts');
  assert.ok(hit && hit.equals(wav));
});

test('diskCachePut then diskCacheGet; a miss is null', async () => {
  await adapter.diskCachePut('The lights are on.', 'piper', wav);
  assert.ok((await adapter.diskCacheGet('the lights are on.', 'piper')).equals(wav));
  assert.equal(await adapter.diskCacheGet('not cached', 'piper'), null);
});

test('getDiskCacheStats counts entries per engine', async () => {
  const before = await adapter.getDiskCacheStats();
  assert.equal(typeof before.xtts, 'number');
  await adapter.diskCachePut('Another phrase.', 'piper', wav);
  const afterPut = await adapter.getDiskCacheStats();
  assert.equal(afterPut.piper, before.piper + 1);
  assert.ok(afterPut.xtts >= 1);
});

test('encodeWavToOpus returns Ogg Opus with the old content type; bitrate matters', async () => {
  const low = await adapter.encodeWavToOpus(wav, 12);
  const high = await adapter.encodeWavToOpus(wav, 128);
  assert.equal(low.contentType, 'audio/ogg; codecs=opus');
  assertValidOpus(low.buffer, daemon.dir);
  assertValidOpus(high.buffer, daemon.dir);
  assert.ok(high.buffer.length > 2 * low.buffer.length, `${high.buffer.length} vs ${low.buffer.length}`);
  await assert.rejects(adapter.encodeWavToOpus(Buffer.from('RIFF....WAVE')), { code: 'bad_audio' });
});

test('isOpusEnabled reads OPUS_ENABLED as the old module did', () => {
  const saved = process.env.OPUS_ENABLED;
  process.env.OPUS_ENABLED = 'true';
  assert.equal(adapter.isOpusEnabled(), true);
  process.env.OPUS_ENABLED = '1';
  assert.equal(adapter.isOpusEnabled(), false);
  if (saved === undefined) delete process.env.OPUS_ENABLED; else process.env.OPUS_ENABLED = saved;
});

test('diskCacheGet degrades to a miss, with a warning, when no daemon answers', async () => {
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  process.on('warning', onWarning);
  await adapter.initDiskCache({ socketPath: daemon.socket });
  const other = tempDir();
  await adapter.initDiskCache({ socketPath: join(other, 'none.sock') });  // resolves: the backend starts anyway
  assert.equal(await adapter.diskCacheGet('good morning.', 'xtts'), null);
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  assert.ok(warnings.some((w) => /cannot connect/.test(w.message)), warnings.map(String).join('; '));
  await adapter.initDiskCache({ socketPath: daemon.socket });
});
