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


def _error(cls_name: str, code: int, c_name: str, doc: str, *bases: type) -> type:
    return type(cls_name, (Error, *bases), {"code": code, "name": c_name, "__doc__": doc,
                                            "__module__": "ttscache"})


BadRequest = _error("BadRequest", 2, "TTSCACHE_ERR_BAD_REQUEST",
                    "The daemon refused the request as malformed or out of range.")
BadAudio = _error("BadAudio", 3, "TTSCACHE_ERR_BAD_AUDIO",
                  "The audio is not a WAV (or PCM) the daemon can read.")
UnknownEngine = _error("UnknownEngine", 4, "TTSCACHE_ERR_UNKNOWN_ENGINE",
                       "The daemon has no such engine in its configuration.")
TooLarge = _error("TooLarge", 5, "TTSCACHE_ERR_TOO_LARGE",
                  "Over a limit: the daemon's (frame, text, seconds) or the arena's free space.")
Busy = _error("Busy", 6, "TTSCACHE_ERR_BUSY", "The daemon's queue is full: retry later.")
Forbidden = _error("Forbidden", 7, "TTSCACHE_ERR_FORBIDDEN",
                   "The daemon refused this uid, or the peer is not the expected daemon.",
                   PermissionError)
Internal = _error("Internal", 8, "TTSCACHE_ERR_INTERNAL",
                  "The daemon or the library failed (or the daemon broke the protocol).")


class BufferTooSmall(Error):
    """An arena output range too small; `needed` is the size required (0: unknown)."""
    code = 9
    name = "TTSCACHE_ERR_BUFFER_TOO_SMALL"

    def __init__(self, message: str, code: Optional[int] = None, needed: int = 0) -> None:
        super().__init__(message, code)
        self.needed = needed


BufferTooSmall.__module__ = "ttscache"
Unavailable = _error("Unavailable", 10, "TTSCACHE_ERR_UNAVAILABLE",
                     "No daemon answers at the socket, or not within the timeout.",
                     ConnectionError)
InvalidArgument = _error("InvalidArgument", 11, "TTSCACHE_ERR_INVALID_ARGUMENT",
                         "Refused by the library before anything was sent.", ValueError)
OutOfMemory = _error("OutOfMemory", 12, "TTSCACHE_ERR_OUT_OF_MEMORY",
                     "The library could not allocate.", MemoryError)
NoSpace = _error("NoSpace", 13, "TTSCACHE_ERR_NO_SPACE", "No space left (ENOSPC, EDQUOT).")
IOFailure = _error("IOFailure", 14, "TTSCACHE_ERR_IO",
                   "The operating system refused (memfd_create, mmap, ...).")
Unsupported = _error("Unsupported", 15, "TTSCACHE_ERR_UNSUPPORTED",
                     "The daemon, or the loaded libttscache, does not have this call.")
Locked = _error("Locked", 16, "TTSCACHE_ERR_LOCKED", "Locked by another process.")
ConfigError = _error("ConfigError", 17, "TTSCACHE_ERR_CONFIG",
                     "A wrong environment value (TTSCACHE_DAEMON_UID, ...).")

_BY_CODE: dict[int, type] = {cls.code: cls for cls in (
    BadRequest, BadAudio, UnknownEngine, TooLarge, Busy, Forbidden, Internal, BufferTooSmall,
    Unavailable, InvalidArgument, OutOfMemory, NoSpace, IOFailure, Unsupported, Locked,
    ConfigError)}


def error_for(code: int, message: str) -> Error:
    """The exception for a C API return code (an unknown code: plain Error)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        err = Error(message, code)
        return err
    return cls(message)
