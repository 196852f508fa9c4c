// A faithful re-implementation of the Node.js cache module that ttscache
// replaces (tts-cache.ts from the seed plan), used by the tests and
// benchmarks as the reference: the same key function, layout and eviction.
//
// As a program:
//   node old-tts-cache.mjs keys               stdin: one hex-encoded UTF-8 text per line,
//                                             stdout: one key per line
//   node old-tts-cache.mjs put DIR ENGINE MAX TEXT WAVFILE
//   node old-tts-cache.mjs fill DIR ENGINE COUNT BYTES   COUNT puts of BYTES-byte entries
//   node old-tts-cache.mjs bench DIR COUNT PUTS          fill to COUNT, then time gets and
//                                                        PUTS puts; prints JSON medians in µs
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

export const config = {
  ttsCacheDir: process.env.TTS_CACHE_DIR || '/data/tts-cache',
  ttsCacheMaxEntries: parseInt(process.env.TTS_CACHE_MAX || '500', 10),
};

export function hashKey(text) {
  return createHash('sha256').update(text.trim().toLowerCase().replace(/\s+/g, ' ')).digest('hex');
}

function cachePath(text, engine) {
  return join(config.ttsCacheDir, engine, hashKey(text) + '.wav');
}

export async function initDiskCache() {
  await mkdir(join(config.ttsCacheDir, 'xtts'), { recursive: true });
  await mkdir(join(config.ttsCacheDir, 'piper'), { recursive: true });
}

export async function diskCacheGet(text, engine) {
  try {
    return await readFile(cachePath(text, engine));
  } catch {
    return null;
  }
}

export async function evictOldEntries(engine) {
  const dir = join(config.ttsCacheDir, engine);
  const files = await readdir(dir);
  if (files.length <= config.ttsCacheMaxEntries) return;
  const withTimes = await Promise.all(
    files.map(async (f) => ({ f, mtime: (await stat(join(dir, f))).mtimeMs })));
  withTimes.sort((a, b) => a.mtime - b.mtime);
  const excess = withTimes.slice(0, withTimes.length - config.ttsCacheMaxEntries);
  await Promise.all(excess.map((e) => unlink(join(dir, e.f)).catch(() => {})));
}

export async function diskCachePut(text, engine, buffer) {
  await writeFile(cachePath(text, engine), buffer);
  await evictOldEntries(engine);  // the original fires and forgets; awaited here to measure it
}

export async function getDiskCacheStats() {
  const count = async (e) => (await readdir(join(config.ttsCacheDir, e)).catch(() => [])).length;
  return { xtts: await count('xtts'), piper: await count('piper') };
}

async function main() {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'keys') {
    const lines = readFileSync(0, 'utf8').split('\n').filter((l, i, a) => i < a.length - 1 || l);
    for (const hex of lines) {
      process.stdout.write(hashKey(Buffer.from(hex, 'hex').toString('utf8')) + '\n');
    }
  } else if (command === 'put') {
    const [dir, engine, max, text, wavFile] = args;
    config.ttsCacheDir = dir;
    config.ttsCacheMaxEntries = parseInt(max, 10);
    await initDiskCache();
    await mkdir(join(dir, engine), { recursive: true });
    await diskCachePut(text, engine, await readFile(wavFile));
  } else if (command === 'fill') {
    const [dir, engine, count, bytes] = args;
    config.ttsCacheDir = dir;
    config.ttsCacheMaxEntries = 1e9;
    await initDiskCache();
    await mkdir(join(dir, engine), { recursive: true });
    for (let i = 0; i < parseInt(count, 10); i++) {
      await writeFile(cachePath(`phrase number ${i}`, engine), Buffer.alloc(parseInt(bytes, 10), i % 251));
    }
  } else if (command === 'bench') {
    const [dir, count, puts] = args;
    const n = parseInt(count, 10);
    config.ttsCacheDir = dir;
    config.ttsCacheMaxEntries = n;
    await initDiskCache();
    const wav = Buffer.alloc(244, 1);
    const existing = (await readdir(join(dir, 'xtts'))).length;
    for (let i = existing; i < n; i++) await writeFile(cachePath(`phrase number ${i}`, 'xtts'), wav);
    const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const time = async (f) => { const t = process.hrtime.bigint(); await f(); return Number(process.hrtime.bigint() - t) / 1000; };
    const gets = [], misses = [], putTimes = [];
    for (let i = 0; i < 200; i++) gets.push(await time(() => diskCacheGet(`phrase number ${(i * 7919) % n}`, 'xtts')));
    for (let i = 0; i < 200; i++) misses.push(await time(() => diskCacheGet(`not there ${i}`, 'xtts')));
    for (let i = 0; i < parseInt(puts, 10); i++) putTimes.push(await time(() => diskCachePut(`new phrase ${Date.now()} ${i}`, 'xtts', wav)));
    console.log(JSON.stringify({ entries: n, get_hit_us: median(gets), get_miss_us: median(misses), put_us: median(putTimes) }));
  } else if (command !== undefined) {
    console.error(`unknown command ${command}`);
    process.exit(2);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
