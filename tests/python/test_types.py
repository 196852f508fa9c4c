"""The package's type hints hold: mypy --strict over it (Debian's mypy)."""
from __future__ import annotations

import pathlib
import subprocess
import sys

from conftest import REPO


def test_mypy_strict(tmp_path: pathlib.Path) -> None:
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path),
                        "ttscache"], cwd=REPO / "client" / "python", capture_output=True,
                       text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
