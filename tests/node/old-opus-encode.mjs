// A faithful re-implementation of the Node.js backend's old opus-encode
// module (opus-encode.ts), which ttscache/adapter replaces: one ffmpeg process
// per request, the WAV written to its stdin, the Ogg Opus stream collected
// from its stdout. The benchmarks use it as the reference (bench/node_http).
//
// Exports what the old module exported: encodeWavToOpus and isOpusEnabled.
import { spawn } from 'node:child_process';

const OPUS_CONTENT_TYPE = 'audio/ogg; codecs=opus';
const DEFAULT_BITRATE = parseInt(process.env.OPUS_BITRATE || '32', 10);

// OPUS_ENABLED=true in the backend's environment turns Opus on.
export function isOpusEnabled() {
  return process.env.OPUS_ENABLED === 'true';
}

// → {buffer, contentType}; rejects when ffmpeg cannot be started or exits
// with a non-zero status.
export function encodeWavToOpus(wavBuffer, bitrate = DEFAULT_BITRATE) {
  return new Promise((resolve, reject) => {
    const ffmpeg = spawn('ffmpeg', [
      '-hide_banner', '-loglevel', 'error',
      '-i', 'pipe:0',
      '-c:a', 'libopus', '-b:a', `${bitrate}k`, '-vbr', 'on', '-application', 'voip',
      '-f', 'ogg', 'pipe:1',
    ]);
    const chunks = [];
    let stderr = '';
    ffmpeg.stdout.on('data', (chunk) => chunks.push(chunk));
    ffmpeg.stderr.on('data', (chunk) => { stderr += chunk; });
    ffmpeg.on('error', (err) => reject(new Error(`ffmpeg spawn failed: ${err.message}`)));
    ffmpeg.on('close', (code) => {
      if (code === 0) {
        resolve({ buffer: Buffer.concat(chunks), contentType: OPUS_CONTENT_TYPE });
      } else {
        reject(new Error(`ffmpeg exited with code ${code}: ${stderr.trim()}`));
      }
    });
    // A write after ffmpeg has gone (EPIPE) is reported by its exit status.
    ffmpeg.stdin.on('error', () => {});
    ffmpeg.stdin.end(wavBuffer);
  });
}
