"""The fleet tier's counters from Python (docs/fleet.md; docs/protocol.md,
"STATS reply", flag 16), over the C API's ttscache_tier_get. A mixin of
Client: the call runs under the client's lock like the others.

tier() returns TierStats: has_tier False from a daemon that predates the
tier; enabled False when the daemon has no [tier] configured (every figure
0). A reply no daemon sends (a state over 2, a queue deeper than its size,
an enabled tier without servers...) raises ttscache.Internal and the
connection is reopened on the next call.
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable

from . import _lib as _c
from .stream import _locked
from .values import TierStats

_STATES = {0: "up", 1: "down", 2: "probing"}


class Tier:
    """The tier call of Client (see the module's docstring)."""

    # Provided by Client.
    _lib: _c.Library
    _h: Callable[[], Any]
    _check: Callable[[int], int]
    _need: Callable[[str], Callable[..., int]]

    @_locked
    def tier(self) -> TierStats:
        """The fleet tier: counters since the daemon started, state and queue now."""
        out = ctypes.POINTER(_c.TierStatsC)()
        self._check(self._need("tier_get")(self._h().ptr, ctypes.byref(out)))
        try:
            t = out.contents
            return TierStats(
                bool(t.has_tier), bool(t.enabled), _STATES[t.state], t.servers, t.lookups,
                t.coalesced, t.hits, t.variant_hits, t.misses, t.errors, t.timeouts, t.corrupt,
                t.skipped, t.writes, t.write_errors, t.dropped, t.oversized, t.queue_depth,
                t.queue_capacity, t.breaker_opens, t.lookup_us)
        finally:
            self._lib.tier_free(out)
