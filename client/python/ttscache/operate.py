"""Operating the cache from Python (docs/clients.md): delete, delete_key,
purge, list (a generator over LIST pages), verify and stats_detail, over
the C API's ttscache_delete ... ttscache_stats_detail_get. A mixin of
Client: every call runs under the client's lock like the others. delete,
delete_key, purge and verify(repair=True) are admin operations: anyone else
gets ttscache.Forbidden with the daemon's message. Every `engine` may be
"engine/voice", or give voice=...
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable, Iterator, Optional, Union

from . import _lib as _c
from .errors import InvalidArgument
from .stream import _locked
from .values import (DeleteResult, ListedEntry, ListedVariant, OpusParams, PurgeResult, Stats,
                     StatsDetail, VerifyProblem, VerifyResult)

_VBR_NAME = {1: "on", 2: "off", 3: "constrained"}
_APPLICATION_NAME = {1: "voip", 2: "audio", 3: "lowdelay"}
_VERDICT = {0: "clean", 1: "repaired", 2: "damaged"}
MISS = 1


def engine_field(engine: str, voice: Optional[str] = None) -> bytes:
    """"engine" or "engine/voice" as the wire's engine field."""
    return (engine if not voice else f"{engine}/{voice}").encode()


def _key_bytes(key: Union[str, bytes]) -> bytes:
    raw = bytes.fromhex(key) if isinstance(key, str) else bytes(key)
    if len(raw) != 32:
        raise InvalidArgument(f"ttscache: a key is 32 bytes (64 hex digits), got {len(raw)}")
    return raw


class Operate:
    """The operating calls of Client (see the module's docstring)."""

    # Provided by Client.
    _lib: _c.Library
    _h: Callable[[], Any]
    _check: Callable[[int], int]
    _need: Callable[[str], Callable[..., int]]
    _stats_from_c: Callable[[_c.StatsC], Stats]

    @_locked
    def delete(self, engine: str, text: str, *, voice: Optional[str] = None) -> DeleteResult:
        out = _c.DeleteResultC()
        data = text.encode()
        self._check(self._need("delete")(self._h().ptr, engine_field(engine, voice), data,
                                         len(data), ctypes.byref(out)))
        return DeleteResult(bool(out.deleted), out.bytes, out.variants)

    @_locked
    def delete_key(self, engine: str, key: Union[str, bytes], *,
                   voice: Optional[str] = None) -> DeleteResult:
        out = _c.DeleteResultC()
        raw = ctypes.create_string_buffer(_key_bytes(key), 32)
        self._check(self._need("delete_key")(self._h().ptr, engine_field(engine, voice), raw,
                                             ctypes.byref(out)))
        return DeleteResult(bool(out.deleted), out.bytes, out.variants)

    @_locked
    def purge(self, engine: str, *, voice: Optional[str] = None) -> PurgeResult:
        out = _c.PurgeResultC()
        self._check(self._need("purge")(self._h().ptr, engine_field(engine, voice),
                                        ctypes.byref(out)))
        return PurgeResult(out.entries, out.bytes)

    @_locked
    def _list_page(self, cursor: int, f: _c.ListFilterC,
                   page_size: int) -> tuple[list[ListedEntry], int]:
        out = ctypes.POINTER(_c.ListPageC)()
        self._check(self._need("list")(self._h().ptr, cursor, ctypes.byref(f), page_size,
                                       ctypes.byref(out)))
        try:
            page = out.contents
            entries = []
            for i in range(page.count):
                e = page.entries[i]
                field = e.engine.decode()
                engine, _, voice = field.partition("/")
                variants = tuple(
                    ListedVariant(OpusParams(v.params.bitrate_kbps, _VBR_NAME.get(v.params.vbr),
                                             _APPLICATION_NAME.get(v.params.application),
                                             v.params.complexity, v.params.frame_us), v.bytes)
                    for v in (e.variants[j] for j in range(e.variant_count)))
                entries.append(ListedEntry(engine, voice or None, bytes(e.key).hex(), e.wav_bytes,
                                           e.total_bytes, e.last_access_ns, variants))
            return entries, page.next_cursor
        finally:
            self._lib.list_free(out)

    def list(self, engine: Optional[str] = None, *, voice: Optional[str] = None,
             min_idle_s: int = 0, max_idle_s: int = 0, min_bytes: int = 0, max_bytes: int = 0,
             page_size: int = 1024) -> Iterator[ListedEntry]:
        """Every matching entry, one LIST page (page_size entries) asked at a time
        as the loop takes them; engine with all its voices unless voice is given."""
        if voice and not engine:
            raise InvalidArgument("ttscache: a voice needs an engine")
        f = _c.ListFilterC()
        f.engine = engine_field(engine, voice) if engine else None
        f.min_idle_s, f.max_idle_s, f.min_bytes, f.max_bytes = (min_idle_s, max_idle_s,
                                                                 min_bytes, max_bytes)
        cursor = 0
        while True:
            entries, cursor = self._list_page(cursor, f, page_size)
            yield from entries
            if cursor == 0:
                return

    @_locked
    def verify(self, repair: bool = False) -> VerifyResult:
        out = ctypes.POINTER(_c.VerifyReportC)()
        self._check(self._need("verify")(self._h().ptr, 1 if repair else 0, ctypes.byref(out)))
        try:
            r = out.contents
            problems = tuple(
                VerifyProblem(p.kind.decode(), p.path.decode(), p.detail.decode(), bool(p.repaired))
                for p in (r.problems[i] for i in range(r.problem_count)))
            return VerifyResult(_VERDICT.get(r.verdict, "damaged"), r.entries_checked,
                                r.files_checked, r.problems_total, problems)
        finally:
            self._lib.verify_free(out)

    @_locked
    def stats_detail(self) -> StatsDetail:
        out = ctypes.POINTER(_c.StatsDetailC)()
        self._check(self._need("stats_detail_get")(self._h().ptr, ctypes.byref(out)))
        try:
            d = out.contents
            stats = self._stats_from_c(d.stats.contents)
            names = [d.stats.contents.engines[i].name.decode()
                     for i in range(d.stats.contents.engine_count)]
            return StatsDetail(
                stats, bool(d.has_detail), d.disk_free_bytes, d.disk_total_bytes,
                d.min_free_bytes, d.max_age_s, d.expired, d.evicted_for_space, d.deleted,
                d.purged, {n: d.oldest_access_ns[i] for i, n in enumerate(names)},
                d.queue_depth, d.queue_capacity, d.connections_open, d.forbidden,
                tuple(d.encode_bucket_bounds_us), tuple(d.encode_buckets), d.encode_count,
                d.encode_sum_us)
        finally:
            self._lib.stats_detail_free(out)
