// The coordination calls against a fake daemon (fake-daemon.mjs): the bytes
// the client sends (the GET's claim block, CLAIM_DROP, SLOT_ACQUIRE/RELEASE),
// replies that lie (a claimed reply carrying audio or no lease, a hold 0, a
// STATS listing 2^32 slots) each a 'protocol' error, parked requests kept
// out of the 64 in flight, late claims and holds given back, and the
// adapter's promises: a long claim wait is not "no answer", a dropped put
// drops its claim, withSynthesisSlot runs the synthesis whatever the daemon
// does. coordinate.test.mjs runs the same calls against the real daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, TtscacheError } from '../index.js';
import * as adapter from '../adapter.js';
import { startFakeDaemon, frame, honestReply, errorBody, audioBody, Op } from './fake-daemon.mjs';

const CLAIM_DROP = 0x13, SLOT_ACQUIRE = 0x14, SLOT_RELEASE = 0x15;

// Reads a request body's strings and fields as the daemon would.
function strings(body, count) {
  const out = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const n = body.readUInt32LE(at);
    out.push(body.subarray(at + 4, at + 4 + n).toString());
    at += 4 + n;
  }
  return { out, at };
}

function claimedBody(leaseMs, size = 0) {
  const b = Buffer.alloc(13);
  b.writeUInt8(3, 0);
  b.writeBigUInt64LE(BigInt(size), 1);
  b.writeUInt32LE(leaseMs, 9);
  return b;
}

function slotBody(hold, size, held) {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(BigInt(hold), 0);
  b.writeUInt32LE(size, 8);
  b.writeUInt32LE(held, 12);
  return b;
}

// A fake answering `opcode` with answer(req) (a reply frame, or null: never), the rest honestly.
async function fakeFor(opcode, answer, seen = []) {
  return startFakeDaemon({ onRequest: (req, s, conn) => {
    seen.push({ ...req, body: Buffer.from(req.body), conn: conn.index });
    if (req.opcode !== opcode) return s.write(honestReply(req));
    const reply = answer(req);
    if (reply) s.write(reply);
  } });
}

test('getOrClaim sends the claim block after a zero known id, and reads a claimed reply', async () => {
  const seen = [];
  const d = await fakeFor(Op.GET, (req) => frame(Op.GET | Op.REPLY, req.id, claimedBody(30000)), seen);
  const c = new Client({ socketPath: d.socket, timeoutMs: 2000 });
  assert.deepEqual(await c.getOrClaim('piper', 'Hi.', { waitMs: 1234 }), { audio: null, claimed: true, leaseMs: 30000 });
  const get = seen.find((r) => r.opcode === Op.GET).body;
  const { out, at } = strings(get, 2);
  assert.deepEqual(out, ['piper', 'Hi.']);
  // format, opus (12), delivery, known (16), claim 1, 0, u16 0, u32 wait_ms
  assert.equal(get.length, at + 1 + 12 + 1 + 16 + 8);
  const claim = at + 1 + 12 + 1 + 16;
  assert.ok(get.subarray(at + 14, claim).equals(Buffer.alloc(16)));
  assert.deepEqual([...get.subarray(claim, claim + 4)], [1, 0, 0, 0]);
  assert.equal(get.readUInt32LE(claim + 4), 1234);
  await assert.rejects(c.getOrClaim('piper', 'x', { waitMs: -1 }), RangeError);
  await assert.rejects(c.getOrClaim('piper', 'x', { waitMs: 2 ** 32 }), RangeError);
  c.close();
  await d.close();
});

test('getOrClaim: a hit is the audio, a miss (wait ended) is neither audio nor claim', async () => {
  let n = 0;
  const d = await fakeFor(Op.GET, (req) => (n++ === 0 ? frame(Op.GET | Op.REPLY, req.id, audioBody(Buffer.from('RIFFwav')))
    : frame(Op.ERROR, req.id, errorBody(1, { message: 'waited 100 ms for another client\'s synthesis' }))));
  const c = new Client({ socketPath: d.socket, timeoutMs: 2000 });
  const hit = await c.getOrClaim('piper', 'Hi.');
  assert.equal(hit.claimed, false);
  assert.equal(hit.leaseMs, 0);
  assert.equal(hit.audio.toString(), 'RIFFwav');
  assert.deepEqual(await c.getOrClaim('piper', 'Hi.', { waitMs: 100 }), { audio: null, claimed: false, leaseMs: 0 });
  c.close();
  await d.close();
});

