"""ttscache: the Python client of ttscached (TTS audio cache and Ogg Opus encoder).

Pure Python over libttscache's C API (ctypes): install the library (the
`ttscache` Debian package, or TTSCACHE_LIBRARY=/path/to/libttscache.so.N).

    import ttscache
    with ttscache.Client() as c:                 # $TTSCACHE_SOCKET or /run/ttscache/ttscached.sock
        c.put("piper", "The lights are on.", wav)          # bytes, bytearray, memoryview, NumPy
        audio = c.get("piper", "the lights are on.")       # memoryview, or None on a miss
        opus = c.get("piper", "the lights are on.", format="opus")

The contract:

- **Views, not copies.** get, encode and put_encode return a read-only
  `memoryview` over memory libttscache owns — for a hit, the daemon's cached
  file mapped into this process. It stays valid as long as it (or a slice,
  or `view.obj`) is referenced, even after the Client is closed; the memory
  is released when the last reference goes. `bytes(view)` copies.
- **The arena.** `attach_arena(n)` shares n bytes with the daemon (once per
  Client); `arena_alloc(k)` returns a writable memoryview inside it (format
  "B": `numpy.frombuffer(block, dtype=numpy.int16)` writes into it). put and
  encode of a block, or a slice of it, send its offset: the daemon reads it
  in place. Other audio is copied into the arena once, or sent inline when
  no arena is attached (or it has no room). With an arena, encode returns a
  view of the arena block the daemon wrote the Opus into. A block returns
  to the arena when its last reference goes; the Client's connection stays
  open until then.
- **Errors** raise a subclass of `ttscache.Error` per C API code (Busy,
  Unavailable, UnknownEngine, BadAudio, TooLarge, BufferTooSmall,
  OutOfMemory, ...), with the daemon's message. A miss is not an error: get
  returns None.
- **Threads.** One Client per thread: a Client, its streams and its arena
  blocks' allocations are used by one thread at a time (calls release the
  GIL while they wait for the daemon; a Client shared by threads holds a
  lock around each call, so they are safe but serialized). Views may be read
  from any thread.
  Clients are independent.
- **Operating the cache.** delete, delete_key, purge, verify(repair=True)
  (admin only: Forbidden otherwise), list (a generator, one LIST page at a
  time) and stats_detail; every engine may be "engine/voice" or take voice=.
- **Coordinating synthesis.** get_or_claim (a get whose miss is claimed:
  one of several processes missing a phrase synthesizes it, the others wait
  for its put), drop_claim, `with client.slot("xtts"):` (a host-wide limit
  on parallel syntheses; acquire_slot/release_slot) and coordination().
- **The fleet tier.** tier(): the shared second tier's state and counters
  (TierStats; enabled False on a daemon without [tier]).
- **Timeouts.** `timeout_ms` bounds every call; a call that times out raises
  Unavailable and the Client goes on working. A lost connection (a daemon
  restart) is reopened once and the call retried.
"""
from __future__ import annotations

from ._lib import LIBRARY_SONAME
from .client import Client, library_version
from .stream import EncodeStream, encode_chunks
from .values import (CoordinationStats, DeleteResult, EngineStats, Hello, ListedEntry,
                     ListedVariant, OpusParams, PurgeResult, SlotHold, SlotStats, Stats,
                     StatsDetail, StreamResult, TierStats, VerifyProblem, VerifyResult)
from .errors import (BadAudio, BadRequest, Busy, BufferTooSmall, ConfigError, Error, Forbidden,
                     Internal, InvalidArgument, IOFailure, Locked, NoSpace, OutOfMemory,
                     TooLarge, UnknownEngine, Unavailable, Unsupported)
from .wav import wav_header

__version__ = "0.2.0"

__all__ = [
    "Client", "EncodeStream", "EngineStats", "Hello", "OpusParams", "Stats", "StreamResult",
    "DeleteResult", "ListedEntry", "ListedVariant", "PurgeResult", "StatsDetail", "VerifyProblem",
    "VerifyResult", "CoordinationStats", "SlotHold", "SlotStats", "TierStats",
    "encode_chunks", "library_version", "wav_header", "LIBRARY_SONAME",
    "Error", "BadAudio", "BadRequest", "Busy", "BufferTooSmall", "ConfigError", "Forbidden",
    "Internal", "InvalidArgument", "IOFailure", "Locked", "NoSpace", "OutOfMemory", "TooLarge",
    "UnknownEngine", "Unavailable", "Unsupported",
]
