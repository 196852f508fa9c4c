"""The package as users get it: pip-installed from the tree into a venv, and
the python3-ttscache .deb (cpack from the build) unpacked into a root; each
imported from there (not from the tree) and used against the daemon."""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, Daemon

USE = """
import sys, ttscache
assert ttscache.__file__.startswith(sys.argv[2]), ttscache.__file__
wav = ttscache.wav_header(4) + bytes(8)
with ttscache.Client(sys.argv[1]) as c:
    c.put("xtts", "installed " + sys.argv[2], wav)
    view = c.get("xtts", "installed " + sys.argv[2])
    assert isinstance(view, memoryview) and view == wav
    try:
        c.get("nope", "x")
    except ttscache.UnknownEngine:
        print("used", ttscache.__file__)
"""


def run(args: list[str], **kw: object) -> subprocess.CompletedProcess:
    if "env" not in kw:  # tools, not the library: without a sanitizer build's preload
        kw["env"] = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    r = subprocess.run(args, capture_output=True, text=True, timeout=240, **kw)
    assert r.returncode == 0, f"{args}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def test_pip_install_into_a_venv(daemon: Daemon, tmp_path: pathlib.Path) -> None:
    venv = tmp_path / "venv"
    # Offline: setuptools and wheel (to build it) are Debian's, seen through
    # --system-site-packages; nothing is fetched. pip builds in the folder it
    # installs from: a copy keeps the tree clean.
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)])
    source = tmp_path / "src"
    shutil.copytree(REPO / "client" / "python", source,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    run([str(venv / "bin" / "pip"), "install", "--no-index", "--no-build-isolation", "-q",
         str(source)])
    shutil.rmtree(source)
    r = run([str(venv / "bin" / "python"), "-c", USE, daemon.socket, str(venv)],
            cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""})
    assert r.stdout.startswith("used"), r.stdout
    files = run([str(venv / "bin" / "pip"), "show", "-f", "ttscache"]).stdout
    version = re.search(r'^version = "([^"]+)"', (REPO / "client/python/pyproject.toml").read_text(),
                        re.M).group(1)
    assert "ttscache/client.py" in files and f"Version: {version}" in files


def test_debian_package(daemon: Daemon, tmp_path: pathlib.Path) -> None:
    build = os.environ.get("TTSCACHE_BUILD_DIR")
    if not build or not (pathlib.Path(build) / "CPackConfig.cmake").exists():
        pytest.fail("TTSCACHE_BUILD_DIR has no CPackConfig.cmake: run through ctest")
    cache = (pathlib.Path(build) / "CMakeCache.txt").read_text()
    if "CMAKE_INSTALL_PREFIX:PATH=/usr\n" not in cache:
        pytest.skip("packages are cut from a tree configured for /usr (scripts/test.sh's "
                    "build/release); this one is not")
    out = tmp_path / "deb"
    run(["cpack", "-G", "DEB", "-D", "CPACK_COMPONENTS_ALL=python", "-B", str(out)], cwd=build)
    debs = list(out.glob("python3-ttscache_*_all.deb"))
    assert len(debs) == 1, list(out.iterdir())
    deb = debs[0]
    depends = run(["dpkg-deb", "-f", str(deb), "Depends"]).stdout
    assert "ttscache (>=" in depends and "python3" in depends
    listing = run(["dpkg-deb", "-c", str(deb)]).stdout
    assert "./usr/lib/python3/dist-packages/ttscache/__init__.py" in listing
    assert ".pyc" not in listing and "__pycache__" not in listing
    root = tmp_path / "root"
    run(["dpkg-deb", "-x", str(deb), str(root)])
    site = root / "usr" / "lib" / "python3" / "dist-packages"
    r = run(["/usr/bin/python3", "-c", f"import sys; sys.path.insert(0, {str(site)!r})\n" + USE,
             daemon.socket, str(site)], cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""})
    assert r.stdout.startswith("used"), r.stdout