test('claimed replies that lie are protocol errors: audio with the claim, no lease, trailing bytes', async () => {
  const lies = [claimedBody(1000, 5), claimedBody(0), Buffer.concat([claimedBody(1000), Buffer.from([0])]),
    claimedBody(1000).subarray(0, 11), Buffer.from([7, 0, 0, 0, 0, 0, 0, 0, 0])];
  for (const lie of lies) {
    const d = await fakeFor(Op.GET, (req) => frame(Op.GET | Op.REPLY, req.id, lie));
    const c = new Client({ socketPath: d.socket, timeoutMs: 2000 });
    await assert.rejects(c.getOrClaim('piper', 'Hi.'), (e) => e instanceof TtscacheError && e.code === 'protocol',
      `lie ${lie.toString('hex')}`);
    c.close();
    await d.close();
  }
  // A plain get never takes a claimed reply for audio.
  const d = await fakeFor(Op.GET, (req) => frame(Op.GET | Op.REPLY, req.id, claimedBody(1000)));
  const c = new Client({ socketPath: d.socket, timeoutMs: 2000 });
  await assert.rejects(c.get('piper', 'Hi.'), (e) => e.code === 'protocol' && /place 3/.test(e.message));
  c.close();
  await d.close();
});

test('SLOT_ACQUIRE, SLOT_RELEASE and CLAIM_DROP: their bytes, and replies that lie', async () => {
  const seen = [];
  let hold = 41n;
  const d = await startFakeDaemon({ onRequest: (req, s) => {
    seen.push({ opcode: req.opcode, body: Buffer.from(req.body) });
    if (req.opcode === SLOT_ACQUIRE) s.write(frame(SLOT_ACQUIRE | Op.REPLY, req.id, slotBody(++hold, 2, 1)));
    else if (req.opcode === CLAIM_DROP) s.write(frame(CLAIM_DROP | Op.REPLY, req.id, Buffer.from([1])));
    else s.write(honestReply(req));
  } });
  const c = new Client({ socketPath: d.socket, timeoutMs: 2000 });
  const h = await c.acquireSlot('gpu', { waitMs: 777 });
  assert.deepEqual({ ...h }, { hold: 42n, size: 2, held: 1 });
  const acquire = seen.find((r) => r.opcode === SLOT_ACQUIRE).body;
  assert.deepEqual(strings(acquire, 1).out, ['gpu']);
  assert.equal(acquire.readUInt32LE(acquire.length - 4), 777);
  assert.equal(acquire.length, 4 + 3 + 4);
  await c.releaseSlot(h);
  const release = seen.find((r) => r.opcode === SLOT_RELEASE).body;
  assert.equal(release.length, 8);
  assert.equal(release.readBigUInt64LE(0), 42n);
  assert.equal(await c.dropClaim('piper', 'Hi.', { voice: 'v1' }), true);
  assert.deepEqual(strings(seen.find((r) => r.opcode === CLAIM_DROP).body, 2).out, ['piper/v1', 'Hi.']);
  // withSlot releases when fn throws, and rethrows fn's error.
  await assert.rejects(c.withSlot('gpu', () => { throw new Error('synthesis failed'); }), /synthesis failed/);
  assert.equal(seen.filter((r) => r.opcode === SLOT_RELEASE).at(-1).body.readBigUInt64LE(0), 43n);
  c.close();
  await d.close();

  const lies = [[SLOT_ACQUIRE, slotBody(0, 2, 1)], [SLOT_ACQUIRE, slotBody(5, 2, 0)], [SLOT_ACQUIRE, slotBody(5, 2, 1).subarray(0, 15)],
    [SLOT_ACQUIRE, Buffer.concat([slotBody(5, 2, 1), Buffer.from([0])])], [CLAIM_DROP, Buffer.from([2])],
    [CLAIM_DROP, Buffer.alloc(0)]];
  for (const [opcode, lie] of lies) {
    const f = await fakeFor(opcode, (req) => frame(opcode | Op.REPLY, req.id, lie));
    const fc = new Client({ socketPath: f.socket, timeoutMs: 2000 });
    const call = opcode === SLOT_ACQUIRE ? fc.acquireSlot('gpu') : fc.dropClaim('piper', 'x');
    await assert.rejects(call, (e) => e.code === 'protocol', `lie ${lie.toString('hex')}`);
    fc.close();
    await f.close();
  }
});

