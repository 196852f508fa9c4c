// The Node.js client of ttscached: one Unix-socket connection, requests
// pipelined and matched to replies by id, a timeout per request, and a
// reconnect when the daemon restarts (requests in flight are sent again once
// on the new connection — every operation is idempotent, except an encode
// stream's, which lives and dies with its connection: encode-stream.js).
// Inline audio only. docs/clients.md shows it in use; docs/protocol.md is the
// wire format.
//
// Coordination (docs/protocol.md, "Coordinating synthesis"): getOrClaim and
// acquireSlot may wait in the daemon for another client's put or for a slot.
// The daemon does not count such a parked request among the connection's 64
// in flight, so neither does this client: they are sent while fewer than 64
// ordinary requests are in flight, up to 1,024 of them at once, and a long
// wait never holds a plain get back. Claims and holds belong to the
// connection: a reconnect gives them up (the daemon passes the claims on and
// frees the slots), and a reply that comes after its call timed out is given
// back (a late claim dropped, a late hold released) so nothing stays taken
// for a caller that left. A wait must not hide a hung daemon: when a request
// that may park is not answered within a fifth of timeoutMs and nothing else
// came from the daemon meanwhile, a PING goes (then again every timeoutMs of
// silence while requests are parked); a PING not answered within timeoutMs
// fails the parked requests with 'timeout' — about what a plain get would
// have cost on a hung daemon, not their whole wait.
import net from 'node:net';
import { Op, StatsFlag, HEADER_BYTES, MAX_FRAME_BODY, MAX_PARKED_PER_CONNECTION, MAX_WAIT_MS, encodeHeader, decodeHeader, body,
  reply, engineField } from './protocol.js';
import { EncodeStream } from './encode-stream.js';

export const DEFAULT_SOCKET = '/run/ttscache/ttscached.sock';
export const OPUS_CONTENT_TYPE = 'audio/ogg; codecs=opus';

// The protocol's in-flight limit per connection (docs/protocol.md). A HELLO
// may lower it; one claiming more (or 0) is not believed: the client would
// otherwise write every request it has at once.
const MAX_INFLIGHT = 64;
// Bytes of requests a client holds unsent (queued, or written but not yet
// taken by the daemon) before it refuses new ones: a daemon that accepts and
// never reads must not make the process keep every request it is given.
const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
// How long getOrClaim waits for another client's synthesis, and acquireSlot
// for a slot, unless told (the daemon cuts either to its max_wait_s).
const DEFAULT_CLAIM_WAIT_MS = 30_000;
const DEFAULT_SLOT_WAIT_MS = 60_000;
// Calls that timed out whose late reply must be given back (a claim, a hold),
// remembered per connection; beyond this many the oldest is forgotten.
const MAX_ABANDONED = 1024;
// Where a SlotHold remembers its connection (not enumerable: not part of its value).
const HOLD_CONNECTION = Symbol('ttscache.holdConnection');

function waitMsOf(waitMs, what) {
  if (!Number.isInteger(waitMs) || waitMs < 0 || waitMs > MAX_WAIT_MS) {
    throw new RangeError(`${what} ${waitMs}: expected an integer from 0 to ${MAX_WAIT_MS} ms`);
  }
  return waitMs;
}

// An error from the daemon (code: not_found, bad_audio, unknown_engine, busy, …)
// or from the connection (code: unavailable, timeout, closed, protocol), or
// refused in this process before anything was sent (code: too_large, a body
// over the frame limit; overloaded, too many bytes already queued) — those
// carry local: true.
export class TtscacheError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'TtscacheError';
    this.code = code;
    Object.assign(this, extra);
  }
}

export class Client {
  // options: socketPath (default $TTSCACHE_SOCKET, else /run/ttscache/ttscached.sock),
  // timeoutMs per request (default 10000), connectTimeoutMs (default 2000),
  // maxQueuedBytes of requests not yet taken by the daemon (default 64 MiB).
  // The process stays alive only while a request is in flight: an idle
  // client, or one whose requests all timed out, does not hold it open.
  constructor(options = {}) {
    this.socketPath = options.socketPath || process.env.TTSCACHE_SOCKET || DEFAULT_SOCKET;
    this.timeoutMs = options.timeoutMs ?? 10000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 2000;
    this.nextId = 1n;
    this.pending = new Map();   // id → request awaiting its reply
    this.parkable = new Set();  // those of them that may wait in the daemon (not counted in flight there)
    this.abandoned = new Map(); // id → ({opcode, body, connection}) => void: gives back a late claim or hold
    this.holds = new Map();     // hold → connection it was granted on (this connection's holds)
    this.waiting = [];          // requests not yet sent (over the in-flight cap, or not connected)
    this.waitingBytes = 0;      // bodies in `waiting`
    this.maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.maxInflight = MAX_INFLIGHT;     // until HELLO says otherwise
    this.maxFrameBody = MAX_FRAME_BODY;  // likewise
    this.socket = null;
    this.connecting = null;
    this.connection = 0;        // counts connections made: an encode stream belongs to one
    this.closed = false;
    this.#resetInbox();
  }

