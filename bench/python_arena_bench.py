#!/usr/bin/env python3
"""A Python producer putting 7-second utterances into ttscached, three ways
side by side in one run (docs/benchmarks.md, "The Python package: puts
through the arena"):

  inline        the WAV (a NumPy array) sent in the PUT frame
  arena-copy    the same array: the package copies it into the arena once, PUT by offset
  arena-direct  the producer writes the samples straight into an arena block
                (numpy.frombuffer over it), PUT by offset: no copy at all

Each iteration synthesizes 7 s of 22.05 kHz s16 mono (a tone whose pitch
varies per iteration, so every put is a new entry with new bytes) outside the
timed region; the ways take turns, each first, second and third as often,
so drift on a shared machine and what a put leaves the next hit all alike.
Times one `put` call each; prints p50/p90 per put, throughput, the ratio to
inline, and the producer thread's own CPU time per put (p50).

  bench/python_arena_bench.py --ttscached build/release/daemon/ttscached \\
      --library build/release/client/libttscache.so.1 [-n 200]
  (or --socket PATH: a daemon already running)
"""
from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

RATE, SECONDS = 22050, 7
FRAMES = RATE * SECONDS
WAYS = ("inline", "arena-copy", "arena-direct")


def start_daemon(ttscached: str, folder: pathlib.Path) -> subprocess.Popen:
    socket = folder / "d.sock"
    conf = folder / "d.conf"
    conf.write_text(f"[daemon]\nsocket = {socket}\n[cache]\ndir = {folder / 'cache'}\n"
                    "fsync = false\nmax_entries = 100000\n")
    daemon = subprocess.Popen([ttscached, "--config", str(conf)],
                              stderr=open(folder / "daemon.log", "wb"))
    for _ in range(200):
        if socket.exists():
            return daemon
        time.sleep(0.025)
    daemon.kill()
    sys.exit("ttscached did not start: " + (folder / "daemon.log").read_text())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--iterations", type=int, default=200, help="puts per way")
    ap.add_argument("--socket", help="a running daemon's socket")
    ap.add_argument("--ttscached", help="start this daemon on a temporary folder")
    ap.add_argument("--library", help="libttscache.so to load (else TTSCACHE_LIBRARY / installed)")
    ap.add_argument("--engine", default="xtts")
    args = ap.parse_args()
    if args.library:
        os.environ["TTSCACHE_LIBRARY"] = os.path.abspath(args.library)
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "client" / "python"))
    import ttscache

    folder = pathlib.Path(tempfile.mkdtemp(prefix="py-arena-bench-"))
    daemon = None
    if args.ttscached:
        daemon = start_daemon(args.ttscached, folder)
        socket = str(folder / "d.sock")
    elif args.socket:
        socket = args.socket
    else:
        sys.exit("give --ttscached or --socket")
    try:
        header = ttscache.wav_header(FRAMES, RATE)
        wav_bytes = len(header) + 2 * FRAMES
        t = np.arange(FRAMES) / RATE
        inline_client = ttscache.Client(socket, 30000)
        arena_client = ttscache.Client(socket, 30000)
        arena_client.attach_arena(4 * wav_bytes)
        times: dict[str, list[float]] = {way: [] for way in WAYS}
        cpu: dict[str, list[float]] = {way: [] for way in WAYS}  # this thread's user+sys
        run = f"{time.time_ns()}"

        def synthesize(i: int, out: np.ndarray) -> None:
            out[:] = (9000 * np.sin(2 * np.pi * (180 + i % 400) * t)).astype(np.int16)

        numpy_wav = np.empty(wav_bytes, dtype=np.uint8)  # the producer's own buffer
        numpy_wav[:44] = np.frombuffer(header, dtype=np.uint8)
        pcm_inline = numpy_wav[44:].view(np.int16)
        for i in range(args.iterations):
            for way in WAYS[i % 3:] + WAYS[:i % 3]:  # each way first, second and third in turn
                text = f"bench {run} {way} {i}"
                if way == "arena-direct":
                    block = arena_client.arena_alloc(wav_bytes)
                    block[:44] = header
                    synthesize(i, np.frombuffer(block, dtype=np.int16, offset=44))
                    start, start_cpu = time.perf_counter(), time.thread_time()
                    arena_client.put(args.engine, text, block)
                    times[way].append(time.perf_counter() - start)
                    cpu[way].append(time.thread_time() - start_cpu)
                    del block
                else:
                    synthesize(i, pcm_inline)
                    client = inline_client if way == "inline" else arena_client
                    start, start_cpu = time.perf_counter(), time.thread_time()
                    client.put(args.engine, text, numpy_wav)
                    times[way].append(time.perf_counter() - start)
                    cpu[way].append(time.thread_time() - start_cpu)
        print(f"{args.iterations} puts per way of {SECONDS} s at {RATE} Hz s16 mono "
              f"({wav_bytes} bytes); ttscache {ttscache.library_version()}")
        print(f"{'way':<14}{'p50 ms':>9}{'p90 ms':>9}{'puts/s':>9}{'MB/s':>9}"
              f"{'p50 vs inline':>15}{'client CPU us/put':>19}")
        base = percentile(times["inline"], 0.5)
        for way in WAYS:
            p50, p90 = percentile(times[way], 0.5), percentile(times[way], 0.9)
            rate = len(times[way]) / sum(times[way])
            print(f"{way:<14}{p50 * 1e3:>9.3f}{p90 * 1e3:>9.3f}{rate:>9.0f}"
                  f"{rate * wav_bytes / 1e6:>9.0f}{base / p50:>14.2f}x"
                  f"{percentile(cpu[way], 0.5) * 1e6:>19.0f}")
        inline_client.close()
        arena_client.close()
    finally:
        if daemon:
            daemon.terminate()
            daemon.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
