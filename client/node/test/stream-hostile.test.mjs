// encodeStream against a fake daemon (fake-daemon.mjs) whose stream "encoder"
// echoes each push's bytes back as its pages, so the readable side must equal
// what was written, in order, whatever order the replies come in. The fake
// holds, reorders, refuses and garbles replies, so the Duplex's ordering,
// its bounds on memory both ways, its ABORTs and its errors are checked
// without a real encoder; stream.test.mjs runs the real daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client } from '../index.js';
import { startFakeDaemon, frame, errorBody, honestReply, Op } from './fake-daemon.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
const pagesBody = (pages) => Buffer.concat([u32(pages.length), pages]);

function finishBody(pages = Buffer.from('END'), samples = 1234, cached = 0, note = '') {
  const b = Buffer.alloc(13);
  b.writeBigUInt64LE(BigInt(samples), 0);
  b.writeUInt8(cached, 8);
  b.writeUInt32LE(Buffer.byteLength(note), 9);
  return Buffer.concat([pagesBody(pages), b, Buffer.from(note)]);
}

// A fake with streams: OPEN answers stream 7 and maxBuffered; a PUSH is
// answered with its own bytes by `answerPush(req, send)` (default: at once);
// every stream request is logged with the connection it came on.
async function startStreamFake({ maxBuffered = 1 << 20, answerPush = (req, send) => send(), onFinish } = {}) {
  const log = [];
  const fake = await startFakeDaemon({ onRequest: (req, s, conn) => {
    const entry = { opcode: req.opcode, id: req.id, conn: conn.index, body: Buffer.from(req.body) };
    if (req.opcode >= Op.STREAM_OPEN && req.opcode <= Op.STREAM_ABORT) log.push(entry);
    switch (req.opcode) {
      case Op.STREAM_OPEN: {
        const b = Buffer.alloc(16);
        [7, maxBuffered, 30000, 600].forEach((v, i) => b.writeUInt32LE(v, 4 * i));
        return s.write(frame(Op.STREAM_OPEN | Op.REPLY, req.id, b));
      }
      case Op.STREAM_PUSH: {
        const data = entry.data = entry.body.subarray(9);
        return answerPush(entry, (body = pagesBody(data)) =>
          s.destroyed || s.write(frame(Op.STREAM_PUSH | Op.REPLY, req.id, body)));
      }
      case Op.STREAM_FINISH:
        return (onFinish ?? ((r, send) => send()))(entry, (body = finishBody()) =>
          s.write(frame(Op.STREAM_FINISH | Op.REPLY, req.id, body)));
      default: return s.write(honestReply(req));
    }
  } });
  const pushed = () => log.filter((e) => e.opcode === Op.STREAM_PUSH);
  return { fake, log, pushed };
}

function collect(stream) {
  const chunks = [];
  stream.on('data', (c) => chunks.push(c));
  return once(stream, 'end').then(() => Buffer.concat(chunks));
}

