// An encode stream (docs/protocol.md, "Encode streams") as a Node Duplex: PCM
// or WAV Buffers written to it become STREAM_PUSHes, and the Ogg pages each
// push's reply carries come out of its readable side, in the order the pushes
// were sent — so `engine.stdout.pipe(client.encodeStream({rate})).pipe(res)`
// sends a browser Ogg Opus while the sentence is still being synthesized.
//
// The stream is opened lazily, by the first write (or by end() if nothing was
// written), so a Duplex that is made and dropped costs the daemon nothing.
// Memory is bounded both ways, in the daemon and here: at most half of the
// daemon's max_buffered_bytes of input is pushed and unanswered (a write's
// callback waits for replies), and no push is sent while the reader has not
// taken what came out (a consumer that stops reading stops the writer). A
// stream belongs to the Client's connection it was opened on: it is never
// sent again on another, and a lost connection is an error of the stream.
import { Duplex } from 'node:stream';
import { Op, body, reply } from './protocol.js';

// A written chunk is pushed in pieces of at most this much (and at most the
// in-flight budget): one push of many MiB would hold the daemon's worker, and
// the reader's first bytes, for as long as it takes to encode.
const MAX_PUSH_BYTES = 1 << 20;
// ...and at least this much, whatever a daemon announces: a page per push.
const MIN_PUSH_BYTES = 4096;
// The daemon encodes a stream's pushes one at a time; more in flight only
// takes the connection's 64 request slots from the Client's other calls.
const MAX_PUSHES_IN_FLIGHT = 16;

export class EncodeStream extends Duplex {
  #port;          // {call(opcode, body, timeoutMs, parse, session), error(code, message)}
  #timeoutMs;     // per request; undefined: the Client's
  #openBody;
  #session = { connection: undefined };  // the connection the stream lives on (set by the Client)
  #state = 'idle';  // idle → opening → open → finished; any → ended (destroyed)
  #stream = 0;      // the daemon's id, once open
  #budget = 0;      // input bytes pushed and unanswered, at most
  #pieceBytes = MIN_PUSH_BYTES;
  #queue = [];      // written chunks not yet pushed: {bytes, callback}
  #inflightBytes = 0;
  #inflightPushes = 0;
  #nextSeq = 0;     // the order requests were sent in...
  #nextEmit = 0;    // ...and the next one whose pages go out
  #answered = new Map();  // seq → pages (a push) or the finish reply, awaiting their turn
  #readerWants = true;    // false from a push() the reader refused until its next _read()
  #finalCallback = null;  // end() was called: FINISH once the queue is pushed
  #finishSent = false;
  #settleResult;

