// The adapter keeps the backend serving whatever the daemon does: absent,
// stopped (SIGSTOP), restarted mid-run, or answering BUSY. Against a real
// ttscached; only the tests about timing use the default 250 ms timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, rmSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as adapter from '../adapter.js';
import { Client } from '../index.js';
import { startDaemon, tempDir, makeWav } from './daemon.mjs';

const adapterPath = join(dirname(fileURLToPath(import.meta.url)), '../adapter.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const wav = makeWav(22050, 1);  // 1 s

// Collects the process warnings emitted while fn runs.
async function warningsDuring(fn) {
  const warnings = [];
  const onWarning = (w) => warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    await fn();
    await new Promise((r) => setImmediate(r));  // emitWarning delivers on the next tick
  } finally {
    process.off('warning', onWarning);
  }
  return warnings;
}

async function timed(fn) {
  const t = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t };
}

// Every adapter call degrades instead of rejecting: the checks for "daemon absent".
async function assertDegrades() {
  assert.equal(await adapter.diskCacheGet('Good morning.', 'xtts'), null);
  assert.equal(await adapter.diskCachePut('Good morning.', 'xtts', wav), undefined);
  assert.deepEqual(await adapter.getDiskCacheStats(), { xtts: 0, piper: 0 });
  await assert.rejects(adapter.encodeWavToOpus(wav), (e) => e.code === 'unavailable' && /Opus encoding failed/.test(e.message));
}

test('no daemon (socket path missing): init, get, put, stats resolve; encode rejects; one warning', async () => {
  const dir = tempDir();
  const warnings = await warningsDuring(async () => {
    await adapter.initDiskCache({ socketPath: join(dir, 'none.sock') });
    for (let i = 0; i < 10; i++) await assertDegrades();
  });
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0], /does not answer.*cannot connect/);
  rmSync(dir, { recursive: true, force: true });
});

test('socket file present, nobody listening: degrades fast, with one warning', async () => {
  const daemon = await startDaemon();
  await daemon.stop('SIGKILL');  // leaves its socket file behind
  assert.ok(existsSync(daemon.socket));
  const warnings = await warningsDuring(async () => {
    await adapter.initDiskCache({ socketPath: daemon.socket });
    const { ms } = await timed(async () => { for (let i = 0; i < 50; i++) await assertDegrades(); });
    assert.ok(ms < 2000, `50 rounds of degraded calls took ${ms} ms`);
  });
  assert.equal(warnings.length, 1, warnings.join('\n'));
  daemon.cleanup();
});

// A backend script that never catches diskCachePut; the daemon is down.
function runChild(socket, body, env = {}) {
  const dir = tempDir();
  const script = join(dir, 'backend.mjs');
  writeFileSync(script, `import { diskCacheGet, diskCachePut } from ${JSON.stringify(adapterPath)};\n${body}\n`);
  const r = spawnSync(process.execPath, [script], {
    encoding: 'utf8', timeout: 30_000, env: { ...process.env, TTSCACHE_SOCKET: socket, ...env },
  });
  rmSync(dir, { recursive: true, force: true });
  return { ...r, ttscacheLines: r.stderr.split('\n').filter((l) => /ttscache/.test(l)) };
}

