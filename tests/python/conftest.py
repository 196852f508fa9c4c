"""pytest fixtures for the Python package against a real ttscached.

Run by ctest (`python.client`, tests/cli/python_client_test.sh) with
TTSCACHED (the daemon to start), TTSCACHE_LIBRARY (the built
libttscache.so) and TTSCACHE_BUILD_DIR (for the .deb test) in the
environment. The package is imported from the tree (client/python).
"""
from __future__ import annotations

import math
import os
import pathlib
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Iterator

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "client" / "python"))

import ttscache  # noqa: E402


class Daemon:
    """A ttscached on a private folder; stopped and removed at the end."""

    def __init__(self, ttscached: str, extra: str = "") -> None:
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="ttscache-py-"))
        self.socket = str(self.dir / "d.sock")
        self.cache = self.dir / "cache"
        conf = self.dir / "d.conf"
        conf.write_text(f"[daemon]\nsocket = {self.socket}\n[cache]\ndir = {self.cache}\n"
                        f"fsync = false\n{extra}")
        self.log = open(self.dir / "daemon.log", "wb")
        self.process = subprocess.Popen([ttscached, "--config", str(conf)], stderr=self.log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.path.exists(self.socket):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.log.flush()
        log = (self.dir / "daemon.log").read_text()  # before stop() removes the folder
        self.stop()
        raise RuntimeError("ttscached did not start: " + log)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.log.close()
        subprocess.run(["rm", "-rf", str(self.dir)], check=False)


@pytest.fixture(scope="session")
def daemon() -> Iterator[Daemon]:
    ttscached = os.environ.get("TTSCACHED")
    if not ttscached:
        pytest.fail("TTSCACHED is not set: run through ctest (python.client)")
    d = Daemon(ttscached)
    yield d
    d.stop()


@pytest.fixture()
def client(daemon: Daemon) -> Iterator[ttscache.Client]:
    with ttscache.Client(daemon.socket, 10000) as c:
        yield c


@pytest.fixture()
def text() -> str:
    """A phrase no other test uses."""
    return f"Python test phrase {uuid.uuid4().hex}."


def tone_wav(seconds: float = 0.5, rate: int = 22050, freq: float = 440.0) -> bytes:
    """A 16-bit mono WAV of a sine tone (content varies with freq)."""
    n = int(seconds * rate)
    pcm = struct.pack(f"<{n}h", *(int(8000 * math.sin(2 * math.pi * freq * i / rate))
                                  for i in range(n)))
    return ttscache.wav_header(n, rate) + pcm


@pytest.fixture(scope="session")
def wav() -> bytes:
    return tone_wav()
