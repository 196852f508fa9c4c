"""Operating the cache from Python against a real daemon (run as root, an
admin): voices as "engine/voice", list page by page with filters, delete by
text and key, purge, verify, stats_detail."""
from __future__ import annotations

import pytest

import ttscache


def test_list_delete_purge(client: ttscache.Client, wav: bytes) -> None:
    # Voices of their own: the session's daemon holds other tests' entries too.
    for text in ("py one", "py two", "py three"):
        client.put("xtts/py-a", text, wav)
    client.put("xtts/py-b", "py one", wav)
    listed = list(client.list("xtts", voice="py-a", page_size=1))
    assert len(listed) == 3
    assert all(e.engine == "xtts" and e.voice == "py-a" and len(e.key) == 64 for e in listed)
    assert all(e.wav_bytes == len(wav) and e.last_access_ns > 0 for e in listed)
    b = list(client.list("xtts/py-b"))
    assert len(b) == 1
    assert len([e for e in client.list("xtts") if e.voice in ("py-a", "py-b")]) == 4
    assert list(client.list("xtts", voice="py-a", min_bytes=len(wav) * 10)) == []
    d = client.delete("xtts", "PY ONE", voice="py-a")
    assert d == ttscache.DeleteResult(True, len(wav), 0)
    assert not client.delete("xtts", "py one", voice="py-a").deleted
    assert client.delete_key("xtts", b[0].key, voice="py-b").deleted
    p = client.purge("xtts", voice="py-a")
    assert p.entries == 2 and p.bytes == 2 * len(wav)
    assert list(client.list("xtts", voice="py-a")) == []
    with pytest.raises(ttscache.UnknownEngine):
        client.purge("nope")


def test_verify_and_stats_detail(client: ttscache.Client, wav: bytes) -> None:
    client.put("piper", "py verify", wav)
    v = client.verify()
    assert v.verdict == "clean" and v.entries_checked >= 1 and v.problems == ()
    s = client.stats_detail()
    assert s.has_detail and s.disk_total_bytes > 0
    assert s.oldest_access_ns["piper"] > 0
    assert 0.0 <= s.hit_ratio("piper") <= 1.0
    assert len(s.encode_buckets) == 12 and list(s.encode_buckets) == sorted(s.encode_buckets)
