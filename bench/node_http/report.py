#!/usr/bin/env python3
"""The tables of bench/run_node_http_bench.sh from its results (one JSON line
per run: mode, round, and bench/node_http/load.mjs's result), and with --smoke
the checks of the ctest smoke run: both modes served 200s whose bodies are
Ogg Opus, with a measured hit rate near 90 %. No performance figure is
asserted.

Usage: report.py RESULTS SECONDS CONNECTIONS WARM SERVER_CPU CLIENT_CPU [--smoke]
"""
import json
import statistics
import sys

results_path, seconds, connections, warm, server_cpu, client_cpu = sys.argv[1:7]
smoke = "--smoke" in sys.argv[7:]
runs = [json.loads(line) for line in open(results_path)]


def ms(x):
    return "—" if x is None else f"{x:.1f} ms" if x >= 10 else f"{x:.2f} ms"


print(f"{seconds} s per run, {connections} connections, {warm} warm phrases (Zipf s = 1) + 1 fresh "
      f"phrase in 10; server and its encoder on CPU {server_cpu}, autocannon on CPU {client_cpu}")
print()
# CPU per request: the server process with the children it reaped (ffmpeg),
# and ttscached, over the run, per 200 response.
for run in runs:
    ok = max(1, run["result"]["ok"])
    run["result"]["server_cpu_per_req"] = run["server_cpu_ms"] / ok
    run["result"]["daemon_cpu_per_req"] = run["daemon_cpu_ms"] / ok

print("| round | mode | req/s | p50 | p99 | hit rate | 200 | Ogg | non-200 | errors | timeouts | CPU/req: server (+ffmpeg) | CPU/req: ttscached |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for run in runs:
    r = run["result"]
    print(f"| {run['round']} | {run['mode']} | {r['requests_per_s']:,.1f} | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} "
          f"| {100 * r['hit_rate']:.1f} % ({r['hits']}/{r['hits'] + r['misses']}) | {r['ok']} | {r['ogg']} "
          f"| {r['non2xx']} | {r['errors']} | {r['timeouts']} | {ms(r['server_cpu_per_req'])} | {ms(r['daemon_cpu_per_req'])} |")

for run in runs:
    reasons = sorted(run["result"].get("failure_reasons", {}).items(), key=lambda rc: -rc[1])
    for reason, count in reasons[:5]:
        print(f"round {run['round']} {run['mode']}: {count} × failed (a failed encode is answered with the WAV, anything else with HTTP 500): {reason}")
by_mode = {m: [run["result"] for run in runs if run["mode"] == m] for m in ("old", "new")}
rounds = sorted({run["round"] for run in runs})
print()
print("Per round, new / old: " + ", ".join(
    f"round {n}: {next(r['result']['requests_per_s'] for r in runs if r['round'] == n and r['mode'] == 'new') / max(1e-9, next(r['result']['requests_per_s'] for r in runs if r['round'] == n and r['mode'] == 'old')):.1f}× req/s"
    for n in rounds))
print()
print("| modules | req/s | p50 | p99 | hit rate | CPU/req: server (+ffmpeg) | CPU/req: ttscached |")
print("|---|---|---|---|---|---|---|")
median = {}
for mode, label in (("old", "old (cache folder + ffmpeg per request)"), ("new", "new (ttscache/adapter)")):
    rs = by_mode[mode]
    median[mode] = {k: statistics.median(r[k] for r in rs if r[k] is not None) if any(r[k] is not None for r in rs) else None
                    for k in ("requests_per_s", "p50_ms", "p99_ms", "hit_rate", "server_cpu_per_req", "daemon_cpu_per_req")}
    m = median[mode]
    print(f"| {label} | {m['requests_per_s']:,.1f} | {ms(m['p50_ms'])} | {ms(m['p99_ms'])} | {100 * m['hit_rate']:.1f} % "
          f"| {ms(m['server_cpu_per_req'])} | {ms(m['daemon_cpu_per_req'])} |")
old, new = median["old"], median["new"]
if old["p50_ms"] and new["p50_ms"]:
    print(f"| new / old | {new['requests_per_s'] / max(1e-9, old['requests_per_s']):.1f}× | "
          f"{new['p50_ms'] / old['p50_ms']:.3f}× | {new['p99_ms'] / old['p99_ms']:.3f}× | | | |")
print(f"(medians of {len(rounds)} round{'s' if len(rounds) != 1 else ''})")
# CPU per request is the figure the machine's other load moves least: what a
# request costs, not how much of the CPU this run got.
cpu = {m: median[m]["server_cpu_per_req"] + median[m]["daemon_cpu_per_req"] for m in median}
print(f"CPU per 200 response, server + ffmpeg + ttscached (medians): old {ms(cpu['old'])}, "
      f"new {ms(cpu['new'])}: {cpu['old'] / max(1e-9, cpu['new']):.1f}× less")

if smoke:
    failures = []
    for mode, rs in by_mode.items():
        for r in rs:
            served = r["hits"] + r["misses"]
            if r["ok"] == 0:
                failures.append(f"{mode}: no 200 response")
            # A failed encode is answered with the WAV (the backend's fallback):
            # on a loaded CI machine a miss can wait in the daemon's queue past
            # the adapter's encode timeout. A few are the machine; more, or any
            # other non-Ogg answer or non-200, is the bench broken.
            if r["not_ogg"] > r["failures"] or r["ogg"] + r["not_ogg"] != r["ok"]:
                failures.append(f"{mode}: {r['not_ogg']} of {r['ok']} 200 responses are not Ogg Opus "
                                f"({r['failures']} of them failed encodes)")
            if r["non2xx"] or r["failures"] > 0.05 * max(1, r["ok"]):
                failures.append(f"{mode}: {r['non2xx']} non-200 responses, {r['failures']} server failures")
            # One miss in each block of ten: over n lookups the rate is 0.9
            # give or take one block cut off at the end.
            if served < 8:
                failures.append(f"{mode}: only {served} requests reached the cache")
            elif abs(r["hit_rate"] - 0.9) > 0.1 + 1 / served + 1e-9:
                failures.append(f"{mode}: hit rate {r['hit_rate']:.3f} ({r['hits']}/{served}), expected about 0.9")
    if failures:
        print("\n".join(["SMOKE FAILED:"] + failures))
        sys.exit(1)
    print("smoke ok: both modes answered Ogg Opus at a hit rate near 90 %")
