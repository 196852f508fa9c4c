// Compiled with `tsc --noEmit --strict` by tests/cli/node_types_test.sh: the
// shipped .d.ts files must describe how the backend uses the package.
import type { Duplex } from 'node:stream';
import { Client, TtscacheError, type Stats, type EncodeStreamResult, type ListedEntry, type VerifyResult, type DeleteResult,
  type ClaimedGet, type SlotHold, type CoordinationStats, type TierStats } from 'ttscache';
import {
  initDiskCache, diskCacheGet, diskCachePut, getDiskCacheStats, encodeWavToOpus, isOpusEnabled, withSynthesisSlot,
} from 'ttscache/adapter';

// Coordination: one synthesis per phrase, and a slot around it.
async function coordinated(client: Client, wav: Buffer): Promise<number> {
  await initDiskCache({ claimWaitMs: 30000, slotWaitMs: 60000 });
  const audio: Buffer = (await diskCacheGet('Hi', 'piper')) ?? await withSynthesisSlot('piper', async () => wav);
  const n: number = await withSynthesisSlot('gpu', () => 3, { waitMs: 1000 });
  const got: ClaimedGet = await client.getOrClaim('piper', 'Hi', { waitMs: 5000, format: 'opus', voice: 'v', timeoutMs: 100 });
  if (got.claimed) {
    const lease: number = got.leaseMs;
    if (lease < 0) await client.dropClaim('piper', 'Hi', { voice: 'v' });
    const dropped: boolean = await client.dropClaim('piper/v', 'Hi');
    void dropped;
  }
  const hold: SlotHold = await client.acquireSlot('gpu', { waitMs: 0 });
  const handle: bigint = hold.hold;
  await client.releaseSlot(hold);
  await client.releaseSlot(handle, { timeoutMs: 100 });
  const inside: string = await client.withSlot('xtts', async (h) => `${h.size}/${h.held}`, { waitMs: 10 });
  const s: Stats = await client.stats({ coordination: true });
  const c: CoordinationStats | undefined = s.coordination;
  const gpuHeld: number = c?.slots['gpu']?.held ?? 0;
  // @ts-expect-error a wait is a number of ms
  client.acquireSlot('gpu', { waitMs: '10' });
  // @ts-expect-error withSynthesisSlot needs the function to run
  withSynthesisSlot('gpu');
  return audio.length + n + inside.length + gpuHeld + (got.audio?.length ?? 0);
}
void coordinated;

// The fleet tier's figures, absent from a daemon that predates them.
async function tierFigures(client: Client): Promise<number> {
  const s: Stats = await client.stats({ tier: true, coordination: true });
  const t: TierStats | undefined = s.tier;
  if (t === undefined || !t.enabled) return 0;
  const up: boolean = t.state === 'up';
  // @ts-expect-error the state is one of three names
  const bad: TierStats['state'] = 'broken';
  void bad;
  return (up ? 1 : 0) + t.hitRatio + t.lookups + t.variantHits + t.queueDepth / t.queueCapacity + t.lookupUs;
}
void tierFigures;

async function backend(wav: Buffer): Promise<number> {
  await initDiskCache();
  await initDiskCache({ socketPath: '/run/ttscache/ttscached.sock', timeoutMs: 250, breakerFailures: 3,
    breakerOpenMs: 1000, breakerMaxOpenMs: 30000 });
  const cached: Buffer | null = await diskCacheGet('One moment.', 'piper');
  if (!cached) await diskCachePut('One moment.', 'piper', wav);
  const counts: { xtts: number; piper: number } = await getDiskCacheStats();
  const { buffer, contentType }: { buffer: Buffer; contentType: string } = await encodeWavToOpus(wav, 32);
  const enabled: boolean = isOpusEnabled();

  const client = new Client({ socketPath: '/run/ttscache/ttscached.sock', timeoutMs: 500 });
  const opus: Buffer | null = await client.get('xtts', 'Hi', { format: 'opus', bitrate: 24, frameMs: 20 });
  const encoded: Buffer = await client.encode(wav, { vbr: 'constrained', application: 'audio', timeoutMs: 5000 });
  await client.put('xtts', 'Hi', wav, { timeoutMs: 200 });
  await client.ping({ timeoutMs: 100 });
  const stats: Stats = await client.stats();
  try {
    await client.put('xtts', 'Hi', wav);
  } catch (e) {
    if (e instanceof TtscacheError && e.code === 'busy') return e.retryAfterMs ?? 0;
  }
  const streamed: Stats = await client.stats({ streams: true, limits: true });
  const open: number = streamed.streams?.open ?? 0;
  const opusOut = client.encodeStream({ rate: 22050, sampleFormat: 's16le', channels: 1, bitrate: 24 });
  opusOut.end(wav);
  const done: EncodeStreamResult = await opusOut.result;
  const cachedAs: 'not-asked' | 'stored' | 'not-stored' = done.cached;
  const wavIn: Duplex = client.encodeStream({ input: 'wav', engine: 'piper', text: 'Hi', timeoutMs: 5000 });
  wavIn.destroy();
  // @ts-expect-error raw input needs its rate
  client.encodeStream({ sampleFormat: 's16le' });
  // @ts-expect-error an engine without a text
  client.encodeStream({ input: 'wav', engine: 'piper' });
  // Operating the cache, voices.
  await client.put('piper', 'Hi', wav, { voice: 'en_US-lessac-medium' });
  const voiced: Buffer | null = await client.get('piper/en_US-lessac-medium', 'Hi', { format: 'opus' });
  const removed: DeleteResult = await client.delete('piper', 'Hi', { voice: 'en_US-lessac-medium' });
  await client.deleteKey('piper', 'ab'.repeat(32));
  const { entries: purged }: { entries: number } = await client.purge('piper', { voice: 'v' });
  let listed = 0;
  for await (const page of client.list({ engine: 'piper', minIdleS: 86400, pageSize: 100 })) {
    for (const e of page.entries) {
      const entry: ListedEntry = e;
      const v: string | null = entry.voice;
      listed += entry.totalBytes + Number(entry.lastAccessNs > 0n) + (v?.length ?? 0);
    }
    const next: bigint = page.nextCursor;
    void next;
  }
  const verified: VerifyResult = await client.verify({ repair: true });
  const verdict: 'clean' | 'repaired' | 'damaged' = verified.verdict;
  const detailed: Stats = await client.stats({ detail: true });
  const free: number = detailed.detail?.diskFreeBytes ?? 0;
  const ratio: number = detailed.engines['piper'].hitRatio ?? 0;
  // @ts-expect-error a voice is a string
  client.get('piper', 'Hi', { voice: 3 });
  client.close();
  return listed + free + ratio + purged + Number(removed.deleted) + verdict.length + (voiced?.length ?? 0) +
    open + done.samples48k + cachedAs.length + counts.piper + buffer.length + contentType.length + Number(enabled) + (opus?.length ?? 0) +
    encoded.length + stats.engines['xtts'].entries;
}
void backend;
