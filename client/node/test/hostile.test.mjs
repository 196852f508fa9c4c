// The Client and the adapter against a daemon that lies (fake-daemon.mjs) and
// against careless callers. Whatever the peer sends, the process must not
// crash, allocate what the peer announces, hang, or hold unbounded memory;
// the adapter must keep degrading to misses and fast failures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '../index.js';
import * as adapter from '../adapter.js';
import { startFakeDaemon, frame, helloBody, errorBody, audioBody, honestReply, Op } from './fake-daemon.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Runs `body` in a fresh node process with the adapter and Client imported; → spawnSync's result.
function runChild(body, env = {}, timeout = 30_000) {
  const script = `import * as adapter from ${JSON.stringify(join(here, '../adapter.js'))};
    import { Client } from ${JSON.stringify(join(here, '../index.js'))};
    ${body}`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8', timeout, env: { ...process.env, ...env },
  });
}

// A malformed body where the Client parses one (HELLO, ERROR) must be a
// protocol error for that connection, not an exception thrown out of the
// socket's 'data' handler (which would take the backend's process down).
test('a short HELLO or ERROR body: the process survives, the call gets an error', () => {
  for (const lie of ['hello', 'error']) {
    const r = runChild(`
      import { startFakeDaemon, frame, Op } from ${JSON.stringify(join(here, 'fake-daemon.mjs'))};
      const d = await startFakeDaemon({ onRequest: (req, s) => {
        if (req.opcode === Op.HELLO) s.write(${lie === 'hello'} ? frame(Op.HELLO | Op.REPLY, req.id, Buffer.alloc(3)) : frame(Op.HELLO | Op.REPLY, req.id, Buffer.alloc(24)));
        else s.write(frame(Op.ERROR, req.id, Buffer.alloc(5)));
      } });
      const c = new Client({ socketPath: d.socket, timeoutMs: 1000 });
      const err = await c.ping().then(() => null, (e) => e);
      console.log(err?.code);
      c.close(); await d.close();`);
    assert.equal(r.status, 0, `${lie}: exit ${r.status}: ${r.stderr}`);
    assert.match(r.stdout.trim(), lie === 'hello' ? /^(protocol|undefined)$/ : /^protocol$/, `${lie}: ${r.stdout}`);
  }
});

test('replies with wrong, duplicate and never-asked ids, and a wrong opcode', async () => {
  const d = await startFakeDaemon({ onRequest: (req, s) => {
    if (req.opcode === Op.HELLO) return s.write(honestReply(req));
    s.write(frame(Op.PING | Op.REPLY, 9999n));            // an id never asked
    s.write(frame(Op.STATS | Op.REPLY, req.id));          // wrong opcode for a PING
    s.write(frame(Op.PING | Op.REPLY, req.id));           // then a duplicate, right opcode
  } });
  const c = new Client({ socketPath: d.socket, timeoutMs: 1000 });
  await assert.rejects(c.ping(), (e) => e.code === 'protocol' && /opcode/.test(e.message));
  await assert.rejects(c.ping(), (e) => e.code === 'protocol');  // the connection keeps working
  c.close();
  await d.close();
});

// A Unix socket coalesces small writes, so the 1-byte chunks are handed to
// the connection's 'data' listener directly, as a peer's one-byte writes
// read one at a time would be.
test('a reply split into 1-byte chunks is read, in linear time', { timeout: 60_000 }, async () => {
  let request = null;
  const d = await startFakeDaemon({ onRequest: (req, s) => {
    if (req.opcode === Op.HELLO) s.write(honestReply(req));
    else request = req;  // answered below, byte by byte
  } });
  const c = new Client({ socketPath: d.socket, timeoutMs: 30_000 });
  await c.hello();
  const audio = Buffer.alloc(512 * 1024, 7);
  const encoded = c.encode(Buffer.alloc(100));
  while (!request) await sleep(5);
  const bytes = frame(Op.ENCODE | Op.REPLY, request.id, audioBody(audio));
  const t = performance.now();
  for (let i = 0; i < bytes.length; i++) c.socket.emit('data', bytes.subarray(i, i + 1));
  const ms = performance.now() - t;
  assert.ok((await encoded).equals(audio));
  assert.ok(ms < 3000, `512 KiB in 1-byte chunks took ${Math.round(ms)} ms`);
  c.close();
  await d.close();
});

