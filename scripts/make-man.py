#!/usr/bin/env python3
"""Builds a man page from its template in docs/man/ and the program itself.

    make-man.py PROGRAM TEMPLATE OUTPUT      (writes OUTPUT and OUTPUT.gz)

The template is roff. A line "@HELP@" becomes `PROGRAM --help`, "@HELP cmd@"
becomes `PROGRAM cmd --help`, "@DEFAULT_CONFIG@" becomes
`PROGRAM --config /dev/null --print-config` with the source comments dropped,
and "@VERSION@" anywhere becomes the version `PROGRAM --version` prints. So
every option and config key is written once, in the code, and the man page
cannot drift from it. Output text is escaped for roff and set as a literal
block; non-ASCII punctuation becomes the roff glyph.
"""
import gzip
import re
import subprocess
import sys

GLYPHS = {"–": r"\(en", "—": r"\(em", "→": r"\(->", "…": "...", "×": r"\(mu",
          "≤": r"\(<=", "≥": r"\(>="}


def run(argv):
    env = {"PATH": "/usr/bin:/bin"}  # no TTS_* or TTSCACHE_* from the caller
    return subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout


def roff_literal(text):
    lines = []
    for line in text.rstrip("\n").split("\n"):
        line = line.replace("\\", r"\e").replace("-", r"\-")
        for char, glyph in GLYPHS.items():
            line = line.replace(char, glyph)
        if line.startswith((".", "'")):
            line = r"\&" + line
        if any(ord(c) > 127 for c in line):
            sys.exit(f"make-man: no roff glyph for {line!r}; add it to GLYPHS")
        lines.append(line)
    return ".nf\n" + "\n".join(lines) + "\n.fi"


def main():
    program, template, output = sys.argv[1:4]
    version = run([program, "--version"]).split()[-1]
    out = []
    for line in open(template, encoding="utf-8").read().split("\n"):
        match = re.fullmatch(r"@HELP(?: (\w+))?@", line)
        if match:
            argv = [program] + ([match.group(1)] if match.group(1) else []) + ["--help"]
            out.append(roff_literal(run(argv)))
        elif line == "@DEFAULT_CONFIG@":
            text = run([program, "--config", "/dev/null", "--print-config"])
            text = re.sub(r" *; default$", "", text, flags=re.M)
            out.append(roff_literal(text))
        else:
            out.append(line.replace("@VERSION@", version))
    page = "\n".join(out).encode("ascii")
    with open(output, "wb") as f:
        f.write(page)
    # Debian installs man pages gzipped, reproducibly (no name, no time).
    with open(output + ".gz", "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as gz:
            gz.write(page)


if __name__ == "__main__":
    main()
