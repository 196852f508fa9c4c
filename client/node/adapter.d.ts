// Types of the drop-in adapter (adapter.js): the old module's signatures.
import type { ClientOptions } from './index.js';

/**
 * initDiskCache's options: the Client's (timeoutMs defaults to
 * $TTSCACHE_TIMEOUT_MS, else 250; connectTimeoutMs to timeoutMs; maxQueuedBytes
 * to 16 MiB), plus the
 * circuit breaker's.
 */
export interface AdapterOptions extends ClientOptions {
  /** Calls without an answer in a row before the breaker opens. Default 3. */
  breakerFailures?: number;
  /** How long it first stays open (then doubles per failed probe). Default 1000. */
  breakerOpenMs?: number;
  /** The most it stays open. Default 30000. */
  breakerMaxOpenMs?: number;
  /** How long diskCacheGet waits for another process's synthesis of a miss, ms; 0: no claims. Default $TTSCACHE_CLAIM_WAIT_MS, else 30000. */
  claimWaitMs?: number;
  /** withSynthesisSlot's default wait for a unit, ms. Default $TTSCACHE_SLOT_WAIT_MS, else 60000. */
  slotWaitMs?: number;
}

/** Resolves whether or not the daemon answers (a warning says when it does not). */
export declare function initDiskCache(options?: AdapterOptions): Promise<void>;
/**
 * null on a miss (synthesize, then diskCachePut), and while the daemon does not answer. A miss another process
 * is synthesizing waits for its put (claimWaitMs) and resolves with that audio, or null when the wait ends.
 */
export declare function diskCacheGet(text: string, engine: string): Promise<Buffer | null>;
/** Resolves, stored or dropped; never rejects. A dropped put gives up the claim diskCacheGet took. */
export declare function diskCachePut(text: string, engine: string, buffer: Buffer): Promise<void>;
/** Entries per engine; zeros while the daemon does not answer. */
export declare function getDiskCacheStats(): Promise<Record<string, number> & { xtts: number; piper: number }>;
/** Rejects (a TtscacheError) when the daemon cannot encode: send the WAV then. */
export declare function encodeWavToOpus(
  wavBuffer: Buffer,
  bitrate?: number,
): Promise<{ buffer: Buffer; contentType: string }>;
export declare function isOpusEnabled(): boolean;
/**
 * Runs fn holding a unit of the daemon's synthesis slot `engine` (an engine, or a configured slot such as 'gpu'),
 * shared by every process on the host; fn's result or rejection is the call's. When no unit comes (no answer, the
 * wait ended, an unknown name), fn runs without one and a rate-limited warning says so.
 */
export declare function withSynthesisSlot<T>(
  engine: string,
  fn: () => T | Promise<T>,
  options?: { waitMs?: number },
): Promise<T>;
