#!/usr/bin/env python3
# Raw filesystem cost of the three directory operations a put does (create +
# write a temporary, rename it into place, unlink an evicted entry), in a
# given folder. Usage: bench/fs_probe.py FOLDER  (docs/benchmarks.md)
import os, time, sys, secrets
d=sys.argv[1]
N=2000
names=[secrets.token_hex(32) for _ in range(N)]
t0=time.perf_counter()
for n in names:
    fd=os.open(f"{d}/.tmp-{n[:16]}", os.O_WRONLY|os.O_CREAT|os.O_EXCL, 0o640); os.write(fd,b'x'*244); os.close(fd)
t1=time.perf_counter()
for n in names: os.rename(f"{d}/.tmp-{n[:16]}", f"{d}/{n}.wavx")
t2=time.perf_counter()
for n in names: os.unlink(f"{d}/{n}.wavx")
t3=time.perf_counter()
print(d, f"create+write {1e6*(t1-t0)/N:.1f} µs, rename {1e6*(t2-t1)/N:.1f} µs, unlink {1e6*(t3-t2)/N:.1f} µs")
