// libFuzzer: arbitrary bytes as a configuration file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ttscache;
  ConfigInput in;
  in.origin = "fuzz.conf";
  in.text = std::string(reinterpret_cast<const char*>(data), size);
  in.usable_cpus = {0, 1};
  Result<LoadedConfig> r = LoadConfig(in);
  if (r) (void)FormatConfig(*r);
  return 0;
}