test('a backend calling diskCachePut without .catch, daemon down: exits 0 with one warning line', () => {
  const dir = tempDir();
  const r = runChild(join(dir, 'none.sock'), `
    const wav = Buffer.alloc(100);
    for (let i = 0; i < 20; i++) diskCachePut('phrase ' + i, 'xtts', wav);  // no await, no catch
    setTimeout(() => {}, 200);`);
  assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''}: ${r.stderr}`);
  assert.equal(r.ttscacheLines.length, 1, r.stderr);
  rmSync(dir, { recursive: true, force: true });
});

test('SIGSTOPped daemon: lookups bounded by the short timeout, then fail fast; recovery after SIGCONT', { timeout: 60_000 }, async (t) => {
  const daemon = await startDaemon();
  try {
    await adapter.initDiskCache({ socketPath: daemon.socket, timeoutMs: 5000 });  // set-up: room for a sanitizer build
    await adapter.diskCachePut('Good morning.', 'xtts', wav);
    assert.ok(await adapter.diskCacheGet('good morning.', 'xtts'));
    await adapter.initDiskCache({ socketPath: daemon.socket, breakerOpenMs: 500 });  // the default timeout
    daemon.child.kill('SIGSTOP');
    const warnings = await warningsDuring(async () => {
      // The breaker opens after three calls without an answer: each costs the timeout.
      for (let i = 0; i < 3; i++) {
        const { value, ms } = await timed(() => adapter.diskCacheGet('good morning.', 'xtts'));
        assert.equal(value, null);
        assert.ok(ms >= 200 && ms < 1500, `lookup ${i} on a stopped daemon took ${ms} ms (timeout 250)`);
        t.diagnostic(`lookup ${i} on the stopped daemon: ${ms.toFixed(1)} ms`);
      }
      // Open: calls fail at once, the put and the stats too.
      const { ms } = await timed(async () => {
        for (let i = 0; i < 100; i++) {
          assert.equal(await adapter.diskCacheGet('good morning.', 'xtts'), null);
          await adapter.diskCachePut('Another.', 'xtts', wav);
          assert.deepEqual(await adapter.getDiskCacheStats(), { xtts: 0, piper: 0 });
        }
      });
      assert.ok(ms < 1000, `300 calls with the breaker open took ${ms} ms`);
      t.diagnostic(`breaker open: 300 calls (get, put, stats) in ${ms.toFixed(1)} ms`);
      await assert.rejects(adapter.encodeWavToOpus(wav), { code: 'unavailable' });
    });
    assert.equal(warnings.length, 1, warnings.join('\n'));

    // A backend process against the stopped daemon exits promptly, without an
    // error; TTSCACHE_TIMEOUT_MS sets its lookup's timeout.
    const child = runChild(daemon.socket, `
      const t = performance.now();
      const hit = await diskCacheGet('good morning.', 'xtts');
      console.log(hit, performance.now() - t);
      diskCachePut('x', 'xtts', Buffer.alloc(100));`, { TTSCACHE_TIMEOUT_MS: '600' });
    assert.equal(child.status, 0, child.stderr);
    const [hit, ms] = child.stdout.trim().split(' ');
    assert.equal(hit, 'null');
    assert.ok(Number(ms) >= 550 && Number(ms) < 5000, `a lookup with TTSCACHE_TIMEOUT_MS=600 took ${ms} ms`);

    daemon.child.kill('SIGCONT');
    const recovered = await warningsDuring(async () => {
      const start = performance.now();
      let hit = null;
      while (!hit && performance.now() - start < 20_000) {
        hit = await adapter.diskCacheGet('good morning.', 'xtts');
        if (!hit) await sleep(20);
      }
      assert.ok(hit, 'the adapter uses the daemon again after SIGCONT');
      t.diagnostic(`first hit ${(performance.now() - start).toFixed(0)} ms after SIGCONT`);
    });
    assert.ok(recovered.some((w) => /answers again/.test(w)), recovered.join('\n'));
  } finally {
    daemon.child.kill('SIGCONT');
    await daemon.stop();
    daemon.cleanup();
  }
});

test('daemon restarted mid-run: get/put/init/stats never reject and the loop resumes hitting', { timeout: 60_000 }, async () => {
  let daemon = await startDaemon();
  const { dir } = daemon;
  const unhandled = [];
  const onUnhandled = (e) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  const rejected = [];
  const must = (what, p) => p.catch((e) => { rejected.push(`${what}: ${e.message}`); return null; });
  try {
    await must('init', adapter.initDiskCache({ socketPath: daemon.socket, timeoutMs: 1000, breakerOpenMs: 200 }));
    const phrases = Array.from({ length: 5 }, (_, i) => `Restart phrase ${i}.`);
    const wavs = phrases.map((_, i) => makeWav(11025, 10 + i));
    let restarted = false;
    let hitsAfter = 0;
    let encodeFailures = 0;
    const restart = (async () => {
      await sleep(300);
      await daemon.stop('SIGKILL');
      rmSync(daemon.socket, { force: true });
      // The backend may well start (or init again) while the daemon is down.
      await must('init', adapter.initDiskCache({ socketPath: daemon.socket, timeoutMs: 1000, breakerOpenMs: 200 }));
      await sleep(300);
      daemon = await startDaemon({ dir });  // the same socket and cache; the adapter finds it on its own
      restarted = true;
    })();
    const start = performance.now();
    for (let i = 0; hitsAfter < 20 && performance.now() - start < 30_000; i++) {
      const text = phrases[i % phrases.length];
      let audio = await must('get', adapter.diskCacheGet(text, 'piper'));
      if (audio && restarted) hitsAfter++;
      if (!audio) {
        audio = wavs[i % phrases.length];
        await must('put', adapter.diskCachePut(text, 'piper', audio));
      }
      await adapter.encodeWavToOpus(audio).catch(() => { encodeFailures++; });  // the backend sends WAV then
      if (i % 10 === 0) await must('stats', adapter.getDiskCacheStats());
      await sleep(5);
    }
    await restart;
    assert.deepEqual(rejected, []);
    assert.ok(hitsAfter >= 20, `${hitsAfter} hits after the restart`);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await daemon.stop();
    daemon.cleanup();
  }
});

test('daemon at its queue limit: BUSY is retried once after the hint; nothing rejects unhandled', { timeout: 60_000 }, async (t) => {
  const daemon = await startDaemon({ extra: '[daemon]\nworkers = 1\nqueue_depth = 2\n' });
  const observer = new Client({ socketPath: daemon.socket, timeoutMs: 10_000 });
  try {
    await adapter.initDiskCache({ socketPath: daemon.socket, timeoutMs: 2000 });
    const long = makeWav(22050 * 3, 7);  // 3 s: each encode holds the one worker a while
    await adapter.encodeWavToOpus(makeWav(2205, 8));  // opens the encoding connection (its HELLO)
    const before = await observer.stats();
    const n = 40;
    const results = await Promise.allSettled(Array.from({ length: n }, () => adapter.encodeWavToOpus(long)));
    const after = await observer.stats();
    const rejectedBusy = results.filter((r) => r.status === 'rejected' && r.reason.code === 'busy').length;
    const fulfilled = results.filter((r) => r.status === 'fulfilled').length;
    assert.equal(fulfilled + rejectedBusy, n, results.filter((r) => r.status === 'rejected' && r.reason.code !== 'busy').map((r) => r.reason.message).join('; '));
    const busy = after.busy - before.busy;
    const encodeRequests = after.requests - before.requests - 1;  // less the observer's second STATS
    const retries = busy - rejectedBusy;  // every first BUSY retried once; a second BUSY rejects
    t.diagnostic(`${n} encodes: ${fulfilled} done, ${busy} BUSY answers, ${retries} retries, ${rejectedBusy} rejected busy`);
    assert.ok(busy > 0, 'the flood met a full queue');
    assert.ok(retries > 0, `${busy} BUSY answers, ${rejectedBusy} encodes rejected busy: nothing was retried`);
    assert.equal(encodeRequests, n + retries, `${encodeRequests} requests for ${n} encodes, ${busy} BUSY, ${rejectedBusy} rejected`);
    assert.equal(after.encodes - before.encodes, fulfilled);

    // Puts of a flood resolve, stored or dropped.
    const puts = await Promise.allSettled(Array.from({ length: n }, (_, i) => adapter.diskCachePut(`p${i}`, 'piper', long)));
    assert.ok(puts.every((p) => p.status === 'fulfilled'));
  } finally {
    observer.close();
    await daemon.stop();
    daemon.cleanup();
  }
});

test('puts and gets are not held up by the encodes this process has queued', { timeout: 60_000 }, async () => {
  const daemon = await startDaemon({ extra: '[daemon]\nworkers = 1\n' });
  const observer = new Client({ socketPath: daemon.socket, timeoutMs: 10_000 });
  try {
    const warnings = await warningsDuring(async () => {
      await adapter.initDiskCache({ socketPath: daemon.socket, timeoutMs: 1000 });
      const long = makeWav(22050 * 20, 5);  // 20 s: 16 of them hold the one worker for seconds
      const encodes = Array.from({ length: 16 }, () => adapter.encodeWavToOpus(long).catch((e) => e));
      await sleep(100);
      const { ms } = await timed(() => adapter.diskCachePut('Queued behind encodes.', 'piper', wav));
      assert.ok((await observer.get('piper', 'queued behind encodes.'))?.equals(wav), `the put was dropped after ${ms} ms`);
      assert.ok(await adapter.diskCacheGet('queued behind encodes.', 'piper'));
      // A new link closes the old connections: the daemon drops the encodes not yet run.
      await adapter.initDiskCache({ socketPath: daemon.socket, timeoutMs: 5000 });
      await Promise.all(encodes);
    });
    assert.ok(!warnings.some((w) => /does not answer/.test(w)), warnings.join('\n'));
  } finally {
    observer.close();
    await daemon.stop();
    daemon.cleanup();
  }
});
