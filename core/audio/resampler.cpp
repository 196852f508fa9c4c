// libsoxr behind Resampler; see resampler.hpp.
#include "core/audio/resampler.hpp"

#include <soxr.h>

#include <cmath>
#include <string>

namespace ttscache {

void Resampler::SoxrDeleter::operator()(void* soxr) const {
  soxr_delete(static_cast<soxr_t>(soxr));
}

Resampler::Resampler(void* soxr, double ratio, int channels)
    : soxr_(soxr), ratio_(ratio), channels_(channels) {}

Result<Resampler> Resampler::Create(int in_rate, int out_rate, int channels) {
  soxr_error_t error = nullptr;
  soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  soxr_runtime_spec_t runtime = soxr_runtime_spec(1);  // the worker pool is the parallelism
  soxr_t soxr = soxr_create(in_rate, out_rate, static_cast<unsigned>(channels), &error, &io,
                            &quality, &runtime);
  if (error || !soxr) {
    return MakeError(Errc::kInternal, "soxr_create(" + std::to_string(in_rate) + " → " +
                                          std::to_string(out_rate) +
                                          " Hz): " + (error ? error : "failed"));
  }
  return Resampler(soxr, static_cast<double>(out_rate) / in_rate, channels);
}

Status Resampler::Run(const float* in, size_t frames, std::vector<float>* out) {
  // Room for everything this call can produce, plus soxr's buffered tail.
  size_t room = static_cast<size_t>(std::ceil(frames * ratio_)) + 1024;
  while (true) {
    size_t base = out->size();
    out->resize(base + room * channels_);
    size_t consumed = 0;
    size_t produced = 0;
    soxr_error_t error = soxr_process(static_cast<soxr_t>(soxr_.get()), in, frames, &consumed,
                                      out->data() + base, room, &produced);
    out->resize(base + produced * channels_);
    if (error) return MakeError(Errc::kInternal, std::string("soxr_process: ") + error);
    if (in) {
      in += consumed * channels_;
      frames -= consumed;
      if (frames == 0 && produced < room) return {};
    } else if (produced < room) {
      return {};  // flushed: soxr had less left than we had room for
    }
  }
}

Status Resampler::Process(const float* in, size_t frames, std::vector<float>* out) {
  if (frames == 0) return {};
  return Run(in, frames, out);
}

Status Resampler::Flush(std::vector<float>* out) { return Run(nullptr, 0, out); }

int OpusRateFor(int input_rate) {
  for (int rate : {8000, 12000, 16000, 24000, 48000}) {
    if (input_rate <= rate) return rate;
  }
  return 48000;
}

}  // namespace ttscache
