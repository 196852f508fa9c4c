"""The address and length of any contiguous Python buffer, without a copy.

ctypes alone can take the address of a writable buffer (from_buffer) but not
of a read-only one (bytes, a read-only memoryview, a read-only NumPy array)
without copying it. So this asks the buffer protocol directly
(PyObject_GetBuffer, part of the stable ABI since 3.11) and holds the export
until the `with` block ends: the object can neither be resized nor freed
while the C library reads it.
"""
from __future__ import annotations

import ctypes
from typing import Any

Audio = Any  # bytes, bytearray, memoryview, array.array, a C-contiguous NumPy array

_PyBUF_SIMPLE = 0  # contiguous bytes: a strided NumPy view is refused (BufferError)


class _PyBuffer(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p),
                ("len", ctypes.c_ssize_t), ("itemsize", ctypes.c_ssize_t),
                ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p),
                ("strides", ctypes.c_void_p), ("suboffsets", ctypes.c_void_p),
                ("internal", ctypes.c_void_p)]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_get_buffer.restype = ctypes.c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(_PyBuffer)]
_release_buffer.restype = None


class Pinned:
    """`with Pinned(obj) as p:` p.address and p.length of obj's bytes."""
    __slots__ = ("_view", "_held", "address", "length")

    def __init__(self, obj: Any) -> None:
        self._view = _PyBuffer()
        self._held = False
        try:
            _get_buffer(obj, ctypes.byref(self._view), _PyBUF_SIMPLE)
        except (BufferError, TypeError, ValueError) as e:
            raise TypeError(f"ttscache: audio must be a contiguous bytes-like object "
                            f"(bytes, bytearray, memoryview, NumPy array): {e}") from None
        self._held = True
        self.address = self._view.buf or 0
        self.length = self._view.len

    def __enter__(self) -> "Pinned":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._held:
            self._held = False
            _release_buffer(ctypes.byref(self._view))

    def __del__(self) -> None:
        self.release()


def address_of(obj: Any) -> int:
    """The address of obj's first byte (for tests and diagnostics)."""
    with Pinned(obj) as p:
        return p.address
