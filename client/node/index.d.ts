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

/** Options of a call naming an entry: its voice within the engine (or pass engine as 'piper/voice'). */
export interface VoiceOptions {
  /** [A-Za-z0-9][A-Za-z0-9._-]{0,63}, e.g. 'en_US-lessac-medium'. */
  voice?: string;
}

export interface GetOptions extends OpusOptions, CallOptions, VoiceOptions {
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
  /** With {detail: true}: the least recently used entry's last use (Unix ns; 0: empty). */
  oldestAccessNs?: number;
  /** With {detail: true}: hits / (hits + misses); 0 before any get. */
  hitRatio?: number;
}

export interface StatsOptions extends CallOptions {
  /** Also ask for the cache's limits (stats.limits). */
  limits?: boolean;
  /** Also ask for the encode streams' counters (stats.streams). */
  streams?: boolean;
  /** Everything monitoring needs (stats.detail, engines[name].oldestAccessNs and hitRatio); implies limits and streams. */
  detail?: boolean;
  /** Also ask for the claims' and synthesis slots' figures (stats.coordination). */
  coordination?: boolean;
  /** Also ask for the fleet tier's figures (stats.tier). */
  tier?: boolean;
}

/**
 * The fleet's second tier (docs/fleet.md): counters since the daemon started
 * (state and queueDepth: now); docs/protocol.md, "STATS reply", flag 16, says
 * what each counts. enabled false: no [tier] configured, every figure 0.
 */
export interface TierStats {
  enabled: boolean;
  /** The circuit breaker: 'down' skips lookups and writes; 'probing' tries the pool again. */
  state: 'up' | 'down' | 'probing';
  /** memcached servers configured. */
  servers: number;
  /** Lookups made for local GET misses (one per entry, however many GETs asked). */
  lookups: number;
  /** GETs that joined a lookup already under way. */
  coalesced: number;
  /** WAVs found in the pool and stored locally. */
  hits: number;
  variantHits: number;
  misses: number;
  errors: number;
  /** GETs answered at the tier's deadline before their lookup ended. */
  timeouts: number;
  /** Values that failed their checksum or header check. */
  corrupt: number;
  /** Lookups not made: the breaker down or the lookup queue full. */
  skipped: number;
  writes: number;
  writeErrors: number;
  /** Values not queued for writing: the queue was full. */
  dropped: number;
  oversized: number;
  queueDepth: number;
  /** [tier] queue_size. */
  queueCapacity: number;
  breakerOpens: number;
  /** Time lookups took, summed, in µs. */
  lookupUs: number;
  /** hits / lookups (0 before any). */
  hitRatio: number;
}

/** A synthesis slot in STATS (an engine's or one of [coordinate] slots). */
export interface SlotStats {
  /** Units; 0: no limit. */
  size: number;
  held: number;
  waiting: number;
  acquired: number;
  /** Acquires that had to wait. */
  waited: number;
  timeouts: number;
  /** Time acquires spent waiting, summed, in µs. */
  waitUs: number;
}

export interface CoordinationStats {
  /** Claims granted since start, takeovers included. */
  claims: number;
  /** GETs that waited for another's claim. */
  claimWaits: number;
  /** Of those, answered after the entry was stored. */
  waitsServed: number;
  waitTimeouts: number;
  leaseExpiries: number;
  /** Claims passed to a waiting GET (lease expiry, disconnect, drop). */
  takeovers: number;
  claimsRefused: number;
  /** Now: claims held. */
  claimsOpen: number;
  /** Now: GETs waiting. */
  waiting: number;
  /** Every engine and every configured slot, by name. */
  slots: Record<string, SlotStats>;
}

export interface GetOrClaimOptions extends GetOptions {
  /** How long to wait for another client's synthesis of the phrase, ms (0: not at all). Default 30000; the daemon cuts it to its max_wait_s. */
  waitMs?: number;
}

/**
 * A hit: {audio, claimed: false}. The miss is yours: {audio: null, claimed: true, leaseMs} — synthesize
 * and put within leaseMs (or dropClaim). The wait ended or a claim was refused: {audio: null, claimed: false}.
 */
export interface ClaimedGet {
  audio: Buffer | null;
  claimed: boolean;
  /** The claim's lease, ms (0 unless claimed). */
  leaseMs: number;
}

export interface SlotOptions extends CallOptions {
  /** How long to wait for a unit, ms. Default 60000; the daemon cuts it to its max_wait_s. */
  waitMs?: number;
}

/** A unit of a synthesis slot, held by this client's connection until releaseSlot (or the connection closes). */
export interface SlotHold {
  /** The connection's handle for it, never 0n. */
  hold: bigint;
  /** The slot's size; 0: no limit. */
  size: number;
  /** Units held now, this one included. */
  held: number;
}

export interface StatsDetail {
  diskFreeBytes: number;
  diskTotalBytes: number;
  /** 0: none. */
  minFreeBytes: number;
  /** 0: none. */
  maxAgeS: number;
  expired: number;
  evictedForSpace: number;
  deleted: number;
  purged: number;
  queueDepth: number;
  queueCapacity: number;
  connectionsOpen: number;
  forbidden: number;
  /** Cumulative counts of encodes that took at most boundsUs[i]; count and sumUs over all. */
  encodeDurations: { boundsUs: number[]; counts: number[]; count: number; sumUs: number };
}

