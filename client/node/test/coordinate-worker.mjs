// A backend process for coordinate.test.mjs, forked by it: the adapter's
// flow as the backend runs it, with synthesis stood in by a sleep. It
// connects, says 'ready', and on 'go' runs its job, then reports and exits.
//   synthesize: diskCacheGet → null: "synthesize" (sleep synthMs, log a
//     line in the shared file, a WAV only this process makes), diskCachePut.
//     Reports the SHA-256 of the audio it ended with.
//   slot: withSynthesisSlot(slot, fn) where fn marks itself inside (a file in
//     a shared folder), counts the marks there, sleeps, unmarks. Reports the
//     most it saw inside at once.
import { createHash } from 'node:crypto';
import { appendFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as adapter from '../adapter.js';
import { makeWav } from './daemon.mjs';

const job = JSON.parse(process.argv[2]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

await adapter.initDiskCache({ socketPath: job.socket, timeoutMs: 500, claimWaitMs: job.claimWaitMs });
process.send({ ready: true });
await new Promise((r) => process.once('message', r));

if (job.kind === 'synthesize') {
  const t = performance.now();
  let wav = await adapter.diskCacheGet(job.text, job.engine);
  let synthesized = false;
  if (!wav) {
    synthesized = true;
    appendFileSync(job.log, `start ${process.pid}\n`);
    process.send({ synthesizing: true });
    await sleep(job.synthMs);
    wav = makeWav(2000, process.pid);
    appendFileSync(job.log, `done ${process.pid}\n`);
    await adapter.diskCachePut(job.text, job.engine, wav);
  }
  process.send({ sha: createHash('sha256').update(wav).digest('hex'), synthesized, ms: performance.now() - t });
} else if (job.kind === 'slot') {
  let most = 0;
  const ran = await adapter.withSynthesisSlot(job.slot, async () => {
    const mark = join(job.dir, String(process.pid));
    writeFileSync(mark, '');
    for (let i = 0; i < 10; i++) {
      most = Math.max(most, readdirSync(job.dir).length);
      await sleep(job.synthMs / 10);
    }
    rmSync(mark);
    return true;
  }, { waitMs: job.waitMs });
  process.send({ ran, most });
} else if (job.kind === 'absent') {
  const t = performance.now();
  const got = await adapter.diskCacheGet(job.text, job.engine);
  const getMs = performance.now() - t;
  const ran = await adapter.withSynthesisSlot(job.engine, () => 'synthesized');
  process.send({ got, getMs, ran });
}
process.exit(0);
