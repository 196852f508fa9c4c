// The "Done when" of the Node backend issue, end to end: a backend-style HTTP
// server (bench/node_http/server.mjs, the benchmark's — it differs from the
// old backend only by the import of 'ttscache/adapter') keeps answering every
// request with audio while ttscached is up, down, hung (SIGSTOP), restarted
// and busy; with the daemon up, each phrase is encoded once however often it
// is asked for. The server falls back to WAV when encodeWavToOpus rejects, as
// the backend does.
//   TTSCACHED=… node --test tests/node/backend_server.test.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { Client } from '../../client/node/index.js';
import { startDaemon, tempDir, speak } from '../../client/node/test/daemon.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A fresh project with the package installed as a backend has it, and a speech WAV to "synthesize".
const work = tempDir();
mkdirSync(join(work, 'app/node_modules'), { recursive: true });
writeFileSync(join(work, 'app/package.json'), '{ "private": true, "type": "module" }');
// TTSCACHE_NODE_PACKAGE: another copy of the package (e.g. an older commit's, to see this test fail there).
symlinkSync(process.env.TTSCACHE_NODE_PACKAGE || join(repo, 'client/node'), join(work, 'app/node_modules/ttscache'));
mkdirSync(join(work, 'voices'));
writeFileSync(join(work, 'voices/speech.wav'), speak('The lights are on in the kitchen.', work));

mkdirSync(join(work, 'd1'));
let daemon = await startDaemon({ dir: join(work, 'd1') });
const socket = daemon.socket;

async function startServer() {
  const child = spawn(process.execPath,
    [join(repo, 'bench/node_http/server.mjs'), 'new', join(work, 'voices'), join(work, 'app')], {
      env: { ...process.env, TTSCACHE_SOCKET: socket, OPUS_ENABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    exited.then((e) => reject(new Error(`server exited ${JSON.stringify(e)}: ${stderr}`)));
  });
  return { port: JSON.parse(line).port, child, exited, stderr: () => stderr };
}
const server = await startServer();
after(async () => {
  server.child.kill('SIGTERM');
  await daemon.stop('SIGKILL').catch(() => {});
});

// One request: status, content type, body size and time taken.
async function tts(text) {
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${server.port}/tts?text=${encodeURIComponent(text)}`);
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, type: res.headers.get('content-type'), body, ms: performance.now() - started };
}
function assertOpus(r, what) {
  assert.equal(r.status, 200, what);
  assert.equal(r.type, 'audio/ogg; codecs=opus', what);
  assert.equal(r.body.subarray(0, 4).toString(), 'OggS', what);
}
function assertAudio(r, what) {
  assert.equal(r.status, 200, `${what}: ${r.body}`);
  assert.ok(r.type === 'audio/wav' || r.type === 'audio/ogg; codecs=opus', `${what}: ${r.type}`);
}
// Asks until the answer is Opus again (within 10 s): the daemon is back and the breaker closed.
async function opusAgain(what) {
  let r;
  for (let i = 0; i < 100; i++) {
    r = await tts('Good morning.');
    if (r.type === 'audio/ogg; codecs=opus') break;
    await sleep(100);
  }
  assertOpus(r, what);
}
async function encodes() {
  const c = new Client({ socketPath: socket });
  try {
    return (await c.stats()).encodes;
  } finally {
    c.close();
  }
}

test('daemon up: Opus for every request, each phrase encoded once', async () => {
  const before = await encodes();
  const phrases = ['Good morning.', 'Turn on the lights.', 'What time is it?'];
  for (let round = 0; round < 5; round++) {
    for (const p of phrases) assertOpus(await tts(p), `${p}, round ${round}`);
  }
  assert.equal(await encodes() - before, phrases.length);
});

test('daemon hung (SIGSTOP): every request still answered with audio, none waits long', async () => {
  daemon.child.kill('SIGSTOP');
  try {
    const times = [];
    for (let i = 0; i < 20; i++) {
      const r = await tts(`Hung request ${i}.`);
      assertAudio(r, `request ${i} with the daemon stopped`);
      times.push(r.ms);
    }
    // The adapter's timeout is 250 ms per call and a request makes up to three
    // calls (get, put, encode); then the breaker answers at once. Generous bounds:
    // what failed before was 10 s per call.
    assert.ok(Math.max(...times) < 3000, `slowest ${Math.max(...times)} ms`);
    const rest = times.slice(5).reduce((a, b) => a + b, 0);
    assert.ok(rest < 3000, `requests 5..19 took ${rest} ms with the breaker open`);
  } finally {
    daemon.child.kill('SIGCONT');
  }
  // Back to Opus once the breaker's probe gets an answer (it opens for 1 s at first).
  await opusAgain('after SIGCONT');
});

test('daemon down, then restarted: WAV while down, Opus again after', async () => {
  await daemon.stop('SIGKILL');
  for (let i = 0; i < 10; i++) assertAudio(await tts(`Down request ${i}.`), `request ${i} with the daemon gone`);
  daemon = await startDaemon({ dir: join(work, 'd1'), cacheDir: daemon.cacheDir });
  await opusAgain('after the restart');
});

test('daemon busy (one worker, queue of one): a burst of distinct phrases all answered with audio', async () => {
  await daemon.stop('SIGTERM');
  daemon = await startDaemon({ dir: join(work, 'd1'), cacheDir: daemon.cacheDir,
    extra: '[daemon]\nworkers = 1\nqueue_depth = 1\n' });
  await sleep(1500);  // past any open breaker window from the restart
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => tts(`Busy phrase number ${i}.`)));
  results.forEach((r, i) => assertAudio(r, `burst request ${i}`));
  const opus = results.filter((r) => r.type.startsWith('audio/ogg')).length;
  console.log(`[ figure ] busy burst of 40: ${opus} Opus, ${40 - opus} WAV fallbacks`);
  assert.ok(opus > 0, 'the daemon encoded none of the burst');
  assert.equal(server.child.exitCode, null, `the server died: ${server.stderr()}`);
});
