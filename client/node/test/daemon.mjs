// Test helper: a real ttscached on a private socket and cache folder.
// TTSCACHED names the binary (set by ctest; default: the release build).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
export const TTSCACHED = process.env.TTSCACHED || join(repo, 'build/release/daemon/ttscached');

export function tempDir() {
  return mkdtempSync(join(tmpdir(), 'ttscache-node-'));
}

// Starts ttscached on `dir` (a fresh temp folder by default); resolves once the socket exists.
export async function startDaemon({ dir = tempDir(), cacheDir = join(dir, 'cache'), extra = '' } = {}) {
  const socket = join(dir, 'd.sock');
  const config = join(dir, 'd.conf');
  writeFileSync(config, `[daemon]\nsocket = ${socket}\n[cache]\ndir = ${cacheDir}\nfsync = false\n${extra}`);
  const env = { PATH: process.env.PATH, ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? '' };
  const child = spawn(TTSCACHED, ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 25));
  if (!existsSync(socket)) throw new Error(`ttscached did not start: ${log}`);
  const exited = new Promise((r) => child.once('exit', r));
  return {
    dir, socket, cacheDir, child,
    log: () => log,
    async stop(signal = 'SIGTERM') { child.kill(signal); await exited; },
    cleanup() { rmSync(dir, { recursive: true, force: true }); },
  };
}

// A spoken WAV from espeak-ng (a Debian package the test suite installs).
export function speak(text, dir) {
  const path = join(dir, `${Buffer.from(text).toString('hex').slice(0, 32)}.wav`);
  const r = spawnSync('espeak-ng', ['-w', path, text]);
  if (r.status !== 0) throw new Error(`espeak-ng failed: ${r.stderr}`);
  return readFileSync(path);
}

// opusinfo (opus-tools) on a buffer: throws unless it is a valid Ogg Opus stream.
export function assertValidOpus(buffer, dir) {
  const path = join(dir, `check-${process.hrtime.bigint()}.opus`);
  writeFileSync(path, buffer);
  const r = spawnSync('opusinfo', [path], { encoding: 'utf8' });
  if (r.status !== 0 || /WARNING|ERROR/.test(r.stdout + r.stderr)) {
    throw new Error(`opusinfo rejects the stream: ${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

// A 16-bit mono 22,050 Hz WAV of `samples` samples, each derived from `seed`.
export function makeWav(samples, seed) {
  const b = Buffer.alloc(44 + 2 * samples);
  b.write('RIFF', 0);
  b.writeUInt32LE(b.length - 8, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);      // PCM
  b.writeUInt16LE(1, 22);      // mono
  b.writeUInt32LE(22050, 24);
  b.writeUInt32LE(44100, 28);  // byte rate
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(2 * samples, 40);
  for (let i = 0; i < samples; i++) b.writeInt16LE(((seed * 7919 + i * 31) % 20000) - 10000, 44 + 2 * i);
  return b;
}
