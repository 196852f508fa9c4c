"""ttscache.Error and its subclasses: one per C API code (TTSCACHE_ERR_*).

Codes 2-9 are the daemon's wire errors (docs/protocol.md, "Errors"), the
others the library's own. Every error carries the code, the code's C name and
the message of ttscache_last_error — the daemon's words where it answered.
"""
from __future__ import annotations

from typing import Optional


class Error(Exception):
    """A call failed. `code` is the C API's TTSCACHE_ERR_* number."""
    code: int = -1
    name: str = "TTSCACHE_ERR_UNKNOWN_CODE"

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.message} ({self.name})" if self.message else self.name


class BadRequest(Error):
    """The daemon refused the request as malformed or out of range."""
    code = 2
    name = "TTSCACHE_ERR_BAD_REQUEST"


class BadAudio(Error):
    """The audio is not a WAV (or PCM) the daemon can read."""
    code = 3
    name = "TTSCACHE_ERR_BAD_AUDIO"


class UnknownEngine(Error):
    """The daemon has no such engine in its configuration."""
    code = 4
    name = "TTSCACHE_ERR_UNKNOWN_ENGINE"


class TooLarge(Error):
    """Over a limit: the daemon's (frame, text, seconds) or the arena's free space."""
    code = 5
    name = "TTSCACHE_ERR_TOO_LARGE"


class Busy(Error):
    """The daemon's queue is full: retry later."""
    code = 6
    name = "TTSCACHE_ERR_BUSY"


class Forbidden(Error, PermissionError):
    """The daemon refused this uid, or the peer is not the expected daemon."""
    code = 7
    name = "TTSCACHE_ERR_FORBIDDEN"


class Internal(Error):
    """The daemon or the library failed (or the daemon broke the protocol)."""
    code = 8
    name = "TTSCACHE_ERR_INTERNAL"


class BufferTooSmall(Error):
    """An arena output range too small; `needed` is the size required (0: unknown)."""
    code = 9
    name = "TTSCACHE_ERR_BUFFER_TOO_SMALL"

    def __init__(self, message: str, code: Optional[int] = None, needed: int = 0) -> None:
        super().__init__(message, code)
        self.needed = needed


class Unavailable(Error, ConnectionError):
    """No daemon answers at the socket, or not within the timeout."""
    code = 10
    name = "TTSCACHE_ERR_UNAVAILABLE"


class InvalidArgument(Error, ValueError):
    """Refused by the library before anything was sent."""
    code = 11
    name = "TTSCACHE_ERR_INVALID_ARGUMENT"


class OutOfMemory(Error, MemoryError):
    """The library could not allocate."""
    code = 12
    name = "TTSCACHE_ERR_OUT_OF_MEMORY"


class NoSpace(Error):
    """No space left (ENOSPC, EDQUOT)."""
    code = 13
    name = "TTSCACHE_ERR_NO_SPACE"


class IOFailure(Error):
    """The operating system refused (memfd_create, mmap, ...)."""
    code = 14
    name = "TTSCACHE_ERR_IO"


class Unsupported(Error):
    """The daemon, or the loaded libttscache, does not have this call."""
    code = 15
    name = "TTSCACHE_ERR_UNSUPPORTED"


class Locked(Error):
    """Locked by another process."""
    code = 16
    name = "TTSCACHE_ERR_LOCKED"


class ConfigError(Error):
    """A wrong environment value (TTSCACHE_DAEMON_UID, ...)."""
    code = 17
    name = "TTSCACHE_ERR_CONFIG"


_ALL: tuple[type[Error], ...] = (
    BadRequest, BadAudio, UnknownEngine, TooLarge, Busy, Forbidden, Internal, BufferTooSmall,
    Unavailable, InvalidArgument, OutOfMemory, NoSpace, IOFailure, Unsupported, Locked,
    ConfigError)
_BY_CODE: dict[int, type[Error]] = {cls.code: cls for cls in _ALL}


def error_for(code: int, message: str) -> Error:
    """The exception for a C API return code (an unknown code: plain Error)."""
    cls = _BY_CODE.get(code)
    return Error(message, code) if cls is None else cls(message)
