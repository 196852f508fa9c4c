"""The arena from Python: blocks a producer writes into (NumPy included), put
and encode by offset, copies into the arena once, and the blocks' lifetime."""
from __future__ import annotations

import gc

import pytest

import ttscache
from ttscache._buffers import address_of

from conftest import Daemon, tone_wav

ARENA = 4 << 20


@pytest.fixture()
def arena_client(daemon: Daemon):
    with ttscache.Client(daemon.socket) as c:
        c.attach_arena(ARENA)
        yield c


def inside(c: ttscache.Client, view: memoryview) -> bool:
    a = address_of(view)
    lo = c._arena_base  # the arena's mapping, from ttscache_arena
    return lo <= a and a + view.nbytes <= lo + c.arena_size


def test_numpy_written_into_the_arena_round_trip(arena_client: ttscache.Client,
                                                 text: str) -> None:
    np = pytest.importorskip("numpy")
    c = arena_client
    assert c.arena_size >= ARENA
    rate, frames = 22050, 22050 // 2
    block = c.arena_alloc(44 + 2 * frames)
    assert not block.readonly and inside(c, block)
    block[:44] = ttscache.wav_header(frames, rate)
    samples = np.frombuffer(block, dtype=np.int16, offset=44)  # a view into the arena
    samples[:] = (8000 * np.sin(2 * np.pi * 330 * np.arange(frames) / rate)).astype(np.int16)
    c.put("piper", text, block)  # by offset: the daemon reads the block in place
    assert c.get("piper", text) == block
    # A NumPy array over the block is sent by offset too (it lies in the arena).
    whole = np.frombuffer(block, dtype=np.uint8)
    c.put("piper", text + " again", whole)
    assert c.get("piper", text + " again") == block


def test_outside_audio_is_copied_in_once(arena_client: ttscache.Client, text: str,
                                         wav: bytes) -> None:
    c = arena_client
    c.put("xtts", text, wav)  # bytes: into a temporary block, then by offset
    assert c.get("xtts", text) == wav
    np = pytest.importorskip("numpy")
    arr = np.frombuffer(wav, dtype=np.uint8).copy()
    c.put("xtts", text + " np", arr)
    assert c.get("xtts", text + " np") == wav


def test_encode_in_arena(arena_client: ttscache.Client, wav: bytes) -> None:
    c = arena_client
    block = c.arena_alloc(len(wav))
    block[:] = wav
    opus = c.encode(block)
    assert bytes(opus[:4]) == b"OggS" and inside(c, opus)  # written by the daemon into the arena
    assert opus.readonly
    again = c.encode(wav)  # bytes: copied into the arena first
    assert inside(c, again) and again.nbytes == opus.nbytes  # same settings (Ogg serials differ)
    assert address_of(again) != address_of(opus)  # both blocks held


def test_blocks_are_reused_and_bounded(arena_client: ttscache.Client) -> None:
    c = arena_client
    for _ in range(50):  # 50 x 1 MiB through a 4 MiB arena: freed blocks come back
        block = c.arena_alloc(1 << 20)
        block[0] = 1
        del block
    with pytest.raises(ttscache.TooLarge):
        c.arena_alloc(ARENA * 2)
    held = [c.arena_alloc(1 << 20) for _ in range(3)]
    assert len({address_of(b) for b in held}) == 3
    # A full arena: put and encode go inline instead.
    wav = tone_wav(7.0, freq=300)  # 309 KB
    more = []
    while True:
        try:
            more.append(c.arena_alloc(256 << 10))
        except ttscache.TooLarge:
            break
    c.put("xtts", "full arena " + str(id(more)), wav)
    assert c.get("xtts", "full arena " + str(id(more))) == wav
    opus = c.encode(wav)
    assert bytes(opus[:4]) == b"OggS" and not inside(c, opus)


def test_arena_block_outlives_the_client(daemon: Daemon, text: str) -> None:
    c = ttscache.Client(daemon.socket)
    c.attach_arena(1 << 20)
    wav = tone_wav(0.2, freq=700)
    block = c.arena_alloc(len(wav))
    block[:] = wav
    c.put("xtts", text, block)
    c.close()
    del c
    gc.collect()
    block[0:4] = b"RIFF"  # the mapping is still there: the block holds the handle
    assert block == wav
    with ttscache.Client(daemon.socket) as c2:
        assert c2.get("xtts", text) == wav


def test_one_arena_per_client(arena_client: ttscache.Client) -> None:
    with pytest.raises(ttscache.InvalidArgument):
        arena_client.attach_arena(1 << 20)


def test_no_arena_no_blocks(client: ttscache.Client) -> None:
    with pytest.raises(ttscache.InvalidArgument):
        client.arena_alloc(10)


def test_block_dropped_on_another_thread(arena_client: ttscache.Client) -> None:
    """The collector may free a block anywhere; the client frees it on its own thread."""
    import threading
    c = arena_client
    box = [c.arena_alloc(3 << 20)]  # most of the arena
    with pytest.raises(ttscache.TooLarge):
        c.arena_alloc(3 << 20)
    t = threading.Thread(target=box.clear)
    t.start()
    t.join()
    gc.collect()
    assert c.arena_alloc(3 << 20).nbytes == 3 << 20  # its space came back


def test_encode_output_larger_than_first_guess(arena_client: ttscache.Client,
                                               client: ttscache.Client) -> None:
    """8 kHz u8 noise at 256 kbit/s CBR: the Opus is larger than the WAV, so the first
    output block is too small; the daemon says how much is needed and it is retried."""
    import random
    rng = random.Random(16)
    frames = 8000 * 10
    wav = ttscache.wav_header(frames, 8000, 1, 8) + bytes(rng.getrandbits(8) for _ in range(frames))
    params = ttscache.OpusParams(bitrate_kbps=256, vbr="off")
    opus = arena_client.encode(wav, opus=params)
    assert inside(arena_client, opus) and opus.nbytes > len(wav) // 4 + 65536
    assert opus.nbytes == client.encode(wav, opus=params).nbytes  # inline, same CBR size


def test_arena_encode_error_keeps_the_daemons_message(arena_client: ttscache.Client,
                                                      wav: bytes) -> None:
    # The output block is given back before the error is raised: the message
    # must be the daemon's, read before that call cleared it.
    c = arena_client
    block = c.arena_alloc(len(wav))
    block[:] = wav
    with pytest.raises(ttscache.BadAudio) as e:
        c.encode(block[10:])  # starts inside the RIFF header
    assert str(e.value) != "TTSCACHE_ERR_BAD_AUDIO" and "RIFF" in str(e.value), str(e.value)


def test_encode_with_no_room_for_the_output_falls_back_inline(daemon: Daemon, wav: bytes) -> None:
    # put() sends inline when the arena has no room; encode() must too, not
    # raise TooLarge for a WAV the daemon encodes inline at once.
    with ttscache.Client(daemon.socket) as c:
        c.attach_arena(64 << 10)  # room for the WAV, not for the output's first guess
        opus = c.encode(wav)
        assert opus[:4] == b"OggS"
