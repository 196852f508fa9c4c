"""The values ttscache's calls take and return: Opus settings, the daemon's
HELLO and counters, an encode stream's result. Plain frozen dataclasses;
OpusParams also knows its C form (ttscache_opus_params)."""
from __future__ import annotations

import ctypes
import dataclasses
from typing import Optional, Union

from . import _lib
from .errors import InvalidArgument

_VBR = {None: 0, "on": 1, "off": 2, "constrained": 3}
_APPLICATION = {None: 0, "voip": 1, "audio": 2, "lowdelay": 3}


@dataclasses.dataclass(frozen=True)
class OpusParams:
    """Opus encoder settings (docs/config.md, [opus]).

    bitrate_kbps 0 is the daemon's configured settings, all of them: the other
    fields must then stay None. With a bitrate, None is the library's default
    (VBR on, voip, complexity 10, 20 ms frames)."""
    bitrate_kbps: int = 0              # 6-510
    vbr: Optional[str] = None          # "on", "off", "constrained"
    application: Optional[str] = None  # "voip", "audio", "lowdelay"
    complexity: Optional[int] = None   # 0-10
    frame_us: Optional[int] = None     # 2500, 5000, 10000, 20000, 40000, 60000

    def only_bitrate(self) -> bool:
        return (self.vbr is None and self.application is None and self.complexity is None
                and self.frame_us is None)

    def to_c(self) -> _lib.OpusParamsC:
        if not self.bitrate_kbps and not self.only_bitrate():
            raise InvalidArgument("ttscache: Opus settings need a bitrate_kbps (0 is the "
                                  "daemon's settings, all of them)")
        try:
            vbr, application = _VBR[self.vbr], _APPLICATION[self.application]
        except KeyError as e:
            raise InvalidArgument(f"ttscache: unknown Opus setting {e}") from None
        p = _lib.OpusParamsC()
        lib = _lib.lib()
        if lib.has("opus_params_init"):
            lib.opus_params_init(ctypes.byref(p))
        else:
            p.complexity = 10
        p.bitrate_kbps, p.vbr, p.application = self.bitrate_kbps, vbr, application
        if self.complexity is not None:
            p.complexity = self.complexity
        if self.frame_us is not None:
            p.frame_us = self.frame_us
        return p


OpusLike = Union[OpusParams, int, None]  # an int is a bitrate in kbit/s


def _opus(opus: OpusLike) -> OpusParams:
    if opus is None:
        return OpusParams()
    if isinstance(opus, int):
        return OpusParams(bitrate_kbps=opus)
    if isinstance(opus, OpusParams):
        return opus
    raise TypeError("ttscache: opus must be an OpusParams, a bitrate (int) or None")


@dataclasses.dataclass(frozen=True)
class Hello:
    """The daemon's HELLO: its protocol version and limits."""
    protocol_version: int
    max_frame_body: int
    max_text_bytes: int
    max_inflight: int
    max_arena_bytes: int


@dataclasses.dataclass(frozen=True)
class EngineStats:
    entries: int
    bytes: int
    hits: int
    misses: int
    puts: int
    evictions: int
    variant_hits: int
    variant_misses: int


@dataclasses.dataclass(frozen=True)
class Stats:
    """The daemon's counters; `limits`/`streams` are None from a daemon without them."""
    connections: int
    requests: int
    busy: int
    errors: int
    encodes: int
    shared_encodes: int
    engines: dict[str, EngineStats]
    max_entries: Optional[int] = None
    max_bytes: Optional[int] = None
    streams_open: Optional[int] = None
    streams_opened: Optional[int] = None
    streams_stored: Optional[int] = None
    streams_failed: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class StreamResult:
    samples_48k: int  # what the stream decodes to at 48 kHz
    cached: str       # "not-asked", "stored" or "not-stored"
    note: str         # why it was not stored


@dataclasses.dataclass(frozen=True)
class DeleteResult:
    """What delete removed: deleted False when it was not cached."""
    deleted: bool
    bytes: int
    variants: int


