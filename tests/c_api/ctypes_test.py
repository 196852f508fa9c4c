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

# The structs as a ctypes caller declares them (the layouts ttscache.h promises).
class OpusParams(ctypes.Structure):
    _fields_ = [("bitrate_kbps", ctypes.c_int), ("vbr", ctypes.c_int),
                ("application", ctypes.c_int), ("complexity", ctypes.c_int),
                ("frame_us", ctypes.c_int), ("reserved_", ctypes.c_int * 3)]


class EngineStats(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p)] + [(f, ctypes.c_uint64) for f in (
        "entries", "bytes", "hits", "misses", "puts", "evictions", "variant_hits",
        "variant_misses")]


class Stats(ctypes.Structure):
    _fields_ = [(f, ctypes.c_uint64) for f in (
        "connections", "requests", "busy", "errors", "encodes", "shared_encodes")] + [
        ("has_limits", ctypes.c_int), ("max_entries", ctypes.c_uint64),
        ("max_bytes", ctypes.c_uint64), ("has_streams", ctypes.c_int)] + [
        (f, ctypes.c_uint64) for f in (
            "streams_open", "streams_opened", "streams_stored", "streams_failed")] + [
        ("engine_count", ctypes.c_size_t), ("engines", ctypes.POINTER(EngineStats))]


lib.ttscache_version.restype = ctypes.c_char_p
lib.ttscache_strerror.restype = ctypes.c_char_p
assert lib.ttscache_version().decode().count(".") == 2, lib.ttscache_version()
assert lib.ttscache_strerror(12) == b"TTSCACHE_ERR_OUT_OF_MEMORY"

lib.ttscache_stats_get.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(Stats))]
lib.ttscache_stats_free.argtypes = [ctypes.POINTER(Stats)]
stats = ctypes.POINTER(Stats)()
assert lib.ttscache_stats_get(client, ctypes.byref(stats)) == 0, lib.ttscache_last_error(client)
s = stats.contents
engines = {s.engines[i].name: s.engines[i] for i in range(s.engine_count)}
assert s.has_limits == 1 and s.has_streams == 1 and s.requests >= 3, (s.has_limits, s.requests)
assert engines[b"xtts"].hits >= 1 and engines[b"xtts"].entries >= 1, engines
lib.ttscache_stats_free(stats)

# The arena from Python: a WAV written into the mapping, encoded there.
lib.ttscache_arena_attach.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
lib.ttscache_arena_alloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                                     ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8)),
                                     ctypes.POINTER(ctypes.c_uint64)]
lib.ttscache_encode_in_arena.argtypes = [ctypes.c_void_p] + [ctypes.c_uint64] * 4 + [
    ctypes.POINTER(OpusParams), ctypes.POINTER(ctypes.c_uint64)]
lib.ttscache_opus_params_init.argtypes = [ctypes.POINTER(OpusParams)]
assert lib.ttscache_arena_attach(client, 4 << 20) == 0, lib.ttscache_last_error(client)
sizes = []
for bitrate in (10, 64):
    data, at = ctypes.POINTER(ctypes.c_uint8)(), ctypes.c_uint64()
    out, out_at = ctypes.POINTER(ctypes.c_uint8)(), ctypes.c_uint64()
    assert lib.ttscache_arena_alloc(client, len(wav), ctypes.byref(data), ctypes.byref(at)) == 0
    assert lib.ttscache_arena_alloc(client, 1 << 20, ctypes.byref(out), ctypes.byref(out_at)) == 0
    ctypes.memmove(data, wav, len(wav))
    params, size = OpusParams(), ctypes.c_uint64()
    lib.ttscache_opus_params_init(ctypes.byref(params))
    params.bitrate_kbps = bitrate
    rc = lib.ttscache_encode_in_arena(client, at.value, len(wav), out_at.value, 1 << 20,
                                      ctypes.byref(params), ctypes.byref(size))
    assert rc == 0, (rc, lib.ttscache_last_error(client))
    assert ctypes.string_at(out, 4) == b"OggS"
    sizes.append(size.value)
assert sizes[1] > sizes[0] * 2, sizes
lib.ttscache_client_free(client)
print("ctypes ok")
