// STATS flag 16, the fleet tier's figures (stats({ tier: true }) → stats.tier):
// against a fake daemon (fake-daemon.mjs), the block is read field by field
// and the lies no daemon tells — a block cut short, a state of 7, the
// reserved u16 set, figures from a tier not enabled, a queue deeper than its
// size, an enabled tier without servers — are each a 'protocol' error; a
// daemon that predates the flag leaves stats.tier absent. Against the real
// daemon without [tier]: enabled false, every figure 0; with [tier] on a
// memcached started here (when installed): enabled, up, its one server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '../index.js';
import { startFakeDaemon, frame, honestReply, statsBody, errorBody, Op } from './fake-daemon.mjs';
import { startDaemon } from './daemon.mjs';

const COUNTERS = ['lookups', 'coalesced', 'hits', 'variantHits', 'misses', 'errors', 'timeouts', 'corrupt', 'skipped',
  'writes', 'writeErrors', 'dropped', 'oversized', 'queueDepth', 'queueCapacity', 'breakerOpens', 'lookupUs'];

// The STATS counters with no engine, then the tier block: u8 enabled, u8
// state, u16 reserved, u32 servers, 17 × u64 (values[i], default 100 + i).
function tierStats({ enabled = 1, state = 0, reserved = 0, servers = 3, values = {} } = {}) {
  const block = Buffer.alloc(8 + 17 * 8);
  block.writeUInt8(enabled, 0);
  block.writeUInt8(state, 1);
  block.writeUInt16LE(reserved, 2);
  block.writeUInt32LE(servers, 4);
  COUNTERS.forEach((name, i) => block.writeBigUInt64LE(BigInt(values[name] ?? 100 + i), 8 + 8 * i));
  return Buffer.concat([statsBody(), block]);
}

async function fakeStats(body, seen = []) {
  return startFakeDaemon({ onRequest: (req, s) => {
    seen.push({ ...req, body: Buffer.from(req.body) });
    s.write(req.opcode === Op.STATS ? frame(Op.STATS | Op.REPLY, req.id, body) : honestReply(req));
  } });
}

test('STATS flag 16: the tier block is read field by field', async () => {
  const seen = [];
  const d = await fakeStats(tierStats({ state: 2 }), seen);
  const c = new Client({ socketPath: d.socket, timeoutMs: 2000 });
  const s = await c.stats({ tier: true });
  assert.deepEqual(seen.find((r) => r.opcode === Op.STATS).body, Buffer.from([16]));
  const expected = { enabled: true, state: 'probing', servers: 3, hitRatio: 102 / 100 };
  COUNTERS.forEach((name, i) => { expected[name] = 100 + i; });
  assert.deepEqual(s.tier, expected);
  c.close();
  await d.close();
});

test('a daemon that predates flag 16 sends no block: stats.tier is absent', async () => {
  const d = await fakeStats(statsBody());
  const c = new Client({ socketPath: d.socket, timeoutMs: 2000 });
  const s = await c.stats({ tier: true });
  assert.equal(s.tier, undefined);
  c.close();
  await d.close();
});

test('a daemon that refuses flag 16 as a bad request (every daemon before the tier): asked again without it', async () => {
  const seen = [];
  const d = await startFakeDaemon({ onRequest: (req, s) => {
    seen.push(Buffer.from(req.body));
    if (req.opcode !== Op.STATS) return s.write(honestReply(req));
    if (req.body.length === 1 && (req.body[0] & 16)) return s.write(frame(Op.ERROR, req.id, errorBody(2)));
    s.write(frame(Op.STATS | Op.REPLY, req.id, statsBody()));
  } });
  const c = new Client({ socketPath: d.socket, timeoutMs: 2000 });
  const s = await c.stats({ tier: true });
  assert.equal(s.tier, undefined);
  assert.deepEqual(seen.filter((b) => b.length === 1).map((b) => b[0]), [16]);
  c.close();
  await d.close();
});

