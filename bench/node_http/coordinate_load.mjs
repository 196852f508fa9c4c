// The load side of bench/run_coordinate_bench.sh: REQUESTS requests of
// GET /tts?text=… over several backend processes (bench/node_http/server.mjs,
// one URL each, taken in turn), CONNECTIONS at a time, against a cold cache.
// Phrases are drawn by Zipf rank (s = 1) from a working set of PHRASES, so
// the popular ones are asked by several processes while they are still being
// synthesized — the case coordination is for. The sequence is a pure function
// of the request's index: both modes send the same requests in the same order.
// Prints one JSON line: requests, distinct phrases, seconds, latency
// percentiles (ms), non-200 answers. Plain node:http, no dependency.
//
// Usage: node coordinate_load.mjs URL[,URL...] PHRASES REQUESTS CONNECTIONS
import http from 'node:http';

const [urlsArg, phrasesArg, requestsArg, connectionsArg] = process.argv.slice(2);
const urls = urlsArg.split(',');
const phrases = parseInt(phrasesArg, 10);
const requests = parseInt(requestsArg, 10);
const connections = parseInt(connectionsArg, 10);

// splitmix32 of an integer: the sequence's only source of chance.
function mix(x) {
  x = (x + 0x9e3779b9) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return ((x ^ (x >>> 16)) >>> 0) / 2 ** 32;
}
const cumulative = [];
for (let r = 1, sum = 0; r <= phrases; r++) cumulative.push((sum += 1 / r));
function zipfRank(u) {
  const target = u * cumulative[cumulative.length - 1];
  let lo = 0, hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] < target) lo = mid + 1; else hi = mid;
  }
  return lo + 1;
}
const phrase = (index) => `Working set phrase ${zipfRank(mix(index))}: the kettle has boiled, the tea is ready.`;

const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject);
  });
}

const latencies = [];
const seen = new Set();
let failed = 0;
let next = 0;
const start = performance.now();
await Promise.all(Array.from({ length: connections }, async () => {
  for (let i = next++; i < requests; i = next++) {
    const text = phrase(i);
    seen.add(text);
    const t = performance.now();
    const status = await get(`${urls[i % urls.length]}tts?text=${encodeURIComponent(text)}`);
    latencies.push(performance.now() - t);
    if (status !== 200) failed++;
  }
}));
const seconds = (performance.now() - start) / 1000;
latencies.sort((a, b) => a - b);
const at = (p) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]);
console.log(JSON.stringify({ requests, distinct: seen.size, seconds: Number(seconds.toFixed(1)), failed,
  p50_ms: at(50), p90_ms: at(90), p99_ms: at(99), max_ms: Math.round(latencies.at(-1)) }));
agent.destroy();
