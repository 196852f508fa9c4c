"""The Python package against a real ttscached: round trips, views without
copies and their lifetime, misses, errors, leaks."""
from __future__ import annotations

import ctypes
import gc
import os
import pathlib

import pytest

import ttscache
from ttscache._buffers import address_of

from conftest import Daemon, tone_wav


def mapping_of(address: int) -> str:
    """The path of the mapping of this process that holds `address` ("" for anonymous)."""
    for line in pathlib.Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if start <= address < end:
            return fields[5] if len(fields) == 6 else ""
    raise AssertionError(f"{address:#x} is in no mapping")


def test_ping_and_library(client: ttscache.Client) -> None:
    client.ping()
    assert ttscache.library_version() in ("unknown", ttscache.__version__)


def test_put_get_bytes(client: ttscache.Client, text: str, wav: bytes) -> None:
    client.put("xtts", text, wav)
    view = client.get("xtts", "  " + text.upper() + " ")  # the daemon normalizes the text
    assert isinstance(view, memoryview)
    assert view.readonly and view.format == "B" and view.nbytes == len(wav)
    assert view == wav


def test_get_is_the_mapped_file_not_a_copy(daemon: Daemon, client: ttscache.Client, text: str,
                                          wav: bytes) -> None:
    client.put("piper", text, wav)
    view = client.get("piper", text)
    assert view is not None
    owner = view.obj
    assert isinstance(owner, ctypes.Array)  # the library's memory, not bytes
    assert address_of(view) == ctypes.addressof(owner)  # the C buffer's data pointer
    # ... which lies in the daemon's cache file, mapped into this process.
    assert mapping_of(address_of(view)).startswith(str(daemon.cache)), \
        mapping_of(address_of(view))
    with pytest.raises(TypeError):
        view[0] = 0  # read-only


def test_put_memoryview_and_bytearray(client: ttscache.Client, text: str, wav: bytes) -> None:
    padded = bytearray(b"xx" + wav + b"yy")
    client.put("xtts", text, memoryview(padded)[2:-2])
    assert client.get("xtts", text) == wav
    client.put("xtts", text + " 2", bytearray(wav))
    assert client.get("xtts", text + " 2") == wav


def test_put_numpy_inline(client: ttscache.Client, text: str) -> None:
    np = pytest.importorskip("numpy")
    wav = tone_wav(0.3, freq=523)
    samples = np.frombuffer(wav[44:], dtype=np.int16).copy()
    whole = np.concatenate([np.frombuffer(wav[:44], dtype=np.int16), samples])
    client.put("xtts", text, whole)
    assert client.get("xtts", text) == wav
    with pytest.raises(TypeError):
        client.put("xtts", text, whole[::2])  # not contiguous


def test_miss_is_none(client: ttscache.Client, text: str) -> None:
    assert client.get("xtts", text) is None
    assert client.get("xtts", text, format="opus") is None


def test_opus_get_and_encode(client: ttscache.Client, text: str, wav: bytes) -> None:
    client.put("piper", text, wav)
    opus = client.get("piper", text, format="opus")
    assert opus is not None and bytes(opus[:4]) == b"OggS"
    opus24 = client.get("piper", text, format="opus", opus=24)
    assert opus24 is not None and bytes(opus24[:4]) == b"OggS"
    encoded = client.encode(wav, opus=ttscache.OpusParams(bitrate_kbps=48))
    assert bytes(encoded[:4]) == b"OggS" and encoded.readonly


def test_put_encode(client: ttscache.Client, text: str, wav: bytes) -> None:
    before = client.stats()
    opus = client.put_encode("xtts", text, wav, opus=32)
    assert bytes(opus[:4]) == b"OggS"
    assert client.get("xtts", text) == wav
    again = client.get("xtts", text, format="opus", opus=32)  # the variant put_encode cached
    after = client.stats()
    assert again is not None and again.nbytes == opus.nbytes
    assert after.encodes == before.encodes + 1
    assert after.engines["xtts"].variant_hits == before.engines["xtts"].variant_hits + 1