const pattern = (n, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

test('replies answered in reverse order: the pages still come out in request order', async () => {
  let held = [];
  const { fake, pushed } = await startStreamFake({ answerPush: (req, send) => {
    held.push(send);
    if (held.length === 4) { held.reverse().forEach((f) => f()); held = []; }
  }, onFinish: (req, send) => { held.reverse().forEach((f) => f()); held = []; send(); } });
  const c = new Client({ socketPath: fake.socket });
  const s = c.encodeStream({ rate: 22050 });
  const input = pattern(200 * 1024);
  const out = collect(s);
  for (let at = 0; at < input.length; at += 10_000) s.write(input.subarray(at, at + 10_000));
  s.end();
  assert.ok((await out).equals(Buffer.concat([input, Buffer.from('END')])));
  assert.deepEqual(await s.result, { samples48k: 1234, cached: 'not-asked', note: '' });
  assert.ok(pushed().length >= 20);
  c.close();
  await fake.close();
});

test('at most half of max_buffered_bytes is pushed and unanswered; a 1 MiB write goes in pieces', async () => {
  let unanswered = 0;
  let most = 0;
  const { fake, pushed } = await startStreamFake({ maxBuffered: 64 * 1024, answerPush: (req, send) => {
    unanswered += req.data.length;
    most = Math.max(most, unanswered);
    setTimeout(() => { unanswered -= req.data.length; send(); }, 5);
  } });
  const c = new Client({ socketPath: fake.socket });
  const s = c.encodeStream({ rate: 22050 });
  const out = collect(s);
  const input = pattern(1 << 20);
  s.end(input);
  assert.ok((await out).subarray(0, input.length).equals(input));
  assert.ok(most <= 32 * 1024, `${most} bytes were pushed and unanswered at once`);
  assert.ok(pushed().every((p) => p.data.length <= 32 * 1024));
  c.close();
  await fake.close();
});

test('a reader that never reads stops the pushes: bounded memory, the writer waits; destroy aborts', async () => {
  const { fake, log, pushed } = await startStreamFake({ maxBuffered: 256 * 1024 });
  const c = new Client({ socketPath: fake.socket });
  const s = c.encodeStream({ rate: 22050 });
  const chunk = pattern(16 * 1024);
  let written = 0;
  for (;;) {
    if (s.write(chunk)) { written += chunk.length; continue; }
    written += chunk.length;
    const drained = await Promise.race([once(s, 'drain').then(() => true), sleep(500).then(() => false)]);
    if (!drained) break;
    assert.ok(written < 8 << 20, 'the writer was never held back');
  }
  const sent = pushed().reduce((n, p) => n + p.data.length, 0);
  assert.ok(sent < 512 * 1024, `${sent} bytes pushed to a stream nobody reads`);
  assert.ok(s.readableLength < 512 * 1024, `${s.readableLength} bytes held for the reader`);
  assert.ok(s.writableLength <= 2 * chunk.length, `${s.writableLength} bytes of writes held`);
  s.destroy();
  await assert.rejects(s.result, { code: 'closed' });
  for (let i = 0; i < 100 && !log.some((e) => e.opcode === Op.STREAM_ABORT); i++) await sleep(10);
  const abort = log.find((e) => e.opcode === Op.STREAM_ABORT);
  assert.ok(abort, 'STREAM_ABORT was sent');
  assert.equal(abort.body.readUInt32LE(0), 7);
  c.close();
  await fake.close();
});

test('a stream waiting on its replies does not hold up the client\'s other calls', async () => {
  const held = [];
  const { fake } = await startStreamFake({ answerPush: (req, send) => held.push(send) });
  const c = new Client({ socketPath: fake.socket });
  const s = c.encodeStream({ rate: 22050 });
  const out = collect(s);
  s.write(pattern(1000));
  while (held.length === 0) await sleep(5);
  await c.ping();
  assert.equal((await c.stats()).requests, 0);
  held.forEach((f) => f());
  s.end();
  assert.equal((await out).length, 1000 + 3);
  c.close();
  await fake.close();
});

test('ERROR busy to a push: the Duplex errors with code busy', async () => {
  const fake = await startFakeDaemon({ onRequest: (req, s) => {
    if (req.opcode === Op.STREAM_OPEN) {
      const b = Buffer.alloc(16);
      b.writeUInt32LE(1 << 20, 4);
      return s.write(frame(Op.STREAM_OPEN | Op.REPLY, req.id, b));
    }
    if (req.opcode === Op.STREAM_PUSH) {
      return s.write(frame(Op.ERROR, req.id, errorBody(6, { retryAfterMs: 50, message: 'over max_buffered_bytes' })));
    }
    s.write(honestReply(req));
  } });
  const c = new Client({ socketPath: fake.socket });
  const s = c.encodeStream({ rate: 22050 });
  s.resume();
  s.write(pattern(100));
  const [err] = await once(s, 'error').catch((e) => [e]);
  assert.equal(err.code, 'busy');
  assert.equal(err.retryAfterMs, 50);
  await assert.rejects(s.result, { code: 'busy' });
  await c.ping();  // the connection is still good
  c.close();
  await fake.close();
});

for (const [what, lie] of [
  ['pages longer than the body', (req) => frame(Op.STREAM_PUSH | Op.REPLY, req.id, Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2]))],
  ['garbage bytes instead of a frame', () => Buffer.alloc(64, 0xa5)],
  ['a body length of 4 GiB', (req) => frame(Op.STREAM_PUSH | Op.REPLY, req.id, Buffer.alloc(0), { bodyLength: 0xffffffff })],
  ['a FINISH reply to a PUSH', (req) => frame(Op.STREAM_FINISH | Op.REPLY, req.id, finishBody())],
]) {
  test(`a push answered with ${what}: the Duplex errors at once, no hang`, { timeout: 10_000 }, async () => {
    const { fake } = await startStreamFake({ answerPush: (req) => fake.sockets.forEach((s) => s.write(lie(req))) });
    const c = new Client({ socketPath: fake.socket, timeoutMs: 30_000 });
    const s = c.encodeStream({ rate: 22050 });
    s.resume();
    s.write(pattern(5000));
    s.end();
    const [err] = await once(s, 'error').catch((e) => [e]);
    assert.equal(err.code, 'protocol', err.message);
    await assert.rejects(s.result, { code: 'protocol' });
    await c.ping();  // a new connection
    c.close();
    await fake.close();
  });
}

