// The circuit breaker and the rate-limited warnings on a fake clock: no daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker, RateLimitedWarnings } from '../breaker.js';
import { TtscacheError } from '../index.js';

const noAnswer = new TtscacheError('timeout', 'no reply within 250 ms');

function fixture() {
  const clock = { now: 0 };
  const probes = [];  // {resolve, reject} of each probe started
  const warnings = [];
  const onWarning = (w) => warnings.push(w.message);
  process.on('warning', onWarning);
  const breaker = new CircuitBreaker({
    failures: 3, openMs: 1000, maxOpenMs: 8000, now: () => clock.now,
    warnings: new RateLimitedWarnings({ now: () => clock.now }),
    probe: () => new Promise((resolve, reject) => probes.push({ resolve, reject })),
  });
  let opened = 0;
  breaker.onOpen = () => opened++;
  const settle = () => new Promise((r) => setImmediate(r));
  return { clock, probes, warnings, breaker, opened: () => opened, settle, done: async () => { await settle(); process.off('warning', onWarning); } };
}

test('opens after 3 calls without an answer; one probe; the wait doubles to its cap', async () => {
  const f = fixture();
  const { breaker, clock, probes } = f;
  breaker.failed(noAnswer);
  breaker.failed(noAnswer);
  assert.ok(breaker.allows());
  breaker.failed(noAnswer);
  assert.equal(breaker.state, 'open');
  assert.equal(f.opened(), 1);
  assert.ok(!breaker.allows());
  assert.match(breaker.fastFailure().message, /skipped after 3 calls .* next try in 1000 ms/);

  for (const wait of [1000, 2000, 4000, 8000, 8000]) {
    clock.now += wait - 1;
    assert.ok(!breaker.allows());
    assert.equal(probes.length, 0, `no probe before ${wait} ms`);
    clock.now += 1;
    assert.ok(!breaker.allows(), 'the call that starts the probe fails fast too');
    assert.ok(!breaker.allows());
    assert.equal(probes.length, 1, 'one probe at a time');
    probes.shift().reject(noAnswer);
    await f.settle();
    assert.equal(breaker.state, 'open');
  }
  await f.done();
});

test('a probe answered closes it; a real success resets the wait; warnings: one down, one up', async () => {
  const f = fixture();
  const { breaker, clock, probes, warnings } = f;
  for (let i = 0; i < 3; i++) breaker.failed(noAnswer);
  clock.now += 1000;
  breaker.allows();
  probes.shift().reject(noAnswer);  // next wait: 2000
  await f.settle();
  clock.now += 2000;
  breaker.allows();
  probes.shift().resolve();
  await f.settle();
  assert.equal(breaker.state, 'closed');
  assert.ok(breaker.allows());
  // Opening again right away keeps the longer wait (the probe alone proves little)...
  for (let i = 0; i < 3; i++) breaker.failed(noAnswer);
  assert.match(breaker.fastFailure().message, /next try in 4000 ms/);
  clock.now += 4000;
  breaker.allows();
  probes.shift().resolve();
  await f.settle();
  // ...until a real call succeeds.
  breaker.succeeded();
  for (let i = 0; i < 3; i++) breaker.failed(noAnswer);
  assert.match(breaker.fastFailure().message, /next try in 1000 ms/);
  await f.settle();
  assert.equal(warnings.filter((w) => /does not answer/.test(w)).length, 1, warnings.join('\n'));
  assert.equal(warnings.filter((w) => /answers again/.test(w)).length, 1, warnings.join('\n'));
  await f.done();
});

test('an answer that is an error (busy, bad_audio) is not a failure', async () => {
  const f = fixture();
  f.breaker.failed(noAnswer);
  f.breaker.failed(noAnswer);
  f.breaker.succeeded();  // what run() does for a daemon error
  f.breaker.failed(noAnswer);
  assert.equal(f.breaker.state, 'closed');
  await f.done();
});

test('rate-limited warnings: once a minute per kind, then with the count held back', async () => {
  const clock = { now: 0 };
  const w = new RateLimitedWarnings({ now: () => clock.now });
  const seen = [];
  const onWarning = (x) => seen.push(x.message);
  process.on('warning', onWarning);
  assert.ok(w.warn('put:busy', 'put dropped'));
  for (let i = 0; i < 50; i++) assert.ok(!w.warn('put:busy', 'put dropped'));
  assert.ok(w.warn('get:unknown_engine', 'other kind'));
  clock.now += 60_000;
  assert.ok(w.warn('put:busy', 'put dropped'));
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  assert.equal(seen.length, 3);
  assert.match(seen[2], /put dropped \(50 more like it in the last 60 s\)/);
});
