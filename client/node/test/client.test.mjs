// The Node client against a real ttscached: every operation, pipelining,
// errors, timeouts and reconnecting across a daemon restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join, dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client, TtscacheError } from '../index.js';
import { startDaemon, speak, assertValidOpus, tempDir, makeWav } from './daemon.mjs';

let daemon;
let wav;
before(async () => {
  daemon = await startDaemon();
  wav = speak('The lights are on.', daemon.dir);
});
after(async () => {
  await daemon.stop();
  daemon.cleanup();
});

test('put then get returns the same bytes; the key is the normalized text', async () => {
  const c = new Client({ socketPath: daemon.socket });
  await c.put('piper', 'The lights are on.', wav);
  const hit = await c.get('piper', '  the LIGHTS   are on. ');
  assert.ok(hit && hit.equals(wav));
  assert.equal(await c.get('piper', 'never stored'), null);
  c.close();
});

test('opus: a cached variant, an encode and a put-encode are valid Ogg Opus', async () => {
  const c = new Client({ socketPath: daemon.socket });
  await c.put('xtts', 'One moment.', wav);
  const variant = await c.get('xtts', 'one moment.', { format: 'opus', bitrate: 24 });
  assertValidOpus(variant, daemon.dir);
  const again = await c.get('xtts', 'one moment.', { format: 'opus', bitrate: 24 });
  assert.ok(again.equals(variant), 'the variant is encoded once and served from the cache');
  const encoded = await c.encode(wav, { bitrate: 64, application: 'audio' });
  assert.match(assertValidOpus(encoded, daemon.dir), /Opus/);
  const stored = await c.putEncode('piper', 'Stored and encoded.', wav);
  assertValidOpus(stored, daemon.dir);
  assert.ok((await c.get('piper', 'stored and encoded.')).equals(wav));
  const stats = await c.stats();
  assert.ok(stats.engines.xtts.variantHits >= 1);
  assert.ok(stats.engines.piper.entries >= 2);
  c.close();
});

test('200 pipelined gets on one connection each get their own reply', async () => {
  const c = new Client({ socketPath: daemon.socket });
  const texts = Array.from({ length: 20 }, (_, i) => `phrase number ${i}`);
  const wavs = texts.map((_, i) => makeWav(100 + 50 * i, i));
  await Promise.all(texts.map((t, i) => c.put('piper', t, wavs[i])));
  const results = await Promise.all(Array.from({ length: 200 }, (_, n) => c.get('piper', texts[n % 20])));
  results.forEach((r, n) => assert.ok(r.equals(wavs[n % 20]), `reply ${n} is the WAV of ${texts[n % 20]}`));
  c.close();
});

test('daemon errors arrive as TtscacheError with their code', async () => {
  const c = new Client({ socketPath: daemon.socket });
  await assert.rejects(c.put('klingon', 'x', wav), (e) => e instanceof TtscacheError && e.code === 'unknown_engine' && /klingon/.test(e.message));
  await assert.rejects(c.put('piper', 'x', wav.subarray(0, 30)), { code: 'bad_audio' });
  await assert.rejects(c.encode(Buffer.from('not a wav at all')), { code: 'bad_audio' });
  await assert.rejects(c.put('piper', 'y'.repeat(5000), wav), { code: 'too_large' });
  assert.throws(() => c.encode(wav, { bitrate: 900 }), RangeError);
  await c.ping();  // the connection is still good
  c.close();
});

test('no daemon: unavailable; a silent peer: timeout', async () => {
  const dir = tempDir();
  const nobody = new Client({ socketPath: join(dir, 'none.sock') });
  await assert.rejects(nobody.ping(), { code: 'unavailable' });
  const silent = net.createServer(() => {}).listen(join(dir, 'silent.sock'));
  await new Promise((r) => silent.once('listening', r));
  const c = new Client({ socketPath: join(dir, 'silent.sock'), timeoutMs: 300 });
  await assert.rejects(c.ping(), { code: 'timeout' });
  c.close();
  silent.close();
});

test('reconnects after the daemon restarts; the cache survives', async () => {
  const own = await startDaemon();
  const c = new Client({ socketPath: own.socket });
  await c.put('piper', 'Before the restart.', wav);
  await own.stop();
  const again = await startDaemon({ dir: own.dir });
  const hit = await c.get('piper', 'before the restart.');
  assert.ok(hit && hit.equals(wav));
  c.close();
  await again.stop();
  own.cleanup();
});

test('a request that timed out on a SIGSTOPped daemon does not keep the process alive', async () => {
  const own = await startDaemon();
  own.child.kill('SIGSTOP');
  try {
    const index = join(dirname(fileURLToPath(import.meta.url)), '../index.js');
    const script = `import { Client } from ${JSON.stringify(index)};
      const c = new Client({ socketPath: ${JSON.stringify(own.socket)}, timeoutMs: 200 });
      await c.ping().then(() => console.log('answered'), (e) => console.log(e.code));`;
    const t = Date.now();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(r.stdout.trim(), 'timeout');
    assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''} after ${Date.now() - t} ms: ${r.stderr}`);
  } finally {
    own.child.kill('SIGCONT');
    await own.stop();
    own.cleanup();
  }
});

test('a client closed while it connects leaves no connection open', async () => {
  const observer = new Client({ socketPath: daemon.socket });
  const base = (await observer.stats()).connections;
  for (let i = 0; i < 5; i++) {
    const c = new Client({ socketPath: daemon.socket });
    c.ping().catch(() => {});
    c.close();
  }
  let connections = Infinity;
  for (let t = 0; t < 50 && connections !== base; t++) {  // the daemon sees the hang-ups in its own time
    await new Promise((r) => setTimeout(r, 100));
    connections = (await observer.stats()).connections;
  }
  assert.equal(connections, base);
  observer.close();
});
