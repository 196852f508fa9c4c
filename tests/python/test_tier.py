"""The fleet tier's counters from Python (Client.tier) against real daemons:
one without [tier] (enabled False, every figure 0, state "up"), and — when
memcached is installed — one with [tier] on
a memcached started here (enabled, up, its one server and queue_size)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from typing import Iterator

import pytest

import ttscache
from conftest import Daemon


def test_a_daemon_without_a_tier_reports_it_off(client: ttscache.Client) -> None:
    t = client.tier()
    assert isinstance(t, ttscache.TierStats)
    assert t.has_tier  # this daemon knows STATS flag 16
    assert not t.enabled and t.state == "up" and t.servers == 0
    assert (t.lookups, t.hits, t.misses, t.writes, t.dropped, t.queue_capacity) == (0,) * 6
    assert t.hit_ratio == 0.0
    # The call leaves the client working.
    client.ping()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def memcached() -> Iterator[int]:
    binary = shutil.which("memcached")
    if binary is None:
        pytest.skip("memcached is not installed")
    port = _free_port()
    command = [binary, "-p", str(port), "-U", "0", "-l", "127.0.0.1", "-m", "16"]
    if os.geteuid() == 0:
        command += ["-u", "root"]  # memcached refuses to run as root without it
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("memcached did not start")
                time.sleep(0.02)
        yield port
    finally:
        process.terminate()
        process.wait(5)


def test_a_daemon_with_a_tier_reports_it_up(memcached: int) -> None:
    ttscached = os.environ["TTSCACHED"]
    d = Daemon(ttscached, f"[tier]\nservers = 127.0.0.1:{memcached}\nqueue_size = 64\n")
    try:
        with ttscache.Client(d.socket, 10000) as c:
            t = c.tier()
            assert t.has_tier and t.enabled and t.state == "up" and t.servers == 1
            assert t.queue_capacity == 64 and t.queue_depth <= 64
    finally:
        d.stop()
