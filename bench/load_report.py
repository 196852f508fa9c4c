#!/usr/bin/env python3
"""Tables for docs/benchmarks.md from one bench/run_load_bench.sh run.

Usage: load_report.py DEFAULT.csv BUSY_POLL.csv REDIS.csv FFMPEG_US.txt
DEFAULT/BUSY_POLL: load_bench output (case,clients,ops/s,p50,p99[,floor p50,
floor p99]) against a daemon with busy_poll_us = 0 and = 50. REDIS: lines
name,clients followed by redis-benchmark's GET csv. FFMPEG_US: one number.
"""
import csv
import sys


def load(path):
    out = {}
    for r in csv.reader(open(path)):
        floor = (float(r[5]), float(r[6])) if len(r) > 6 and r[5] else None
        out[(r[0], int(r[1]))] = (float(r[2]), float(r[3]), float(r[4]), floor)
    return out


def vs_floor(table, case):
    _, p50, _, fl = table[(case, 1)]
    return f"{p50:.1f} µs = {p50 / fl[0]:.2f}× its floor ({fl[0]:.1f} µs)"


ours, busy = load(sys.argv[1]), load(sys.argv[2])
redis = {}
for r in csv.reader(open(sys.argv[3])):
    # name,clients,"GET",rps,avg,min,p50,p95,p99,max
    redis[(r[0], int(r[1]))] = (float(r[3]), float(r[6]) * 1000, float(r[8]) * 1000)
ffmpeg_us = float(open(sys.argv[4]).read())

floor = ours[("floor_pingpong", 1)]
print(f"floor alone (bare socketpair ping-pong between two processes, placed like the client and "
      f"the daemon): p50 {floor[1]:.1f} µs, p99 {floor[2]:.1f} µs. Each one-client case also has "
      f"its own floor, sampled in 20 ms slices between its own.\n")
print("| case | clients | ops/s | p50 | p99 | floor p50 (interleaved) | p50 / floor |")
print("|---|---|---|---|---|---|---|")
for (name, c), (ops, p50, p99, fl) in ours.items():
    if name == "floor_pingpong":
        continue
    ratio = f"{fl[0]:.1f} µs | {p50 / fl[0]:.2f}×" if fl else " | "
    print(f"| {name} | {c} | {ops:,.0f} | {p50:.1f} µs | {p99:.1f} µs | {ratio} |")

print("\nOne client, `busy_poll_us = 50` (the loop polls for 50 µs after events before sleeping):\n")
print("| case | p50 | p99 | floor p50 (interleaved) | p50 / floor |")
print("|---|---|---|---|---|")
for (name, c), (ops, p50, p99, fl) in busy.items():
    if fl and (name == "ping" or name.startswith("hit_fd") or name == "encode_cached_variant"):
        print(f"| {name} | {p50:.1f} µs | {p99:.1f} µs | {fl[0]:.1f} µs | {p50 / fl[0]:.2f}× |")

print("\n| value | clients | ttscache fd hit ops/s | ttscache inline hit ops/s | Redis GET ops/s "
      "| fd / Redis |")
print("|---|---|---|---|---|---|")
for size, label in ((2048, "2KB"), (204800, "200KB"), (10485760, "10MB")):
    for (name, c), r in sorted(redis.items()):
        if name != f"redis_get_{size}":
            continue
        fd = ours.get((f"hit_fd_{label}", c), (0, 0, 0, None))[0]
        inl = ours.get((f"hit_inline_{label}", c), (0, 0, 0, None))[0]
        print(f"| {label} | {c} | {fd:,.0f} | {inl:,.0f} | {r[0]:,.0f} | {fd / r[0]:.1f}× |")

sizes = ("2KB", "200KB", "10MB")
print("\ndescriptor-path hit p50, 1 client, default config: "
      + "; ".join(f"{s} {vs_floor(ours, 'hit_fd_' + s)}" for s in sizes))
print("descriptor-path hit p50, 1 client, busy_poll_us = 50: "
      + "; ".join(f"{s} {vs_floor(busy, 'hit_fd_' + s)}" for s in sizes))
print("descriptor-path hit of a file the client does not map yet (a descriptor passed): "
      f"default {vs_floor(ours, 'hit_fd_new_file_2KB')}; "
      f"busy polling {vs_floor(busy, 'hit_fd_new_file_2KB')}")
variant = ours[("encode_cached_variant", 1)][1]
print(f"cached-variant GET p50 {variant:.1f} µs vs ffmpeg per request {ffmpeg_us / 1000:.1f} ms: "
      f"{ffmpeg_us / variant:,.0f}× faster")