test('the connection lost mid-stream: an error, and nothing of the stream is sent on the next one', async () => {
  const held = [];
  const { fake, log } = await startStreamFake({ answerPush: (req, send) => held.push(send) });
  const c = new Client({ socketPath: fake.socket });
  const s = c.encodeStream({ rate: 22050 });
  s.resume();
  s.write(pattern(100));
  while (held.length === 0) await sleep(5);
  s.write(pattern(100));
  fake.sockets.forEach((sock) => sock.destroy());
  const [err] = await once(s, 'error').catch((e) => [e]);
  assert.equal(err.code, 'closed');
  await c.ping();
  await sleep(50);
  assert.ok(log.every((e) => e.conn === 0), 'no stream request on the second connection');
  c.close();
  await fake.close();
});

test('piped into a destination that closes early: STREAM_ABORT', async () => {
  const { fake, log } = await startStreamFake();
  const c = new Client({ socketPath: fake.socket });
  const s = c.encodeStream({ rate: 22050 });
  const sink = new Writable({ write(chunk, enc, cb) { cb(); this.destroy(); } });
  s.pipe(sink);
  s.write(pattern(1000));
  await once(s, 'close');
  for (let i = 0; i < 100 && !log.some((e) => e.opcode === Op.STREAM_ABORT); i++) await sleep(10);
  assert.ok(log.some((e) => e.opcode === Op.STREAM_ABORT));
  assert.ok(!log.some((e) => e.opcode === Op.STREAM_FINISH));
  c.close();
  await fake.close();
});

test('pipeline(): end() with nothing written opens and finishes; options refused before sending', async () => {
  const { fake, log } = await startStreamFake();
  const c = new Client({ socketPath: fake.socket });
  const s = c.encodeStream({ input: 'wav', engine: 'piper', text: 'Hi' });
  const chunks = [];
  await pipeline(async function* () {}, s, new Writable({ write(chunk, enc, cb) { chunks.push(chunk); cb(); } }));
  assert.equal(Buffer.concat(chunks).toString(), 'END');
  assert.deepEqual(log.map((e) => e.opcode), [Op.STREAM_OPEN, Op.STREAM_FINISH]);
  assert.throws(() => c.encodeStream({}), RangeError);
  assert.throws(() => c.encodeStream({ rate: 22050, engine: 'piper' }), RangeError);
  c.close();
  await fake.close();
});

test('a push never answered: the Duplex errors at its timeout and aborts the stream', { timeout: 10_000 }, async () => {
  const { fake, log } = await startStreamFake({ answerPush: () => {} });
  const c = new Client({ socketPath: fake.socket });
  const s = c.encodeStream({ rate: 22050, timeoutMs: 300 });
  s.resume();
  s.write(pattern(100));
  const [err] = await once(s, 'error').catch((e) => [e]);
  assert.equal(err.code, 'timeout');
  for (let i = 0; i < 100 && !log.some((e) => e.opcode === Op.STREAM_ABORT); i++) await sleep(10);
  assert.ok(log.some((e) => e.opcode === Op.STREAM_ABORT));
  c.close();
  await fake.close();
});
