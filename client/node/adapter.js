// Drop-in replacement for the backend's old tts-cache.ts and opus-encode.ts:
// the same exported names and signatures, served by ttscached instead of the
// local folder and an ffmpeg per request. The backend changes one import:
//   import { diskCacheGet, diskCachePut, ... } from 'ttscache/adapter';
//
// Differences, on purpose: the cache dir, entry limit and eviction are the
// daemon's (its config, or the same TTS_CACHE_* variables in its environment);
// diskCacheGet degrades to a miss (null, plus a process warning) when the daemon
// cannot be reached, as the old module did for a missing file; the stats hold
// every configured engine, not only xtts and piper.
import { Client, OPUS_CONTENT_TYPE } from './index.js';

let client = null;
function shared() {
  client ??= new Client();
  return client;
}

// Points the adapter at a socket (default: $TTSCACHE_SOCKET, else the
// installed daemon's) and checks the daemon answers. The old module created
// the cache folders here; the daemon owns them now.
export async function initDiskCache(options = {}) {
  client?.close();
  client = new Client(options);
  await client.ping();
}

export async function diskCacheGet(text, engine) {
  try {
    return await shared().get(engine, text);
  } catch (err) {
    process.emitWarning(`ttscache: ${err.message}; treating as a miss`, { code: `TTSCACHE_${err.code}` });
    return null;
  }
}

export async function diskCachePut(text, engine, buffer) {
  await shared().put(engine, text, buffer);
}

// → { xtts: entries, piper: entries, ... } for every engine the daemon serves.
export async function getDiskCacheStats() {
  const { engines } = await shared().stats();
  return Object.fromEntries(Object.entries(engines).map(([name, e]) => [name, e.entries]));
}

// Bitrate in kb/s; default $OPUS_BITRATE as before, else the daemon's setting.
// Encoded as the old ffmpeg command did: VBR on, application voip.
export async function encodeWavToOpus(wavBuffer, bitrate) {
  const kbps = bitrate ?? (process.env.OPUS_BITRATE ? parseInt(process.env.OPUS_BITRATE, 10) : undefined);
  const options = kbps === undefined ? {} : { bitrate: kbps, vbr: 'on', application: 'voip' };
  return { buffer: await shared().encode(wavBuffer, options), contentType: OPUS_CONTENT_TYPE };
}

// As before: OPUS_ENABLED=true in the backend's environment.
export function isOpusEnabled() {
  return process.env.OPUS_ENABLED === 'true';
}
