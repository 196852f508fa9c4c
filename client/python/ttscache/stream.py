"""Encode streams: PCM (or a WAV) pushed as an engine produces it, Ogg Opus
pages back while it still does (docs/protocol.md, "Encode streams"), over
ttscache_stream_*. A stream borrows its Client's connection and thread.

The C library calls back into Python from inside push, wait and finish; the
callback's state (_PageSink) is kept apart from the EncodeStream so that no
reference cycle delays freeing the stream, and an exception raised in it is
re-raised after the C call returns (ctypes would print and drop it).
"""
from __future__ import annotations

import ctypes
import functools
import weakref
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, TypeVar, cast

from . import _lib
from ._buffers import Audio, Pinned
from .errors import InvalidArgument
from .values import OpusParams, StreamResult

if TYPE_CHECKING:
    from .client import Client, _Handle

OK = 0
_SAMPLE_FORMATS = {"u8": 0, "s16le": 1, "s24le": 2, "s32le": 3, "f32le": 4, "f64le": 5}
_CACHED = {0: "not-asked", 1: "stored", 2: "not-stored"}


_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(method: _F) -> _F:
    """Runs a Client or EncodeStream method holding its handle's lock: the C
    handle is used by one thread at a time (ctypes lets go of the GIL during
    a call, so two threads sharing a Client would otherwise race inside the
    library and crash the interpreter). Reentrant: a page callback may call
    the client."""
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        handle = self._handle
        if handle is None:
            return method(self, *args, **kwargs)
        with handle.lock:
            return method(self, *args, **kwargs)
    return cast(_F, wrapper)


def _free_stream(lib: _lib.Library, ptr: int, handle: _Handle, callback: Any) -> None:
    with handle.lock:  # the collector may run this on another thread
        lib.stream_free(ptr)  # before the handle and the callback: this holds them


class _PageSink:
    """What the C page callback writes to."""

    def __init__(self, on_pages: Optional[Callable[[bytes], None]]) -> None:
        self.on_pages = on_pages
        self.pending: list[bytes] = []
        self.error: Optional[BaseException] = None

    def deliver(self, _user: Any, pages: int, length: int) -> None:
        try:
            data = ctypes.string_at(pages, length)
            if self.on_pages is not None:
                self.on_pages(data)
            else:
                self.pending.append(data)
        except BaseException as e:  # ctypes would print and drop it: raised after the call
            self.error = self.error or e


class EncodeStream:
    """An encode stream on a Client's connection (use it on the client's thread).

    Pages reach on_pages(bytes) from inside push(), wait() and finish(); without
    on_pages they collect and pages() returns (and clears) them. An error from
    the daemon ends the stream and is raised by that call and every later one.
    """

    def __init__(self, client: Client, rate: int, sample_format: str, channels: int, wav: bool,
                 engine: Optional[str], text: Optional[str], opus: OpusParams,
                 on_pages: Optional[Callable[[bytes], None]]) -> None:
        if (engine is None) != (text is None):
            raise InvalidArgument("ttscache: give engine and text, or neither")
        lib = client._lib
        self._client = client
        self._handle = client._h()
        # The C callback's state is apart from the stream: no cycle, so the stream
        # is freed by reference counting, and its finalizer holds the handle.
        sink = _PageSink(on_pages)
        self._sink = sink
        self._deliver = _lib.PagesFn(sink.deliver)  # referenced as long as the stream lives
        fmt = _lib.StreamFormatC(1 if wav else 0, _SAMPLE_FORMATS.get(sample_format, -1),
                                 channels, rate)
        if fmt.sample_format < 0:
            raise InvalidArgument(f"ttscache: unknown sample format {sample_format!r}")
        e = engine.encode() if engine is not None else None
        t = text.encode() if text is not None else None
        out = _lib.c_stream_p()
        if opus.only_bitrate():
            rc = lib.stream_open(self._handle.ptr, ctypes.byref(fmt), opus.bitrate_kbps, e, t,
                                 len(t or b""), self._deliver, None, ctypes.byref(out))
        else:
            rc = client._need("stream_open_ex")(self._handle.ptr, ctypes.byref(fmt),
                                                ctypes.byref(opus.to_c()), e, t, len(t or b""),
                                                self._deliver, None, ctypes.byref(out))
        client._check(rc)
        ptr: int = out.value or 0
        self._ptr: Optional[int] = ptr
        self._finalizer = weakref.finalize(self, _free_stream, lib, ptr, self._handle,
                                           self._deliver)
        self._finalizer.atexit = False

    def _call(self, rc: int) -> None:
        err, self._sink.error = self._sink.error, None
        if err is not None and self._ptr is not None:
            # The pages on_pages did not take are a hole in the Ogg stream: the
            # stream ends (nothing is stored), and later calls say so.
            self._client._lib.stream_abort(self._ptr)
        if rc != OK:
            raise self._handle.error(rc)
        if err is not None:
            raise err

    def _p(self) -> int:
        if self._ptr is None:
            raise InvalidArgument("ttscache: the stream is closed")
        return self._ptr

    @_locked
    def push(self, data: Audio) -> None:
        """Sends the next bytes (any length); returns without waiting for their encode."""
        with Pinned(data) as p:
            self._call(self._client._lib.stream_push(self._p(), p.address, p.length))

    @_locked
    def wait(self, timeout_ms: int = 0) -> None:
        """Delivers the pages that have arrived, waiting up to timeout_ms for them."""
        self._call(self._client._lib.stream_wait(self._p(), timeout_ms))

    @_locked
    def fileno(self) -> int:
        """The connection's socket, for select/poll (readable: call wait(0))."""
        fd: int = self._client._lib.stream_poll_fd(self._p())
        return fd

    @_locked
    def finish(self) -> StreamResult:
        """Ends the input; the last pages are delivered before it returns."""
        r = _lib.StreamResultC()
        self._call(self._client._lib.stream_finish(self._p(), ctypes.byref(r)))
        return StreamResult(r.samples_48k, _CACHED.get(r.cached, str(r.cached)),
                            (r.note or b"").decode("utf-8", "replace"))

    def pages(self) -> bytes:
        """The pages collected since the last call (without on_pages)."""
        data, self._sink.pending = b"".join(self._sink.pending), []
        return data

    @_locked
    def close(self) -> None:
        """Frees the stream, aborting it if still open: nothing is stored."""
        if self._ptr is not None:
            self._ptr = None
            self._finalizer()

    def __enter__(self) -> "EncodeStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def encode_chunks(client: Client, chunks: Iterable[Audio], **options: Any) -> Iterator[bytes]:
    """Ogg Opus bytes as they come, for PCM (or WAV) chunks as an engine yields them:
    `for page in ttscache.encode_chunks(c, engine_chunks, rate=22050): send(page)`."""
    with client.encode_stream(**options) as stream:
        for chunk in chunks:
            stream.push(chunk)
            stream.wait(0)
            pages = stream.pages()
            if pages:
                yield pages
        stream.finish()
        pages = stream.pages()
        if pages:
            yield pages