// The STATS counters with no engine, then the coordination block.
function coordinationStats(slots, { count = slots.length } = {}) {
  const head = Buffer.alloc(4 + 6 * 8 + 9 * 8 + 4);
  for (let i = 0; i < 9; i++) head.writeBigUInt64LE(BigInt(i + 1), 52 + 8 * i);
  head.writeUInt32LE(count, 52 + 72);
  return Buffer.concat([head, ...slots.map(([name, size, held]) => {
    const n = Buffer.from(name);
    const b = Buffer.alloc(4 + n.length + 12 + 32);
    b.writeUInt32LE(n.length, 0);
    n.copy(b, 4);
    b.writeUInt32LE(size, 4 + n.length);
    b.writeUInt32LE(held, 8 + n.length);
    b.writeBigUInt64LE(9n, 4 + n.length + 12 + 24);
    return b;
  })]);
}

test('STATS flag 8: the coordination block is read; 2^32 slots, a bad or long name, a slot twice, absurd sizes are lies', async () => {
  const seen = [];
  const d = await fakeFor(Op.STATS, (req) => frame(Op.STATS | Op.REPLY, req.id, coordinationStats([['gpu', 1, 1], ['xtts', 0, 3]])), seen);
  const c = new Client({ socketPath: d.socket, timeoutMs: 2000 });
  const s = await c.stats({ coordination: true });
  assert.deepEqual(seen.find((r) => r.opcode === Op.STATS).body, Buffer.from([8]));
  assert.deepEqual(s.coordination, { claims: 1, claimWaits: 2, waitsServed: 3, waitTimeouts: 4, leaseExpiries: 5,
    takeovers: 6, claimsRefused: 7, claimsOpen: 8, waiting: 9, slots: {
      gpu: { size: 1, held: 1, waiting: 0, acquired: 0, waited: 0, timeouts: 0, waitUs: 9 },
      xtts: { size: 0, held: 3, waiting: 0, acquired: 0, waited: 0, timeouts: 0, waitUs: 9 } } });
  c.close();
  await d.close();
  for (const lie of [coordinationStats([], { count: 0xffffffff }), coordinationStats([['__proto__', 1, 1]]),
    coordinationStats([['g'.repeat(65), 1, 1]]), coordinationStats([['gpu', 1025, 1]]), coordinationStats([['gpu', 1, 2 ** 24 + 1]]),
    coordinationStats([['gpu', 1, 1], ['gpu', 1, 1]]), coordinationStats([['gpu', 1, 1]]).subarray(0, 140)]) {
    const f = await fakeFor(Op.STATS, (req) => frame(Op.STATS | Op.REPLY, req.id, lie));
    const fc = new Client({ socketPath: f.socket, timeoutMs: 2000 });
    await assert.rejects(fc.stats({ coordination: true }), (e) => e.code === 'protocol');
    fc.close();
    await f.close();
  }
});

test('parked requests are not counted in flight: 1100 waiting getOrClaims do not hold a ping back; 1024 sent, the rest wait here', async () => {
  let parked = 0;
  const d = await fakeFor(Op.GET, () => { parked++; return null; });
  const c = new Client({ socketPath: d.socket, timeoutMs: 1000 });
  const waits = Array.from({ length: 1100 }, (_, i) => c.getOrClaim('piper', `p${i}`, { waitMs: 60_000 }).catch((e) => e));
  await c.ping();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(parked, 1024);
  c.close();
  for (const e of await Promise.all(waits)) assert.equal(e.code, 'closed');
  await d.close();
});

test('a hung daemon is not a long wait: parked calls fail after about two timeouts (a PING unanswered)', async () => {
  let hung = false;
  const d = await startFakeDaemon({ onRequest: (req, s) => {
    if (hung) return;  // stopped: reads, never answers
    if (req.opcode === Op.GET || req.opcode === SLOT_ACQUIRE) {
      hung = true;  // the request parks, then the daemon stops
      return;
    }
    s.write(honestReply(req));
  } });
  const c = new Client({ socketPath: d.socket, timeoutMs: 200 });
  await c.ping();
  const t = performance.now();
  await assert.rejects(c.getOrClaim('piper', 'Hi.', { waitMs: 30_000 }), (e) => e.code === 'timeout' && /PING/.test(e.message));
  const ms = performance.now() - t;
  assert.ok(ms >= 200 && ms < 1500, `${Math.round(ms)} ms`);
  c.close();
  await d.close();
});