export interface DeleteResult {
  /** false: it was not cached. */
  deleted: boolean;
  bytes: number;
  variants: number;
}

export interface PurgeResult {
  entries: number;
  bytes: number;
}

export interface ListOptions extends CallOptions {
  /** With all its voices, unless `voice` is given. */
  engine?: string;
  voice?: string;
  /** Seconds since last use, inclusive; 0 or absent: no bound. */
  minIdleS?: number;
  maxIdleS?: number;
  /** Total bytes (WAV and variants), inclusive; 0 or absent: no bound. */
  minBytes?: number;
  maxBytes?: number;
  /** Entries per page, 1–1024 (default 1024). */
  pageSize?: number;
  /** Resume from a page's nextCursor. */
  cursor?: bigint;
}

export interface ListedVariant {
  bitrate: number;
  vbr: 'on' | 'off' | 'constrained';
  application: 'voip' | 'audio' | 'lowdelay';
  complexity: number;
  frameMs: number;
  bytes: number;
}

export interface ListedEntry {
  engine: string;
  /** null: the engine's own entry. */
  voice: string | null;
  /** 64 hex digits: the file name's SHA-256. */
  key: string;
  wavBytes: number;
  totalBytes: number;
  /** Unix time in ns. */
  lastAccessNs: bigint;
  variants: ListedVariant[];
}

export interface ListPage {
  entries: ListedEntry[];
  /** 0n: the last page. */
  nextCursor: bigint;
}

export interface VerifyProblem {
  kind: string;
  /** Relative to the cache dir; '' for the index itself. */
  path: string;
  detail: string;
  repaired: boolean;
}

export interface VerifyResult {
  verdict: 'clean' | 'repaired' | 'damaged';
  entriesChecked: number;
  filesChecked: number;
  /** May exceed problems.length (at most 1000 are listed). */
  problemsTotal: number;
  problems: VerifyProblem[];
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
  /** When asked ({detail: true}) and the daemon knows the flag. */
  detail?: StatsDetail;
  /** When asked ({coordination: true}) and the daemon knows the flag. */
  coordination?: CoordinationStats;
  /** When asked ({tier: true}) and the daemon knows the flag. */
  tier?: TierStats;
}

export type SampleFormat = 'u8' | 's16le' | 's24le' | 's32le' | 'f32le' | 'f64le';

interface EncodeStreamCommon extends OpusOptions, CallOptions, VoiceOptions {}
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
  /**
   * A get that coordinates the miss with every client of the daemon (see ClaimedGet). The call's timeout is
   * timeoutMs plus waitMs.
   */
  getOrClaim(engine: string, text: string, options?: GetOrClaimOptions): Promise<ClaimedGet>;
  /** Gives up this connection's claim on the entry; false when it held none. */
  dropClaim(engine: string, text: string, options?: CallOptions & VoiceOptions): Promise<boolean>;
  /**
   * A unit of the slot `name` (an engine, or a slot of [coordinate] slots such as 'gpu'). Rejects 'busy' when none
   * came within waitMs, 'unknown_engine' for a name the daemon does not know. Timeout: timeoutMs plus waitMs.
   */
  acquireSlot(name: string, options?: SlotOptions): Promise<SlotHold>;
  /** Gives the unit back; resolves at once if its connection is gone (the daemon freed it then). */
  releaseSlot(hold: SlotHold | bigint, options?: CallOptions): Promise<void>;
  /** Runs fn holding a unit of the slot and releases it when fn settles; rejects as acquireSlot without running fn. */
  withSlot<T>(name: string, fn: (hold: SlotHold) => T | Promise<T>, options?: SlotOptions): Promise<T>;
  put(engine: string, text: string, wav: Uint8Array, options?: CallOptions & VoiceOptions): Promise<void>;
  encode(wav: Uint8Array, options?: OpusOptions & CallOptions): Promise<Buffer>;
  putEncode(engine: string, text: string, wav: Uint8Array, options?: OpusOptions & CallOptions & VoiceOptions): Promise<Buffer>;
  /** Admin only ('forbidden' otherwise). deleted false: it was not cached. */
  delete(engine: string, text: string, options?: CallOptions & VoiceOptions): Promise<DeleteResult>;
  /** key: 32 bytes or 64 hex digits (ListedEntry.key). Admin only. */
  deleteKey(engine: string, key: string | Uint8Array, options?: CallOptions & VoiceOptions): Promise<DeleteResult>;
  /** Every entry of the engine (all its voices) or of one voice. Admin only. */
  purge(engine: string, options?: CallOptions & VoiceOptions): Promise<PurgeResult>;
  /** Pages of the index, asked one at a time as they are taken. */
  list(options?: ListOptions): AsyncGenerator<ListPage, void, undefined>;
  /** repair: admin only. */
  verify(options?: CallOptions & { repair?: boolean }): Promise<VerifyResult>;
  /** An encode stream; throws RangeError on options the daemon would refuse (e.g. raw without a rate). */
  encodeStream(options: EncodeStreamOptions): EncodeStream;
  close(): void;
}
