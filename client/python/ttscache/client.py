"""ttscache.Client: one connection to ttscached, over libttscache's C API.

Views and their owners. A memoryview this module returns is over memory the
C library owns — the daemon's cached file mapped read-only, bytes of a reply,
or a block of the arena — never a copy. Its `.obj` is a ctypes array whose
collection releases that memory (ttscache_buffer_free, or the block back to
the arena allocator): keep any view or slice of it and the memory stays;
drop every reference and it goes. So a view outlives its Client: closing the
client frees the handle only once no arena block is referenced any more.

Arena blocks are freed by the collector, possibly on another thread; the
block goes on a list the client drains on its own thread at its next arena
call, so the C handle is only ever used by one thread at a time.
"""
from __future__ import annotations

import ctypes
import threading
import weakref
from collections import deque
from typing import Callable, Iterable, Optional

from . import _lib
from ._buffers import Audio, Pinned
from .errors import BufferTooSmall, Busy, Error, InvalidArgument, TooLarge, Unsupported, error_for
from .coordinate import Coordinate
from .operate import Operate
from .stream import EncodeStream, _locked
from .tier import Tier
from .values import EngineStats, Hello, OpusLike, OpusParams, Stats, _opus

OK, MISS = 0, 1
# get_many's requests in flight: under half the daemon's job queue share per
# connection (queue_depth 64 / 2) and its 64 requests per connection.
_GET_WINDOW = 16
_FORMATS = {"wav": 0, "opus": 1}


def library_version() -> str:
    """libttscache's version ("0.2.0"); "unknown" from a library that predates the call."""
    lib = _lib.lib()
    version: bytes = lib.version() if lib.has("version") else b"unknown"
    return version.decode()


def _free_buffer(lib: _lib.Library, buf: _lib.Buffer) -> None:
    lib.buffer_free(ctypes.byref(buf))


def _view_of_buffer(lib: _lib.Library, buf: _lib.Buffer) -> memoryview:
    """A read-only view of a ttscache_buffer that frees it when the last reference goes."""
    if not buf.size:
        lib.buffer_free(ctypes.byref(buf))
        return memoryview(b"")
    owner = (ctypes.c_uint8 * buf.size).from_address(buf.data)
    fin = weakref.finalize(owner, _free_buffer, lib, buf)
    fin.atexit = False  # the process is going: nothing to give back
    return memoryview(owner).cast("B").toreadonly()


class _Handle:
    """Owns one ttscache_client*. Freed when the Client and every arena block are gone."""

    def __init__(self, lib: _lib.Library, socket_path: Optional[str], timeout_ms: int) -> None:
        self.lib = lib
        ptr = lib.client_new(socket_path.encode() if socket_path is not None else None, timeout_ms)
        if not ptr:
            raise MemoryError("ttscache_client_new")
        self.ptr: int = ptr
        self.lock = threading.RLock()  # one thread in the C handle at a time
        self.pending_frees: list[int] = []  # arena offsets released by the collector
        fin = weakref.finalize(self, lib.client_free, ptr)
        fin.atexit = False

    def error(self, rc: int) -> Error:
        message = self.lib.last_error(self.ptr) or b""
        return error_for(rc, message.decode("utf-8", "replace"))

    def drain_frees(self) -> None:
        while self.pending_frees:
            self.lib.arena_free(self.ptr, self.pending_frees.pop())


def _release_block(handle: _Handle, offset: int) -> None:
    handle.pending_frees.append(offset)  # any thread; the client's thread frees it