  // Every call takes an optional `timeoutMs` (in its options) for this call
  // alone, e.g. a larger one for an encode of long audio.
  ping({ timeoutMs } = {}) { return this.#call(Op.PING, body.empty(), timeoutMs, () => undefined); }
  hello({ timeoutMs } = {}) { return this.#call(Op.HELLO, body.hello(), timeoutMs, reply.hello); }
  // limits: also the cache's limits (stats.limits); streams: the encode
  // streams' counters (stats.streams); detail: everything monitoring needs
  // (stats.detail, engines[name].oldestAccessNs and .hitRatio; implies
  // limits and streams). Absent when the daemon predates them.
  // coordination: claims and synthesis slots (stats.coordination).
  // tier: the fleet's second tier (stats.tier; enabled false without [tier]).
  // A daemon from before the tier refuses flag 16 as a bad request: asked
  // again without it, stats.tier is then absent, as for any older daemon.
  stats({ timeoutMs, limits = false, streams = false, detail = false, coordination = false, tier = false } = {}) {
    const flags = (limits || detail ? StatsFlag.LIMITS : 0) | (streams || detail ? StatsFlag.STREAMS : 0) |
      (detail ? StatsFlag.DETAIL : 0) | (coordination ? StatsFlag.COORDINATE : 0) | (tier ? StatsFlag.TIER : 0);
    const asked = this.#call(Op.STATS, body.stats(flags), timeoutMs, (b) => {
      const stats = reply.stats(b, flags);
      if (detail) {
        for (const e of Object.values(stats.engines)) e.hitRatio = e.hits + e.misses ? e.hits / (e.hits + e.misses) : 0;
      }
      return stats;
    });
    if (!tier) return asked;
    return asked.catch((err) => {
      if (!(err instanceof TtscacheError) || err.code !== 'bad_request') throw err;
      return this.stats({ timeoutMs, limits, streams, detail, coordination, tier: false });
    });
  }

  // Every call naming an entry takes `engine` as 'piper' or 'piper/voice', or
  // the voice as an option ({voice: 'en_US-lessac-medium'}): a voice's
  // entries are its own (docs/protocol.md, "Engines and voices").

