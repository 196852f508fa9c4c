// The ttscache wire protocol, version 1 (docs/protocol.md), for Node: frame
// headers, request bodies and reply bodies as Buffers. Inline audio only —
// Node cannot pass file descriptors over a Unix socket. Pure functions, no I/O.

export const HEADER_BYTES = 24;
export const MAGIC = 0x43535454; // "TTSC" little-endian
export const VERSION = 1;
export const MAX_FRAME_BODY = 64 * 1024 * 1024;

export const Op = Object.freeze({
  HELLO: 0x01, PING: 0x02, GET: 0x03, PUT: 0x04, ENCODE: 0x05, PUT_ENCODE: 0x06, STATS: 0x07,
  STREAM_OPEN: 0x0b, STREAM_PUSH: 0x0c, STREAM_FINISH: 0x0d, STREAM_ABORT: 0x0e,
  DELETE: 0x0f, PURGE: 0x10, LIST: 0x11, VERIFY: 0x12,
  CLAIM_DROP: 0x13, SLOT_ACQUIRE: 0x14, SLOT_RELEASE: 0x15,
  ERROR: 0x7f, REPLY: 0x80,
});

// Error codes of ERROR replies, by number and by the name TtscacheError.code carries.
export const ErrorName = Object.freeze({
  1: 'not_found', 2: 'bad_request', 3: 'bad_audio', 4: 'unknown_engine', 5: 'too_large',
  6: 'busy', 7: 'forbidden', 8: 'internal', 9: 'buffer_too_small',
});

// STATS request flags: what the reply appends after the counters, in this order.
export const StatsFlag = Object.freeze({ LIMITS: 1, STREAMS: 2, DETAIL: 4, COORDINATE: 8, TIER: 16 });

// Bounds of the operating replies (docs/protocol.md): a reply claiming more
// is refused before anything is allocated for it.
export const MAX_LIST_ENTRIES = 1024;
export const MAX_VERIFY_PROBLEMS = 1000;
export const MAX_ENGINE_FIELD = 128;
// Coordination (docs/protocol.md, "Coordinating synthesis"): a connection's
// requests waiting for a claim or a slot (ipc::kMaxParkedPerConnection), and
// the slots a STATS reply may list before it is taken for a lie (every engine
// and every configured slot: far fewer in any real configuration).
export const MAX_PARKED_PER_CONNECTION = 1024;
export const MAX_STATS_SLOTS = 4096;
// What no daemon sends for a slot in STATS (docs/protocol.md): a size over
// 1,024, more than 2^24 holders or 1,000,000 waiting.
const MAX_SLOT_SIZE = 1024;
const MAX_SLOT_HELD = 2 ** 24;
const MAX_SLOT_WAITING = 1_000_000;
// Waits are u32 milliseconds on the wire.
export const MAX_WAIT_MS = 2 ** 32 - 1;
// An audio reply's place: 0 inline (the only one this client asks for), 3 claimed.
const PLACE_INLINE = 0;
const PLACE_CLAIMED = 3;
// The encode duration histogram's bucket bounds, in µs (STATS detail).
export const ENCODE_BUCKET_BOUNDS_US = Object.freeze([
  1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1000000, 2000000, 5000000]);
export const VerifyVerdict = Object.freeze({ 0: 'clean', 1: 'repaired', 2: 'damaged' });
const VBR_NAME = ['on', 'off', 'constrained'];
const APPLICATION_NAME = ['voip', 'audio', 'lowdelay'];

// "engine" or "engine/voice" (the wire's engine field); a voice that is not
// [A-Za-z0-9][A-Za-z0-9._-]{0,63} is a RangeError before anything is sent.
export function engineField(engine, voice) {
  if (voice === undefined || voice === null || voice === '') return String(engine);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(voice)) {
    throw new RangeError(`voice ${JSON.stringify(voice)}: expected [A-Za-z0-9][A-Za-z0-9._-]{0,63}`);
  }
  if (String(engine).includes('/')) throw new RangeError(`engine ${engine} already names a voice`);
  return `${engine}/${voice}`;
}