test('a body length over 64 MiB (4 GiB) or over HELLO\'s max_frame_body: a protocol error at once', async () => {
  for (const [bodyLength, maxFrameBody] of [[0xffffffff, 64 << 20], [2 << 20, 1 << 20]]) {
    const d = await startFakeDaemon({ onRequest: (req, s) => {
      if (req.opcode === Op.HELLO) return s.write(frame(Op.HELLO | Op.REPLY, req.id, helloBody({ maxFrameBody })));
      setTimeout(() => s.write(frame(Op.PING | Op.REPLY, req.id, Buffer.alloc(16), { bodyLength })), 50);
    } });
    const c = new Client({ socketPath: d.socket, timeoutMs: 3000 });
    await c.hello();
    const t = performance.now();
    await assert.rejects(c.ping(), (e) => e.code === 'protocol' && /body/.test(e.message), `bodyLength ${bodyLength}`);
    assert.ok(performance.now() - t < 1000, `bodyLength ${bodyLength}: waited ${Math.round(performance.now() - t)} ms`);
    c.close();
    await d.close();
  }
});

test('garbage bytes: a protocol error, the connection dropped, the next call reconnects', async () => {
  const d = await startFakeDaemon({ onRequest: (req, s, conn) => {
    if (req.opcode === Op.HELLO) return s.write(honestReply(req));
    if (conn.index === 0) s.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'));
    else s.write(honestReply(req));
  } });
  const c = new Client({ socketPath: d.socket, timeoutMs: 1000 });
  await assert.rejects(c.ping(), (e) => e.code === 'protocol');
  await c.ping();
  assert.equal(d.connections, 2);
  c.close();
  await d.close();
});

test('HELLO max_inflight 0 or 2^32-1: the client keeps a sane in-flight cap', async () => {
  for (const maxInflight of [0, 0xffffffff]) {
    let inflight = 0;
    let most = 0;
    const d = await startFakeDaemon({ onRequest: (req, s) => {
      if (req.opcode === Op.HELLO) return s.write(frame(Op.HELLO | Op.REPLY, req.id, helloBody({ maxInflight })));
      most = Math.max(most, ++inflight);
      setTimeout(() => { inflight--; s.write(honestReply(req)); }, 20);
    } });
    const c = new Client({ socketPath: d.socket, timeoutMs: 10_000 });
    await c.hello();
    await Promise.all(Array.from({ length: 300 }, () => c.ping()));
    assert.ok(most >= 1 && most <= 64, `max_inflight ${maxInflight}: ${most} requests in flight at once`);
    c.close();
    await d.close();
  }
});

test('ERROR busy with retry_after_ms of hours: the adapter\'s retry waits at most its timeout', async () => {
  const d = await startFakeDaemon({ onRequest: (req, s) => {
    if (req.opcode === Op.GET) s.write(frame(Op.ERROR, req.id, errorBody(6, { retryAfterMs: 3 * 3600_000 })));
    else s.write(honestReply(req));
  } });
  await adapter.initDiskCache({ socketPath: d.socket, timeoutMs: 200 });
  const t = performance.now();
  assert.equal(await adapter.diskCacheGet('hi', 'xtts'), null);
  assert.ok(performance.now() - t < 1000, `${Math.round(performance.now() - t)} ms`);
  await d.close();
});

// The daemon accepts and never reads: the backend keeps calling diskCachePut
// (10,000 × 200 KB, not awaited). What the adapter holds must stay bounded.
test('a daemon that never reads: 10,000 puts of 200 KB do not make the process hold 2 GB', { timeout: 60_000 }, () => {
  const r = runChild(`
    import { startFakeDaemon } from ${JSON.stringify(join(here, 'fake-daemon.mjs'))};
    const d = await startFakeDaemon({ onConnection: () => false });
    await adapter.initDiskCache({ socketPath: d.socket });
    const base = process.memoryUsage().arrayBuffers;
    const wav = Buffer.alloc(200_000, 1);  // the backend's own audio, one buffer reused
    const puts = [];
    for (let i = 0; i < 10_000; i++) puts.push(adapter.diskCachePut('phrase ' + i, 'xtts', wav));
    const held = process.memoryUsage().arrayBuffers - base;
    await Promise.all(puts);
    console.log(Math.round(held / 1e6));
    await d.close();`, {}, 50_000);
  assert.equal(r.status, 0, r.stderr);
  const mb = Number(r.stdout.trim());
  assert.ok(mb < 100, `held ${mb} MB for 10,000 queued puts`);
});

