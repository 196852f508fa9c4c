// Types of the ttscache Node.js client (index.js).
import type { Duplex } from 'node:stream';

export declare const DEFAULT_SOCKET: string;
export declare const OPUS_CONTENT_TYPE: 'audio/ogg; codecs=opus';

export type ErrorCode =
  | 'not_found' | 'bad_request' | 'bad_audio' | 'unknown_engine' | 'too_large' | 'busy'
  | 'forbidden' | 'internal' | 'buffer_too_small'
  | 'unavailable' | 'timeout' | 'closed' | 'protocol' | 'overloaded';

export declare class TtscacheError extends Error {
  readonly code: ErrorCode;
  /** For 'busy': how long to wait before retrying. */
  readonly retryAfterMs?: number;
  readonly needed?: number;
  /** true: refused in this process, nothing sent ('too_large' over the frame limit, 'overloaded'). */
  readonly local?: boolean;
}

export interface ClientOptions {
  /** Default: $TTSCACHE_SOCKET, else /run/ttscache/ttscached.sock. */
  socketPath?: string;
  /** Per request, default 10000. */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  /** Bytes of requests not yet taken by the daemon before new ones are refused ('overloaded'). Default 64 MiB. */
  maxQueuedBytes?: number;
}

/** Options of one call. */
export interface CallOptions {
  /** This call's timeout instead of the client's timeoutMs. */
  timeoutMs?: number;
}

export interface OpusOptions {
  /** kb/s, 6–510; omitted: the daemon's configured [opus] settings. */
  bitrate?: number;
  vbr?: 'on' | 'off' | 'constrained';
  application?: 'voip' | 'audio' | 'lowdelay';
  complexity?: number;
  frameMs?: 2.5 | 5 | 10 | 20 | 40 | 60;
}

export interface GetOptions extends OpusOptions, CallOptions {
  format?: 'wav' | 'opus';
}

export interface HelloReply {
  version: number;
  maxFrameBody: number;
  maxTextBytes: number;
  maxInflight: number;
  maxArenaBytes: number;
}

export interface EngineStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  puts: number;
  evictions: number;
  variantHits: number;
  variantMisses: number;
}

export interface StatsOptions extends CallOptions {
  /** Also ask for the cache's limits (stats.limits). */
  limits?: boolean;
  /** Also ask for the encode streams' counters (stats.streams). */
  streams?: boolean;
}

export interface Stats {
  engines: Record<string, EngineStats>;
  connections: number;
  requests: number;
  busy: number;
  errors: number;
  encodes: number;
  sharedEncodes: number;
  /** When asked ({limits: true}) and the daemon knows the flag. maxBytes 0: no limit. */
  limits?: { maxEntries: number; maxBytes: number };
  /** When asked ({streams: true}) and the daemon knows the flag. */
  streams?: { open: number; opened: number; stored: number; failed: number };
}

export type SampleFormat = 'u8' | 's16le' | 's24le' | 's32le' | 'f32le' | 'f64le';

interface EncodeStreamCommon extends OpusOptions, CallOptions {}
interface Uncached { engine?: undefined; text?: undefined }
/** Both or neither: with both, the finished stream is cached as (engine, text) and its Opus variant. */
interface Cached { engine: string; text: string }

/** Raw interleaved little-endian PCM, e.g. `piper --output_raw` (s16le, mono, the voice's rate). */
export type RawEncodeStreamOptions = EncodeStreamCommon & (Uncached | Cached) & {
  input?: 'raw';
  /** Default 's16le'. */
  sampleFormat?: SampleFormat;
  /** 1 or 2, default 1. */
  channels?: 1 | 2;
  /** Hz, 8000–192000. */
  rate: number;
};
/** A WAV as an engine writes it to a pipe (header first; its sizes may be 0 or 0xFFFFFFFF). */
export type WavEncodeStreamOptions = EncodeStreamCommon & (Uncached | Cached) & { input: 'wav' };
export type EncodeStreamOptions = RawEncodeStreamOptions | WavEncodeStreamOptions;

export interface EncodeStreamResult {
  /** The stream decodes to exactly this many samples at 48 kHz: ceil(N × 48000 / rate). */
  samples48k: number;
  cached: 'not-asked' | 'stored' | 'not-stored';
  /** Why it was not stored, when it was not. */
  note: string;
}

/**
 * Write PCM or WAV Buffers; read Ogg Opus bytes (audio/ogg; codecs=opus) as they are encoded.
 * end() finishes the stream; destroy(), an error, or a piped destination closing early aborts it.
 */
export interface EncodeStream extends Duplex {
  /** Resolves once the Ogg stream is complete; rejects with the error that ended it, or 'closed' after destroy(). */
  readonly result: Promise<EncodeStreamResult>;
}

export declare class Client {
  constructor(options?: ClientOptions);
  ping(options?: CallOptions): Promise<void>;
  hello(options?: CallOptions): Promise<HelloReply>;
  stats(options?: StatsOptions): Promise<Stats>;
  /** The cached WAV or its Opus variant; null on a miss. */
  get(engine: string, text: string, options?: GetOptions): Promise<Buffer | null>;
  put(engine: string, text: string, wav: Uint8Array, options?: CallOptions): Promise<void>;
  encode(wav: Uint8Array, options?: OpusOptions & CallOptions): Promise<Buffer>;
  putEncode(engine: string, text: string, wav: Uint8Array, options?: OpusOptions & CallOptions): Promise<Buffer>;
  /** An encode stream; throws RangeError on options the daemon would refuse (e.g. raw without a rate). */
  encodeStream(options: EncodeStreamOptions): EncodeStream;
  close(): void;
}