function u64(value, what) {
  const v = BigInt(value ?? 0);
  if (v < 0n || v >= 1n << 64n) throw new RangeError(`${what} ${value}: expected 0 to 2^64-1`);
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}

// STREAM_OPEN's input and sample_format fields, by the names encodeStream takes.
export const StreamInput = Object.freeze({ raw: 0, wav: 1 });
export const SampleFormat = Object.freeze({ u8: 0, s16le: 1, s24le: 2, s32le: 3, f32le: 4, f64le: 5 });
// STREAM_FINISH's `cached` byte.
export const StreamCached = Object.freeze({ 0: 'not-asked', 1: 'stored', 2: 'not-stored' });

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
  // A GET with the claim block: on a miss, claim it or wait up to waitMs for
  // another client's put. `known` precedes it (zeros: inline, nothing mapped).
  getOrClaim(engine, text, format, options, waitMs) {
    const claim = Buffer.alloc(16 + 8);
    claim.writeUInt8(1, 16);
    claim.writeUInt32LE(waitMs, 20);
    return Buffer.concat([body.get(engine, text, format, options), claim]);
  },
  claimDrop: (engine, text) => Buffer.concat([...string(engine), ...string(text)]),
  slotAcquire(name, waitMs) {
    const wait = Buffer.alloc(4);
    wait.writeUInt32LE(waitMs);
    return Buffer.concat([...string(name), wait]);
  },
  slotRelease: (hold) => u64(hold, 'hold'),
  put: (engine, text, wav) => Buffer.concat([...string(engine), ...string(text), ...inlineAudio(wav)]),
  encode: (wav, options) => Buffer.concat([opusField(options), ...inlineAudio(wav), INLINE_OUTPUT]),
  putEncode: (engine, text, wav, options) => Buffer.concat([
    ...string(engine), ...string(text), opusField(options), ...inlineAudio(wav), INLINE_OUTPUT]),
  stats: (flags = 0) => (flags ? Buffer.from([flags]) : Buffer.alloc(0)),
  // open: {input: 'raw'|'wav', sampleFormat, channels, rate, engine, text, ...opus}; a WAV names
  // no format (its header does), so the three format fields are then 0. Throws RangeError on a
  // value the daemon would refuse, before anything is sent.
  streamOpen(options = {}) {
    const input = StreamInput[options.input ?? 'raw'];
    if (input === undefined) throw new RangeError(`input ${options.input}: expected raw or wav`);
    const head = Buffer.alloc(8);
    head.writeUInt8(input, 0);
    if (input === StreamInput.raw) {
      const format = SampleFormat[options.sampleFormat ?? 's16le'];
      const channels = options.channels ?? 1;
      const rate = options.rate;
      if (format === undefined) {
        throw new RangeError(`sampleFormat ${options.sampleFormat}: expected u8, s16le, s24le, s32le, f32le or f64le`);
      }
      if (channels !== 1 && channels !== 2) throw new RangeError(`channels ${channels}: expected 1 or 2`);
      if (!Number.isInteger(rate) || rate < 8000 || rate > 192000) {
        throw new RangeError(`rate ${rate}: raw input needs its sample rate, 8000–192000 Hz`);
      }
      head.writeUInt8(format, 1);
      head.writeUInt8(channels, 2);
      head.writeUInt32LE(rate, 4);
    }
    const engine = options.engine ?? '';
    const text = options.text ?? '';
    if ((engine === '') !== (text === '')) {
      throw new RangeError('engine and text: give both (the finished stream is cached) or neither');
    }
    return Buffer.concat([head, opusField(options), ...string(engine), ...string(text)]);
  },
  // DELETE by text (a string) or by key (32 bytes: a Buffer, or 64 hex digits).
  deleteText: (engine, text) => Buffer.concat([...string(engine), Buffer.from([0]), ...string(text)]),
  deleteKey(engine, key) {
    const raw = typeof key === 'string' && /^[0-9a-fA-F]{64}$/.test(key) ? Buffer.from(key, 'hex') : key;
    if (!Buffer.isBuffer(raw) && !(raw instanceof Uint8Array)) throw new RangeError('key: expected 32 bytes or 64 hex digits');
    if (raw.length !== 32) throw new RangeError(`key of ${raw.length} bytes: expected 32`);
    return Buffer.concat([...string(engine), Buffer.from([1]), Buffer.from(raw)]);
  },
  purge: (engine) => Buffer.concat(string(engine)),
  // filter: {cursor (bigint), maxEntries 1–1024, engine, minIdleS, maxIdleS, minBytes, maxBytes}
  list(filter = {}) {
    const maxEntries = filter.maxEntries ?? MAX_LIST_ENTRIES;
    if (!Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > MAX_LIST_ENTRIES) {
      throw new RangeError(`maxEntries ${maxEntries}: expected 1 to ${MAX_LIST_ENTRIES}`);
    }
    const n = Buffer.alloc(4);
    n.writeUInt32LE(maxEntries);
    return Buffer.concat([u64(filter.cursor, 'cursor'), n, ...string(filter.engine ?? ''),
      u64(filter.minIdleS, 'minIdleS'), u64(filter.maxIdleS, 'maxIdleS'),
      u64(filter.minBytes, 'minBytes'), u64(filter.maxBytes, 'maxBytes')]);
  },
  verify: (repair) => Buffer.from([repair ? 1 : 0]),
  streamPush: (stream, chunk) => Buffer.concat([streamId(stream), ...inlineAudio(chunk)]),
  streamId,  // FINISH and ABORT name the stream only
};

