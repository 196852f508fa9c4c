// Types of the ttscache Node.js client (index.js).
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

export interface Stats {
  engines: Record<string, EngineStats>;
  connections: number;
  requests: number;
  busy: number;
  errors: number;
  encodes: number;
  sharedEncodes: number;
}

export declare class Client {
  constructor(options?: ClientOptions);
  ping(options?: CallOptions): Promise<void>;
  hello(options?: CallOptions): Promise<HelloReply>;
  stats(options?: CallOptions): Promise<Stats>;
  /** The cached WAV or its Opus variant; null on a miss. */
  get(engine: string, text: string, options?: GetOptions): Promise<Buffer | null>;
  put(engine: string, text: string, wav: Uint8Array, options?: CallOptions): Promise<void>;
  encode(wav: Uint8Array, options?: OpusOptions & CallOptions): Promise<Buffer>;
  putEncode(engine: string, text: string, wav: Uint8Array, options?: OpusOptions & CallOptions): Promise<Buffer>;
  close(): void;
}
