// Stores a WAV under a phrase, then reads it back through the cache.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <ttscache/client.hpp>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  std::ifstream in(argv[2], std::ios::binary);
  std::vector<uint8_t> wav{std::istreambuf_iterator<char>(in), {}};
  auto client = ttscache::Client::Connect({.socket_path = argv[1]});
  if (!client) return std::fprintf(stderr, "%s\n", client.error().message.c_str()), 4;
  if (auto put = client->Put("piper", "One moment.", wav); !put) return 3;
  auto hit = client->Get("piper", "One moment.", ttscache::Format::kWav);
  if (!hit || hit->size() != wav.size()) return 1;
  std::printf("hit %zu bytes%s\n", hit->size(), hit->mapped() ? " (mapped)" : "");
}
