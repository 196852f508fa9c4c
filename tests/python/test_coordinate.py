"""Coordinating synthesis from Python against a real daemon: a claimed miss,
a second client waiting for the claimer's put and receiving its audio, a
wait that ends first, drop_claim, slots as a context manager (an engine's
slot of default_slots = 2: a third acquire waits, then is Busy, and gets the
unit once one is released), a SIGKILLed holder's unit freed, an unknown
slot, coordination() figures, argument checks."""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from typing import Optional

import pytest

import ttscache
from conftest import REPO, Daemon


def test_a_miss_is_claimed_and_a_waiter_gets_the_put(daemon: Daemon, client: ttscache.Client,
                                                       text: str, wav: bytes) -> None:
    audio, claimed, lease_ms = client.get_or_claim("piper", text, wait_ms=5000)
    assert audio is None and claimed and lease_ms > 0
    got: list[tuple[Optional[bytes], bool, int]] = []

    def wait_for_it() -> None:
        with ttscache.Client(daemon.socket, 10000) as other:
            a, c, lease = other.get_or_claim("piper", text, wait_ms=10000)
            got.append((bytes(a) if a is not None else None, c, lease))

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    time.sleep(0.3)  # the waiter is parked behind the claim
    assert not got
    client.put("piper", text, wav)
    waiter.join(10)
    assert got == [(wav, False, 0)]
    # Now a hit, for anyone, and by Opus too.
    audio, claimed, _ = client.get_or_claim("piper", text, format="opus")
    assert audio is not None and bytes(audio[:4]) == b"OggS" and not claimed


def test_a_wait_that_ends_first_is_a_plain_miss(daemon: Daemon, client: ttscache.Client,
                                                 text: str) -> None:
    assert client.get_or_claim("piper", text)[1]
    with ttscache.Client(daemon.socket, 10000) as other:
        start = time.monotonic()
        assert other.get_or_claim("piper", text, wait_ms=300) == (None, False, 0)
        assert 0.25 < time.monotonic() - start < 5
        assert other.get_or_claim("piper", text, wait_ms=0) == (None, False, 0)
        # Dropped: the next asker gets the claim at once.
        assert client.drop_claim("piper", text)
        assert not client.drop_claim("piper", text)
        assert other.get_or_claim("piper", text, wait_ms=0)[1]


def test_voices_and_arguments(client: ttscache.Client, text: str) -> None:
    assert client.get_or_claim("piper", text, voice="py-coord")[1]
    assert client.drop_claim("piper/py-coord", text)
    with pytest.raises(ttscache.InvalidArgument):
        client.get_or_claim("piper", text, wait_ms=-1)
    with pytest.raises(ttscache.InvalidArgument):
        client.get_or_claim("piper", text, format="mp3")
    with pytest.raises(ttscache.UnknownEngine):
        client.get_or_claim("nope", text)
    with pytest.raises(ttscache.InvalidArgument):
        client.acquire_slot("piper", wait_ms=2**32)


def test_slots_are_held_for_a_block_and_waited_for(daemon: Daemon,
                                                   client: ttscache.Client) -> None:
    # xtts's slot: default_slots = 2 (no other test holds it).
    with ttscache.Client(daemon.socket, 10000) as other:
        with client.slot("xtts") as first:
            assert first.hold != 0 and first.name == "xtts"
            second = client.acquire_slot("xtts", wait_ms=0)
            s = other.coordination()
            assert s.has_coordination and s.slots["xtts"].size == 2
            assert s.slots["xtts"].held == 2
            start = time.monotonic()
            with pytest.raises(ttscache.Busy):
                other.acquire_slot("xtts", wait_ms=300)
            assert 0.25 < time.monotonic() - start < 5
            granted: list[ttscache.SlotHold] = []

            def wait_in_line() -> None:
                with ttscache.Client(daemon.socket, 10000) as third:
                    h = third.acquire_slot("xtts", wait_ms=10000)
                    granted.append(h)
                    third.release_slot(h)

            t = threading.Thread(target=wait_in_line)
            t.start()
            time.sleep(0.3)
            assert not granted and other.coordination().slots["xtts"].waiting == 1
            client.release_slot(second)
            t.join(10)
            assert len(granted) == 1
        s = other.coordination()
        assert s.slots["xtts"].held == 0
        assert s.slots["xtts"].timeouts >= 1 and s.slots["xtts"].waited >= 1
    with pytest.raises(ttscache.UnknownEngine):
        client.acquire_slot("no-such-slot")


def test_a_killed_holder_frees_its_unit(daemon: Daemon, client: ttscache.Client) -> None:
    holder = ("import sys, time, ttscache\n"
              "c = ttscache.Client(sys.argv[1])\n"
              "a = c.acquire_slot('xtts'); b = c.acquire_slot('xtts')\n"
              "print('held', flush=True)\n"
              "time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", holder, daemon.socket], stdout=subprocess.PIPE,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == b"held"
        with pytest.raises(ttscache.Busy):
            client.acquire_slot("xtts", wait_ms=0)
        p.send_signal(signal.SIGKILL)
        start = time.monotonic()
        hold = client.acquire_slot("xtts", wait_ms=5000)
        assert time.monotonic() - start < 3
        client.release_slot(hold)
    finally:
        p.kill()
        p.wait()


def test_coordination_counts_claims(client: ttscache.Client, text: str) -> None:
    before = client.coordination()
    assert client.get_or_claim("piper", text)[1]
    after = client.coordination()
    assert after.claims == before.claims + 1
    assert after.claims_open >= 1
    assert "piper" in after.slots and "xtts" in after.slots
    client.drop_claim("piper", text)


def test_clients_md_coordinate_example(daemon: Daemon, tmp_path: pathlib.Path) -> None:
    support = REPO / "tests" / "support" / "doc_block.sh"
    doc = REPO / "docs" / "clients.md"
    body = subprocess.run(["bash", "-c", f'source "{support}"; doc_block "$1" python-coordinate',
                           "bash", str(doc)], capture_output=True, text=True, check=True).stdout
    env = {**os.environ, "TTSCACHE_SOCKET": daemon.socket,
           "PYTHONPATH": str(REPO / "client" / "python")}
    r = subprocess.run([sys.executable, "-c", body], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("xtts slot: SlotStats(size=2, held=0"), r.stdout
    with ttscache.Client(daemon.socket) as c:
        audio = c.get("xtts", "good evening.")
        assert audio is not None and len(audio) == 44 + 22050
