// The request sequences of the Node HTTP benchmarks (load.mjs,
// coordinate_load.mjs): deterministic chance from an integer, and Zipf
// ranks (s = 1), so that every mode of a benchmark sends the same requests
// in the same order.

// splitmix32 of an integer, as a number in [0, 1): the sequences' only source of chance.
export function mix(x) {
  x = (x + 0x9e3779b9) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return ((x ^ (x >>> 16)) >>> 0) / 2 ** 32;
}

// Zipf(s = 1) over ranks 1..n by its cumulative distribution: a function
// from u in [0, 1) to a rank.
export function zipfRanks(n) {
  const cumulative = [];
  for (let r = 1, sum = 0; r <= n; r++) cumulative.push((sum += 1 / r));
  return (u) => {
    const target = u * cumulative[cumulative.length - 1];
    let lo = 0, hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < target) lo = mid + 1; else hi = mid;
    }
    return lo + 1;
  };
}
