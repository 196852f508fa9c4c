// libFuzzer: arbitrary bytes as a WAV file, then (when it parses) as encoder input.
#include <cstddef>
#include <cstdint>

#include "core/audio/ogg_opus_encoder.hpp"
#include "core/audio/wav_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ttscache;
  Result<WavView> wav = ParseWav({data, size});
  if (!wav) return 0;
  // The view must lie inside the input.
  if (wav->data.data() < data || wav->data.data() + wav->data.size() > data + size)
    __builtin_trap();
  if (wav->frames > 0 && wav->frames < 48000) {  // keep each run short
    VectorSink sink;
    OpusParams fast;
    fast.complexity = 0;
    (void)EncodeWavToOggOpus({data, size}, fast, &sink);
  }
  return 0;
}
