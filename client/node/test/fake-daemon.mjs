// Test helper: a fake ttscached that lies. A node `net` server on a private
// Unix socket speaking the frame format of docs/protocol.md, whose answers a
// test chooses frame by frame, so the Client and the adapter can be checked
// against peers the real daemon never is: wrong or repeated ids, wrong
// opcodes, absurd lengths, garbage, silence, slow bytes, closed connections.
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const Op = { HELLO: 1, PING: 2, GET: 3, PUT: 4, ENCODE: 5, PUT_ENCODE: 6, STATS: 7,
  STREAM_OPEN: 0x0b, STREAM_PUSH: 0x0c, STREAM_FINISH: 0x0d, STREAM_ABORT: 0x0e, ERROR: 0x7f, REPLY: 0x80 };

// A frame's bytes: header (optionally lying about the body length) then body.
export function frame(opcode, id, body = Buffer.alloc(0), { bodyLength = body.length, magic = 0x43535454 } = {}) {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(magic, 0);
  h.writeUInt8(1, 4);
  h.writeUInt8(opcode, 5);
  h.writeBigUInt64LE(BigInt(id), 8);
  h.writeUInt32LE(bodyLength, 16);
  return Buffer.concat([h, body]);
}

export function helloBody({ maxFrameBody = 64 << 20, maxTextBytes = 4096, maxInflight = 64 } = {}) {
  const b = Buffer.alloc(24);
  b.writeUInt16LE(1, 0);
  b.writeUInt32LE(maxFrameBody, 4);
  b.writeUInt32LE(maxTextBytes, 8);
  b.writeUInt32LE(maxInflight, 12);
  return b;
}

export function errorBody(code, { retryAfterMs = 0, message = 'fake' } = {}) {
  const m = Buffer.from(message);
  const b = Buffer.alloc(20 + m.length);
  b.writeUInt16LE(code, 0);
  b.writeUInt32LE(retryAfterMs, 4);
  b.writeUInt32LE(m.length, 16);
  m.copy(b, 20);
  return b;
}

// An inline audio reply body.
export function audioBody(bytes) {
  const b = Buffer.alloc(9);
  b.writeBigUInt64LE(BigInt(bytes.length), 1);
  return Buffer.concat([b, bytes]);
}

export function statsBody() {
  const b = Buffer.alloc(4 + 6 * 8);
  return b;
}

// The honest answer to a request, as the real daemon would give it (GET: a miss).
export function honestReply(req, hello = {}) {
  switch (req.opcode) {
    case Op.HELLO: return frame(Op.HELLO | Op.REPLY, req.id, helloBody(hello));
    case Op.GET: return frame(Op.ERROR, req.id, errorBody(1, { message: 'not in the cache' }));
    case Op.STATS: return frame(Op.STATS | Op.REPLY, req.id, statsBody());
    case Op.ENCODE: case Op.PUT_ENCODE: return frame(req.opcode | Op.REPLY, req.id, audioBody(Buffer.from('OggS')));
    default: return frame(req.opcode | Op.REPLY, req.id);
  }
}

// Starts a fake daemon. onRequest(req, socket, conn) is called per request
// frame read ({opcode, id, body}); the default answers honestly. onConnection
// (socket, conn) runs first for each accepted connection; returning false
// means "do not read this connection at all". Resolves to {socket path,
// connections (count), requests (count), bytesRead, sockets, close()}.
export async function startFakeDaemon({ onRequest = (req, s) => s.write(honestReply(req)), onConnection } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ttscache-fake-'));
  const path = join(dir, 'fake.sock');
  const state = { socket: path, connections: 0, requests: 0, bytesRead: 0, sockets: new Set() };
  const server = net.createServer((s) => {
    const conn = { index: state.connections++ };
    state.sockets.add(s);
    s.on('close', () => state.sockets.delete(s));
    s.on('error', () => {});
    if (onConnection && onConnection(s, conn) === false) return;
    let inbox = Buffer.alloc(0);
    s.on('data', (chunk) => {
      state.bytesRead += chunk.length;
      inbox = Buffer.concat([inbox, chunk]);
      while (inbox.length >= 24) {
        const len = inbox.readUInt32LE(16);
        if (len > 64 << 20) {  // as the real daemon: ERROR with id 0 before the body, then close
          s.end(frame(Op.ERROR, 0, errorBody(5, { message: 'frame too large' })));
          s.destroy();
          return;
        }
        if (inbox.length < 24 + len) break;
        const req = { opcode: inbox[5], id: inbox.readBigUInt64LE(8), body: inbox.subarray(24, 24 + len) };
        inbox = inbox.subarray(24 + len);
        state.requests++;
        if (!s.destroyed) onRequest(req, s, conn);
      }
    });
  });
  await new Promise((r) => server.listen(path, r));
  state.close = async () => {
    for (const s of state.sockets) s.destroy();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  };
  return state;
}
