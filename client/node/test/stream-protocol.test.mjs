// The encode streams' bodies (STREAM_OPEN/PUSH/FINISH/ABORT, docs/protocol.md)
// and STATS flags, byte by byte, as ipc/messages.cpp lays them out; replies
// that are short, long or out of range throw rather than read past an end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Op, StatsFlag, body, reply } from '../protocol.js';

const hex = (b) => b.toString('hex').match(/../g).join(' ');

test('opcodes 0x0B–0x0E', () => {
  assert.deepEqual([Op.STREAM_OPEN, Op.STREAM_PUSH, Op.STREAM_FINISH, Op.STREAM_ABORT], [0x0b, 0x0c, 0x0d, 0x0e]);
});

test('STREAM_OPEN of raw s16le mono 22050 Hz, daemon-default Opus, cached as (piper, Hi)', () => {
  const b = body.streamOpen({ rate: 22050, engine: 'piper', text: 'Hi' });
  assert.equal(hex(b),
    '00 01 01 00 22 56 00 00 ' +                     // input raw, s16le, 1 channel, 0, 22050
    '00 00 00 00 0a 00 00 00 20 4e 00 00 ' +         // opus: bitrate 0 (the daemon's), complexity 10, 20 ms
    '05 00 00 00 70 69 70 65 72 02 00 00 00 48 69'); // "piper", "Hi"
});

test('STREAM_OPEN: every sample format, stereo, Opus options; a WAV names no format', () => {
  const formats = ['u8', 's16le', 's24le', 's32le', 'f32le', 'f64le'];
  formats.forEach((sampleFormat, i) => {
    const b = body.streamOpen({ input: 'raw', sampleFormat, channels: 2, rate: 48000, bitrate: 32, vbr: 'off',
      application: 'audio', complexity: 5, frameMs: 60 });
    assert.equal(b.readUInt8(1), i);
    assert.equal(b.readUInt8(2), 2);
    assert.equal(b.readUInt32LE(4), 48000);
    assert.equal(hex(b.subarray(8, 20)), '20 00 01 01 05 00 00 00 60 ea 00 00');
    assert.equal(b.length, 20 + 8);  // two empty strings
  });
  const wav = body.streamOpen({ input: 'wav', rate: 22050, channels: 2, sampleFormat: 'f32le' });
  assert.equal(hex(wav.subarray(0, 8)), '01 00 00 00 00 00 00 00');
});

test('STREAM_OPEN refuses, before sending, what the daemon would', () => {
  assert.throws(() => body.streamOpen({}), /rate undefined/);
  assert.throws(() => body.streamOpen({ rate: 7999 }), RangeError);
  assert.throws(() => body.streamOpen({ rate: 192001 }), RangeError);
  assert.throws(() => body.streamOpen({ rate: 22050.5 }), RangeError);
  assert.throws(() => body.streamOpen({ rate: 22050, channels: 3 }), /channels 3/);
  assert.throws(() => body.streamOpen({ rate: 22050, sampleFormat: 's16be' }), /sampleFormat s16be/);
  assert.throws(() => body.streamOpen({ input: 'mp3' }), /input mp3/);
  assert.throws(() => body.streamOpen({ rate: 22050, engine: 'piper' }), /both/);
  assert.throws(() => body.streamOpen({ rate: 22050, text: 'Hi' }), /both/);
  assert.throws(() => body.streamOpen({ rate: 22050, bitrate: 600 }), RangeError);
  assert.doesNotThrow(() => body.streamOpen({ input: 'wav' }));
});

test('STREAM_PUSH, FINISH and ABORT bodies', () => {
  assert.equal(hex(body.streamPush(7, Buffer.from([0xaa, 0xbb]))), '07 00 00 00 00 02 00 00 00 aa bb');
  assert.equal(hex(body.streamPush(0x01020304, Buffer.alloc(0))), '04 03 02 01 00 00 00 00 00');
  assert.equal(hex(body.streamId(3)), '03 00 00 00');
});