  // The cached WAV (format 'wav') or its Ogg Opus variant ('opus', encoded once
  // by the daemon with `opus` options); null on a miss.
  async get(engine, text, { format = 'wav', timeoutMs, voice, ...opus } = {}) {
    try {
      return await this.#call(Op.GET, body.get(engineField(engine, voice), text, format, opus), timeoutMs,
        reply.audio);
    } catch (err) {
      if (err instanceof TtscacheError && err.code === 'not_found') return null;
      throw err;
    }
  }

  // A get that coordinates the miss with every other client of the daemon:
  // → {audio, claimed: false, leaseMs: 0} on a hit (at once, or once another
  // client stored the phrase while this call waited); {audio: null, claimed:
  // true, leaseMs} when the miss is this caller's: synthesize, then put
  // within leaseMs (or dropClaim); {audio: null, claimed: false, leaseMs: 0}
  // when the wait ended (waitMs, or the daemon's max_wait_s) or the daemon
  // refused a claim: synthesize without one. The call's timeout is timeoutMs
  // plus waitMs: waiting is not a daemon that does not answer.
  async getOrClaim(engine, text, { waitMs = DEFAULT_CLAIM_WAIT_MS, format = 'wav', timeoutMs = this.timeoutMs,
    voice, ...opus } = {}) {
    waitMsOf(waitMs, 'waitMs');
    const field = engineField(engine, voice);
    try {
      return await this.#call(Op.GET, body.getOrClaim(field, text, format, opus, waitMs), timeoutMs + waitMs,
        reply.claimedAudio, null, {
          parks: waitMs > 0,
          // Claimed after this call gave up: pass the claim on rather than
          // make the others wait for the lease.
          giveBack: (late) => {
            if (late.opcode === (Op.GET | Op.REPLY) && late.body.length > 0 && late.body[0] === 3) {
              this.#onConnection(late.connection, Op.CLAIM_DROP, body.claimDrop(field, text));
            }
          },
        });
    } catch (err) {
      if (err instanceof TtscacheError && err.code === 'not_found') return { audio: null, claimed: false, leaseMs: 0 };
      throw err;
    }
  }
  // Gives up this connection's claim on the entry (e.g. its synthesis
  // failed), so a waiting client gets it at once. → false when this
  // connection held none (it was fulfilled, passed on, or its connection is gone).
  dropClaim(engine, text, { timeoutMs, voice } = {}) {
    return this.#call(Op.CLAIM_DROP, body.claimDrop(engineField(engine, voice), text), timeoutMs, reply.claimDrop);
  }
  // One unit of the synthesis slot `name` (an engine, or a slot of
  // [coordinate] slots such as 'gpu'), waiting up to waitMs for it. →
  // {hold, size (0: no limit), held (this one included)}; pass it to
  // releaseSlot. No unit within waitMs: TtscacheError 'busy'; an unknown
  // name: 'unknown_engine'. A hold lives with the connection: if it closes
  // (a daemon restart), the daemon has freed the unit.
  acquireSlot(name, { waitMs = DEFAULT_SLOT_WAIT_MS, timeoutMs = this.timeoutMs } = {}) {
    waitMsOf(waitMs, 'waitMs');
    return this.#call(Op.SLOT_ACQUIRE, body.slotAcquire(String(name), waitMs), timeoutMs + waitMs, (b) => {
      const granted = reply.slotAcquire(b);  // runs as the reply is read: this.connection is the one it came on
      Object.defineProperty(granted, HOLD_CONNECTION, { value: this.connection });
      this.holds.set(granted.hold, this.connection);
      return granted;
    }, null, {
      parks: waitMs > 0,
      giveBack: (late) => {
        if (late.opcode !== (Op.SLOT_ACQUIRE | Op.REPLY)) return;
        try {
          this.#onConnection(late.connection, Op.SLOT_RELEASE, body.slotRelease(reply.slotAcquire(late.body).hold));
        } catch { /* a malformed late reply: nothing to give back */ }
      },
    });
  }
  // Gives the unit back: `acquired` is what acquireSlot resolved to (or its
  // hold). Resolves at once when the hold's connection is gone: the daemon
  // freed it then.
  async releaseSlot(acquired, { timeoutMs } = {}) {
    const hold = typeof acquired === 'bigint' ? acquired : acquired?.hold;
    if (typeof hold !== 'bigint') throw new TypeError('releaseSlot: expected what acquireSlot resolved to');
    const connection = (typeof acquired === 'object' ? acquired[HOLD_CONNECTION] : undefined) ?? this.holds.get(hold);
    if (connection === undefined || connection !== this.connection || !this.socket) return;
    this.holds.delete(hold);
    try {
      await this.#call(Op.SLOT_RELEASE, body.slotRelease(hold), timeoutMs, reply.slotRelease, { connection });
    } catch (err) {
      if (err instanceof TtscacheError && err.code === 'closed' && !this.closed) return;  // went with its connection
      throw err;
    }
  }
  // Runs fn(hold) holding a unit of the slot, and releases it when fn
  // settles (a release that fails is ignored: the unit is freed with the
  // connection at the latest). Rejects as acquireSlot does without running fn.
  async withSlot(name, fn, { waitMs, timeoutMs } = {}) {
    const acquired = await this.acquireSlot(name, { waitMs, timeoutMs });
    try {
      return await fn(acquired);
    } finally {
      await this.releaseSlot(acquired, { timeoutMs }).catch(() => {});
    }
  }

  put(engine, text, wav, { timeoutMs, voice } = {}) {
    const refused = this.#refusal(wav?.length);
    if (refused) return Promise.reject(refused);
    return this.#call(Op.PUT, body.put(engineField(engine, voice), text, wav), timeoutMs, () => undefined);
  }

  // Operating the cache (admin only: delete, deleteKey, purge, verify with
  // repair; anyone else gets TtscacheError 'forbidden').
  // → {deleted, bytes, variants}; deleted false: it was not cached.
  async delete(engine, text, { timeoutMs, voice } = {}) {
    return this.#call(Op.DELETE, body.deleteText(engineField(engine, voice), text), timeoutMs, reply.delete);
  }
  // key: the entry's SHA-256, 32 bytes or 64 hex digits (as list() gives it).
  async deleteKey(engine, key, { timeoutMs, voice } = {}) {
    return this.#call(Op.DELETE, body.deleteKey(engineField(engine, voice), key), timeoutMs, reply.delete);
  }
  // Every entry of an engine (all its voices) or of one voice. → {entries, bytes}
  async purge(engine, { timeoutMs, voice } = {}) {
    return this.#call(Op.PURGE, body.purge(engineField(engine, voice)), timeoutMs, reply.purge);
  }
  // An async iterator over pages of the index ({entries, nextCursor}), asked
  // one at a time as the caller takes them, so neither side holds the whole
  // list. filter: engine (with all its voices), voice, minIdleS, maxIdleS,
  // minBytes, maxBytes (0 or absent: no bound), pageSize (1–1024), cursor
  // (bigint: resume where a page left off). A page may be empty while more follow.
  async *list({ timeoutMs, engine, voice, pageSize, cursor = 0n, ...bounds } = {}) {
    if (voice !== undefined && engine === undefined) throw new RangeError('voice needs an engine');
    const field = engine === undefined ? '' : engineField(engine, voice);
    let at = BigInt(cursor);
    do {
      const page = await this.#call(Op.LIST, body.list({ ...bounds, engine: field, maxEntries: pageSize, cursor: at }),
        timeoutMs, reply.list);
      if (page.entries.length > (pageSize ?? 1024)) {
        throw new TtscacheError('protocol', `LIST answered ${page.entries.length} entries, more than asked`);
      }
      if (page.nextCursor !== 0n && page.nextCursor === at) {
        throw new TtscacheError('protocol', `LIST answered cursor ${at} with the same cursor`);
      }
      yield page;
      at = page.nextCursor;
    } while (at !== 0n);
  }
  // → {verdict: 'clean'|'repaired'|'damaged', entriesChecked, filesChecked, problemsTotal, problems}
  async verify({ timeoutMs, repair = false } = {}) {
    return this.#call(Op.VERIFY, body.verify(repair), timeoutMs, reply.verify);
  }
  // opus: {bitrate (kb/s; omitted: the daemon's), vbr, application, complexity, frameMs}
  encode(wav, { timeoutMs, ...opus } = {}) {
    const refused = this.#refusal(wav?.length);
    if (refused) return Promise.reject(refused);
    return this.#call(Op.ENCODE, body.encode(wav, opus), timeoutMs, reply.audio);
  }
  putEncode(engine, text, wav, { timeoutMs, voice, ...opus } = {}) {
    const refused = this.#refusal(wav?.length);
    if (refused) return Promise.reject(refused);
    return this.#call(Op.PUT_ENCODE, body.putEncode(engineField(engine, voice), text, wav, opus), timeoutMs,
      reply.audio);
  }

  // A Duplex: PCM or WAV Buffers written to it come out as Ogg Opus bytes
  // while they are still being written (encode-stream.js; docs/protocol.md,
  // "Encode streams"). Throws RangeError on options the daemon would refuse.
  encodeStream({ voice, ...options } = {}) {
    if (voice !== undefined) {
      if (options.engine === undefined) throw new RangeError('voice needs an engine (and a text)');
      options.engine = engineField(options.engine, voice);
    }
    return new EncodeStream({
      call: (opcode, requestBody, timeoutMs, parse, session) =>
        this.#call(opcode, requestBody, timeoutMs, parse, session),
      error: (code, message) => new TtscacheError(code, message),
    }, options);
  }

  // Rejects what is still pending and closes the connection.
  close() {
    this.closed = true;
    this.#failAll(new TtscacheError('closed', 'client closed'));
    this.abandoned.clear();
    this.holds.clear();
    clearTimeout(this.parkedWatch);
    this.socket?.destroy();
    this.socket = null;
    this.connecting?.destroy();  // else it connects later and stays open, unused
    this.connecting = null;
  }

  // parse(replyBody) → the call's value; it runs as the reply is read, so a
  // malformed body is a protocol error of the connection, not an exception
  // out of the socket's 'data' handler (which would end the process).
  // session: an encode stream's {connection}; its requests are sent only on
  // the connection its STREAM_OPEN went out on (recorded here when it is
  // sent), and never again on another: the daemon's stream ids are per
  // connection, and a stream dies with its connection (holds and claims too).
  // parks: the daemon may hold it waiting (not counted in flight there).
  // giveBack({opcode, body, connection}): runs on a reply that arrives after
  // the call timed out, to hand back what the reply granted.
  #call(opcode, requestBody, timeoutMs = this.timeoutMs, parse = (b) => b, session = null,
    { parks = false, giveBack = null } = {}) {
    // setTimeout runs a delay over 2^31-1 ms (24.8 days) after 1 ms instead.
    timeoutMs = Math.min(timeoutMs, MAX_TIMEOUT_MS);
    if (this.closed) return Promise.reject(new TtscacheError('closed', 'client closed'));
    const refused = this.#refusal(requestBody.length);
    if (refused) return Promise.reject(refused);
    return new Promise((resolve, reject) => {
      const request = { opcode, body: requestBody, parse, resolve, reject, attempts: 0, id: 0n, session, parks, giveBack };
      request.timer = setTimeout(() => {
        // A request not sent yet still has id 0, the HELLO's: only its own entry goes.
        if (this.pending.get(request.id) === request) {
          this.pending.delete(request.id);
          if (giveBack) this.#rememberAbandoned(request.id, giveBack);
        }
        this.parkable.delete(request);
        const before = this.waiting.length;
        this.waiting = this.waiting.filter((r) => r !== request);
        if (this.waiting.length !== before) this.waitingBytes -= request.body.length;
        // Part of a reply is here and has not grown for half this timeout:
        // the stream is stalled mid-frame (a peer that announced more than it
        // sends), and every later reply is stuck behind it. Drop the
        // connection; what is in flight is sent again on a new one. Checked
        // after the poll phase (setImmediate), so bytes that arrived while
        // the event loop was busy are read first and count as progress.
        const socket = this.socket;
        if (socket && this.inboxBytes > 0) {
          setImmediate(() => {
            if (this.socket === socket && this.inboxBytes > 0 && Date.now() - this.lastReceiveAt >= timeoutMs / 2) {
              socket.destroy();
            }
          });
        }
        // Nothing left in flight: a hung daemon's connection must not keep the process alive.
        this.#holdProcessOpen();
        reject(new TtscacheError('timeout', `no reply from ${this.socketPath} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.push(request);
      this.waitingBytes += request.body.length;
      this.#pump();
    });
  }

  // → the error refusing a request of about `bytes`, or null. Checked before
  // the body is built too (put, encode): a refused request must cost no copy.
  #refusal(bytes = 0) {
    // The daemon would answer a frame over its limit by closing the
    // connection, and the request would be sent once more: refuse it here.
    if (bytes > this.maxFrameBody) {
      return new TtscacheError('too_large', `request body of ${bytes} bytes, over the frame limit of ` +
        `${this.maxFrameBody}`, { local: true });
    }
    const queued = this.waitingBytes + (this.socket?.writableLength ?? 0);
    if (queued > 0 && queued + bytes > this.maxQueuedBytes) {
      return new TtscacheError('overloaded', `${queued} bytes of requests not yet taken by ${this.socketPath}; ` +
        `over maxQueuedBytes ${this.maxQueuedBytes}`, { local: true });
    }
    return null;
  }

  // Sends waiting requests while connected and under the in-flight cap.
  #pump() {
    if (!this.socket) {
      if (!this.connecting && this.waiting.length) this.#connect();
      return;
    }
    // In order, except that requests which may park wait for a parked one to
    // end when 1,024 are parked, without holding the others back.
    let next = 0;
    while (next < this.waiting.length && this.pending.size - this.parkable.size < this.maxInflight) {
      if (this.waiting[next].parks && this.parkable.size >= MAX_PARKED_PER_CONNECTION) {
        next++;
        continue;
      }
      const [request] = this.waiting.splice(next, 1);
      this.waitingBytes -= request.body.length;
      if (request.session) {
        request.session.connection ??= this.connection;
        if (request.session.connection !== this.connection || request.attempts > 0) {
          this.#settle(request, new TtscacheError('closed', `connection to ${this.socketPath} lost: ` +
            'the encode stream ended with it'));
          continue;
        }
      }
      request.id = this.nextId++;
      request.attempts++;
      this.pending.set(request.id, request);
      if (request.parks) {
        this.parkable.add(request);
        this.#watchParked(Math.ceil(this.timeoutMs / 5));
      }
      this.socket.write(Buffer.concat([encodeHeader(request.opcode, request.id, request.body.length), request.body]));
    }
    this.#holdProcessOpen();
  }

  // An idle connection does not keep the process alive (a script that is done
  // can exit without close()); one with requests in flight does.
  #holdProcessOpen() {
    const busy = this.pending.size > (this.pending.has(0n) ? 1 : 0) || this.waiting.length > 0;
    if (busy) this.socket?.ref();
    else this.socket?.unref();
  }

  #connect() {
    const socket = net.createConnection({ path: this.socketPath });
    this.connecting = socket;
    const connectTimer = setTimeout(() => socket.destroy(new Error('connect timed out')), this.connectTimeoutMs);
    socket.once('connect', async () => {
      clearTimeout(connectTimer);
      if (this.closed) return socket.destroy();
      this.connecting = null;
      this.socket = socket;
      this.connection++;
      this.#resetInbox();
      // HELLO first: checks the version and learns the daemon's limits (believed only downwards).
      this.pending.set(0n, { opcode: Op.HELLO, attempts: 1, parse: reply.hello, resolve: (h) => {
        this.maxInflight = Math.min(h.maxInflight || MAX_INFLIGHT, MAX_INFLIGHT);
        this.maxFrameBody = Math.min(h.maxFrameBody || MAX_FRAME_BODY, MAX_FRAME_BODY);
        this.#pump();
      }, reject: () => {} });
      socket.write(Buffer.concat([encodeHeader(Op.HELLO, 0n, 4), body.hello()]));
      this.#pump();
    });
    socket.on('data', (chunk) => this.#receive(chunk));
    socket.on('error', () => {});  // 'close' follows and handles it
    socket.on('close', () => {
      clearTimeout(connectTimer);
      const wasConnected = this.socket === socket;
      if (wasConnected) this.socket = null;
      if (this.connecting === socket) this.connecting = null;
      this.pending.delete(0n);
      this.parkable.clear();
      // The claims and holds of that connection went with it.
      if (wasConnected) {
        this.abandoned.clear();
        this.holds.clear();
      }
      if (!wasConnected) {  // the connect failed: nobody is listening
        this.#failAll(new TtscacheError('unavailable', `cannot connect to ttscached at ${this.socketPath}`));
        return;
      }
      // The daemon went away (a restart?): send what was in flight once more.
      const again = [];
      for (const request of this.pending.values()) {
        if (request.session) {
          this.#settle(request, new TtscacheError('closed', `connection to ${this.socketPath} lost: ` +
            'the encode stream ended with it'));
        } else if (request.attempts < 2) again.push(request);
        else this.#settle(request, new TtscacheError('closed', `connection to ${this.socketPath} lost twice`));
      }
      this.waiting.unshift(...again);  // in the order they were first sent
      for (const request of again) this.waitingBytes += request.body.length;
      this.pending.clear();
      if (!this.closed) this.#pump();
    });
  }

  #resetInbox() {
    this.chunks = [];       // received bytes not yet parsed, as they came
    this.inboxBytes = 0;
    this.needBytes = HEADER_BYTES;  // parse nothing before this many are here
  }

  // Chunks are joined only once a whole header or frame is here: joining on
  // every chunk costs the square of a frame's size when the peer sends it a
  // few bytes at a time (a 256 KiB reply in 1-byte chunks: minutes).
  #receive(chunk) {
    this.lastReceiveAt = Date.now();
    this.chunks.push(chunk);
    this.inboxBytes += chunk.length;
    if (this.inboxBytes < this.needBytes) return;
    let inbox = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.inboxBytes);
    while (inbox.length >= HEADER_BYTES) {
      let header;
      try {
        header = decodeHeader(inbox, this.maxFrameBody);
      } catch (err) {
        return this.#protocolFailure(`bad reply from ttscached: ${err.message}`);
      }
      const end = HEADER_BYTES + header.bodyLength;
      if (inbox.length < end) break;
      const replyBody = inbox.subarray(HEADER_BYTES, end);
      inbox = inbox.subarray(end);
      const request = this.pending.get(header.id);
      if (!request) {  // timed out earlier, or an error frame with id 0
        const giveBack = this.abandoned.get(header.id);
        if (giveBack) {
          this.abandoned.delete(header.id);
          giveBack({ opcode: header.opcode, body: Buffer.from(replyBody), connection: this.connection });
        }
        continue;
      }
      this.pending.delete(header.id);
      this.parkable.delete(request);
      let err = null;
      let value;
      try {
        if (header.opcode === Op.ERROR) {
          const e = reply.error(replyBody);
          err = new TtscacheError(e.name, e.message, { retryAfterMs: e.retryAfterMs, needed: e.needed });
        } else if (header.opcode !== (request.opcode | Op.REPLY)) {
          err = new TtscacheError('protocol', `reply opcode 0x${header.opcode.toString(16)} to request 0x${request.opcode.toString(16)}`);
        } else {
          // Copy out of the inbox so the caller's Buffer does not pin the whole receive buffer.
          value = request.parse(Buffer.from(replyBody));
        }
      } catch (parseErr) {
        this.#settle(request, new TtscacheError('protocol', `bad reply from ttscached: ${parseErr.message}`));
        return this.#protocolFailure(`bad reply from ttscached: ${parseErr.message}`);
      }
      this.#settle(request, err, value);
    }
    this.chunks = inbox.length ? [inbox] : [];
    this.inboxBytes = inbox.length;
    this.needBytes = inbox.length >= HEADER_BYTES ? HEADER_BYTES + inbox.readUInt32LE(16) : HEADER_BYTES;
    this.#pump();
  }

  // The peer does not speak the protocol: nothing more it sends can be
  // trusted, so the connection goes and every request on it fails.
  #protocolFailure(message) {
    this.socket?.destroy();
    this.#resetInbox();
    this.#failAll(new TtscacheError('protocol', message));
  }

  // The liveness check of parked requests (see the file's opening): a check
  // `quietMs` from now, unless one is due sooner.
  #watchParked(quietMs) {
    if (this.closed) return;
    const at = Date.now() + quietMs;
    if (this.parkedWatch && this.parkedWatchAt <= at) return;
    clearTimeout(this.parkedWatch);
    this.parkedWatchAt = at;
    this.parkedWatch = setTimeout(() => this.#checkParked(quietMs), quietMs);
    this.parkedWatch.unref();  // the parked requests' own timers hold the process
  }
  #checkParked(quietMs) {
    this.parkedWatch = null;
    if (this.parkable.size === 0 || this.closed || this.pingingParked) return;  // a PING's end re-arms it
    if (Date.now() - (this.lastReceiveAt ?? 0) < quietMs) return this.#watchParked(this.timeoutMs);
    const suspects = [...this.parkable];
    this.pingingParked = true;
    this.#call(Op.PING, body.empty(), this.timeoutMs, () => undefined).then(() => {
      this.pingingParked = false;
      this.#watchParked(this.timeoutMs);
    }, (err) => {
      this.pingingParked = false;
      for (const request of suspects) {
        if (this.pending.get(request.id) !== request) continue;  // answered, or re-sent on a new connection
        this.pending.delete(request.id);
        this.parkable.delete(request);
        if (request.giveBack) this.#rememberAbandoned(request.id, request.giveBack);
        this.#settle(request, new TtscacheError('timeout', `no reply from ${this.socketPath} while waiting: ` +
          `a PING went unanswered (${err.message})`));
      }
      this.#holdProcessOpen();
      this.#watchParked(this.timeoutMs);
    });
  }

  #rememberAbandoned(id, giveBack) {
    if (this.abandoned.size >= MAX_ABANDONED) this.abandoned.delete(this.abandoned.keys().next().value);
    this.abandoned.set(id, giveBack);
  }

  // Fire and forget on `connection` only (a claim's or a hold's): nothing
  // to do if it is gone, the daemon gave the claim or hold up with it.
  #onConnection(connection, opcode, requestBody) {
    if (connection !== this.connection || !this.socket || this.closed) return;
    this.#call(opcode, requestBody, this.timeoutMs, () => undefined, { connection }).catch(() => {});
  }

  #settle(request, err, value) {
    clearTimeout(request.timer);
    if (err) request.reject(err);
    else request.resolve(value);
  }

  #failAll(err) {
    for (const request of [...this.pending.values(), ...this.waiting]) this.#settle(request, err);
    this.pending.clear();
    this.parkable.clear();
    this.waiting = [];
    this.waitingBytes = 0;
  }
}
