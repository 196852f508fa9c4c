// encodeStream against a real ttscached: espeak-ng's speech in, as raw PCM
// and as a WAV, Ogg Opus out that opusinfo accepts and opusdec decodes to
// exactly ceil(N × 48000 / 22050) samples; the first page before the input
// ends; into an HTTP response; cached with an engine and a text; aborted
// (nothing cached, no stream left open); and a reader that never reads.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { Readable, pipeline } from 'node:stream';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '../index.js';
import { startDaemon, assertValidOpus } from './daemon.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const RATE = 22050;  // espeak-ng's
let daemon;
let wav;   // espeak-ng --stdout: a WAV as an engine writes it to a pipe
let pcm;   // its samples, s16le mono
before(async () => {
  daemon = await startDaemon();
  wav = espeakStdout('The lights in the kitchen are on, and the front door is locked.');
  pcm = samplesOf(wav);
});
after(async () => {
  await daemon.stop();
  daemon.cleanup();
});

function espeakStdout(text) {
  const r = spawnSync('espeak-ng', ['--stdout', text], { maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`espeak-ng failed: ${r.stderr}`);
  return r.stdout;
}

// The bytes after the WAV's data chunk header (its size may be a pipe's guess).
function samplesOf(w) {
  for (let at = 12; at + 8 <= w.length; at += 8 + w.readUInt32LE(at + 4)) {
    if (w.toString('latin1', at, at + 4) === 'data') return w.subarray(at + 8);
  }
  throw new Error('no data chunk');
}

// The WAV with its RIFF and data sizes "unknown" (0xFFFFFFFF), as the
// protocol lets a streaming writer say. espeak-ng --stdout writes 0x7FFFF000.
function withUnknownSizes(w) {
  const out = Buffer.from(w);
  out.writeUInt32LE(0xffffffff, 4);
  out.writeUInt32LE(0xffffffff, out.length - samplesOf(w).length - 4);
  return out;
}

function chunks(buf, size) {
  const out = [];
  for (let at = 0; at < buf.length; at += size) out.push(buf.subarray(at, at + size));
  return out;
}

const expected48k = (frames) => Math.ceil((frames * 48000) / RATE);

// opusdec's decode at 48 kHz → its sample frames (it applies pre-skip and the end trim).
function decodedSamples(ogg) {
  const stamp = process.hrtime.bigint();
  const opus = join(daemon.dir, `s-${stamp}.opus`);
  const out = join(daemon.dir, `s-${stamp}.wav`);
  writeFileSync(opus, ogg);
  const r = spawnSync('opusdec', ['--quiet', '--force-wav', '--rate', '48000', opus, out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`opusdec failed: ${r.stderr}`);
  const decoded = readFileSync(out);
  return samplesOf(decoded).length / (2 * decoded.readUInt16LE(22));
}

async function collect(stream) {
  const parts = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

test('raw s16le from espeak-ng, piped through: opusinfo accepts it, it decodes to ceil(N × 48000 / 22050) samples', async () => {
  const c = new Client({ socketPath: daemon.socket });
  const s = Readable.from(chunks(pcm, 8192)).pipe(c.encodeStream({ rate: RATE }));
  const ogg = await collect(s);
  const frames = pcm.length / 2;
  assert.match(assertValidOpus(ogg, daemon.dir), /Opus/);
  assert.equal(decodedSamples(ogg), expected48k(frames));
  assert.deepEqual(await s.result, { samples48k: expected48k(frames), cached: 'not-asked', note: '' });
  c.close();
});

test('WAV input: the header cut across pushes, sizes unknown, and a WAV with its sizes known', async () => {
  const c = new Client({ socketPath: daemon.socket });
  const frames = pcm.length / 2;
  const header = wav.subarray(0, wav.length - pcm.length);
  const known = Buffer.concat([header, pcm]);
  known.writeUInt32LE(known.length - 8, 4);
  known.writeUInt32LE(pcm.length, header.length - 4);
  for (const input of [withUnknownSizes(wav), known]) {
    const s = c.encodeStream({ input: 'wav', bitrate: 24 });
    const out = collect(s);
    s.write(input.subarray(0, 10));  // a header cut anywhere
    for (const part of chunks(input.subarray(10), 5000)) s.write(part);
    s.end();
    const ogg = await out;
    assertValidOpus(ogg, daemon.dir);
    assert.equal(decodedSamples(ogg), expected48k(frames));
    assert.equal((await s.result).samples48k, expected48k(frames));
  }
  c.close();
});

test('espeak-ng --stdout piped straight in as a WAV (its data size says 0x7FFFF000: unknown)', async () => {
  const c = new Client({ socketPath: daemon.socket });
  const engine = spawn('espeak-ng', ['--stdout', 'Piped straight from the engine.']);
  const s = engine.stdout.pipe(c.encodeStream({ input: 'wav' }));
  const ogg = await collect(s);
  assertValidOpus(ogg, daemon.dir);
  const { samples48k } = await s.result;
  assert.ok(samples48k > 48000, `${samples48k} samples: more than a second of speech`);
  c.close();
});

test('the first Ogg bytes arrive before the input has ended', async () => {
  const c = new Client({ socketPath: daemon.socket });
  const s = c.encodeStream({ rate: RATE });
  const parts = [];
  const first = once(s, 'data');
  s.on('data', (d) => parts.push(d));
  s.write(pcm.subarray(0, 8192));  // 186 ms of speech
  await first;
  assert.ok(!s.writableEnded, 'the writable side is still open');
  assert.equal(Buffer.concat(parts).toString('latin1', 0, 4), 'OggS');
  for (const part of chunks(pcm.subarray(8192), 8192)) s.write(part);
  s.end();
  await once(s, 'end');
  const ogg = Buffer.concat(parts);
  assertValidOpus(ogg, daemon.dir);
  assert.equal(decodedSamples(ogg), expected48k(pcm.length / 2));
  c.close();
});

// docs/clients.md's example: pipeline() (errors end all three) and .pipe() (an
// 'error' listener of its own), with the engine's output as it would come.
test('piped into an http.createServer response and fetched', async (t) => {
  const c = new Client({ socketPath: daemon.socket });
  const results = [];
  const server = http.createServer((req, res) => {
    const engine = Readable.from(chunks(pcm, 4096));  // piper.stdout
    res.setHeader('Content-Type', 'audio/ogg; codecs=opus');
    if (req.url === '/pipeline') {
      const opus = c.encodeStream({ rate: RATE, engine: 'piper', text: 'Over HTTP.' });
      pipeline(engine, opus, res, (err) => { if (err) engine.destroy(); });
      results.push(opus.result);
    } else {
      const opus = c.encodeStream({ rate: RATE });
      opus.on('error', () => res.destroy());  // the daemon failed us: the response ends cut short
      engine.pipe(opus).pipe(res);
    }
  });
  t.after(() => { server.close(); c.close(); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  for (const path of ['/pipeline', '/pipe']) {
    const response = await fetch(`http://127.0.0.1:${server.address().port}${path}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'audio/ogg; codecs=opus');
    const ogg = Buffer.from(await response.arrayBuffer());
    assertValidOpus(ogg, daemon.dir);
    assert.equal(decodedSamples(ogg), expected48k(pcm.length / 2), path);
  }
  assert.equal((await results[0]).cached, 'stored');
  assert.ok(await c.get('piper', 'over http.'));
});

test('with an engine and a text the finished stream is cached: the next get is a hit', async () => {
  const c = new Client({ socketPath: daemon.socket });
  const text = 'Streamed and stored.';
  assert.equal(await c.get('piper', text), null);
  const s = Readable.from(chunks(pcm, 8192)).pipe(c.encodeStream({ rate: RATE, engine: 'piper', text }));
  const ogg = await collect(s);
  assert.deepEqual(await s.result, { samples48k: expected48k(pcm.length / 2), cached: 'stored', note: '' });
  const stored = await c.get('piper', 'streamed and STORED.');
  assert.ok(stored, 'the WAV is cached');
  assert.ok(samplesOf(stored).equals(pcm), 'the cached WAV holds the streamed samples');
  const variant = await c.get('piper', text, { format: 'opus' });
  assert.ok(variant.equals(ogg), 'the Ogg stream is the entry\'s Opus variant for these parameters');
  assert.ok((await c.stats({ streams: true })).streams.stored >= 1);
  c.close();
});

async function streamsOpen(c) {
  const { streams } = await c.stats({ streams: true });
  assert.ok(streams, 'STATS with flag 2 returns the stream counters');
  return streams;
}

test('destroyed mid-stream: STREAM_ABORT, nothing cached, no stream left open', async () => {
  const c = new Client({ socketPath: daemon.socket });
  const before = await streamsOpen(c);
  const s = c.encodeStream({ rate: RATE, engine: 'xtts', text: 'Never finished.' });
  const first = once(s, 'data');
  s.write(pcm.subarray(0, 16384));
  await first;
  assert.equal((await streamsOpen(c)).open, before.open + 1);
  s.destroy();
  await assert.rejects(s.result, { code: 'closed' });
  let now = await streamsOpen(c);
  for (let i = 0; i < 50 && now.open !== before.open; i++) now = await sleep(20).then(() => streamsOpen(c));
  assert.equal(now.open, before.open);
  assert.equal(now.failed, before.failed + 1);
  assert.equal(now.stored, before.stored);
  assert.equal(await c.get('xtts', 'Never finished.'), null);
  c.close();
});

test('a reader that never reads: the writer is held back, Node holds a bounded amount', { timeout: 30_000 }, async (t) => {
  const c = new Client({ socketPath: daemon.socket });
  const s = c.encodeStream({ rate: RATE });
  const chunk = pcm.subarray(0, 8192);
  const total = 20 << 20;  // 7.9 minutes of audio, under max_seconds
  let written = 0;
  while (written < total) {
    written += chunk.length;
    if (s.write(chunk)) continue;
    const drained = await Promise.race([once(s, 'drain').then(() => true), sleep(1000).then(() => false)]);
    if (!drained) break;
  }
  t.diagnostic(`held back after ${written} bytes written; ${s.readableLength} of Ogg and ${s.writableLength} of writes held`);
  assert.ok(written < 4 << 20, `${written} bytes written to a stream nobody reads`);
  assert.ok(s.readableLength < 1 << 20, `${s.readableLength} bytes of Ogg held for the reader`);
  assert.ok(s.writableLength <= 2 * chunk.length, `${s.writableLength} bytes of writes held`);
  assert.equal((await streamsOpen(c)).open, 1);
  s.destroy();
  let open = 1;
  for (let i = 0; i < 50 && open !== 0; i++) open = (await sleep(20).then(() => streamsOpen(c))).open;
  assert.equal(open, 0);
  c.close();
});

test('two streams and gets on one client at once; a bad WAV is bad_audio', async () => {
  const c = new Client({ socketPath: daemon.socket });
  const a = Readable.from(chunks(pcm, 3000)).pipe(c.encodeStream({ rate: RATE }));
  const b = Readable.from(chunks(pcm, 7000)).pipe(c.encodeStream({ rate: RATE, bitrate: 48, frameMs: 40 }));
  const gets = Promise.all(Array.from({ length: 20 }, () => c.get('piper', 'nothing here')));
  const [oa, ob] = await Promise.all([collect(a), collect(b)]);
  assert.deepEqual(await gets, Array(20).fill(null));
  for (const ogg of [oa, ob]) assert.equal(decodedSamples(ogg), expected48k(pcm.length / 2));
  const bad = c.encodeStream({ input: 'wav' });
  bad.resume();
  bad.end(Buffer.from('this is not a WAV header at all, not even close'));
  const [err] = await once(bad, 'error').catch((e) => [e]);
  assert.equal(err.code, 'bad_audio', err.message);
  c.close();
});