test('careless puts: a 100 MB Buffer, a string, an empty Buffer, 1 MB of text, an unknown engine', async () => {
  const sizes = [];
  const d = await startFakeDaemon({ onRequest: (req, s) => {
    sizes.push(req.body.length);
    if ((req.opcode === Op.PUT || req.opcode === Op.ENCODE) && req.body.length < 100) s.write(frame(Op.ERROR, req.id, errorBody(3)));
    else s.write(honestReply(req));
  } });
  await adapter.initDiskCache({ socketPath: d.socket, timeoutMs: 500 });
  const t = performance.now();
  assert.equal(await adapter.diskCachePut('big', 'xtts', Buffer.alloc(100 << 20)), undefined);
  assert.ok(performance.now() - t < 2000, `a 100 MB put took ${Math.round(performance.now() - t)} ms`);
  assert.ok(!sizes.some((n) => n > 64 << 20), 'a frame over 64 MiB was sent');
  assert.equal(await adapter.diskCachePut('s', 'xtts', 'not a buffer'), undefined);
  assert.equal(await adapter.diskCachePut('e', 'xtts', Buffer.alloc(0)), undefined);
  assert.equal(await adapter.diskCachePut('x'.repeat(1 << 20), 'xtts', Buffer.alloc(100)), undefined);
  assert.equal(await adapter.diskCachePut('u', 'no-such-engine', Buffer.alloc(100)), undefined);
  assert.equal(await adapter.diskCachePut(undefined, undefined, undefined), undefined);
  await assert.rejects(adapter.encodeWavToOpus(Buffer.from('garbage bytes, not a WAV')), (e) => e.code === 'bad_audio');
  // The daemon answered or nothing was sent: the breaker is still closed.
  assert.equal(await adapter.getDiskCacheStats().then(() => 'ok'), 'ok');
  assert.equal(d.connections, 2, 'a careless call cost a reconnect');  // the cache and the encoder connections
  await d.close();
});

// A daemon that answers PING and nothing else: the breaker's probe succeeds,
// real calls time out. The breaker must keep backing off (not flap at its
// shortest wait) and the warnings must stay few.
test('a daemon that answers only PING: the breaker backs off, few warnings, few timed-out calls', { timeout: 60_000 }, async () => {
  const d = await startFakeDaemon({ onRequest: (req, s) => {
    if (req.opcode === Op.HELLO || req.opcode === Op.PING) s.write(honestReply(req));
  } });
  const warnings = [];
  const onWarning = (w) => warnings.push(w.message);
  process.on('warning', onWarning);
  await adapter.initDiskCache({ socketPath: d.socket, timeoutMs: 50, breakerOpenMs: 100, breakerMaxOpenMs: 800 });
  let slow = 0;
  const end = performance.now() + 4000;
  while (performance.now() < end) {
    const t = performance.now();
    await adapter.diskCacheGet('hi', 'xtts');
    if (performance.now() - t >= 40) slow++;
    await sleep(10);
  }
  await sleep(10);
  process.off('warning', onWarning);
  // Backing off to 800 ms: about 4000/800 openings, each costing one timed-out call.
  assert.ok(slow <= 12, `${slow} calls waited for the timeout in 4 s`);
  assert.ok(warnings.length <= 2, warnings.join('\n'));
  await d.close();
});

test('a daemon that closes every connection it accepts: reconnects are bounded', { timeout: 30_000 }, async () => {
  const d = await startFakeDaemon({ onConnection: (s) => { s.destroy(); return false; } });
  const c = new Client({ socketPath: d.socket, timeoutMs: 2000 });
  const results = await Promise.allSettled(Array.from({ length: 100 }, () => c.ping()));
  assert.ok(results.every((r) => r.status === 'rejected'));
  await sleep(100);
  assert.ok(d.connections <= 10, `${d.connections} connections for 100 pings`);
  c.close();
  // The adapter: the breaker stops the calls from connecting at all.
  await adapter.initDiskCache({ socketPath: d.socket, timeoutMs: 200 });
  const before = d.connections;
  for (let i = 0; i < 200; i++) await adapter.diskCacheGet('hi', 'xtts');
  assert.ok(d.connections - before <= 20, `${d.connections - before} connections for 200 lookups`);
  await d.close();
});