  // REQUIRES: options as encodeStream documents them; a RangeError is thrown
  // (before anything is sent) for values the daemon would refuse.
  constructor(port, options = {}) {
    const { timeoutMs, ...open } = options;
    const openBody = body.streamOpen(open);
    super({ allowHalfOpen: true });
    this.#port = port;
    this.#timeoutMs = timeoutMs;
    this.#openBody = openBody;
    // A promise nobody awaits must not end the process when it rejects.
    this.result = new Promise((resolve, reject) => {
      this.#settleResult = (err, value) => {
        this.#settleResult = () => {};
        if (err) reject(err);
        else resolve(value);
      };
    });
    this.result.catch(() => {});
  }

  // Also ends the stream (STREAM_ABORT) when the destination closes before the
  // Ogg stream is complete: an HTTP response whose client went away.
  pipe(destination, options) {
    const onClose = () => {
      if (!this.readableEnded) this.destroy();
    };
    destination.once?.('close', onClose);
    this.once('close', () => destination.removeListener?.('close', onClose));
    return super.pipe(destination, options);
  }

  _write(chunk, encoding, callback) {
    this.#queue.push({ bytes: chunk, callback });
    this.#open();
    this.#pump();
  }

  _final(callback) {
    this.#finalCallback = callback;
    this.#open();
    this.#pump();
  }

  _read() {
    this.#readerWants = true;
    this.#pump();
  }

  _destroy(err, callback) {
    const state = this.#state;
    this.#state = 'ended';
    this.#queue = [];
    this.#answered.clear();
    if (state === 'open') this.#abort();  // 'opening': the open's reply aborts it
    this.#settleResult(err ?? this.#port.error('closed', 'encode stream destroyed before it finished'));
    callback(err);
  }

  #request(opcode, requestBody, parse) {
    return this.#port.call(opcode, requestBody, this.#timeoutMs, parse, this.#session);
  }

  #fail(err) {
    if (!this.destroyed) this.destroy(err);
  }

  #open() {
    if (this.#state !== 'idle') return;
    this.#state = 'opening';
    this.#request(Op.STREAM_OPEN, this.#openBody, reply.streamOpen).then((open) => {
      this.#stream = open.stream;
      if (this.#state === 'ended') return this.#abort();
      this.#state = 'open';
      this.#budget = Math.floor(open.maxBufferedBytes / 2);
      this.#pieceBytes = Math.max(MIN_PUSH_BYTES, Math.min(MAX_PUSH_BYTES, this.#budget));
      this.#pump();
    }, (err) => this.#fail(err));
  }

  // Nothing waits for the reply: the stream is over here either way, and a
  // daemon that already ended it (an error, a limit) answers bad request.
  #abort() {
    this.#request(Op.STREAM_ABORT, body.streamId(this.#stream), () => undefined).catch(() => {});
  }

  // Sends what may be sent now: pieces of the written chunks while the
  // budget, the push cap and the reader allow; then, once end() was called
  // and every chunk is pushed, the FINISH.
  #pump() {
    if (this.#state !== 'open') return;
    while (this.#queue.length && this.#readerWants && this.#inflightPushes < MAX_PUSHES_IN_FLIGHT) {
      const head = this.#queue[0];
      const n = Math.min(head.bytes.length, this.#pieceBytes);
      if (this.#inflightPushes > 0 && this.#inflightBytes + n > this.#budget) break;
      if (n > 0) this.#push(head.bytes.subarray(0, n));
      head.bytes = head.bytes.subarray(n);
      if (head.bytes.length === 0) {
        this.#queue.shift();
        // Deferred: the Writable would hand us its next chunk from inside
        // this loop, one stack frame deeper for every chunk it holds.
        process.nextTick(head.callback);
      }
    }
    if (this.#finalCallback && !this.#finishSent && this.#queue.length === 0 && this.#state === 'open') {
      this.#finishSent = true;
      const seq = this.#nextSeq++;
      this.#request(Op.STREAM_FINISH, body.streamId(this.#stream), reply.streamFinish).then((finish) => {
        if (this.#state !== 'open') return;
        this.#answered.set(seq, finish);
        this.#emit();
      }, (err) => this.#fail(err));
    }
  }

  #push(piece) {
    const seq = this.#nextSeq++;
    this.#inflightBytes += piece.length;
    this.#inflightPushes++;
    this.#request(Op.STREAM_PUSH, body.streamPush(this.#stream, piece), reply.streamPages).then((pages) => {
      if (this.#state !== 'open') return;
      this.#inflightBytes -= piece.length;
      this.#inflightPushes--;
      this.#answered.set(seq, pages);
      this.#emit();
      this.#pump();
    }, (err) => this.#fail(err));
  }

  // Hands the reader every answered request's pages whose turn has come.
  #emit() {
    while (this.#state === 'open' && this.#answered.has(this.#nextEmit)) {
      const answer = this.#answered.get(this.#nextEmit);
      this.#answered.delete(this.#nextEmit);
      this.#nextEmit++;
      const finish = Buffer.isBuffer(answer) ? null : answer;
      const pages = finish ? finish.pages : answer;
      if (pages.length > 0 && !this.push(pages)) this.#readerWants = false;
      if (finish) {
        this.#state = 'finished';
        this.push(null);
        this.#settleResult(null, { samples48k: finish.samples48k, cached: finish.cached, note: finish.note });
        const callback = this.#finalCallback;
        this.#finalCallback = null;
        callback();
      }
    }
  }
}