test('STREAM_OPEN reply', () => {
  const b = Buffer.alloc(16);
  [5, 4 << 20, 30000, 600].forEach((v, i) => b.writeUInt32LE(v, 4 * i));
  assert.deepEqual(reply.streamOpen(b), { stream: 5, maxBufferedBytes: 4 << 20, idleTimeoutMs: 30000, maxSeconds: 600 });
  assert.throws(() => reply.streamOpen(b.subarray(0, 15)), /too short/);
  assert.throws(() => reply.streamOpen(Buffer.concat([b, Buffer.alloc(1)])), /after its end/);
});

test('STREAM_PUSH reply: the pages, none, or a lie about their length', () => {
  const pages = Buffer.from('OggS....');
  const b = Buffer.concat([Buffer.from([8, 0, 0, 0]), pages]);
  assert.ok(reply.streamPages(b).equals(pages));
  assert.equal(reply.streamPages(Buffer.alloc(4)).length, 0);
  assert.throws(() => reply.streamPages(Buffer.from([9, 0, 0, 0, ...pages])), /too short/);
  assert.throws(() => reply.streamPages(Buffer.from([0xff, 0xff, 0xff, 0xff])), /too short/);
  assert.throws(() => reply.streamPages(Buffer.concat([b, Buffer.from([0])])), /after its end/);
  assert.throws(() => reply.streamPages(Buffer.alloc(3)), /too short/);
});

function finishBody(pages, samples, cached, note) {
  const n = Buffer.from(note);
  const b = Buffer.alloc(4 + pages.length + 8 + 1 + 4 + n.length);
  b.writeUInt32LE(pages.length, 0);
  pages.copy(b, 4);
  b.writeBigUInt64LE(BigInt(samples), 4 + pages.length);
  b.writeUInt8(cached, 12 + pages.length);
  b.writeUInt32LE(n.length, 13 + pages.length);
  n.copy(b, 17 + pages.length);
  return b;
}

test('STREAM_FINISH reply: pages, samples_48k, cached and note', () => {
  const pages = Buffer.from('OggS-last');
  assert.deepEqual(reply.streamFinish(finishBody(pages, 48000, 1, '')),
    { pages, samples48k: 48000, cached: 'stored', note: '' });
  assert.equal(reply.streamFinish(finishBody(pages, 1, 0, '')).cached, 'not-asked');
  const notStored = reply.streamFinish(finishBody(Buffer.alloc(0), 2, 2, 'over max_bytes'));
  assert.deepEqual([notStored.cached, notStored.note], ['not-stored', 'over max_bytes']);
  assert.throws(() => reply.streamFinish(finishBody(pages, 1, 3, '')), /cached = 3/);
  const whole = finishBody(pages, 1, 1, 'x');
  assert.throws(() => reply.streamFinish(whole.subarray(0, whole.length - 1)), /too short/);
  assert.throws(() => reply.streamFinish(Buffer.concat([whole, Buffer.alloc(2)])), /after its end/);
});

test('STATS flags: the request byte, and what the reply appends for them', () => {
  assert.equal(body.stats().length, 0);
  assert.equal(hex(body.stats(StatsFlag.STREAMS)), '02');
  assert.equal(hex(body.stats(StatsFlag.LIMITS | StatsFlag.STREAMS)), '03');
  const counters = Buffer.alloc(4 + 6 * 8);  // no engines, six counters
  const u64s = (...v) => Buffer.concat(v.map((x) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(x)); return b; }));
  assert.equal(reply.stats(counters, 2).streams, undefined, 'a daemon that predates the flag sends nothing');
  assert.deepEqual(reply.stats(Buffer.concat([counters, u64s(1, 5, 2, 3)]), 2).streams,
    { open: 1, opened: 5, stored: 2, failed: 3 });
  const both = reply.stats(Buffer.concat([counters, u64s(100, 0), u64s(0, 9, 4, 5)]), 3);
  assert.deepEqual(both.limits, { maxEntries: 100, maxBytes: 0 });
  assert.deepEqual(both.streams, { open: 0, opened: 9, stored: 4, failed: 5 });
  assert.throws(() => reply.stats(Buffer.concat([counters, u64s(1)]), 2), /too short/);
});