function streamId(stream) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(stream);
  return b;
}

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
  big64(what) { return this.buf.readBigUInt64LE(this.need(8, what)); }
  bytes(n, what) { const at = this.need(n, what); return this.buf.subarray(at, at + n); }
  string(what) { return this.bytes(this.u32(what), what).toString('utf8'); }
  left() { return this.buf.length - this.at; }
  // The body ends here: trailing bytes mean the peer and we disagree on the layout.
  done(what) {
    if (this.at !== this.buf.length) throw new Error(`${what}: ${this.buf.length - this.at} bytes after its end`);
  }
}

// STATS flag 8: claims since start and now, then every slot.
function coordination(r) {
  const c = { claims: r.u64('claims'), claimWaits: r.u64('claim_waits'), waitsServed: r.u64('waits_served'),
    waitTimeouts: r.u64('wait_timeouts'), leaseExpiries: r.u64('lease_expiries'), takeovers: r.u64('takeovers'),
    claimsRefused: r.u64('claims_refused'), claimsOpen: r.u64('claims_open'), waiting: r.u64('waiting'), slots: {} };
  const count = r.u32('slot_count');
  if (count > MAX_STATS_SLOTS) throw new Error(`STATS coordination: ${count} slots, at most ${MAX_STATS_SLOTS}`);
  for (let i = 0; i < count; i++) {
    const name = r.string('slot name');
    // An engine's or a configured slot's name; the pattern also keeps names such as __proto__ out of the object.
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new Error(`STATS coordination: slot name ${JSON.stringify(name.slice(0, 40))}`);
    if (Object.hasOwn(c.slots, name)) throw new Error(`STATS coordination: slot ${name} listed twice`);
    const slot = { size: r.u32('size'), held: r.u32('held'), waiting: r.u32('waiting'), acquired: r.u64('acquired'),
      waited: r.u64('waited'), timeouts: r.u64('timeouts'), waitUs: r.u64('wait_us') };
    if (slot.size > MAX_SLOT_SIZE || slot.held > MAX_SLOT_HELD || slot.waiting > MAX_SLOT_WAITING) {
      throw new Error(`STATS coordination: slot ${name} of size ${slot.size}, ${slot.held} held, ${slot.waiting} waiting`);
    }
    c.slots[name] = slot;
  }
  return c;
}

