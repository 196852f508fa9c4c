"""Loads libttscache and declares its C API (include/ttscache/ttscache.h) for ctypes.

The library is found by one name, LIBRARY_SONAME, unless TTSCACHE_LIBRARY
names a file; the previous SONAME and ctypes.util.find_library are tried after
it. Functions added to the C API after 0.1 are declared only when the loaded
library exports them (`has(name)`): the package then works with an older
library, and a call that needs a newer one raises ttscache.Unsupported.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from typing import Any, Optional

LIBRARY_SONAME = "libttscache.so.1"
_FALLBACK_NAMES = ("libttscache.so.0",)

c_client_p = ctypes.c_void_p
c_stream_p = ctypes.c_void_p
c_u8_p = ctypes.POINTER(ctypes.c_uint8)


class Buffer(ctypes.Structure):
    """ttscache_buffer: audio the library owns until ttscache_buffer_free."""
    _fields_ = [("data", ctypes.c_void_p), ("size", ctypes.c_size_t), ("owner_", ctypes.c_void_p)]


class OpusParamsC(ctypes.Structure):
    _fields_ = [("bitrate_kbps", ctypes.c_int), ("vbr", ctypes.c_int),
                ("application", ctypes.c_int), ("complexity", ctypes.c_int),
                ("frame_us", ctypes.c_int), ("reserved_", ctypes.c_int * 3)]


class HelloInfo(ctypes.Structure):
    _fields_ = [("protocol_version", ctypes.c_uint32), ("max_frame_body", ctypes.c_uint32),
                ("max_text_bytes", ctypes.c_uint32), ("max_inflight", ctypes.c_uint32),
                ("max_arena_bytes", ctypes.c_uint64), ("reserved_", ctypes.c_uint64 * 4)]


class EngineStatsC(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p)] + [
        (f, ctypes.c_uint64) for f in ("entries", "bytes", "hits", "misses", "puts", "evictions",
                                       "variant_hits", "variant_misses")]


class StatsC(ctypes.Structure):
    _fields_ = [(f, ctypes.c_uint64) for f in ("connections", "requests", "busy", "errors",
                                               "encodes", "shared_encodes")] + [
        ("has_limits", ctypes.c_int), ("max_entries", ctypes.c_uint64),
        ("max_bytes", ctypes.c_uint64), ("has_streams", ctypes.c_int)] + [
        (f, ctypes.c_uint64) for f in ("streams_open", "streams_opened", "streams_stored",
                                       "streams_failed")] + [
        ("engine_count", ctypes.c_size_t), ("engines", ctypes.POINTER(EngineStatsC))]


class StreamFormatC(ctypes.Structure):
    _fields_ = [("input", ctypes.c_int), ("sample_format", ctypes.c_int),
                ("channels", ctypes.c_int), ("sample_rate", ctypes.c_int)]


class StreamResultC(ctypes.Structure):
    _fields_ = [("samples_48k", ctypes.c_uint64), ("cached", ctypes.c_int),
                ("note", ctypes.c_char_p)]


class DeleteResultC(ctypes.Structure):
    _fields_ = [("deleted", ctypes.c_int), ("variants", ctypes.c_uint32),
                ("bytes", ctypes.c_uint64), ("reserved_", ctypes.c_uint64 * 2)]


class PurgeResultC(ctypes.Structure):
    _fields_ = [("entries", ctypes.c_uint64), ("bytes", ctypes.c_uint64),
                ("reserved_", ctypes.c_uint64 * 2)]


class ListFilterC(ctypes.Structure):
    _fields_ = [("engine", ctypes.c_char_p)] + [
        (f, ctypes.c_uint64) for f in ("min_idle_s", "max_idle_s", "min_bytes", "max_bytes")] + [
        ("reserved_", ctypes.c_uint64 * 4)]


class ListVariantC(ctypes.Structure):
    _fields_ = [("params", OpusParamsC), ("bytes", ctypes.c_uint64)]


class ListEntryC(ctypes.Structure):
    _fields_ = [("engine", ctypes.c_char_p), ("key", ctypes.c_uint8 * 32),
                ("wav_bytes", ctypes.c_uint64), ("total_bytes", ctypes.c_uint64),
                ("last_access_ns", ctypes.c_uint64), ("variant_count", ctypes.c_size_t),
                ("variants", ctypes.POINTER(ListVariantC)), ("reserved_", ctypes.c_uint64 * 2)]


class ListPageC(ctypes.Structure):
    _fields_ = [("next_cursor", ctypes.c_uint64), ("count", ctypes.c_size_t),
                ("entries", ctypes.POINTER(ListEntryC))]


class VerifyProblemC(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_char_p), ("path", ctypes.c_char_p), ("detail", ctypes.c_char_p),
                ("repaired", ctypes.c_int), ("reserved_", ctypes.c_uint64 * 2)]


class VerifyReportC(ctypes.Structure):
    _fields_ = [("verdict", ctypes.c_int), ("entries_checked", ctypes.c_uint64),
                ("files_checked", ctypes.c_uint64), ("problems_total", ctypes.c_uint64),
                ("problem_count", ctypes.c_size_t), ("problems", ctypes.POINTER(VerifyProblemC))]


ENCODE_BUCKETS = 12


class StatsDetailC(ctypes.Structure):
    _fields_ = [("stats", ctypes.POINTER(StatsC)), ("has_detail", ctypes.c_int)] + [
        (f, ctypes.c_uint64) for f in ("disk_free_bytes", "disk_total_bytes", "min_free_bytes",
                                       "max_age_s", "expired", "evicted_for_space", "deleted",
                                       "purged")] + [
        ("oldest_access_ns", ctypes.POINTER(ctypes.c_uint64))] + [
        (f, ctypes.c_uint64) for f in ("queue_depth", "queue_capacity", "connections_open",
                                       "forbidden")] + [
        ("encode_bucket_bounds_us", ctypes.c_uint64 * ENCODE_BUCKETS),
        ("encode_buckets", ctypes.c_uint64 * ENCODE_BUCKETS),
        ("encode_count", ctypes.c_uint64), ("encode_sum_us", ctypes.c_uint64)]


class SlotStatsC(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("size", ctypes.c_uint32), ("held", ctypes.c_uint32),
                ("waiting", ctypes.c_uint32)] + [
        (f, ctypes.c_uint64) for f in ("acquired", "waited", "timeouts", "wait_us")] + [
        ("reserved_", ctypes.c_uint64 * 2)]


class CoordinationStatsC(ctypes.Structure):
    _fields_ = [("has_coordination", ctypes.c_int)] + [
        (f, ctypes.c_uint64) for f in ("claims", "claim_waits", "waits_served", "wait_timeouts",
                                       "lease_expiries", "takeovers", "claims_refused",
                                       "claims_open", "waiting")] + [
        ("slot_count", ctypes.c_size_t), ("slots", ctypes.POINTER(SlotStatsC))]


class TierStatsC(ctypes.Structure):
    _fields_ = [("has_tier", ctypes.c_int), ("enabled", ctypes.c_int), ("state", ctypes.c_int),
                ("servers", ctypes.c_uint32)] + [
        (f, ctypes.c_uint64) for f in ("lookups", "coalesced", "hits", "variant_hits", "misses",
                                       "errors", "timeouts", "corrupt", "skipped", "writes",
                                       "write_errors", "dropped", "oversized", "queue_depth",
                                       "queue_capacity", "breaker_opens", "lookup_us")]


PagesFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)

_int, _size, _u64, _cp, _vp = (ctypes.c_int, ctypes.c_size_t, ctypes.c_uint64, ctypes.c_char_p,
                               ctypes.c_void_p)
_P = ctypes.POINTER
# name: (restype, argtypes). The data pointers of audio are c_void_p: the
# package passes addresses it took from the caller's buffer (no copy).
_SIGNATURES = {
    "ttscache_client_new": (c_client_p, [_cp, _int]),
    "ttscache_client_free": (None, [c_client_p]),
    "ttscache_client_connect": (_int, [c_client_p]),
    "ttscache_last_error": (_cp, [c_client_p]),
    "ttscache_ping": (_int, [c_client_p]),
    "ttscache_put": (_int, [c_client_p, _cp, _cp, _size, _vp, _size]),
    "ttscache_get": (_int, [c_client_p, _cp, _cp, _size, _int, _int, _P(Buffer)]),
    "ttscache_encode": (_int, [c_client_p, _vp, _size, _int, _P(Buffer)]),
    "ttscache_buffer_free": (None, [_P(Buffer)]),
    "ttscache_stream_open": (_int, [c_client_p, _P(StreamFormatC), _int, _cp, _cp, _size,
                                    PagesFn, _vp, _P(c_stream_p)]),
    "ttscache_stream_push": (_int, [c_stream_p, _vp, _size]),
    "ttscache_stream_wait": (_int, [c_stream_p, _int]),
    "ttscache_stream_poll_fd": (_int, [c_stream_p]),
    "ttscache_stream_finish": (_int, [c_stream_p, _P(StreamResultC)]),
    "ttscache_stream_abort": (_int, [c_stream_p]),
    "ttscache_stream_free": (None, [c_stream_p]),
    # Added with issue #16 (declared only when exported).
    "ttscache_strerror": (_cp, [_int]),
    "ttscache_version": (_cp, []),
    "ttscache_version_number": (_int, []),
    "ttscache_opus_params_init": (None, [_P(OpusParamsC)]),
    "ttscache_get_ex": (_int, [c_client_p, _cp, _cp, _size, _int, _P(OpusParamsC), _P(Buffer)]),
    "ttscache_encode_ex": (_int, [c_client_p, _vp, _size, _P(OpusParamsC), _P(Buffer)]),
    "ttscache_put_encode": (_int, [c_client_p, _cp, _cp, _size, _vp, _size, _P(OpusParamsC),
                                   _P(Buffer)]),
    "ttscache_send_get": (_int, [c_client_p, _cp, _cp, _size, _int, _P(OpusParamsC), _P(_u64)]),
    "ttscache_receive_get": (_int, [c_client_p, _u64, _P(Buffer)]),
    "ttscache_hello": (_int, [c_client_p, _P(HelloInfo)]),
    "ttscache_stats_get": (_int, [c_client_p, _P(_P(StatsC))]),
    "ttscache_stats_free": (None, [_P(StatsC)]),
    "ttscache_arena_attach": (_int, [c_client_p, _size]),
    "ttscache_arena": (_int, [c_client_p, _P(_vp), _P(_size)]),
    "ttscache_arena_alloc": (_int, [c_client_p, _size, _P(_vp), _P(_u64)]),
    "ttscache_arena_free": (_int, [c_client_p, _u64]),
    "ttscache_put_from_arena": (_int, [c_client_p, _cp, _cp, _size, _u64, _u64]),
    "ttscache_encode_in_arena": (_int, [c_client_p, _u64, _u64, _u64, _u64, _P(OpusParamsC),
                                        _P(_u64)]),
    "ttscache_stream_open_ex": (_int, [c_client_p, _P(StreamFormatC), _P(OpusParamsC), _cp, _cp,
                                       _size, PagesFn, _vp, _P(c_stream_p)]),
    # Added with issue #17, operating the cache (declared only when exported).
    "ttscache_delete": (_int, [c_client_p, _cp, _cp, _size, _P(DeleteResultC)]),
    "ttscache_delete_key": (_int, [c_client_p, _cp, _vp, _P(DeleteResultC)]),
    "ttscache_purge": (_int, [c_client_p, _cp, _P(PurgeResultC)]),
    "ttscache_list": (_int, [c_client_p, _u64, _P(ListFilterC), ctypes.c_uint32,
                             _P(_P(ListPageC))]),
    "ttscache_list_free": (None, [_P(ListPageC)]),
    "ttscache_verify": (_int, [c_client_p, _int, _P(_P(VerifyReportC))]),
    "ttscache_verify_free": (None, [_P(VerifyReportC)]),
    "ttscache_stats_detail_get": (_int, [c_client_p, _P(_P(StatsDetailC))]),
    "ttscache_stats_detail_free": (None, [_P(StatsDetailC)]),
    # Added with issue #18, coordinating synthesis (declared only when exported).
    "ttscache_get_or_claim": (_int, [c_client_p, _cp, _cp, _size, _int, _P(OpusParamsC),
                                     ctypes.c_uint32, _P(Buffer), _P(_int),
                                     _P(ctypes.c_uint32)]),
    "ttscache_claim_drop": (_int, [c_client_p, _cp, _cp, _size, _P(_int)]),
    "ttscache_slot_acquire": (_int, [c_client_p, _cp, ctypes.c_uint32, _P(_u64)]),
    "ttscache_slot_release": (_int, [c_client_p, _u64]),
    "ttscache_coordination_get": (_int, [c_client_p, _P(_P(CoordinationStatsC))]),
    "ttscache_coordination_free": (None, [_P(CoordinationStatsC)]),
    # Added with issue #19, the fleet tier (declared only when exported).
    "ttscache_tier_get": (_int, [c_client_p, _P(_P(TierStatsC))]),
    "ttscache_tier_free": (None, [_P(TierStatsC)]),
}
_REQUIRED = ("ttscache_client_new", "ttscache_client_free", "ttscache_last_error",
             "ttscache_ping", "ttscache_put", "ttscache_get", "ttscache_encode",
             "ttscache_buffer_free")


def _open() -> tuple[ctypes.CDLL, str]:
    explicit = os.environ.get("TTSCACHE_LIBRARY")
    if explicit:
        return ctypes.CDLL(explicit), explicit
    tried = []
    found = ctypes.util.find_library("ttscache")
    for name in (LIBRARY_SONAME, *_FALLBACK_NAMES, *([found] if found else [])):
        try:
            return ctypes.CDLL(name), name
        except OSError as e:
            tried.append(f"{name}: {e}")
    raise OSError("ttscache: libttscache not found (install the ttscache package, or set "
                  "TTSCACHE_LIBRARY to the library's path); tried " + "; ".join(tried))


class Library:
    """The loaded C library with its functions declared."""

    def __init__(self) -> None:
        self.cdll, self.path = _open()
        self._present: set[str] = set()
        for name, (restype, argtypes) in _SIGNATURES.items():
            try:
                fn = getattr(self.cdll, name)
            except AttributeError:
                if name in _REQUIRED:
                    raise OSError(f"ttscache: {self.path} lacks {name}: not libttscache?")
                continue
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name[len("ttscache_"):], fn)
            self._present.add(name)

    def __getattr__(self, name: str) -> Any:
        # Only for names __init__ did not set: a function this library lacks.
        raise AttributeError(f"ttscache: {self.__dict__.get('path')} has no ttscache_{name}")

    def has(self, name: str) -> bool:
        return ("ttscache_" + name) in self._present


_library: Optional[Library] = None
_library_lock = threading.Lock()


def lib() -> Library:
    """The library, loaded on first use (importing the package never fails on it)."""
    global _library
    if _library is None:
        with _library_lock:
            if _library is None:
                _library = Library()
    return _library