test('a daemon without [tier] sends zeros: enabled false', async () => {
  const zeros = {};
  for (const name of COUNTERS) zeros[name] = 0;
  const d = await fakeStats(tierStats({ enabled: 0, servers: 0, values: zeros }));
  const c = new Client({ socketPath: d.socket, timeoutMs: 2000 });
  const t = (await c.stats({ tier: true })).tier;
  assert.equal(t.enabled, false);
  assert.equal(t.state, 'up');
  assert.equal(t.lookups + t.hits + t.queueCapacity + t.servers, 0);
  assert.equal(t.hitRatio, 0);
  c.close();
  await d.close();
});

test('the lies no daemon tells are protocol errors', async () => {
  const lies = {
    'cut short': tierStats().subarray(0, 4 + 6 * 8 + 8 + 16 * 8 + 4),
    'state = 7': tierStats({ state: 7 }),
    'reserved u16 = 1': tierStats({ reserved: 1 }),
    'enabled = 2': tierStats({ enabled: 2 }),
    'not enabled but with figures': tierStats({ enabled: 0, servers: 0 }),
    'queue_depth 5000 over its queue_capacity 114': tierStats({ values: { queueDepth: 5000 } }),
    'enabled with 0 servers': tierStats({ servers: 0 }),
    'enabled with 65 servers': tierStats({ servers: 65 }),
    'a trailing byte': Buffer.concat([tierStats(), Buffer.alloc(1)]),
  };
  for (const [what, lie] of Object.entries(lies)) {
    const f = await fakeStats(lie);
    const fc = new Client({ socketPath: f.socket, timeoutMs: 2000 });
    await assert.rejects(fc.stats({ tier: true }), (e) => e.code === 'protocol', what);
    fc.close();
    await f.close();
  }
  // The message names what was wrong.
  const f = await fakeStats(tierStats({ state: 7 }));
  const fc = new Client({ socketPath: f.socket, timeoutMs: 2000 });
  await assert.rejects(fc.stats({ tier: true }), /tier: state = 7/);
  fc.close();
  await f.close();
});

test('the real daemon without [tier]: the tier off, every figure 0', async () => {
  const d = await startDaemon();
  const c = new Client({ socketPath: d.socket, timeoutMs: 5000 });
  try {
    const s = await c.stats({ tier: true, coordination: true, detail: true });
    assert.ok(s.coordination, 'the blocks before the tier are still read');
    assert.ok(s.tier, 'this daemon knows flag 16');
    assert.equal(s.tier.enabled, false);
    assert.equal(s.tier.state, 'up');
    assert.equal(s.tier.servers + s.tier.lookups + s.tier.writes + s.tier.queueCapacity, 0);
    await c.ping();
  } finally {
    c.close();
    await d.stop();
    d.cleanup();
  }
});

// A memcached on a free loopback port, or null when it is not installed.
async function startMemcached() {
  const { spawn, spawnSync } = await import('node:child_process');
  const { createServer, connect } = await import('node:net');
  if (spawnSync('sh', ['-c', 'command -v memcached']).status !== 0) return null;
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  const args = ['-p', String(port), '-U', '0', '-l', '127.0.0.1', '-m', '16'];
  if (process.geteuid() === 0) args.push('-u', 'root');  // memcached refuses root without it
  const child = spawn('memcached', args, { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((resolve) => {
      const c = connect(port, '127.0.0.1', () => { c.end(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const exited = new Promise((r) => child.once('exit', r));
  return { port, async stop() { child.kill(); await exited; } };
}

test('the real daemon with [tier] on a memcached: enabled, up, its server and queue_size', async (t) => {
  const m = await startMemcached();
  if (!m) return t.skip('memcached is not installed');
  const d = await startDaemon({ extra: `[tier]\nservers = 127.0.0.1:${m.port}\nqueue_size = 64\n` });
  const c = new Client({ socketPath: d.socket, timeoutMs: 5000 });
  try {
    const { tier } = await c.stats({ tier: true });
    assert.equal(tier.enabled, true);
    assert.equal(tier.state, 'up');
    assert.equal(tier.servers, 1);
    assert.equal(tier.queueCapacity, 64);
    assert.ok(tier.queueDepth <= 64);
  } finally {
    c.close();
    await d.stop();
    d.cleanup();
    await m.stop();
  }
});