def test_full_opus_params(client: ttscache.Client, wav: bytes) -> None:
    """Fields left None are the defaults: the same encoding as the plain call."""
    plain = client.encode(wav, opus=40)
    full = client.encode(wav, opus=ttscache.OpusParams(bitrate_kbps=40, vbr="on"))
    assert full.nbytes == plain.nbytes
    cbr = client.encode(wav, opus=ttscache.OpusParams(bitrate_kbps=40, vbr="off",
                                                      application="audio", complexity=5,
                                                      frame_us=40000))
    assert bytes(cbr[:4]) == b"OggS" and cbr.nbytes != plain.nbytes
    with pytest.raises(ttscache.InvalidArgument):
        client.encode(wav, opus=ttscache.OpusParams(bitrate_kbps=40, frame_us=1234))
    with pytest.raises(ttscache.InvalidArgument):
        ttscache.OpusParams(bitrate_kbps=40, vbr="sometimes").to_c()
    with pytest.raises(ttscache.InvalidArgument):  # 0: the daemon's settings, all of them
        client.encode(wav, opus=ttscache.OpusParams(vbr="off"))


def test_hello_stats_version(client: ttscache.Client, text: str, wav: bytes) -> None:
    hello = client.hello()
    assert hello.protocol_version >= 1 and hello.max_arena_bytes > 0
    assert client.version == ttscache.__version__
    before = client.stats()
    client.put("piper", text, wav)
    client.get("piper", text)
    client.get("piper", text + " not there")
    after = client.stats()
    assert set(after.engines) >= {"xtts", "piper"}
    assert after.engines["piper"].puts == before.engines["piper"].puts + 1
    assert after.engines["piper"].hits == before.engines["piper"].hits + 1
    assert after.engines["piper"].misses == before.engines["piper"].misses + 1
    assert after.streams_open == 0


def test_get_many_pipelined(client: ttscache.Client, text: str, wav: bytes) -> None:
    short = ttscache.wav_header(1000) + wav[44:2044]
    client.put("xtts", text + " a", wav)
    client.put("xtts", text + " c", short)
    views = client.get_many("xtts", [text + " a", text + " b", text + " c"])
    assert views[0] == wav and views[1] is None and views[2] == short
    many = client.get_many("xtts", [text + (" a", " b", " c")[i % 3] for i in range(300)])
    assert [v is not None for v in many] == [i % 3 != 1 for i in range(300)]
    assert all(v == (wav, None, short)[i % 3] for i, v in enumerate(many) if v is not None)
    with pytest.raises(ttscache.UnknownEngine):
        client.get_many("nope", ["x", "y"])
    assert client.get("xtts", text + " a") == wav  # the connection goes on


def test_get_many_more_than_the_daemons_inflight_limit(client: ttscache.Client, text: str,
                                                      wav: bytes) -> None:
    # The daemon answers BUSY past 64 requests in flight on a connection;
    # Opus variants not encoded yet stay in flight while they encode.
    texts = [f"{text} {i}" for i in range(100)]
    for t in texts:
        client.put("xtts", t, wav)
    views = client.get_many("xtts", texts, "opus", 24)
    assert len(views) == 100 and all(v is not None and v[:4] == b"OggS" for v in views)


