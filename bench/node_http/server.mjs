// A minimal stand-in for the Node voice backend (jarvis-backend) of the
// "Node backend" issue: GET /tts?text=… looks the phrase up in the disk cache,
// on a miss synthesizes it and puts it, then encodes the WAV to Ogg Opus and
// answers it. The two modes differ only in the modules imported:
//   old  tests/node/old-tts-cache.mjs + tests/node/old-opus-encode.mjs
//        (a cache folder, one ffmpeg per request)
//   new  the package specifier 'ttscache/adapter', resolved from MODULES_DIR
//        (a folder whose node_modules/ttscache is the package, as a backend
//        that installed it has)
// Synthesis is stood in by reading one of the prepared speech WAVs in WAV_DIR.
//
// Usage: node server.mjs old|new WAV_DIR [MODULES_DIR]
//   prints {"port": N} once listening on 127.0.0.1 (PORT, default: any).
//   GET /stats → {hits, misses, failures, reasons}; GET /stats?reset=1 also zeroes them.
//   A failed encode is answered with the WAV (the backend's fallback) and
//   counted as a failure; anything else that fails is an HTTP 500.
// Environment as the backend's: OPUS_ENABLED, OPUS_BITRATE, TTS_CACHE_DIR and
// TTS_CACHE_MAX (old), TTSCACHE_SOCKET (new).
// SYNTH_MS (new only; bench/run_coordinate_bench.sh): synthesis costs that
// many ms of sleep, inside withSynthesisSlot(SYNTH_SLOT, default 'gpu'), as a
// GPU-bound engine would; /stats then counts `syntheses`.
import http from 'node:http';
import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [mode, wavDir, modulesDir] = process.argv.slice(2);
const ENGINE = 'piper';

async function loadModules() {
  if (mode === 'old') {
    const tests = join(dirname(fileURLToPath(import.meta.url)), '../../tests/node');
    const cache = await import(pathToFileURL(join(tests, 'old-tts-cache.mjs')).href);
    const opus = await import(pathToFileURL(join(tests, 'old-opus-encode.mjs')).href);
    return { ...cache, ...opus };
  }
  if (mode === 'new') {
    // Resolved through the package's "exports" map as `import ... from
    // 'ttscache/adapter'` in a file of MODULES_DIR would be.
    const resolved = createRequire(join(modulesDir, 'package.json')).resolve('ttscache/adapter');
    return import(pathToFileURL(resolved).href);
  }
  throw new Error(`mode must be old or new, not ${mode}`);
}

const { initDiskCache, diskCacheGet, diskCachePut, encodeWavToOpus, isOpusEnabled, withSynthesisSlot } = await loadModules();
const synthMs = process.env.SYNTH_MS ? parseInt(process.env.SYNTH_MS, 10) : 0;
const synthSlot = process.env.SYNTH_SLOT || 'gpu';
if (synthMs && !withSynthesisSlot) throw new Error('SYNTH_MS needs the new mode (withSynthesisSlot)');

// The synthesizer's stand-in: the same text always gets the same recording.
const voices = (await readdir(wavDir)).filter((f) => f.endsWith('.wav')).sort();
if (voices.length === 0) throw new Error(`no .wav in ${wavDir}`);
async function synthesize(text) {
  if (synthMs) {
    return withSynthesisSlot(synthSlot, async () => {
      await new Promise((r) => setTimeout(r, synthMs));
      counts.syntheses++;
      return recording(text);
    });
  }
  return recording(text);
}
function recording(text) {
  let h = 0;
  for (const c of text) h = (h * 31 + c.codePointAt(0)) >>> 0;
  return readFile(join(wavDir, voices[h % voices.length]));
}

const counts = { hits: 0, misses: 0, failures: 0, syntheses: 0, reasons: {} };  // reasons: failure message → count

async function tts(text) {
  let wav = await diskCacheGet(text, ENGINE);
  if (wav) {
    counts.hits++;
  } else {
    counts.misses++;
    wav = await synthesize(text);
    await diskCachePut(text, ENGINE, wav);
  }
  if (!isOpusEnabled()) return { buffer: wav, contentType: 'audio/wav' };
  try {
    return await encodeWavToOpus(wav);
  } catch (err) {
    // As the backend does: the WAV is served when the encode fails (counted:
    // the report shows the reasons, and a WAV is not an Opus response).
    countFailure(err);
    return { buffer: wav, contentType: 'audio/wav' };
  }
}

function countFailure(err) {
  counts.failures++;
  const reason = `${err.code ? `${err.code}: ` : ''}${err.message}`.slice(0, 200);
  counts.reasons[reason] = (counts.reasons[reason] ?? 0) + 1;
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(counts));
    if (url.searchParams.get('reset') === '1') Object.assign(counts, { hits: 0, misses: 0, failures: 0, syntheses: 0, reasons: {} });
    return;
  }
  const text = url.searchParams.get('text');
  if (url.pathname !== '/tts' || !text) {
    res.writeHead(404).end();
    return;
  }
  try {
    const { buffer, contentType } = await tts(text);
    res.writeHead(200, { 'content-type': contentType, 'content-length': buffer.length });
    res.end(buffer);
  } catch (err) {
    countFailure(err);
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`${err.message}\n`);
  }
});

await initDiskCache();
server.keepAliveTimeout = 60_000;
server.listen(parseInt(process.env.PORT || '0', 10), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