test('slow-loris replies (a byte every 100 ms): the call ends at its timeout; the adapter degrades', { timeout: 30_000 }, async () => {
  const d = await startFakeDaemon({ onRequest: (req, s) => {
    const bytes = honestReply(req);
    let i = 0;
    const drip = setInterval(() => {
      if (s.destroyed || i >= bytes.length) return clearInterval(drip);
      s.write(bytes.subarray(i, ++i));
    }, 100);
  } });
  const c = new Client({ socketPath: d.socket, timeoutMs: 300 });
  const t = performance.now();
  await assert.rejects(c.ping(), (e) => e.code === 'timeout');
  assert.ok(performance.now() - t < 1000);
  c.close();
  await adapter.initDiskCache({ socketPath: d.socket, timeoutMs: 100, claimWaitMs: 0 });
  const t2 = performance.now();
  for (let i = 0; i < 20; i++) assert.equal(await adapter.diskCacheGet('hi', 'xtts'), null);
  assert.ok(performance.now() - t2 < 2000, `20 lookups took ${Math.round(performance.now() - t2)} ms`);
  // A lookup that claims its miss may wait (here 300 ms) for another
  // process's put: its timeout is that wait plus the usual one, and the
  // breaker still opens after 3 lookups without an answer.
  await adapter.initDiskCache({ socketPath: d.socket, timeoutMs: 100, claimWaitMs: 300 });
  const t3 = performance.now();
  for (let i = 0; i < 20; i++) assert.equal(await adapter.diskCacheGet('hi', 'xtts'), null);
  assert.ok(performance.now() - t3 < 4 * 400 + 2000, `20 claiming lookups took ${Math.round(performance.now() - t3)} ms`);
  await d.close();
});

test('a process that imports the adapter and does nothing exits at once', () => {
  const t = performance.now();
  const r = runChild('');
  assert.equal(r.status, 0, r.stderr);
  assert.ok(performance.now() - t < 3000);
});

test('calls before initDiskCache and 50 concurrent initDiskCache: no leaked connection, the process exits', () => {
  const r = runChild(`
    import { startFakeDaemon } from ${JSON.stringify(join(here, 'fake-daemon.mjs'))};
    const d = await startFakeDaemon();
    process.env.TTSCACHE_SOCKET = d.socket;
    const early = adapter.diskCacheGet('hi', 'xtts');
    await Promise.all(Array.from({ length: 50 }, () => adapter.initDiskCache({ socketPath: d.socket })));
    console.log(await early, await adapter.diskCacheGet('hi', 'xtts'));
    await new Promise((r) => setTimeout(r, 100));
    console.log(d.sockets.size);
    // The fake's server closes; the adapter's connections must not hold the process.
    d.close();`, {}, 10_000);
  assert.equal(r.status, 0, `exit ${r.status} ${r.signal}: ${r.stderr}`);
  const [first, open] = r.stdout.trim().split('\n');
  assert.equal(first, 'null null');
  assert.ok(Number(open) <= 2, `${open} connections open after 50 initDiskCache`);
});

// A WAV header's byte rate is the caller's bytes: 1 byte/s makes a 25 MB
// Buffer "7 months" of audio. Its put's timeout must stay a sane number (over
// 2^31-1 ms, setTimeout fires after 1 ms: the put "timed out" at once and the
// breaker counted the daemon as not answering).
test('a WAV header claiming 1 byte/s: the put waits a bounded time, not 1 ms or months', async () => {
  const d = await startFakeDaemon({ onRequest: (req, s) => setTimeout(() => s.write(honestReply(req)), 30) });
  const warnings = [];
  const onWarning = (w) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  await adapter.initDiskCache({ socketPath: d.socket });
  const wav = Buffer.alloc(25 << 20);
  wav.write('RIFF', 0, 'latin1');
  wav.write('WAVEfmt ', 8, 'latin1');
  wav.writeUInt32LE(1, 28);  // byte rate
  for (let i = 0; i < 3; i++) await adapter.diskCachePut(`long ${i}`, 'xtts', wav);
  await sleep(10);
  process.off('warning', onWarning);
  assert.deepEqual(warnings, []);
  assert.ok(d.requests >= 4, `${d.requests} requests reached the daemon`);
  await d.close();
});

test('encodeWavToOpus of undefined or a string: a TtscacheError, as documented', async () => {
  for (const bad of [undefined, 'RIFF....WAVE', 42]) {
    await assert.rejects(adapter.encodeWavToOpus(bad), (e) => e.name === 'TtscacheError' && e.code === 'bad_audio', String(bad));
  }
});

// A reply that announces 1000 bytes and sends 10: without a reset the
// connection is wedged — every later reply waits behind the missing bytes.
test('a reply that stops mid-frame: the stalled connection is dropped at the timeout, the next call works', async () => {
  const d = await startFakeDaemon({ onRequest: (req, s, conn) => {
    if (req.opcode === Op.HELLO || conn.index > 0) return s.write(honestReply(req));
    s.write(frame(Op.PING | Op.REPLY, req.id, Buffer.alloc(10), { bodyLength: 1000 }));
  } });
  const c = new Client({ socketPath: d.socket, timeoutMs: 200 });
  await assert.rejects(c.ping(), (e) => e.code === 'timeout');
  await c.ping();
  assert.equal(d.connections, 2);
  c.close();
  await d.close();
});
