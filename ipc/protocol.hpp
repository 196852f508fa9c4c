// The ttscache wire protocol, version 1: constants shared by the daemon and
// every client. docs/protocol.md is the normative description; this header
// and that document must agree (tests/unit/protocol_doc_test checks the
// numbers). Little-endian throughout.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ttscache::ipc {

inline constexpr uint32_t kMagic = 0x43535454;  // bytes "TTSC"
inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderSize = 24;

// Limits the daemon enforces (HELLO's reply carries them).
inline constexpr uint32_t kMaxFrameBody = 64u << 20;  // 64 MiB
inline constexpr uint32_t kMaxInflightPerConnection = 64;
inline constexpr uint64_t kMaxArenaBytes = 1ull << 30;  // 1 GiB per connection
inline constexpr uint32_t kMaxFdsPerMessage = 1;
inline constexpr uint32_t kMaxStringBytes = 1u << 20;
inline constexpr uint32_t kMaxKeysPerHas = 4096;  // bounds one HAS_KEYS's work on the loop
// An engine field: "engine" or "engine/voice" (engine ≤ 32 bytes, voice ≤ 64).
inline constexpr uint32_t kMaxEngineField = 128;
inline constexpr uint32_t kMaxListEntries = 1024;     // entries one LIST reply carries at most
inline constexpr uint32_t kMaxListVisit = 65536;      // index slots one LIST visits at most
inline constexpr uint32_t kMaxVerifyProblems = 1000;  // problems one VERIFY reply lists
// Requests of one connection waiting for another's claim or for a slot
// (they do not count in kMaxInflightPerConnection).
inline constexpr uint32_t kMaxParkedPerConnection = 1024;
inline constexpr uint32_t kMaxSlotHoldsPerConnection = 64;

enum class Opcode : uint8_t {
  kHello = 0x01,
  kPing = 0x02,
  kGet = 0x03,
  kPut = 0x04,
  kEncode = 0x05,
  kPutEncode = 0x06,
  kStats = 0x07,
  kArena = 0x08,         // carries one memfd (SCM_RIGHTS)
  kPutFile = 0x09,       // carries one regular file (SCM_RIGHTS): a WAV stored by key
  kHasKeys = 0x0A,       // which of up to kMaxKeysPerHas keys an engine holds
  kStreamOpen = 0x0B,    // an encode session: PCM or WAV in, Ogg pages out as they complete
  kStreamPush = 0x0C,    // the next chunk of a session's input; the reply holds its pages
  kStreamFinish = 0x0D,  // the end of the input: the last pages (and the cache entry)
  kStreamAbort = 0x0E,   // drops a session; nothing is stored
  kDelete = 0x0F,        // admin: one entry (by text or by key) and its variants
  kPurge = 0x10,         // admin: every entry of an engine, or of one voice
  kList = 0x11,          // a page of the index from a cursor, filtered
  kVerify = 0x12,        // checks the index against the folder (admin with repair)
  kClaimDrop = 0x13,     // gives up this connection's claim on an entry
  kSlotAcquire = 0x14,   // takes a unit of a named synthesis slot (waits, FIFO)
  kSlotRelease = 0x15,   // gives it back
  kError = 0x7F,         // replies only
};
inline constexpr uint8_t kReplyBit = 0x80;  // reply opcode = request opcode | 0x80
inline constexpr uint8_t ReplyOpcode(Opcode op) { return static_cast<uint8_t>(op) | kReplyBit; }

// Header flags.
inline constexpr uint16_t kFlagFd = 0x0001;  // a descriptor travels with this frame

enum class ErrorCode : uint16_t {
  kNotFound = 1,
  kBadRequest = 2,
  kBadAudio = 3,
  kUnknownEngine = 4,
  kTooLarge = 5,
  kBusy = 6,
  kForbidden = 7,
  kInternal = 8,
  kBufferTooSmall = 9,  // the output range is too small; `needed` says how big
};

// What a PUT_FILE did: stored the file; found the key already cached (the
// daemon's entry is kept and nothing is copied); or stored it as the least
// recently used entry of a full engine, so it was evicted at once.
enum class PutFileOutcome : uint8_t { kStored = 0, kAlreadyCached = 1, kEvictedAtOnce = 2 };

enum class AudioFormat : uint8_t { kWav = 0, kOpus = 1 };
// What a stream's input is: raw interleaved PCM in a format the request
// names, or a WAV file as a TTS engine writes it to a pipe (header first,
// its sizes possibly unknown).
enum class StreamInput : uint8_t { kRawPcm = 0, kWav = 1 };
// Whether a finished stream was stored in the cache.
enum class StreamCached : uint8_t { kNotAsked = 0, kStored = 1, kNotStored = 2 };
// STATS request flags: what to append to the reply.
inline constexpr uint8_t kStatsLimits = 0x01;
inline constexpr uint8_t kStatsStreams = 0x02;
inline constexpr uint8_t kStatsDetail = 0x04;      // disk, ages, queue, encode durations
inline constexpr uint8_t kStatsCoordinate = 0x08;  // claims and synthesis slots
inline constexpr uint8_t kStatsTier = 0x10;        // the fleet's second tier (memcached)
// DELETE: the entry is named by its text (normalized and hashed as GET
// does) or by its key (the file name's SHA-256).
enum class DeleteBy : uint8_t { kText = 0, kKey = 1 };
// VERIFY's verdict (`ttscache verify` and `ttscached --verify` exit 0, 1, 6 for them).
enum class VerifyVerdict : uint8_t { kClean = 0, kRepaired = 1, kDamaged = 2 };
enum class Delivery : uint8_t { kInline = 0, kDescriptor = 1 };
// Where audio is: bytes inside the frame, or a range of the connection's arena.
// kArena: in the arena, or for GET by the attached descriptor; kUnchanged (GET
// only): the file the request named as known is still the entry's file, so no
// descriptor is sent and the client reuses its mapping. kClaimed (GET with a
// claim only): a miss, and this request holds the claim to fill it.
enum class AudioPlace : uint8_t { kInline = 0, kArena = 1, kUnchanged = 2, kClaimed = 3 };

}  // namespace ttscache::ipc
