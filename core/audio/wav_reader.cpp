// The RIFF/WAVE chunk walker behind ParseWav; see wav_reader.hpp. All offsets
// are 64-bit and checked against the buffer before any read, so hostile sizes
// (0xFFFFFFFF, sizes that wrap) can only produce errors.
#include "core/audio/wav_reader.hpp"

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

namespace ttscache {
namespace {

constexpr uint16_t kTagPcm = 0x0001;
constexpr uint16_t kTagFloat = 0x0003;
constexpr uint16_t kTagExtensible = 0xFFFE;
constexpr uint32_t kStreamingSize = 0xFFFFFFFF;
// The 14 bytes that follow the format tag in a KSDATAFORMAT_SUBTYPE_* GUID.
constexpr uint8_t kSubformatGuidTail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                            0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t Le32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

// A chunk id for messages: printable ASCII as is, anything else as hex.
std::string FourCc(const uint8_t* p) {
  std::string out;
  for (int i = 0; i < 4; ++i) {
    if (p[i] >= 0x20 && p[i] < 0x7F) {
      out += static_cast<char>(p[i]);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02X", p[i]);
      out += hex;
    }
  }
  return "'" + out + "'";
}

std::string Hex16(uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%04X", v);
  return buf;
}

Error Bad(std::string message) { return MakeError(Errc::kBadAudio, std::move(message)); }

struct FmtChunk {
  uint16_t tag;  // after unwrapping WAVE_FORMAT_EXTENSIBLE
  uint16_t channels;
  uint32_t sample_rate;
  uint16_t block_align;
  uint16_t bits;
};

Result<FmtChunk> ParseFmt(const uint8_t* p, uint64_t size) {
  if (size < 16)
    return Bad("fmt chunk is " + std::to_string(size) + " bytes, expected at least 16");
  FmtChunk f{Le16(p), Le16(p + 2), Le32(p + 4), Le16(p + 12), Le16(p + 14)};
  if (f.tag == kTagExtensible) {
    if (size < 40) {
      return Bad("WAVE_FORMAT_EXTENSIBLE fmt chunk is " + std::to_string(size) +
                 " bytes, expected at least 40");
    }
    uint16_t cb_size = Le16(p + 16);
    if (cb_size < 22) {
      return Bad("WAVE_FORMAT_EXTENSIBLE cbSize is " + std::to_string(cb_size) +
                 ", expected at least 22");
    }
    uint16_t valid_bits = Le16(p + 18);
    if (valid_bits > f.bits) {
      return Bad("WAVE_FORMAT_EXTENSIBLE valid bits " + std::to_string(valid_bits) +
                 " exceed the container's " + std::to_string(f.bits));
    }
    if (std::memcmp(p + 26, kSubformatGuidTail, sizeof(kSubformatGuidTail)) != 0) {
      return Bad("WAVE_FORMAT_EXTENSIBLE subformat is not a KSDATAFORMAT_SUBTYPE GUID");
    }
    f.tag = Le16(p + 24);
  }
  return f;
}

Result<PcmFormat> CheckFmt(const FmtChunk& f) {
  PcmFormat format;
  if (f.tag == kTagPcm) {
    switch (f.bits) {
      case 8:
        format.encoding = SampleEncoding::kUnsigned8;
        break;
      case 16:
        format.encoding = SampleEncoding::kSigned16;
        break;
      case 24:
        format.encoding = SampleEncoding::kSigned24;
        break;
      case 32:
        format.encoding = SampleEncoding::kSigned32;
        break;
      default:
        return Bad("bits per sample " + std::to_string(f.bits) +
                   " for PCM, expected 8, 16, 24 or 32");
    }
  } else if (f.tag == kTagFloat) {
    switch (f.bits) {
      case 32:
        format.encoding = SampleEncoding::kFloat32;
        break;
      case 64:
        format.encoding = SampleEncoding::kFloat64;
        break;
      default:
        return Bad("bits per sample " + std::to_string(f.bits) +
                   " for IEEE float, expected 32 or 64");
    }
  } else {
    return Bad("unsupported format tag " + Hex16(f.tag) + " (" + WaveFormatTagName(f.tag) +
               "), expected 0x0001 (PCM) or 0x0003 (IEEE float)");
  }
  if (f.channels < 1 || f.channels > 2) {
    return Bad("channels = " + std::to_string(f.channels) + ", expected 1 or 2");
  }
  if (f.sample_rate == 0) return Bad("sample rate 0, expected 8000–192000 Hz");
  if (f.sample_rate < 8000 || f.sample_rate > 192000) {
    return Bad("sample rate " + std::to_string(f.sample_rate) + " Hz, expected 8000–192000 Hz");
  }
  format.channels = f.channels;
  format.sample_rate = static_cast<int>(f.sample_rate);
  if (f.block_align != format.bytes_per_frame()) {
    return Bad("block align mismatch: header says " + std::to_string(f.block_align) +
               ", expected " + std::to_string(format.bytes_per_frame()) + " (" +
               std::to_string(f.channels) + " channels × " + std::to_string(f.bits) + " bits)");
  }
  return format;
}

}  // namespace

const char* WaveFormatTagName(uint16_t tag) {
  switch (tag) {
    case 0x0001:
      return "PCM";
    case 0x0002:
      return "Microsoft ADPCM";
    case 0x0003:
      return "IEEE float";
    case 0x0006:
      return "A-law";
    case 0x0007:
      return "µ-law";
    case 0x0011:
      return "IMA ADPCM";
    case 0x0031:
      return "GSM 6.10";
    case 0x0050:
      return "MPEG";
    case 0x0055:
      return "MP3";
    case 0x00FF:
      return "AAC";
    case 0x2000:
      return "AC-3";
    case 0x674F:
      return "Ogg Vorbis";
    case 0x704F:
      return "Opus";
    case 0xF1AC:
      return "FLAC";
    case 0xFFFE:
      return "WAVE_FORMAT_EXTENSIBLE";
    default:
      return "unknown";
  }
}

Result<WavView> ParseWav(std::span<const uint8_t> bytes) {
  const uint8_t* base = bytes.data();
  const uint64_t size = bytes.size();
  if (size < 12) {
    return Bad("file is " + std::to_string(size) + " bytes, expected a RIFF header of 12");
  }
  if (std::memcmp(base, "RIFF", 4) != 0) {
    std::string hint = std::memcmp(base, "RIFX", 4) == 0   ? " (big-endian RIFX is not supported)"
                       : std::memcmp(base, "RF64", 4) == 0 ? " (RF64 is not supported)"
                       : std::memcmp(base, "OggS", 4) == 0 ? " (this is an Ogg file)"
                                                           : "";
    return Bad("not RIFF: file starts with " + FourCc(base) + ", expected 'RIFF'" + hint);
  }
  if (std::memcmp(base + 8, "WAVE", 4) != 0) {
    return Bad("not WAVE: RIFF form type is " + FourCc(base + 8) + ", expected 'WAVE'");
  }
  // The RIFF size bounds the chunk walk; a streaming (0 / 0xFFFFFFFF) or
  // overlong size means "to the end of the buffer", and bytes after a shorter
  // RIFF are trailing junk we ignore.
  const uint32_t riff_size = Le32(base + 4);
  uint64_t end = size;
  if (riff_size != 0 && riff_size != kStreamingSize && 8 + uint64_t{riff_size} < size) {
    end = 8 + uint64_t{riff_size};
  }

  std::optional<PcmFormat> format;
  std::optional<std::span<const uint8_t>> data;
  uint64_t pos = 12;
  while (pos + 8 <= end && !(format && data)) {
    const uint8_t* header = base + pos;
    const uint64_t chunk_size = Le32(header + 4);
    const uint64_t body = pos + 8;
    const uint64_t present = end - body;
    if (std::memcmp(header, "data", 4) == 0) {
      uint64_t length = chunk_size;
      if (chunk_size == 0 || chunk_size == kStreamingSize) {
        length = present;  // written by a tool streaming to a pipe
      } else if (chunk_size > present) {
        return Bad("truncated data chunk: header says " + std::to_string(chunk_size) + " bytes, " +
                   std::to_string(present) + " present");
      }
      data = bytes.subspan(body, length);
    } else if (std::memcmp(header, "fmt ", 4) == 0) {
      if (format) return Bad("second fmt chunk at offset " + std::to_string(pos));
      if (chunk_size > present) {
        return Bad("truncated fmt chunk: header says " + std::to_string(chunk_size) + " bytes, " +
                   std::to_string(present) + " present");
      }
      Result<FmtChunk> fmt = ParseFmt(base + body, chunk_size);
      if (!fmt) return fmt.error();
      Result<PcmFormat> checked = CheckFmt(*fmt);
      if (!checked) return checked.error();
      format = *checked;
    } else if (chunk_size > present) {
      // LIST, fact, cue and unknown chunks are skipped, but one that runs past
      // the end means the file is cut short before fmt or data was found.
      return Bad("truncated " + FourCc(header) + " chunk at offset " + std::to_string(pos) +
                 ": header says " + std::to_string(chunk_size) + " bytes, " +
                 std::to_string(present) + " present");
    }
    pos = body + chunk_size + (chunk_size & 1);  // chunks are padded to even sizes
  }
  if (!format) return Bad("no fmt chunk before the end of the RIFF data");
  if (!data) return Bad("no data chunk before the end of the RIFF data");
  const uint64_t frame_bytes = static_cast<uint64_t>(format->bytes_per_frame());
  if (data->size() % frame_bytes != 0) {
    return Bad("data chunk of " + std::to_string(data->size()) +
               " bytes is not a whole number of " + std::to_string(frame_bytes) +
               "-byte frames: the audio is truncated");
  }
  return WavView{*format, *data, data->size() / frame_bytes};
}

}  // namespace ttscache
