// The load side of bench/run_node_http_bench.sh, in its own process: autocannon
// (from the npm registry, resolved from MODULES_DIR) sends GET /tts?text=… to
// one server of bench/node_http/server.mjs and prints one JSON line of results.
//
// The request sequence is a pure function of the request's index, the same for
// both modes: in each block of ten requests one, at a position drawn from the
// block number, is a phrase never asked before ("fresh", a miss by
// construction); the other nine pick one of WARM phrases by Zipf rank (s = 1).
// The hit rate reported is the server's count, not this design.
//
// Usage: node load.mjs MODULES_DIR URL warm WARM
//          asks every warm phrase once (2 at a time): the cache holds them.
//        node load.mjs MODULES_DIR URL run WARM SECONDS CONNECTIONS ROUND
//          the measured run; ROUND keeps its fresh phrases apart from other runs'.
import http from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { mix, zipfRanks } from './zipf.mjs';

const [modulesDir, url, command, warmArg, secondsArg, connectionsArg, round] = process.argv.slice(2);
const warm = parseInt(warmArg, 10);

function warmPhrase(rank) {
  return `Reply ${rank}: the lights in the living room are on and the door is locked.`;
}

const zipfRank = zipfRanks(warm);

export function phrase(index, roundTag) {
  const block = Math.floor(index / 10);
  if (index % 10 === Math.floor(mix(block * 2 + 1) * 10)) return `Fresh phrase ${roundTag}.${index}, never said before.`;
  return warmPhrase(zipfRank(mix(index * 2)));
}

function getJson(path) {
  return new Promise((resolve, reject) => {
    http.get(new URL(path, url), (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`${path}: ${res.statusCode}`))));
    }).on('error', reject);
  });
}

function getStatus(path) {
  return new Promise((resolve, reject) => {
    http.get(new URL(path, url), (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); }).on('error', reject);
  });
}

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null;
}

if (command === 'warm') {
  let next = 1;
  const worker = async () => {
    for (let r = next++; r <= warm; r = next++) {
      const status = await getStatus(`/tts?text=${encodeURIComponent(warmPhrase(r))}`);
      if (status !== 200) throw new Error(`warm-up of phrase ${r}: HTTP ${status}`);
    }
  };
  await Promise.all([worker(), worker()]);
  console.log(JSON.stringify(await getJson('/stats')));
} else if (command === 'run') {
  const autocannon = createRequire(join(modulesDir, 'package.json'))('autocannon');
  let issued = 0;
  let ogg = 0;
  let notOgg = 0;
  const latencies = [];
  await getJson('/stats?reset=1');
  const instance = autocannon({
    url,
    connections: parseInt(connectionsArg, 10),
    duration: parseFloat(secondsArg),
    timeout: 30,
    requests: [{
      method: 'GET',
      setupRequest: (req) => ({ ...req, path: `/tts?text=${encodeURIComponent(phrase(issued++, round))}` }),
      // autocannon keeps each body as a string; the Ogg capture pattern is ASCII.
      onResponse: (status, body, context, headers) => {
        if (status !== 200) return;
        if (body.startsWith('OggS') && headers['content-type'] === 'audio/ogg; codecs=opus') ogg++; else notOgg++;
      },
    }],
  });
  // autocannon's own histogram has 1 ms steps; these are the exact times.
  instance.on('response', (client, status, bytes, ms) => { if (status === 200) latencies.push(ms); });
  const result = await instance;
  const served = await getJson('/stats');
  latencies.sort((a, b) => a - b);
  console.log(JSON.stringify({
    seconds: result.duration,
    requests_per_s: result['2xx'] / result.duration,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    ogg,
    not_ogg: notOgg,
    issued,
    hits: served.hits,
    misses: served.misses,
    failures: served.failures,
    failure_reasons: served.reasons,
    hit_rate: served.hits / Math.max(1, served.hits + served.misses),
  }));
} else {
  console.error('usage: load.mjs MODULES_DIR URL warm WARM | run WARM SECONDS CONNECTIONS ROUND');
  process.exit(2);
}