class Client(Operate, Coordinate, Tier):
    """A connection to ttscached (connected by the first call).

    socket_path None: $TTSCACHE_SOCKET, else /run/ttscache/ttscached.sock.
    timeout_ms bounds every call; a call that times out raises Unavailable.
    Calls from several threads are serialized (one Client per thread runs them
    in parallel).
    """

    def __init__(self, socket_path: Optional[str] = None, timeout_ms: int = 10000) -> None:
        self._lib = _lib.lib()
        self._handle: Optional[_Handle] = _Handle(self._lib, socket_path, timeout_ms)
        self._arena_base = 0
        self._arena_size = 0

    # --- lifetime ------------------------------------------------------------
    def close(self) -> None:
        """Ends the client. Views it returned stay valid; the connection closes once
        no arena block is referenced."""
        self._handle = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _h(self) -> _Handle:
        if self._handle is None:
            raise InvalidArgument("ttscache: the client is closed")
        return self._handle

    def _check(self, rc: int) -> int:
        if rc in (OK, MISS):
            return rc
        raise self._error(rc)

    def _error(self, rc: int) -> Error:
        return self._h().error(rc)

    def _need(self, name: str) -> Callable[..., int]:
        if not self._lib.has(name):
            raise Unsupported(f"ttscache: {self._lib.path} has no ttscache_{name} "
                              f"(library {library_version()})")
        fn: Callable[..., int] = getattr(self._lib, name)
        return fn

    # --- requests ------------------------------------------------------------
    @_locked
    def connect(self) -> None:
        self._check(self._lib.client_connect(self._h().ptr))

    @_locked
    def ping(self) -> None:
        self._check(self._lib.ping(self._h().ptr))

    @_locked
    def hello(self) -> Hello:
        info = _lib.HelloInfo()
        self._check(self._need("hello")(self._h().ptr, ctypes.byref(info)))
        return Hello(info.protocol_version, info.max_frame_body, info.max_text_bytes,
                     info.max_inflight, info.max_arena_bytes)

    @property
    def version(self) -> str:
        """The loaded libttscache's version (the daemon's protocol: hello())."""
        return library_version()

    @_locked
    def stats(self) -> Stats:
        out = ctypes.POINTER(_lib.StatsC)()
        self._check(self._need("stats_get")(self._h().ptr, ctypes.byref(out)))
        try:
            return self._stats_from_c(out.contents)
        finally:
            self._lib.stats_free(out)

    @staticmethod
    def _stats_from_c(s: _lib.StatsC) -> Stats:
        engines = {}
        for i in range(s.engine_count):
            e = s.engines[i]
            engines[e.name.decode()] = EngineStats(
                e.entries, e.bytes, e.hits, e.misses, e.puts, e.evictions, e.variant_hits,
                e.variant_misses)
        limits = dict(max_entries=s.max_entries, max_bytes=s.max_bytes) if s.has_limits else {}
        streams = dict(streams_open=s.streams_open, streams_opened=s.streams_opened,
                       streams_stored=s.streams_stored,
                       streams_failed=s.streams_failed) if s.has_streams else {}
        return Stats(s.connections, s.requests, s.busy, s.errors, s.encodes, s.shared_encodes,
                     engines, **limits, **streams)

    @_locked
    def get(self, engine: str, text: str, format: str = "wav",
            opus: OpusLike = None) -> Optional[memoryview]:
        """The cached audio (a read-only view of the daemon's file, no copy), or None
        on a miss. format "opus" is encoded once per (entry, settings) and cached."""
        fmt = _format(format)
        params = _opus(opus)
        e, t = engine.encode(), text.encode()
        buf = _lib.Buffer()
        h = self._h()
        if params.only_bitrate():
            rc = self._lib.get(h.ptr, e, t, len(t), fmt, params.bitrate_kbps, ctypes.byref(buf))
        else:
            rc = self._need("get_ex")(h.ptr, e, t, len(t), fmt, ctypes.byref(params.to_c()),
                                      ctypes.byref(buf))
        if self._check(rc) == MISS:
            return None
        return _view_of_buffer(self._lib, buf)

    @_locked
    def get_many(self, engine: str, texts: Iterable[str], format: str = "wav",
                 opus: OpusLike = None) -> list[Optional[memoryview]]:
        """Pipelined gets: up to _GET_WINDOW requests in flight, replies read oldest
        first (the daemon answers BUSY past 64 in flight on a connection, or when
        its job queue is full; a get refused BUSY is asked again on its own)."""
        send, receive = self._need("send_get"), self._need("receive_get")
        fmt, params = _format(format), _opus(opus)
        c_params = params.to_c()
        h = self._h()
        e = engine.encode()
        encoded = [text.encode() for text in texts]  # a bad item raises before anything is sent
        views: list[Optional[memoryview]] = [None] * len(encoded)
        pending: deque[tuple[int, int]] = deque()
        busy: list[int] = []
        first_error: Optional[Error] = None

        def receive_oldest() -> None:
            nonlocal first_error
            index, rid = pending.popleft()
            buf = _lib.Buffer()
            rc = receive(h.ptr, rid, ctypes.byref(buf))
            if rc == OK:
                views[index] = _view_of_buffer(self._lib, buf)
            elif rc != MISS:
                err = self._error(rc)
                if isinstance(err, Busy):
                    busy.append(index)
                else:
                    first_error = first_error or err

        try:
            for index, t in enumerate(encoded):
                if len(pending) >= _GET_WINDOW:
                    receive_oldest()
                sent = ctypes.c_uint64()
                self._check(send(h.ptr, e, t, len(t), fmt, ctypes.byref(c_params),
                                 ctypes.byref(sent)))
                pending.append((index, sent.value))
        finally:
            while pending:  # every id sent must be received
                receive_oldest()
        if first_error:
            raise first_error
        for index in busy:  # nothing else in flight now
            views[index] = self.get(engine, encoded[index].decode(), format, opus)
        return views

    @_locked
    def put(self, engine: str, text: str, audio: Audio) -> None:
        """Stores a WAV as the entry of (engine, text). Audio inside the arena is
        sent by offset; other audio is written into the arena once (when one is
        attached and has room) or sent inline."""
        e, t = engine.encode(), text.encode()
        h = self._h()
        with Pinned(audio) as p:
            if self._arena_size:
                h.drain_frees()
                offset, temporary = self._in_arena(p)
                if offset is not None:
                    try:
                        self._check(self._lib.put_from_arena(h.ptr, e, t, len(t), offset,
                                                             p.length))
                    finally:
                        if temporary:
                            self._lib.arena_free(h.ptr, offset)
                    return
            self._check(self._lib.put(h.ptr, e, t, len(t), p.address, p.length))

    @_locked
    def encode(self, wav: Audio, opus: OpusLike = None) -> memoryview:
        """The WAV encoded as Ogg Opus. With an arena attached the Opus is written
        by the daemon into an arena block, and the view is over that block."""
        params = _opus(opus)
        h = self._h()
        with Pinned(wav) as p:
            if self._arena_size:
                h.drain_frees()
                offset, temporary = self._in_arena(p)
                if offset is not None:
                    try:
                        return self._encode_in_arena(offset, p.length, params)
                    except _NoArenaRoom:
                        pass  # no room for the output: inline, as put() does
                    finally:
                        if temporary:
                            self._lib.arena_free(h.ptr, offset)
            buf = _lib.Buffer()
            if params.only_bitrate():
                rc = self._lib.encode(h.ptr, p.address, p.length, params.bitrate_kbps,
                                      ctypes.byref(buf))
            else:
                rc = self._need("encode_ex")(h.ptr, p.address, p.length,
                                             ctypes.byref(params.to_c()), ctypes.byref(buf))
            self._check(rc)
            return _view_of_buffer(self._lib, buf)

    @_locked
    def put_encode(self, engine: str, text: str, wav: Audio, opus: OpusLike = None) -> memoryview:
        """Stores the WAV as (engine, text) and returns its Ogg Opus (cached as a variant)."""
        fn = self._need("put_encode")
        e, t = engine.encode(), text.encode()
        buf = _lib.Buffer()
        with Pinned(wav) as p:
            self._check(fn(self._h().ptr, e, t, len(t), p.address, p.length,
                           ctypes.byref(_opus(opus).to_c()), ctypes.byref(buf)))
        return _view_of_buffer(self._lib, buf)

    # --- the arena -----------------------------------------------------------
    @_locked
    def attach_arena(self, nbytes: int) -> None:
        """Shares `nbytes` of memory with the daemon (at most hello().max_arena_bytes).
        Only once per Client: the blocks handed out point into it."""
        if self._arena_size:
            raise InvalidArgument("ttscache: an arena is attached already (one per Client)")
        h = self._h()
        self._check(self._need("arena_attach")(h.ptr, nbytes))
        base, size = ctypes.c_void_p(), ctypes.c_size_t()
        self._check(self._lib.arena(h.ptr, ctypes.byref(base), ctypes.byref(size)))
        self._arena_base, self._arena_size = base.value or 0, size.value

    @property
    def arena_size(self) -> int:
        """The attached arena's size in bytes (0: none)."""
        return self._arena_size

    @_locked
    def arena_alloc(self, nbytes: int) -> memoryview:
        """A writable block of the arena (format "B"; numpy.frombuffer works on it),
        given back to the arena when its last reference goes. put/encode of the
        block, or of a slice of it, send it by offset: the daemon reads it in place.
        No room: TooLarge."""
        if not self._arena_size:
            raise InvalidArgument("ttscache: no arena attached (attach_arena first)")
        h = self._h()
        h.drain_frees()
        address, offset = self._alloc(nbytes)
        return self._block_view(h, address, offset, nbytes)

    def _alloc(self, nbytes: int) -> tuple[int, int]:
        data, offset = ctypes.c_void_p(), ctypes.c_uint64()
        self._check(self._lib.arena_alloc(self._h().ptr, max(nbytes, 1), ctypes.byref(data),
                                          ctypes.byref(offset)))
        return data.value or 0, offset.value

    def _block_view(self, h: _Handle, address: int, offset: int, nbytes: int) -> memoryview:
        block = (ctypes.c_uint8 * nbytes).from_address(address)
        fin = weakref.finalize(block, _release_block, h, offset)  # holds the handle
        fin.atexit = False
        return memoryview(block).cast("B")

    def _in_arena(self, p: Pinned) -> tuple[Optional[int], bool]:
        """(offset, temporary): where p's bytes are in the arena, copying them into a
        temporary block if they are elsewhere; (None, False) if the arena has no room."""
        if self._arena_base <= p.address and p.address + p.length <= (self._arena_base
                                                                      + self._arena_size):
            return p.address - self._arena_base, False
        try:
            address, offset = self._alloc(p.length)
        except TooLarge:
            return None, False
        ctypes.memmove(address, p.address, p.length)
        return offset, True

    def _encode_in_arena(self, offset: int, length: int, params: OpusParams) -> memoryview:
        h = self._h()
        fn = self._lib.encode_in_arena
        capacity = length // 4 + 65536  # Opus at 510 kbit/s of 8 kHz u8 would need 8x: retried
        for _ in range(2):
            try:
                address, out = self._alloc(capacity)
            except TooLarge:
                raise _NoArenaRoom(f"ttscache: no {capacity} bytes free in the arena for the "
                                   f"Opus output") from None
            size = ctypes.c_uint64()
            rc = fn(h.ptr, offset, length, out, capacity, ctypes.byref(params.to_c()),
                    ctypes.byref(size))
            if rc == OK:
                view = self._block_view(h, address, out, capacity)
                return view[:size.value].toreadonly()  # the block stays until the view goes
            err = self._error(rc)  # before arena_free, which clears the message
            self._lib.arena_free(h.ptr, out)
            if isinstance(err, BufferTooSmall):
                err.needed = size.value
                if size.value > capacity:
                    capacity = size.value
                    continue
            raise err
        raise BufferTooSmall("ttscache: the Opus output grew between two encodes")

    # --- encode streams ------------------------------------------------------
    @_locked
    def encode_stream(self, *, rate: int = 0, sample_format: str = "s16le", channels: int = 1,
                      wav: bool = False, engine: Optional[str] = None, text: Optional[str] = None,
                      opus: OpusLike = None,
                      on_pages: Optional[Callable[[bytes], None]] = None) -> "EncodeStream":
        """Opens an encode stream: push PCM (or a WAV, wav=True) as the engine makes it,
        receive Ogg pages while it still does (on_pages, or EncodeStream.pages()).
        With engine and text the finished stream is cached as that entry."""
        return EncodeStream(self, rate, sample_format, channels, wav, engine, text, _opus(opus),
                            on_pages)


class _NoArenaRoom(TooLarge):
    """The arena has no room for an encode's output (encode() then goes inline)."""


def _format(format: str) -> int:
    try:
        return _FORMATS[format]
    except KeyError:
        raise InvalidArgument(f"ttscache: format must be 'wav' or 'opus', not {format!r}") from None
