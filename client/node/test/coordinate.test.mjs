// Coordinating synthesis from Node against a real ttscached, the way
// backends run: separate Node processes (coordinate-worker.mjs), each using
// the adapter unchanged. Eight processes missing one phrase at once
// synthesize it once and all serve the same bytes; a claimer killed mid
// synthesis hands over to exactly one of the others; six processes in
// withSynthesisSlot of a slot of 2 never have more than 2 inside; with no
// daemon, withSynthesisSlot still runs and diskCacheGet misses fast. And the
// Client's calls themselves: getOrClaim, dropClaim, slots, stats.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, TtscacheError } from '../index.js';
import { startDaemon, makeWav } from './daemon.mjs';

const worker = join(dirname(fileURLToPath(import.meta.url)), 'coordinate-worker.mjs');
let daemon;
before(async () => {
  daemon = await startDaemon({ extra: '[coordinate]\nslots = gpu:2\nlease_s = 20\n' });
});
after(async () => {
  await daemon.stop();
  daemon.cleanup();
});

// Forks one worker per job, waits until all are connected, starts them at
// once. → {children, results: Promise<message[]>, messages: per child, as they come}.
async function runAll(jobs) {
  const children = jobs.map((job) => fork(worker, [JSON.stringify({ socket: daemon.socket, ...job })],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const messages = children.map(() => []);
  const results = children.map((child, i) => new Promise((resolve) => {
    let last = null;
    child.on('message', (m) => {
      messages[i].push(m);
      if (!m.ready && !m.synthesizing) last = m;
    });
    child.on('exit', (code, signal) => resolve({ ...last, code, signal }));
  }));
  await Promise.all(children.map((child) => new Promise((r) => child.once('message', r))));
  for (const child of children) child.send('go');
  return { children, messages, results: Promise.all(results) };
}

function logLines(path) {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean);
}

test('8 processes miss one phrase at once: one synthesis, every process gets the same bytes', async () => {
  const log = join(daemon.dir, 'once.log');
  writeFileSync(log, '');
  const jobs = Array.from({ length: 8 }, () => ({ kind: 'synthesize', engine: 'piper', text: 'One synthesis, please.',
    synthMs: 300, claimWaitMs: 10_000, log }));
  const { results } = await runAll(jobs);
  const done = await results;
  for (const r of done) assert.equal(r.code, 0);
  assert.equal(logLines(log).filter((l) => l.startsWith('start')).length, 1, logLines(log).join('; '));
  assert.equal(done.filter((r) => r.synthesized).length, 1);
  assert.equal(new Set(done.map((r) => r.sha)).size, 1, 'identical audio everywhere');
  // The waiters were served by the put, not by a wait running out.
  for (const r of done) assert.ok(r.ms < 5000, `${Math.round(r.ms)} ms`);
});

test('the claimer is killed mid-synthesis: exactly one other process takes over, the rest get its audio', async () => {
  const log = join(daemon.dir, 'takeover.log');
  writeFileSync(log, '');
  const jobs = Array.from({ length: 5 }, () => ({ kind: 'synthesize', engine: 'piper', text: 'Who takes over?',
    synthMs: 1500, claimWaitMs: 15_000, log }));
  const { children, messages, results } = await runAll(jobs);
  // Kill the first process that says it synthesizes (the claimer).
  let killed = -1;
  for (let i = 0; killed < 0 && i < 200; i++) {
    killed = messages.findIndex((m) => m.some((x) => x.synthesizing));
    if (killed < 0) await new Promise((r) => setTimeout(r, 25));
  }
  assert.ok(killed >= 0, 'a process synthesizes');
  children[killed].kill('SIGKILL');
  const done = await results;
  assert.equal(done[killed].signal, 'SIGKILL');
  const survivors = done.filter((_, i) => i !== killed);
  for (const r of survivors) assert.equal(r.code, 0);
  const lines = logLines(log);
  assert.equal(lines.filter((l) => l.startsWith('start')).length, 2, lines.join('; '));
  assert.equal(lines.filter((l) => l.startsWith('done')).length, 1, lines.join('; '));
  assert.equal(survivors.filter((r) => r.synthesized).length, 1);
  assert.equal(new Set(survivors.map((r) => r.sha)).size, 1, 'identical audio in the survivors');
});

test('withSynthesisSlot from 6 processes with slot gpu:2: never more than 2 inside, all run', async () => {
  const dir = join(daemon.dir, 'inside');
  mkdirSync(dir);
  const jobs = Array.from({ length: 6 }, () => ({ kind: 'slot', slot: 'gpu', synthMs: 300, waitMs: 20_000, dir }));
  const t = performance.now();
  const { results } = await runAll(jobs);
  const done = await results;
  for (const r of done) {
    assert.equal(r.code, 0);
    assert.equal(r.ran, true);
  }
  const most = Math.max(...done.map((r) => r.most));
  assert.ok(most <= 2, `${most} inside at once`);
  // Three rounds of 300 ms at the least: the slot made them wait.
  assert.ok(performance.now() - t >= 900, `${Math.round(performance.now() - t)} ms`);
});

test('no daemon: withSynthesisSlot still runs the synthesis, diskCacheGet misses fast', async () => {
  const { results } = await runAll([{ kind: 'absent', engine: 'piper', text: 'Anyone?', socket: join(daemon.dir, 'none.sock'),
    claimWaitMs: 30_000 }]);
  const [r] = await results;
  assert.equal(r.code, 0);
  assert.equal(r.got, null);
  assert.ok(r.getMs < 1000, `${Math.round(r.getMs)} ms`);
  assert.equal(r.ran, 'synthesized');
});

test('Client: getOrClaim, a waiter served by the put, dropClaim passes the claim on, slots and stats', async () => {
  const a = new Client({ socketPath: daemon.socket, timeoutMs: 2000 });
  const b = new Client({ socketPath: daemon.socket, timeoutMs: 2000 });
  const wav = makeWav(1000, 1);
  const first = await a.getOrClaim('xtts', 'Shared phrase.', { waitMs: 0 });
  assert.equal(first.claimed, true);
  assert.ok(first.leaseMs > 0 && first.leaseMs <= 20_000, `lease ${first.leaseMs}`);
  // Held elsewhere and no wait: a miss at once.
  assert.deepEqual(await b.getOrClaim('xtts', 'Shared phrase.', { waitMs: 0 }), { audio: null, claimed: false, leaseMs: 0 });
  const waiting = b.getOrClaim('xtts', 'shared   PHRASE.', { waitMs: 10_000 });
  await new Promise((r) => setTimeout(r, 100));
  await a.put('xtts', 'Shared phrase.', wav);
  const served = await waiting;
  assert.equal(served.claimed, false);
  assert.ok(served.audio.equals(wav));
  // A drop hands the claim to the waiter at once.
  assert.equal((await a.getOrClaim('xtts', 'Dropped.', { waitMs: 0 })).claimed, true);
  const next = b.getOrClaim('xtts', 'Dropped.', { waitMs: 10_000 });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(await a.dropClaim('xtts', 'Dropped.'), true);
  assert.equal(await a.dropClaim('xtts', 'Dropped.'), false);
  assert.equal((await next).claimed, true);
  // Slots: 2 units of gpu; a third waits, then is busy when its wait ends.
  const h1 = await a.acquireSlot('gpu');
  const h2 = await b.acquireSlot('gpu');
  assert.deepEqual([h1.size, h2.held], [2, 2]);
  const t = performance.now();
  await assert.rejects(a.acquireSlot('gpu', { waitMs: 200 }), (e) => e instanceof TtscacheError && e.code === 'busy');
  assert.ok(performance.now() - t >= 150, `${Math.round(performance.now() - t)} ms`);
  await assert.rejects(a.acquireSlot('nope'), (e) => e.code === 'unknown_engine');
  const s = await a.stats({ coordination: true });
  assert.equal(s.coordination.slots.gpu.size, 2);
  assert.equal(s.coordination.slots.gpu.held, 2);
  assert.ok(s.coordination.slots.gpu.timeouts >= 1);
  assert.ok(s.coordination.claims >= 3 && s.coordination.waitsServed >= 1 && s.coordination.takeovers >= 1);
  assert.ok('piper' in s.coordination.slots, 'every engine is a slot');
  await a.releaseSlot(h1);
  const h3 = await a.acquireSlot('gpu', { waitMs: 0 });
  assert.equal(await a.withSlot('xtts', async (h) => h.size), 2);  // default_slots
  // Closing b gives its hold back and its claim on 'Dropped.' to nobody waiting.
  b.close();
  await new Promise((r) => setTimeout(r, 100));
  const after = (await a.stats({ coordination: true })).coordination;
  assert.equal(after.slots.gpu.held, 1);
  await a.releaseSlot(h3);
  a.close();
});
