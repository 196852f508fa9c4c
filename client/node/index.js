// The Node.js client of ttscached: one Unix-socket connection, requests
// pipelined and matched to replies by id, a timeout per request, and a
// reconnect when the daemon restarts (requests in flight are sent again once
// on the new connection — every operation is idempotent). Inline audio only.
// docs/clients.md shows it in use; docs/protocol.md is the wire format.
import net from 'node:net';
import { Op, HEADER_BYTES, encodeHeader, decodeHeader, body, reply } from './protocol.js';

export const DEFAULT_SOCKET = '/run/ttscache/ttscached.sock';
export const OPUS_CONTENT_TYPE = 'audio/ogg; codecs=opus';

// An error from the daemon (code: not_found, bad_audio, unknown_engine, busy, …)
// or from the connection (code: unavailable, timeout, closed, protocol).
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
  // timeoutMs per request (default 10000), connectTimeoutMs (default 2000).
  // The process stays alive only while a request is in flight: an idle
  // client, or one whose requests all timed out, does not hold it open.
  constructor(options = {}) {
    this.socketPath = options.socketPath || process.env.TTSCACHE_SOCKET || DEFAULT_SOCKET;
    this.timeoutMs = options.timeoutMs ?? 10000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 2000;
    this.nextId = 1n;
    this.pending = new Map();   // id → request awaiting its reply
    this.waiting = [];          // requests not yet sent (over the in-flight cap, or not connected)
    this.maxInflight = 64;      // until HELLO says otherwise
    this.socket = null;
    this.connecting = null;
    this.closed = false;
    this.inbox = Buffer.alloc(0);
  }

  // Every call takes an optional `timeoutMs` (in its options) for this call
  // alone, e.g. a larger one for an encode of long audio.
  ping({ timeoutMs } = {}) { return this.#call(Op.PING, body.empty(), timeoutMs).then(() => undefined); }
  hello({ timeoutMs } = {}) { return this.#call(Op.HELLO, body.hello(), timeoutMs).then(reply.hello); }
  stats({ timeoutMs } = {}) { return this.#call(Op.STATS, body.empty(), timeoutMs).then(reply.stats); }

  // The cached WAV (format 'wav') or its Ogg Opus variant ('opus', encoded once
  // by the daemon with `opus` options); null on a miss.
  async get(engine, text, { format = 'wav', timeoutMs, ...opus } = {}) {
    try {
      return reply.audio(await this.#call(Op.GET, body.get(engine, text, format, opus), timeoutMs));
    } catch (err) {
      if (err instanceof TtscacheError && err.code === 'not_found') return null;
      throw err;
    }
  }
  put(engine, text, wav, { timeoutMs } = {}) {
    return this.#call(Op.PUT, body.put(engine, text, wav), timeoutMs).then(() => undefined);
  }
  // opus: {bitrate (kb/s; omitted: the daemon's), vbr, application, complexity, frameMs}
  encode(wav, { timeoutMs, ...opus } = {}) {
    return this.#call(Op.ENCODE, body.encode(wav, opus), timeoutMs).then(reply.audio);
  }
  putEncode(engine, text, wav, { timeoutMs, ...opus } = {}) {
    return this.#call(Op.PUT_ENCODE, body.putEncode(engine, text, wav, opus), timeoutMs).then(reply.audio);
  }

  // Rejects what is still pending and closes the connection.
  close() {
    this.closed = true;
    this.#failAll(new TtscacheError('closed', 'client closed'));
    this.socket?.destroy();
    this.socket = null;
    this.connecting?.destroy();  // else it connects later and stays open, unused
    this.connecting = null;
  }

  #call(opcode, requestBody, timeoutMs = this.timeoutMs) {
    if (this.closed) return Promise.reject(new TtscacheError('closed', 'client closed'));
    return new Promise((resolve, reject) => {
      const request = { opcode, body: requestBody, resolve, reject, attempts: 0, id: 0n };
      request.timer = setTimeout(() => {
        // A request not sent yet still has id 0, the HELLO's: only its own entry goes.
        if (this.pending.get(request.id) === request) this.pending.delete(request.id);
        this.waiting = this.waiting.filter((r) => r !== request);
        // Nothing left in flight: a hung daemon's connection must not keep the process alive.
        this.#holdProcessOpen();
        reject(new TtscacheError('timeout', `no reply from ${this.socketPath} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.push(request);
      this.#pump();
    });
  }

  // Sends waiting requests while connected and under the in-flight cap.
  #pump() {
    if (!this.socket) {
      if (!this.connecting && this.waiting.length) this.#connect();
      return;
    }
    while (this.waiting.length && this.pending.size < this.maxInflight) {
      const request = this.waiting.shift();
      request.id = this.nextId++;
      request.attempts++;
      this.pending.set(request.id, request);
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
      this.inbox = Buffer.alloc(0);
      // HELLO first: checks the version and learns the daemon's in-flight cap.
      this.pending.set(0n, { opcode: Op.HELLO, attempts: 1, resolve: (b) => {
        this.maxInflight = reply.hello(b).maxInflight || this.maxInflight;
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
      if (!wasConnected) {  // the connect failed: nobody is listening
        this.#failAll(new TtscacheError('unavailable', `cannot connect to ttscached at ${this.socketPath}`));
        return;
      }
      // The daemon went away (a restart?): send what was in flight once more.
      const again = [];
      for (const request of this.pending.values()) {
        if (request.attempts < 2) again.push(request);
        else this.#settle(request, new TtscacheError('closed', `connection to ${this.socketPath} lost twice`));
      }
      this.waiting.unshift(...again);  // in the order they were first sent
      this.pending.clear();
      if (!this.closed) this.#pump();
    });
  }

  #receive(chunk) {
    this.inbox = this.inbox.length ? Buffer.concat([this.inbox, chunk]) : chunk;
    while (this.inbox.length >= HEADER_BYTES) {
      let header;
      try {
        header = decodeHeader(this.inbox);
      } catch (err) {
        this.socket?.destroy();
        this.#failAll(new TtscacheError('protocol', `bad reply from ttscached: ${err.message}`));
        return;
      }
      const end = HEADER_BYTES + header.bodyLength;
      if (this.inbox.length < end) return;
      const replyBody = this.inbox.subarray(HEADER_BYTES, end);
      this.inbox = this.inbox.subarray(end);
      const request = this.pending.get(header.id);
      if (!request) continue;  // timed out earlier, or an error frame with id 0
      this.pending.delete(header.id);
      if (header.opcode === Op.ERROR) {
        const e = reply.error(replyBody);
        this.#settle(request, new TtscacheError(e.name, e.message, { retryAfterMs: e.retryAfterMs, needed: e.needed }));
      } else if (header.opcode !== (request.opcode | Op.REPLY)) {
        this.#settle(request, new TtscacheError('protocol', `reply opcode 0x${header.opcode.toString(16)} to request 0x${request.opcode.toString(16)}`));
      } else {
        // Copy out of the inbox so the caller's Buffer does not pin the whole receive buffer.
        this.#settle(request, null, Buffer.from(replyBody));
      }
    }
    this.#pump();
  }

  #settle(request, err, value) {
    clearTimeout(request.timer);
    if (err) request.reject(err);
    else request.resolve(value);
  }

  #failAll(err) {
    for (const request of [...this.pending.values(), ...this.waiting]) this.#settle(request, err);
    this.pending.clear();
    this.waiting = [];
  }
}
