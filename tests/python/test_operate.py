"""Operating the cache from Python against a real daemon (run as root, an
admin): voices as "engine/voice", list page by page with filters, delete by
text and key, purge, verify, stats_detail."""
from __future__ import annotations

import pytest

import ttscache


def test_list_delete_purge(client: ttscache.Client, wav: bytes) -> None:
    for text in ("py one", "py two", "py three"):
        client.put("xtts", text, wav)
    client.put("xtts/py-voice", "py one", wav)
    listed = list(client.list("xtts", page_size=1))
    assert len(listed) == 4
    voiced = [e for e in listed if e.voice == "py-voice"]
    assert len(voiced) == 1 and voiced[0].engine == "xtts" and len(voiced[0].key) == 64
    assert voiced[0].wav_bytes == len(wav) and voiced[0].last_access_ns > 0
    assert len(list(client.list("xtts", voice="py-voice"))) == 1
    assert list(client.list("xtts", min_bytes=len(wav) * 10)) == []
    d = client.delete("xtts", "PY ONE")
    assert d == ttscache.DeleteResult(True, len(wav), 0)
    assert not client.delete("xtts", "py one").deleted
    assert client.delete_key("xtts", voiced[0].key, voice="py-voice").deleted
    p = client.purge("xtts")
    assert p.entries == 2 and p.bytes == 2 * len(wav)
    assert list(client.list("xtts")) == []
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
