// The ttscache wire protocol, version 1 (docs/protocol.md), for Node: frame
// headers, request bodies and reply bodies as Buffers. Inline audio only —
// Node cannot pass file descriptors over a Unix socket. Pure functions, no I/O.

export const HEADER_BYTES = 24;
export const MAGIC = 0x43535454; // "TTSC" little-endian
export const VERSION = 1;
export const MAX_FRAME_BODY = 64 * 1024 * 1024;

export const Op = Object.freeze({
  HELLO: 0x01, PING: 0x02, GET: 0x03, PUT: 0x04, ENCODE: 0x05, PUT_ENCODE: 0x06, STATS: 0x07,
  ERROR: 0x7f, REPLY: 0x80,
});

// Error codes of ERROR replies, by number and by the name TtscacheError.code carries.
export const ErrorName = Object.freeze({
  1: 'not_found', 2: 'bad_request', 3: 'bad_audio', 4: 'unknown_engine', 5: 'too_large',
  6: 'busy', 7: 'forbidden', 8: 'internal', 9: 'buffer_too_small',
});

const VBR = { on: 0, off: 1, constrained: 2 };
const APPLICATION = { voip: 0, audio: 1, lowdelay: 2 };

export function encodeHeader(opcode, id, bodyLength) {
  const h = Buffer.alloc(HEADER_BYTES);
  h.writeUInt32LE(MAGIC, 0);
  h.writeUInt8(VERSION, 4);
  h.writeUInt8(opcode, 5);
  h.writeUInt16LE(0, 6);
  h.writeBigUInt64LE(BigInt(id), 8);
  h.writeUInt32LE(bodyLength, 16);
  return h;
}

// → {opcode, flags, id, bodyLength}, or throws on a header that is not ours.
// maxBody: the largest body to accept — the peer's HELLO may say less than the
// protocol's 64 MiB, and a length over it is a lie we must not wait for.
export function decodeHeader(buf, maxBody = MAX_FRAME_BODY) {
  const magic = buf.readUInt32LE(0);
  if (magic !== MAGIC) throw new Error(`bad frame magic 0x${magic.toString(16)}, expected 0x43535454`);
  const version = buf.readUInt8(4);
  if (version !== VERSION) throw new Error(`frame version ${version}, expected ${VERSION}`);
  const bodyLength = buf.readUInt32LE(16);
  if (bodyLength > maxBody) throw new Error(`frame body of ${bodyLength} bytes, over the limit of ${maxBody}`);
  return { opcode: buf.readUInt8(5), flags: buf.readUInt16LE(6), id: buf.readBigUInt64LE(8), bodyLength };
}

function string(s) {
  const bytes = Buffer.isBuffer(s) ? s : Buffer.from(String(s), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(bytes.length);
  return [len, bytes];
}

// Opus options → the 12-byte `opus` field. No bitrate: the daemon's settings.
export function opusField(options = {}) {
  const o = Buffer.alloc(12);
  const bitrate = options.bitrate ?? 0;
  const vbr = VBR[options.vbr ?? 'on'];
  const application = APPLICATION[options.application ?? 'voip'];
  if (!Number.isInteger(bitrate) || bitrate < 0 || bitrate > 510) throw new RangeError(`bitrate ${bitrate}: expected 6–510 kb/s (0: the daemon's)`);
  if (vbr === undefined) throw new RangeError(`vbr ${options.vbr}: expected on, off or constrained`);
  if (application === undefined) throw new RangeError(`application ${options.application}: expected voip, audio or lowdelay`);
  o.writeUInt16LE(bitrate, 0);
  o.writeUInt8(vbr, 2);
  o.writeUInt8(application, 3);
  o.writeUInt8(options.complexity ?? 10, 4);
  o.writeUInt32LE(Math.round((options.frameMs ?? 20) * 1000), 8);
  return o;
}

function inlineAudio(wav) {
  const head = Buffer.alloc(5);
  head.writeUInt8(0, 0);
  head.writeUInt32LE(wav.length, 1);
  return [head, wav];
}

const INLINE_OUTPUT = Buffer.from([0]);

export const body = {
  hello: () => Buffer.from([VERSION, 0, VERSION, 0]),
  empty: () => Buffer.alloc(0),
  get: (engine, text, format, options) => Buffer.concat([
    ...string(engine), ...string(text), Buffer.from([format === 'opus' ? 1 : 0]), opusField(options),
    Buffer.from([0]) /* delivery inline */]),
  put: (engine, text, wav) => Buffer.concat([...string(engine), ...string(text), ...inlineAudio(wav)]),
  encode: (wav, options) => Buffer.concat([opusField(options), ...inlineAudio(wav), INLINE_OUTPUT]),
  putEncode: (engine, text, wav, options) => Buffer.concat([
    ...string(engine), ...string(text), opusField(options), ...inlineAudio(wav), INLINE_OUTPUT]),
};

// A bounds-checked reader over a reply body: a short body throws, never reads past the end.
class Reader {
  constructor(buf) { this.buf = buf; this.at = 0; }
  need(n, what) {
    if (this.at + n > this.buf.length) throw new Error(`reply too short for ${what}: ${this.buf.length} bytes`);
    const at = this.at;
    this.at += n;
    return at;
  }
  u8(what) { return this.buf.readUInt8(this.need(1, what)); }
  u16(what) { return this.buf.readUInt16LE(this.need(2, what)); }
  u32(what) { return this.buf.readUInt32LE(this.need(4, what)); }
  u64(what) { return Number(this.buf.readBigUInt64LE(this.need(8, what))); }
  bytes(n, what) { const at = this.need(n, what); return this.buf.subarray(at, at + n); }
  string(what) { return this.bytes(this.u32(what), what).toString('utf8'); }
}

export const reply = {
  hello(buf) {
    const r = new Reader(buf);
    const version = r.u16('version');
    r.u16('reserved');
    return { version, maxFrameBody: r.u32('max_frame_body'), maxTextBytes: r.u32('max_text_bytes'),
      maxInflight: r.u32('max_inflight'), maxArenaBytes: r.u64('max_arena_bytes') };
  },
  audio(buf) {
    const r = new Reader(buf);
    const place = r.u8('place');
    const size = r.u64('size');
    if (place !== 0) throw new Error(`audio reply in place ${place}; this client asks for inline audio only`);
    return r.bytes(size, 'audio');
  },
  stats(buf) {
    const r = new Reader(buf);
    const engines = {};
    for (let n = r.u32('engine_count'); n > 0; n--) {
      const name = r.string('engine name');
      engines[name] = { entries: r.u64('entries'), bytes: r.u64('bytes'), hits: r.u64('hits'),
        misses: r.u64('misses'), puts: r.u64('puts'), evictions: r.u64('evictions'),
        variantHits: r.u64('variant_hits'), variantMisses: r.u64('variant_misses') };
    }
    return { engines, connections: r.u64('connections'), requests: r.u64('requests'), busy: r.u64('busy'),
      errors: r.u64('errors'), encodes: r.u64('encodes'), sharedEncodes: r.u64('shared_encodes') };
  },
  error(buf) {
    const r = new Reader(buf);
    const code = r.u16('code');
    r.u16('reserved');
    const retryAfterMs = r.u32('retry_after_ms');
    const needed = r.u64('needed');
    return { code, name: ErrorName[code] ?? `error_${code}`, retryAfterMs, needed, message: r.string('message') };
  },
};
