"""Coordinating synthesis from Python (docs/clients.md, docs/protocol.md
"Coordinating synthesis"), over the C API's ttscache_get_or_claim ...
ttscache_coordination_get. A mixin of Client: every call runs under the
client's lock like the others.

- get_or_claim: a get whose miss is claimed. Of several processes missing
  one phrase at once, one gets claimed=True (it synthesizes and puts the
  phrase within lease_ms, or drop_claim()s it); the others wait up to
  wait_ms for that put and receive the audio. A wait that ends first, or a
  claim the daemon refuses, is (None, False, 0): synthesize anyway.
- Slots: named host-wide semaphores. `with client.slot("xtts"): synthesize()`
  holds one unit for the block; acquire_slot raises ttscache.Busy when none
  came free within wait_ms. A unit is also released when the Client's
  connection closes (the process dies), so a crashed holder never leaks it.
The calls that wait (get_or_claim, acquire_slot) wait the Client's
timeout_ms on top of wait_ms for the daemon's answer.
"""
from __future__ import annotations

import contextlib
import ctypes
from typing import Any, Callable, Iterator, Optional

from . import _lib as _c
from .errors import InvalidArgument
from .operate import engine_field
from .stream import _locked
from .values import CoordinationStats, OpusLike, SlotHold, SlotStats, _opus

MISS = 1
_FORMATS = {"wav": 0, "opus": 1}
_U32_MAX = 0xFFFFFFFF


def _wait(wait_ms: int) -> int:
    if not isinstance(wait_ms, int) or isinstance(wait_ms, bool) or not 0 <= wait_ms <= _U32_MAX:
        raise InvalidArgument(f"ttscache: wait_ms must be an int from 0 to {_U32_MAX}, "
                              f"got {wait_ms!r}")
    return wait_ms


class Coordinate:
    """The coordinating calls of Client (see the module's docstring)."""

    # Provided by Client.
    _lib: _c.Library
    _h: Callable[[], Any]
    _check: Callable[[int], int]
    _need: Callable[[str], Callable[..., int]]

    @_locked
    def get_or_claim(self, engine: str, text: str, *, wait_ms: int = 30000, format: str = "wav",
                     opus: OpusLike = None, voice: Optional[str] = None
                     ) -> tuple[Optional[memoryview], bool, int]:
        """(audio, claimed, lease_ms): the entry as get() returns it; or (None, True,
        lease_ms): the miss is this client's to synthesize and put; or (None, False,
        0): the wait for another's put ended first, or no claim was granted."""
        from .client import _view_of_buffer  # the one place views of buffers are made
        if format not in _FORMATS:
            raise InvalidArgument(f"ttscache: format must be 'wav' or 'opus', got {format!r}")
        params = _opus(opus).to_c()
        data = text.encode()
        buf = _c.Buffer()
        claimed = ctypes.c_int(0)
        lease = ctypes.c_uint32(0)
        rc = self._check(self._need("get_or_claim")(
            self._h().ptr, engine_field(engine, voice), data, len(data), _FORMATS[format],
            ctypes.byref(params), _wait(wait_ms), ctypes.byref(buf), ctypes.byref(claimed),
            ctypes.byref(lease)))
        if rc == MISS:
            return None, False, 0
        if claimed.value:
            return None, True, lease.value
        return _view_of_buffer(self._lib, buf), False, 0

    @_locked
    def drop_claim(self, engine: str, text: str, *, voice: Optional[str] = None) -> bool:
        """Gives up this client's claim on the phrase (its synthesis failed), so a
        waiting client takes it over at once; False when it held none."""
        data = text.encode()
        dropped = ctypes.c_int(0)
        self._check(self._need("claim_drop")(self._h().ptr, engine_field(engine, voice), data,
                                             len(data), ctypes.byref(dropped)))
        return bool(dropped.value)

    @_locked
    def acquire_slot(self, name: str, *, wait_ms: int = 60000) -> SlotHold:
        """A unit of the synthesis slot `name` (an engine, or a slot of the daemon's
        [coordinate] slots), waiting up to wait_ms in line; raises Busy when none
        came free, UnknownEngine for a name the daemon does not know."""
        hold = ctypes.c_uint64(0)
        self._check(self._need("slot_acquire")(self._h().ptr, name.encode(), _wait(wait_ms),
                                               ctypes.byref(hold)))
        return SlotHold(hold.value, name)

    @_locked
    def release_slot(self, hold: SlotHold) -> None:
        """Gives the unit back (the longest waiting acquire gets it). A hold whose
        connection has closed since was released with it: no error."""
        self._check(self._need("slot_release")(self._h().ptr, hold.hold))

    @contextlib.contextmanager
    def slot(self, name: str, *, wait_ms: int = 60000) -> Iterator[SlotHold]:
        """`with client.slot("xtts"):` holds a unit for the block, released however
        the block ends."""
        hold = self.acquire_slot(name, wait_ms=wait_ms)
        try:
            yield hold
        finally:
            self.release_slot(hold)

    @_locked
    def coordination(self) -> CoordinationStats:
        """Claims and synthesis slots: counters since the daemon started, and now."""
        out = ctypes.POINTER(_c.CoordinationStatsC)()
        self._check(self._need("coordination_get")(self._h().ptr, ctypes.byref(out)))
        try:
            c = out.contents
            slots = {
                s.name.decode(): SlotStats(s.size, s.held, s.waiting, s.acquired, s.waited,
                                           s.timeouts, s.wait_us)
                for s in (c.slots[i] for i in range(c.slot_count))}
            return CoordinationStats(bool(c.has_coordination), c.claims, c.claim_waits,
                                     c.waits_served, c.wait_timeouts, c.lease_expiries,
                                     c.takeovers, c.claims_refused, c.claims_open, c.waiting,
                                     slots)
        finally:
            self._lib.coordination_free(out)
