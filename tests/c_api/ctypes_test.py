"""The C API from Python with ctypes, against the built libttscache.so.
Usage: ctypes_test.py LIBTTSCACHE SOCKET WAVFILE"""
import ctypes
import sys

lib_path, socket_path, wav_path = sys.argv[1:4]
lib = ctypes.CDLL(lib_path)


class Buffer(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_uint8)), ("size", ctypes.c_size_t),
                ("owner_", ctypes.c_void_p)]


lib.ttscache_client_new.restype = ctypes.c_void_p
lib.ttscache_client_new.argtypes = [ctypes.c_char_p, ctypes.c_int]
lib.ttscache_last_error.restype = ctypes.c_char_p
lib.ttscache_last_error.argtypes = [ctypes.c_void_p]
lib.ttscache_put.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t,
                             ctypes.c_char_p, ctypes.c_size_t]
lib.ttscache_get.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t,
                             ctypes.c_int, ctypes.c_int, ctypes.POINTER(Buffer)]
lib.ttscache_buffer_free.argtypes = [ctypes.POINTER(Buffer)]
lib.ttscache_client_free.argtypes = [ctypes.c_void_p]

wav = open(wav_path, "rb").read()
client = lib.ttscache_client_new(socket_path.encode(), 5000)
text = "Ünïcode phrase from Python".encode()
rc = lib.ttscache_put(client, b"xtts", text, len(text), wav, len(wav))
assert rc == 0, (rc, lib.ttscache_last_error(client))
buf = Buffer()
query = "  ünïcode PHRASE from python ".encode()
rc = lib.ttscache_get(client, b"xtts", query, len(query), 0, 0, ctypes.byref(buf))
assert rc == 0, (rc, lib.ttscache_last_error(client))
assert ctypes.string_at(buf.data, buf.size) == wav, "hit differs"
lib.ttscache_buffer_free(ctypes.byref(buf))
rc = lib.ttscache_get(client, b"xtts", b"missing", 7, 0, 0, ctypes.byref(buf))
assert rc == 1, rc
lib.ttscache_client_free(client)
print("ctypes ok")