// STATS flag 16: the fleet tier (docs/fleet.md). Refused: what no daemon
// sends — an unknown state, the reserved u16 not 0, figures from a tier not
// enabled, a queue deeper than its size, an enabled tier without servers or
// with more than [tier] allows (64 servers, queue_size 1,000,000).
const TIER_STATES = ['up', 'down', 'probing'];
const TIER_COUNTERS = [['lookups', 'lookups'], ['coalesced', 'coalesced'], ['hits', 'hits'],
  ['variantHits', 'variant_hits'], ['misses', 'misses'], ['errors', 'errors'], ['timeouts', 'timeouts'],
  ['corrupt', 'corrupt'], ['skipped', 'skipped'], ['writes', 'writes'], ['writeErrors', 'write_errors'],
  ['dropped', 'dropped'], ['oversized', 'oversized'], ['queueDepth', 'queue_depth'],
  ['queueCapacity', 'queue_capacity'], ['breakerOpens', 'breaker_opens'], ['lookupUs', 'lookup_us']];
const MAX_TIER_SERVERS = 64;
const MAX_TIER_QUEUE = 1000000;
function tier(r) {
  const enabled = r.u8('tier enabled');
  const state = r.u8('tier state');
  const reserved = r.u16('tier reserved');
  const t = { enabled: enabled === 1, state: TIER_STATES[state], servers: r.u32('tier servers') };
  for (const [field, name] of TIER_COUNTERS) t[field] = r.u64(`tier ${name}`);
  if (enabled > 1) throw new Error(`STATS tier: enabled = ${enabled}, expected 0 or 1`);
  if (state > 2) throw new Error(`STATS tier: state = ${state}, expected 0 up, 1 down or 2 probing`);
  if (reserved !== 0) throw new Error(`STATS tier: reserved u16 = ${reserved}, expected 0`);
  if (!t.enabled && (state !== 0 || t.servers !== 0 || TIER_COUNTERS.some(([field]) => t[field] !== 0))) {
    throw new Error('STATS tier: not enabled but with figures (every field must be 0)');
  }
  if (t.queueDepth > t.queueCapacity) {
    throw new Error(`STATS tier: queue_depth ${t.queueDepth} over its queue_capacity ${t.queueCapacity}`);
  }
  if (t.enabled && (t.servers === 0 || t.servers > MAX_TIER_SERVERS)) {
    throw new Error(`STATS tier: enabled with ${t.servers} servers (1 to ${MAX_TIER_SERVERS})`);
  }
  if (t.enabled && (t.queueCapacity === 0 || t.queueCapacity > MAX_TIER_QUEUE)) {
    throw new Error(`STATS tier: enabled with a queue_capacity of ${t.queueCapacity} (1 to ${MAX_TIER_QUEUE})`);
  }
  t.hitRatio = t.lookups ? t.hits / t.lookups : 0;
  return t;
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
    if (place !== PLACE_INLINE) throw new Error(`audio reply in place ${place}; this client asks for inline audio only`);
    return r.bytes(size, 'audio');
  },
  // A claim GET's reply: {audio, claimed: false, leaseMs: 0} on a hit, or
  // {audio: null, claimed: true, leaseMs} when the miss is this client's to
  // fill. A claimed reply must carry no audio and a lease: a daemon that
  // says otherwise is not believed.
  claimedAudio(buf) {
    const r = new Reader(buf);
    const place = r.u8('place');
    const size = r.u64('size');
    if (place === PLACE_CLAIMED) {
      if (size !== 0) throw new Error(`claimed GET reply with size ${size}, expected 0`);
      const leaseMs = r.u32('lease_ms');
      if (leaseMs === 0) throw new Error('claimed GET reply with a lease of 0 ms');
      r.done('claimed GET reply');
      return { audio: null, claimed: true, leaseMs };
    }
    if (place !== PLACE_INLINE) throw new Error(`audio reply in place ${place}; this client asks for inline audio only`);
    return { audio: r.bytes(size, 'audio'), claimed: false, leaseMs: 0 };
  },
  claimDrop(buf) {
    const r = new Reader(buf);
    const dropped = r.u8('dropped');
    if (dropped > 1) throw new Error(`CLAIM_DROP reply: dropped = ${dropped}`);
    r.done('CLAIM_DROP reply');
    return dropped === 1;
  },
  // → {hold (bigint, never 0n), size (0: no limit), held (≥ 1: this one included)}.
  // held may exceed size after a reload made the slot smaller (holders keep theirs).
  slotAcquire(buf) {
    const r = new Reader(buf);
    const result = { hold: r.big64('hold'), size: r.u32('size'), held: r.u32('held') };
    r.done('SLOT_ACQUIRE reply');
    if (result.hold === 0n) throw new Error('SLOT_ACQUIRE reply: hold 0');
    if (result.held === 0) throw new Error('SLOT_ACQUIRE reply: held 0, this hold not counted');
    return result;
  },
  slotRelease(buf) {
    new Reader(buf).done('SLOT_RELEASE reply');
  },
  // asked: the request's flags. What they ask for follows the counters; a
  // daemon that predates a flag sends nothing for it (the field is then absent).
  stats(buf, asked = 0) {
    const r = new Reader(buf);
    const engines = {};
    for (let n = r.u32('engine_count'); n > 0; n--) {
      const name = r.string('engine name');
      engines[name] = { entries: r.u64('entries'), bytes: r.u64('bytes'), hits: r.u64('hits'),
        misses: r.u64('misses'), puts: r.u64('puts'), evictions: r.u64('evictions'),
        variantHits: r.u64('variant_hits'), variantMisses: r.u64('variant_misses') };
    }
    const stats = { engines, connections: r.u64('connections'), requests: r.u64('requests'), busy: r.u64('busy'),
      errors: r.u64('errors'), encodes: r.u64('encodes'), sharedEncodes: r.u64('shared_encodes') };
    if ((asked & StatsFlag.LIMITS) && r.left() > 0) {
      stats.limits = { maxEntries: r.u64('max_entries'), maxBytes: r.u64('max_bytes') };
    }
    if ((asked & StatsFlag.STREAMS) && r.left() > 0) {
      stats.streams = { open: r.u64('streams_open'), opened: r.u64('streams_opened'),
        stored: r.u64('streams_stored'), failed: r.u64('streams_failed') };
    }
    if ((asked & StatsFlag.DETAIL) && r.left() > 0) {
      const d = { diskFreeBytes: r.u64('disk_free_bytes'), diskTotalBytes: r.u64('disk_total_bytes'),
        minFreeBytes: r.u64('min_free_bytes'), maxAgeS: r.u64('max_age_s'), expired: r.u64('expired'),
        evictedForSpace: r.u64('evicted_for_space'), deleted: r.u64('deleted'), purged: r.u64('purged') };
      const names = Object.keys(engines);
      const count = r.u32('engine_count');
      if (count !== names.length) throw new Error(`STATS detail: ${count} engines, the counters had ${names.length}`);
      for (const name of names) {
        const oldest = r.u64('oldest_access_ns');
        engines[name].oldestAccessNs = oldest;
      }
      Object.assign(d, { queueDepth: r.u64('queue_depth'), queueCapacity: r.u64('queue_capacity'),
        connectionsOpen: r.u64('connections_open'), forbidden: r.u64('forbidden') });
      const buckets = r.u32('histogram bucket count');
      if (buckets !== ENCODE_BUCKET_BOUNDS_US.length) throw new Error(`STATS detail: ${buckets} histogram buckets, expected 12`);
      const counts = ENCODE_BUCKET_BOUNDS_US.map(() => r.u64('encode bucket'));
      d.encodeDurations = { boundsUs: [...ENCODE_BUCKET_BOUNDS_US], counts, count: r.u64('encode_count'),
        sumUs: r.u64('encode_sum_us') };
      stats.detail = d;
    }
    if ((asked & StatsFlag.COORDINATE) && r.left() > 0) {
      stats.coordination = coordination(r);
    }
    if ((asked & StatsFlag.TIER) && r.left() > 0) {
      stats.tier = tier(r);
    }
    // After the last block read, nothing may follow.
    if (stats.coordination || stats.tier) r.done('STATS reply');
    return stats;
  },
  delete(buf) {
    const r = new Reader(buf);
    const deleted = r.u8('deleted');
    const result = { deleted: deleted === 1, bytes: r.u64('bytes'), variants: r.u32('variants') };
    if (deleted > 1) throw new Error(`DELETE reply: deleted = ${deleted}`);
    r.done('DELETE reply');
    return result;
  },
  purge(buf) {
    const r = new Reader(buf);
    const result = { entries: r.u64('entries'), bytes: r.u64('bytes') };
    r.done('PURGE reply');
    return result;
  },
  // A LIST page: {entries, nextCursor (bigint; 0n: the end)}.
  list(buf) {
    const r = new Reader(buf);
    const nextCursor = r.big64('next_cursor');
    const count = r.u32('count');
    if (count > MAX_LIST_ENTRIES) throw new Error(`LIST reply: ${count} entries, at most ${MAX_LIST_ENTRIES}`);
    const entries = [];
    for (let i = 0; i < count; i++) {
      const field = r.string('engine');
      if (field.length > MAX_ENGINE_FIELD) throw new Error('LIST reply: engine field too long');
      const slash = field.indexOf('/');
      const e = { engine: slash < 0 ? field : field.slice(0, slash), voice: slash < 0 ? null : field.slice(slash + 1),
        key: r.bytes(32, 'key').toString('hex'), wavBytes: r.u64('wav_bytes'), totalBytes: r.u64('total_bytes'),
        lastAccessNs: r.big64('last_access_ns'), variants: [] };
      const variants = r.u8('variant_count');
      if (variants > 16) throw new Error(`LIST reply: ${variants} variants`);
      for (let v = 0; v < variants; v++) {
        const o = r.bytes(12, 'opus');
        e.variants.push({ bitrate: o.readUInt16LE(0), vbr: VBR_NAME[o[2]] ?? `vbr_${o[2]}`,
          application: APPLICATION_NAME[o[3]] ?? `application_${o[3]}`, complexity: o[4],
          frameMs: o.readUInt32LE(8) / 1000, bytes: r.u64('variant bytes') });
      }
      entries.push(e);
    }
    r.done('LIST reply');
    return { entries, nextCursor };
  },
  verify(buf) {
    const r = new Reader(buf);
    const verdictByte = r.u8('verdict');
    const verdict = VerifyVerdict[verdictByte];
    if (verdict === undefined) throw new Error(`VERIFY reply: verdict ${verdictByte}`);
    const result = { verdict, entriesChecked: r.u64('entries_checked'), filesChecked: r.u64('files_checked'),
      problemsTotal: r.u64('problems_total'), problems: [] };
    const count = r.u32('count');
    if (count > MAX_VERIFY_PROBLEMS) throw new Error(`VERIFY reply: ${count} problems, at most ${MAX_VERIFY_PROBLEMS}`);
    for (let i = 0; i < count; i++) {
      result.problems.push({ kind: r.string('kind'), path: r.string('path'), detail: r.string('detail'),
        repaired: r.u8('repaired') === 1 });
    }
    r.done('VERIFY reply');
    return result;
  },
  streamOpen(buf) {
    const r = new Reader(buf);
    const open = { stream: r.u32('stream'), maxBufferedBytes: r.u32('max_buffered_bytes'),
      idleTimeoutMs: r.u32('idle_timeout_ms'), maxSeconds: r.u32('max_seconds') };
    r.done('STREAM_OPEN reply');
    return open;
  },
  // A PUSH reply: the Ogg pages this chunk completed (often none).
  streamPages(buf) {
    const r = new Reader(buf);
    const pages = r.bytes(r.u32('pages length'), 'pages');
    r.done('STREAM_PUSH reply');
    return pages;
  },
  streamFinish(buf) {
    const r = new Reader(buf);
    const pages = r.bytes(r.u32('pages length'), 'pages');
    const samples48k = r.u64('samples_48k');
    const cachedByte = r.u8('cached');
    const cached = StreamCached[cachedByte];
    if (cached === undefined) throw new Error(`STREAM_FINISH reply: cached = ${cachedByte}, expected 0, 1 or 2`);
    const note = r.string('note');
    r.done('STREAM_FINISH reply');
    return { pages, samples48k, cached, note };
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