test('a claim or a hold granted after its call timed out is given back on its connection', async () => {
  const seen = [];
  const d = await startFakeDaemon({ onRequest: (req, s) => {
    seen.push({ opcode: req.opcode, body: Buffer.from(req.body) });
    const late = (body) => setTimeout(() => s.write(frame(req.opcode | Op.REPLY, req.id, body)), 300);
    if (req.opcode === Op.GET) late(claimedBody(30000));
    else if (req.opcode === SLOT_ACQUIRE) late(slotBody(7, 1, 1));
    else if (req.opcode === CLAIM_DROP) s.write(frame(CLAIM_DROP | Op.REPLY, req.id, Buffer.from([1])));
    else s.write(honestReply(req));
  } });
  const c = new Client({ socketPath: d.socket, timeoutMs: 100 });
  await assert.rejects(c.getOrClaim('piper', 'Late.', { waitMs: 0 }), (e) => e.code === 'timeout');
  await assert.rejects(c.acquireSlot('gpu', { waitMs: 0 }), (e) => e.code === 'timeout');
  await new Promise((r) => setTimeout(r, 600));
  const drop = seen.find((r) => r.opcode === CLAIM_DROP);
  assert.ok(drop, 'the late claim was dropped');
  assert.deepEqual(strings(drop.body, 2).out, ['piper', 'Late.']);
  const release = seen.find((r) => r.opcode === SLOT_RELEASE);
  assert.ok(release, 'the late hold was released');
  assert.equal(release.body.readBigUInt64LE(0), 7n);
  c.close();
  await d.close();
});

test('a hold whose connection closed is not released on the next one', async () => {
  const seen = [];
  const d = await startFakeDaemon({ onRequest: (req, s, conn) => {
    seen.push({ opcode: req.opcode, conn: conn.index });
    if (req.opcode === SLOT_ACQUIRE) s.write(frame(SLOT_ACQUIRE | Op.REPLY, req.id, slotBody(1, 1, 1)));
    else s.write(honestReply(req));
  } });
  const c = new Client({ socketPath: d.socket, timeoutMs: 1000 });
  const h = await c.acquireSlot('gpu');
  for (const s of d.sockets) s.destroy();  // the daemon restarted: it freed the hold
  await new Promise((r) => setTimeout(r, 50));
  await c.ping();                           // a new connection
  const again = await c.acquireSlot('gpu');  // the same hold number on it
  await c.releaseSlot(h);
  assert.equal(seen.filter((r) => r.opcode === SLOT_RELEASE).length, 0);
  await c.releaseSlot(again);
  assert.deepEqual(seen.filter((r) => r.opcode === SLOT_RELEASE).map((r) => r.conn), [1]);
  c.close();
  await d.close();
});

test('adapter: a claim wait longer than the timeout is an answer, not a failure of the daemon', async () => {
  // The fake answers each claim GET after 400 ms: 4 × the adapter's timeout.
  const slow = await startFakeDaemon({ onRequest: (req, s) => {
    if (req.opcode !== Op.GET) return s.write(honestReply(req));
    setTimeout(() => s.write(frame(Op.GET | Op.REPLY, req.id, audioBody(Buffer.from('RIFFother')))), 400);
  } });
  await adapter.initDiskCache({ socketPath: slow.socket, timeoutMs: 100, claimWaitMs: 2000 });
  for (let i = 0; i < 4; i++) assert.equal((await adapter.diskCacheGet('Hi.', 'piper'))?.toString(), 'RIFFother');
  await slow.close();
});

test('adapter: a put that is dropped drops the claim its get took, on the same connection', async () => {
  const seen = [];
  const d = await startFakeDaemon({ onRequest: (req, s, conn) => {
    seen.push({ opcode: req.opcode, body: Buffer.from(req.body), conn: conn.index });
    if (req.opcode === Op.GET) s.write(frame(Op.GET | Op.REPLY, req.id, claimedBody(30000)));
    else if (req.opcode === Op.PUT) s.write(frame(Op.ERROR, req.id, errorBody(3, { message: 'bad audio' })));
    else if (req.opcode === CLAIM_DROP) s.write(frame(CLAIM_DROP | Op.REPLY, req.id, Buffer.from([1])));
    else s.write(honestReply(req));
  } });
  await adapter.initDiskCache({ socketPath: d.socket, timeoutMs: 200, claimWaitMs: 1000 });
  assert.equal(await adapter.diskCacheGet('Mine.', 'xtts'), null);
  await adapter.diskCachePut('Mine.', 'xtts', Buffer.from('not a wav'));
  await new Promise((r) => setTimeout(r, 100));
  const get = seen.find((r) => r.opcode === Op.GET);
  const drop = seen.find((r) => r.opcode === CLAIM_DROP);
  assert.ok(drop, 'CLAIM_DROP sent');
  assert.equal(drop.conn, get.conn);
  assert.deepEqual(strings(drop.body, 2).out, ['xtts', 'Mine.']);
  // A put that is stored sends no drop.
  await adapter.diskCachePut('Other.', 'xtts', Buffer.from('x'));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(seen.filter((r) => r.opcode === CLAIM_DROP).length, 1);
  await d.close();
});