@dataclasses.dataclass(frozen=True)
class PurgeResult:
    entries: int
    bytes: int


@dataclasses.dataclass(frozen=True)
class ListedVariant:
    params: OpusParams
    bytes: int


@dataclasses.dataclass(frozen=True)
class ListedEntry:
    """One entry of list(): engine and voice (None: the engine's own), the key
    (64 hex digits), its sizes and last use (Unix ns)."""
    engine: str
    voice: Optional[str]
    key: str
    wav_bytes: int
    total_bytes: int
    last_access_ns: int
    variants: tuple[ListedVariant, ...]


@dataclasses.dataclass(frozen=True)
class VerifyProblem:
    kind: str
    path: str
    detail: str
    repaired: bool


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """verdict: "clean", "repaired" or "damaged"; at most 1,000 problems are listed."""
    verdict: str
    entries_checked: int
    files_checked: int
    problems_total: int
    problems: tuple[VerifyProblem, ...]


@dataclasses.dataclass(frozen=True)
class StatsDetail:
    """stats_detail(): the counters (stats) and what monitoring needs beyond
    them; has_detail False from a daemon without them (the rest is then 0)."""
    stats: Stats
    has_detail: bool
    disk_free_bytes: int
    disk_total_bytes: int
    min_free_bytes: int
    max_age_s: int
    expired: int
    evicted_for_space: int
    deleted: int
    purged: int
    oldest_access_ns: dict[str, int]
    queue_depth: int
    queue_capacity: int
    connections_open: int
    forbidden: int
    encode_bucket_bounds_us: tuple[int, ...]
    encode_buckets: tuple[int, ...]  # cumulative, per bound
    encode_count: int
    encode_sum_us: int

    def hit_ratio(self, engine: str) -> float:
        e = self.stats.engines[engine]
        return e.hits / (e.hits + e.misses) if e.hits + e.misses else 0.0


@dataclasses.dataclass(frozen=True)
class SlotStats:
    """One synthesis slot in coordination(): size 0 is no limit; held may
    exceed size for a while after a reload shrank the slot."""
    size: int
    held: int
    waiting: int
    acquired: int
    waited: int
    timeouts: int
    wait_us: int


@dataclasses.dataclass(frozen=True)
class CoordinationStats:
    """coordination(): claims and synthesis slots since the daemon started
    (claims_open, waiting and each slot's held and waiting: now).
    has_coordination False from a daemon that predates them (all 0)."""
    has_coordination: bool
    claims: int
    claim_waits: int
    waits_served: int
    wait_timeouts: int
    lease_expiries: int
    takeovers: int
    claims_refused: int
    claims_open: int
    waiting: int
    slots: dict[str, SlotStats]


@dataclasses.dataclass(frozen=True)
class TierStats:
    """tier(): the fleet's second tier (docs/fleet.md) since the daemon
    started (state and queue_depth: now); docs/protocol.md, "STATS reply",
    flag 16, says what each counts. has_tier False from a daemon that
    predates the tier; enabled False without [tier] (every figure 0).
    state: "up", "down" (lookups and writes skipped) or "probing"."""
    has_tier: bool
    enabled: bool
    state: str
    servers: int
    lookups: int
    coalesced: int
    hits: int
    variant_hits: int
    misses: int
    errors: int
    timeouts: int
    corrupt: int
    skipped: int
    writes: int
    write_errors: int
    dropped: int
    oversized: int
    queue_depth: int
    queue_capacity: int
    breaker_opens: int
    lookup_us: int

    @property
    def hit_ratio(self) -> float:
        """hits / lookups: the share of lookups that found the WAV; 0 before any."""
        return self.hits / self.lookups if self.lookups else 0.0


@dataclasses.dataclass(frozen=True)
class SlotHold:
    """A unit of the synthesis slot `name` (acquire_slot): held until
    release_slot, or until the Client's connection closes. `hold` is the
    library's handle for it (never 0)."""
    hold: int
    name: str
