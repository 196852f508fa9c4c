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