def test_encode_stream(client: ttscache.Client, text: str, wav: bytes) -> None:
    pcm = wav[44:]
    pages = b"".join(ttscache.encode_chunks(client, (pcm[i:i + 3001] for i in
                                                     range(0, len(pcm), 3001)),
                                            rate=22050, engine="piper", text=text))
    assert pages[:4] == b"OggS" and len(pages) > 500
    assert client.get("piper", text) is not None  # the finished stream was cached
    got = []
    with client.encode_stream(rate=22050, on_pages=got.append) as s:
        s.push(pcm)
        result = s.finish()
    assert result.cached == "not-asked"
    assert result.samples_48k == -(-(len(pcm) // 2) * 48000 // 22050)
    assert b"".join(got)[:4] == b"OggS"
    with pytest.raises(ttscache.InvalidArgument):
        client.encode_stream(rate=22050, engine="piper")


def test_unknown_engine(client: ttscache.Client, text: str, wav: bytes) -> None:
    with pytest.raises(ttscache.UnknownEngine) as e:
        client.put("nope", text, wav)
    assert e.value.code == 4 and "nope" in str(e.value)
    with pytest.raises(ttscache.UnknownEngine):
        client.get("nope", text)


def test_bad_audio(client: ttscache.Client, text: str) -> None:
    with pytest.raises(ttscache.BadAudio) as e:
        client.put("xtts", text, b"RIFF but not a wave file at all, not even close")
    assert isinstance(e.value, ttscache.Error) and e.value.message
    with pytest.raises(ttscache.BadAudio):
        client.encode(b"\x00" * 100)


def test_daemon_absent_is_unavailable(tmp_path: pathlib.Path) -> None:
    with ttscache.Client(str(tmp_path / "nobody.sock"), 1000) as c:
        with pytest.raises(ttscache.Unavailable) as e:
            c.ping()
        assert isinstance(e.value, ConnectionError)


def test_bad_arguments(client: ttscache.Client) -> None:
    with pytest.raises(ttscache.InvalidArgument):
        client.get("xtts", "x", format="mp3")
    with pytest.raises(TypeError):
        client.put("xtts", "x", "a str is not audio")
    client.close()
    with pytest.raises(ttscache.InvalidArgument):
        client.ping()


def test_view_outlives_the_client(daemon: Daemon, text: str, wav: bytes) -> None:
    c = ttscache.Client(daemon.socket)
    c.put("xtts", text, wav)
    view = c.get("xtts", text)
    opus = c.encode(wav)
    head = view[:44]  # a slice keeps the same owner alive
    c.close()
    del c
    gc.collect()
    assert view == wav and bytes(head) == wav[:44]
    assert bytes(opus[:4]) == b"OggS"
    del view
    gc.collect()
    assert bytes(head) == wav[:44]


def test_buffers_are_released(daemon: Daemon, client: ttscache.Client, wav: bytes) -> None:
    """Many gets, hits and misses, over many entries: descriptors and mappings stay bounded."""
    texts = [f"leak check {i}" for i in range(80)]
    for t in texts:
        client.put("xtts", t, wav)

    def counts() -> tuple[int, int]:
        return (len(os.listdir("/proc/self/fd")),
                pathlib.Path("/proc/self/maps").read_text().count(str(daemon.cache)))

    for t in texts:
        client.get("xtts", t)
    gc.collect()
    fds, maps = counts()
    for _ in range(10):
        for t in texts:
            view = client.get("xtts", t)
            assert view is not None and view.nbytes == len(wav)
            assert client.get("xtts", t + " missing") is None
        client.encode(wav)
    del view
    gc.collect()
    fds2, maps2 = counts()
    assert fds2 <= fds + 2, (fds, fds2)
    assert maps2 <= max(maps, 64) + 2, (maps, maps2)  # the client keeps at most 64 mappings


def test_error_classes_match_the_c_codes() -> None:
    """Every TTSCACHE_ERR_* code has its class, named as ttscache_strerror names it."""
    from ttscache import _lib
    from ttscache.errors import error_for
    lib = _lib.lib()
    for code in range(2, 18):
        err = error_for(code, "m")
        assert type(err) is not ttscache.Error and err.code == code
        assert err.name == lib.strerror(code).decode(), (code, err.name)
        assert str(err) == f"m ({err.name})"
    assert lib.strerror(99).decode() == "TTSCACHE_ERR_UNKNOWN_CODE"
    assert type(error_for(99, "x")) is ttscache.Error
    assert issubclass(ttscache.OutOfMemory, MemoryError)
    assert issubclass(ttscache.Unavailable, ConnectionError)


def test_one_client_per_thread(daemon: Daemon, wav: bytes) -> None:
    import threading
    views: list[memoryview] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with ttscache.Client(daemon.socket) as c:
                for i in range(30):
                    c.put("xtts", f"thread {n} {i}", wav)
                    views.append(c.get("xtts", f"thread {n} {i}"))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(views) == 120 and all(v == wav for v in views)


def test_busy(wav: bytes) -> None:
    """A daemon at its limit says busy: one stream per connection, a second opened."""
    d = Daemon(os.environ["TTSCACHED"], "[stream]\nmax_per_connection = 1\n")
    try:
        with ttscache.Client(d.socket) as c:
            first = c.encode_stream(rate=22050)
            with pytest.raises(ttscache.Busy) as e:
                c.encode_stream(rate=22050)
            assert e.value.code == 6 and e.value.message
            first.push(wav[44:])
            assert first.finish().samples_48k > 0
            first.close()
            c.encode_stream(rate=22050).close()  # the slot is free again
    finally:
        d.stop()


def test_library_loading(tmp_path: pathlib.Path) -> None:
    """Importing never loads the library; a missing one is a clear OSError at first use."""
    import subprocess
    import sys
    code = ("import ttscache\n"
            "try:\n    ttscache.Client()\nexcept OSError as e:\n    print('OSError', e)\n")
    env = {**os.environ, "TTSCACHE_LIBRARY": str(tmp_path / "libnothing.so"),
           "PYTHONPATH": str(pathlib.Path(ttscache.__file__).parents[1])}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("OSError"), r.stdout + r.stderr
    assert ttscache.LIBRARY_SONAME == "libttscache.so.1"


def test_encode_stream_of_a_wav_with_poll(client: ttscache.Client, wav: bytes) -> None:
    """A WAV pushed in pieces as an engine writes it to a pipe; pages collected from a
    select() loop on fileno(), as an event loop would."""
    import select
    got = []
    with client.encode_stream(wav=True, on_pages=got.append) as s:
        for i in range(0, len(wav), 5000):
            s.push(memoryview(wav)[i:i + 5000])
            readable, _, _ = select.select([s.fileno()], [], [], 0)
            if readable:
                s.wait(0)
        result = s.finish()
        assert s.fileno() >= 0
    ogg = b"".join(got)
    assert ogg[:4] == b"OggS" and ogg.count(b"OggS") >= 2
    assert result.samples_48k == -(-((len(wav) - 44) // 2) * 48000 // 22050)
    with pytest.raises(ttscache.InvalidArgument):
        s.push(b"closed")
    bad = client.encode_stream(wav=True)
    with pytest.raises(ttscache.BadAudio):
        bad.push(b"RIFF\x00\x00\x00\x00NOPE" + bytes(100))
        bad.finish()
    bad.close()


def test_threads_sharing_a_client_do_not_crash(client: ttscache.Client, text: str,
                                               wav: bytes) -> None:
    # ctypes lets go of the GIL in every call: without a lock, two threads in
    # one C handle raced inside the library (use-after-free, SIGSEGV, hangs).
    import threading
    for i in range(8):
        client.put("xtts", f"{text} {i}", wav)
    failures: list[str] = []

    def worker(n: int) -> None:
        for i in range(150):
            try:
                view = client.get("xtts", f"{text} {(n + i) % 8}")
                if view is None or len(view) != len(wav):
                    failures.append(f"got {None if view is None else len(view)}")
                if i % 25 == 0:
                    client.stats()
                    client.get_many("xtts", [f"{text} {j}" for j in range(8)])
            except Exception as e:  # noqa: BLE001 - any error is the finding
                failures.append(repr(e))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not failures, failures[:5]


def test_an_on_pages_that_raises_ends_the_stream(client: ttscache.Client, wav: bytes) -> None:
    # Its pages are a hole in the Ogg stream: the exception is raised, and no
    # later push or finish may succeed over the hole.
    calls = []

    def on_pages(pages: bytes) -> None:
        calls.append(len(pages))
        if len(calls) == 1:
            raise RuntimeError("disk full")

    stream = client.encode_stream(rate=22050, on_pages=on_pages)
    pcm = wav[44:]
    with pytest.raises(RuntimeError, match="disk full"):
        for _ in range(20):
            stream.push(pcm)
            stream.wait(200)
    with pytest.raises(ttscache.Error):
        stream.push(pcm)
    with pytest.raises(ttscache.Error):
        stream.finish()
    stream.close()
    assert client.stats().streams_open == 0