test('adapter: a daemon that predates claims (bad request for the claim block) gets plain gets', async () => {
  const seen = [];
  const d = await startFakeDaemon({ onRequest: (req, s) => {
    seen.push(req.body.length);
    if (req.opcode !== Op.GET) return s.write(honestReply(req));
    const plain = strings(req.body, 2).at + 14 === req.body.length;
    s.write(plain ? frame(Op.GET | Op.REPLY, req.id, audioBody(Buffer.from('RIFFold')))
      : frame(Op.ERROR, req.id, errorBody(2, { message: '8 bytes after the GET' })));
  } });
  await adapter.initDiskCache({ socketPath: d.socket, timeoutMs: 200, claimWaitMs: 1000 });
  assert.equal((await adapter.diskCacheGet('Hi.', 'piper')).toString(), 'RIFFold');
  const before = seen.length;
  assert.equal((await adapter.diskCacheGet('Hi.', 'piper')).toString(), 'RIFFold');
  assert.equal(seen.length - before, 1, 'one plain get, no claim asked');
  await d.close();
});

test('adapter: withSynthesisSlot runs fn whatever the daemon does, and releases what it got', async () => {
  // Granted: fn runs inside, the hold is released after.
  const seen = [];
  let answer = (req) => frame(SLOT_ACQUIRE | Op.REPLY, req.id, slotBody(3, 1, 1));
  const d = await startFakeDaemon({ onRequest: (req, s) => {
    seen.push({ opcode: req.opcode, at: performance.now() });
    if (req.opcode === SLOT_ACQUIRE) {
      const reply = answer(req);
      if (reply) s.write(reply);
    } else s.write(honestReply(req));
  } });
  await adapter.initDiskCache({ socketPath: d.socket, timeoutMs: 200 });
  assert.equal(await adapter.withSynthesisSlot('gpu', async () => 'audio'), 'audio');
  await assert.rejects(adapter.withSynthesisSlot('gpu', async () => { throw new Error('engine crashed'); }), /engine crashed/);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(seen.filter((r) => r.opcode === SLOT_RELEASE).length, 2);
  // Busy after the wait: fn runs at once, no second wait.
  answer = (req) => frame(Op.ERROR, req.id, errorBody(6, { retryAfterMs: 60_000, message: 'slot gpu: 1 held, 5 waiting' }));
  let t = performance.now();
  assert.equal(await adapter.withSynthesisSlot('gpu', () => 7, { waitMs: 10 }), 7);
  assert.ok(performance.now() - t < 1000, `${Math.round(performance.now() - t)} ms`);
  // Unknown name: fn runs.
  answer = (req) => frame(Op.ERROR, req.id, errorBody(4, { message: 'no slot nope' }));
  assert.equal(await adapter.withSynthesisSlot('nope', () => 8), 8);
  // No answer: fn runs once the wait plus the timeout is over, and the breaker opens.
  answer = () => null;
  t = performance.now();
  for (let i = 0; i < 5; i++) assert.equal(await adapter.withSynthesisSlot('gpu', () => i, { waitMs: 100 }), i);
  assert.ok(performance.now() - t < 3 * 300 + 1000, `${Math.round(performance.now() - t)} ms: the breaker opened`);
  await d.close();
  // No daemon at all.
  await adapter.initDiskCache({ socketPath: '/nonexistent/ttscache.sock', timeoutMs: 200 });
  t = performance.now();
  assert.equal(await adapter.withSynthesisSlot('gpu', () => 'ran'), 'ran');
  assert.equal(await adapter.diskCacheGet('Hi.', 'piper'), null);
  assert.ok(performance.now() - t < 500, `${Math.round(performance.now() - t)} ms`);
});
