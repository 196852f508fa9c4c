// Types of the drop-in adapter (adapter.js): the old module's signatures.
import type { ClientOptions } from './index.js';

export declare function initDiskCache(options?: ClientOptions): Promise<void>;
export declare function diskCacheGet(text: string, engine: string): Promise<Buffer | null>;
export declare function diskCachePut(text: string, engine: string, buffer: Buffer): Promise<void>;
export declare function getDiskCacheStats(): Promise<Record<string, number> & { xtts: number; piper: number }>;
export declare function encodeWavToOpus(
  wavBuffer: Buffer,
  bitrate?: number,
): Promise<{ buffer: Buffer; contentType: string }>;
export declare function isOpusEnabled(): boolean;
