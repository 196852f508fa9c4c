"""docs/clients.md's Python example, run as written against the daemon."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

from conftest import REPO, Daemon


def test_clients_md_python_example(daemon: Daemon, tmp_path: pathlib.Path) -> None:
    support = REPO / "tests" / "support" / "doc_block.sh"
    doc = REPO / "docs" / "clients.md"
    body = subprocess.run(["bash", "-c", f'source "{support}"; doc_block "$1" python-client',
                           "bash", str(doc)], capture_output=True, text=True, check=True).stdout
    assert "ttscache.Client" in body
    env = {**os.environ, "TTSCACHE_SOCKET": daemon.socket,
           "PYTHONPATH": str(REPO / "client" / "python")}
    r = subprocess.run([sys.executable, "-c", body], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "miss: synthesize, then put"
    sizes = [int(x) for x in lines[1].split()]
    assert sizes[0] == 44 + 2 * 22050 and all(0 < n < 44100 for n in sizes[1:]), sizes
    assert lines[2].startswith("refused: ") and "espeak" in lines[2], lines
    opus = (tmp_path / "lights.opus").read_bytes()
    assert opus[:4] == b"OggS" and len(opus) > 1000
