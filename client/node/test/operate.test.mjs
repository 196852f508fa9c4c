// The Node client's operating calls: against a real ttscached (voices kept
// apart, list as an async iterator over pages with filters, delete by text
// and by key, purge of a voice and of an engine, verify, stats with detail,
// a non-admin's refusal), and against a fake daemon that lies (a LIST
// claiming 2^32 entries, a cursor that never moves, 1,001 VERIFY problems):
// each lie is a 'protocol' error, never a crash or an allocation it sized.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, TtscacheError } from '../index.js';
import { startDaemon, speak, makeWav } from './daemon.mjs';
import { startFakeDaemon, frame, honestReply, Op } from './fake-daemon.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const LIST = 0x11, VERIFY = 0x12;

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

async function all(iterator) {
  const entries = [];
  let pages = 0;
  for await (const page of iterator) {
    pages++;
    entries.push(...page.entries);
  }
  return { entries, pages };
}

test('voices: an engine/voice field or a voice option is its own entry', async () => {
  const c = new Client({ socketPath: daemon.socket });
  const other = makeWav(2000, 7);
  await c.put('piper', 'Hello there.', wav);
  await c.put('piper', 'Hello there.', other, { voice: 'en_US-lessac-medium' });
  assert.ok((await c.get('piper', 'hello there.')).equals(wav));
  assert.ok((await c.get('piper/en_US-lessac-medium', 'hello there.')).equals(other));
  assert.ok((await c.get('piper', 'hello there.', { voice: 'en_US-lessac-medium' })).equals(other));
  assert.equal(await c.get('piper', 'hello there.', { voice: 'another' }), null);
  await assert.rejects(c.get('piper', 'x', { voice: 'bad/voice' }), RangeError);
  c.close();
});

test('list pages through the index with filters; delete and purge', async () => {
  const c = new Client({ socketPath: daemon.socket });
  for (const t of ['one', 'two', 'three', 'four', 'five']) await c.put('xtts', t, wav);
  await c.put('xtts', 'one', wav, { voice: 'v1' });
  let { entries, pages } = await all(c.list({ engine: 'xtts', pageSize: 2 }));
  assert.equal(entries.length, 6);
  assert.ok(pages >= 3, `pages of 2: ${pages}`);
  const voiced = entries.filter((e) => e.voice === 'v1');
  assert.equal(voiced.length, 1);
  assert.equal(voiced[0].engine, 'xtts');
  assert.match(voiced[0].key, /^[0-9a-f]{64}$/);
  assert.equal(voiced[0].wavBytes, wav.length);
  assert.equal(typeof voiced[0].lastAccessNs, 'bigint');
  assert.equal((await all(c.list({ engine: 'xtts', voice: 'v1' }))).entries.length, 1);
  assert.equal((await all(c.list({ engine: 'xtts', minBytes: wav.length * 10 }))).entries.length, 0);
  assert.equal((await all(c.list({ engine: 'xtts', minIdleS: 86400 }))).entries.length, 0);
  // Stopping early asks no further page.
  for await (const page of c.list({ engine: 'xtts', pageSize: 1 })) { assert.ok(page); break; }

  let d = await c.delete('xtts', 'ONE');
  assert.deepEqual(d, { deleted: true, bytes: wav.length, variants: 0 });
  d = await c.delete('xtts', 'one');
  assert.equal(d.deleted, false);
  d = await c.deleteKey('xtts', voiced[0].key, { voice: 'v1' });
  assert.equal(d.deleted, true);
  ({ entries } = await all(c.list({ engine: 'xtts' })));
  assert.equal(entries.length, 4);
  const p = await c.purge('xtts');
  assert.equal(p.entries, 4);
  assert.equal(p.bytes, 4 * wav.length);
  assert.equal((await all(c.list({ engine: 'xtts' }))).entries.length, 0);
  await assert.rejects(c.purge('nope'), (e) => e instanceof TtscacheError && e.code === 'unknown_engine');
  c.close();
});

test('verify and stats with detail', async () => {
  const c = new Client({ socketPath: daemon.socket });
  const v = await c.verify();
  assert.equal(v.verdict, 'clean');
  assert.ok(v.entriesChecked >= 1);
  assert.deepEqual(v.problems, []);
  const s = await c.stats({ detail: true });
  assert.ok(s.limits && s.streams && s.detail);
  assert.ok(s.detail.diskTotalBytes > 0 && s.detail.diskFreeBytes <= s.detail.diskTotalBytes);
  assert.ok(s.detail.deleted >= 2 && s.detail.purged >= 4);
  assert.equal(s.detail.encodeDurations.counts.length, 12);
  assert.ok(s.engines.piper.oldestAccessNs > 0);
  assert.ok(s.engines.piper.hitRatio > 0 && s.engines.piper.hitRatio <= 1);
  c.close();
});

test('a non-admin is refused with forbidden and the connection stays', { skip: process.getuid() !== 0 && 'needs root' }, () => {
  chmodSync(daemon.dir, 0o755);
  chmodSync(daemon.socket, 0o666);
  const script = `import { Client } from ${JSON.stringify(join(here, '../index.js'))};
    const c = new Client({ socketPath: ${JSON.stringify(daemon.socket)} });
    const err = await c.purge('piper').then(() => null, (e) => e);
    await c.ping();
    const pages = []; for await (const p of c.list()) pages.push(p);
    console.log(err?.code, err?.message.length > 0, pages.length > 0);
    c.close();`;
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath,
    '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.stdout.trim(), 'forbidden true true', r.stderr);
});

// A fake answering LIST and VERIFY with `lie`, everything else honestly.
async function lying(lie) {
  return startFakeDaemon({ onRequest: (req, s) => {
    if (req.opcode === LIST || req.opcode === VERIFY) s.write(frame(req.opcode | Op.REPLY, req.id, lie(req)));
    else s.write(honestReply(req));
  } });
}

test('a LIST claiming 2^32 entries, or cut short, is a protocol error', async () => {
  for (const body of [Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]), Buffer.alloc(11)]) {
    const fake = await lying(() => body);
    const c = new Client({ socketPath: fake.socket, timeoutMs: 2000 });
    await assert.rejects(all(c.list()), (e) => e.code === 'protocol');
    c.close();
    await fake.close();
  }
});

test('a cursor that never moves ends the listing', async () => {
  const page = Buffer.alloc(12);
  page.writeBigUInt64LE(5n, 0);  // next_cursor 5, no entries
  const fake = await lying(() => page);
  const c = new Client({ socketPath: fake.socket, timeoutMs: 2000 });
  await assert.rejects(all(c.list()), (e) => e.code === 'protocol' && /same cursor/.test(e.message));
  assert.ok(fake.requests <= 4, `${fake.requests} requests`);
  c.close();
  await fake.close();
});

test('a VERIFY listing 1001 problems is refused', async () => {
  const head = Buffer.alloc(29);
  head.writeUInt8(2, 0);
  head.writeBigUInt64LE(1001n, 17);
  head.writeUInt32LE(1001, 25);
  const problem = Buffer.alloc(13);  // three empty strings and repaired 0
  const fake = await lying(() => Buffer.concat([head, ...Array(1001).fill(problem)]));
  const c = new Client({ socketPath: fake.socket, timeoutMs: 2000 });
  await assert.rejects(c.verify(), (e) => e.code === 'protocol' && /1001 problems/.test(e.message));
  c.close();
  await fake.close();
});
