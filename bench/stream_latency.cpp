// Encode streams against the alternatives (docs/benchmarks.md, "Encode
// streams: first page, end of stream, CPU"): a speech recording fed as a
// synthesizer produces it, in 4096-sample chunks at real-time pace and at 10×,
// and for each way of turning it into Ogg Opus the time from the first chunk
// to the first audio page a listener could be sent, and from the last chunk
// to the end of the Ogg stream; plus the CPU each way costs per utterance.
//
// The ways, each run N times, interleaved (the order rotates every
// repetition, so no way always follows another on this noisy machine):
//   stream     STREAM_OPEN/PUSH/FINISH on a raw socket, a thread reading the
//              replies and timing each as it lands (libttscache's
//              EncodeStream only sees a reply at the next Push or at Finish,
//              so it cannot time the first page; it is measured too, as
//              "stream (libttscache)", to show what a caller of it sees);
//              and with the first chunk's first 60 ms pushed on their own;
//   ENCODE     libttscache Client::Encode of the whole WAV, issued when the
//              last chunk arrives (the Node backend's way): its first page is
//              its whole Ogg, so "first page" = the last chunk's offset plus
//              the ENCODE's time. The chunks are not really paced for it (the
//              daemon sees nothing until the ENCODE); the call waits one chunk
//              period first, so the daemon is as idle as after a real pause;
//   ffmpeg     `ffmpeg -f s16le … -i pipe:0 -c:a libopus -b:a 32k -vbr on
//              -application voip -f ogg pipe:1` (the daemon's Opus settings),
//              started before the first chunk, fed at the same pace, its
//              stdout parsed for pages; stdin closed after the last chunk.
//              Once as is (its Ogg muxer writes 1 s pages) and once with
//              `-page_duration 20000 -flush_packets 1`, its best for latency.
// The stream is opened (one round trip) and ffmpeg started before the first
// chunk, as a backend would when the synthesis starts.
//
// CPU: the daemon's (its threads' run time from /proc/PID/task/*/schedstat,
// in ns, read before and after each utterance), ffmpeg's own (wait4).
//
// Usage: stream_latency SOCKET WAV DAEMON_PID CPU_FOR_FFMPEG [repetitions] [--smoke]
// --smoke: one repetition of the fast ways only (10× and unpaced); fails
// unless every way produced a whole Ogg stream of the right length and
// numbers that make sense. It asserts no timing.
// STREAM_LATENCY_ONLY="NAME PACE;…" (as the table names them, e.g. "stream
// unpaced;ENCODE after the last chunk unpaced") runs only those ways.
#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "bench/ogg_page_clock.hpp"
#include "bench/piped_child.hpp"
#include "core/audio/wav_reader.hpp"
#include "ipc/frame.hpp"
#include "ipc/messages.hpp"
#include "tests/support/raw_peer.hpp"
#include "ttscache/client.hpp"

namespace ttscache::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kChunkFrames = 4096;
constexpr int64_t kPreSkip = 312;  // 6.5 ms at 48 kHz, what both encoders write

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Setup {
  std::string socket;
  std::vector<uint8_t> wav;      // the whole file, for ENCODE
  std::span<const uint8_t> pcm;  // its samples, s16le mono
  int rate = 22050;
  pid_t daemon = 0;
  std::string ffmpeg_cpu;
  size_t chunks() const { return (pcm.size() / 2 + kChunkFrames - 1) / kChunkFrames; }
  std::span<const uint8_t> chunk(size_t k) const {
    size_t at = k * kChunkFrames * 2;
    return pcm.subspan(at, std::min(kChunkFrames * 2, pcm.size() - at));
  }
  // When chunk k is due after the first, at `speed` × real time (0: at once).
  Clock::duration due(size_t k, double speed) const {
    if (speed == 0) return {};
    return std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(double(k * kChunkFrames) / rate / speed));
  }
  int64_t expected_granule() const {  // ceil(N × 48000 / rate) + pre-skip
    uint64_t n = pcm.size() / 2;
    return int64_t((n * 48000 + uint64_t(rate) - 1) / uint64_t(rate)) + kPreSkip;
  }
};

// One utterance one way.
struct Item {
  double first_ms = NAN;  // first audio page − first chunk sent
  double end_ms = NAN;    // end of the Ogg stream − last chunk sent
  double cpu_ms = NAN;    // the daemon's, or ffmpeg's
  uint64_t ogg_bytes = 0;
  std::string error;  // empty: a whole Ogg stream of the right length
};

// The daemon's CPU time so far: its threads' time on a CPU, in ms.
double DaemonCpuMs(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  double ns = 0;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream in(dir + "/" + e->d_name + "/schedstat");
      double run_ns = 0;
      if (in >> run_ns) ns += run_ns;
    }
    closedir(d);
  }
  return ns / 1e6;
}

// Sends each chunk when it is due; `send(k, chunk)` returns false to stop.
// Until then `wait(due)` runs (default: sleep). Returns when the first and
// the last chunk were handed over.
std::pair<Clock::time_point, Clock::time_point> Pace(
    const Setup& s, double speed, const std::function<bool(size_t, std::span<const uint8_t>)>& send,
    const std::function<void(Clock::time_point)>& wait = {}) {
  const Clock::time_point start = Clock::now();
  Clock::time_point first, last;
  for (size_t k = 0; k < s.chunks(); ++k) {
    if (wait) {
      wait(start + s.due(k, speed));
    } else {
      std::this_thread::sleep_until(start + s.due(k, speed));
    }
    last = Clock::now();
    if (k == 0) first = last;
    if (!send(k, s.chunk(k))) break;
  }
  return {first, last};
}

void Check(Item& item, const Setup& s, const OggPageClock& ogg) {
  item.ogg_bytes = ogg.bytes();
  if (!item.error.empty()) return;
  if (!ogg.complete()) {
    item.error = "not a whole Ogg stream";
  } else if (std::llabs(ogg.last_granule() - s.expected_granule()) > 960) {
    item.error = "ends at granule " + std::to_string(ogg.last_granule()) + ", expected " +
                 std::to_string(s.expected_granule());
  }
}

// Frames per docs/protocol.md on a raw connection (tests/support/raw_peer.hpp,
// which gives up on a reply after 5 s), so replies can be read and timed on
// a thread of their own as they arrive.
class RawConnection {
 public:
  explicit RawConnection(const std::string& path) : peer_(path) {}
  bool ok() const { return peer_.connected; }
  bool Send(ipc::Opcode op, std::span<const uint8_t> body) {
    std::vector<uint8_t> frame = ipc::BuildFrame(static_cast<uint8_t>(op), ++id_, body);
    return peer_.Send(frame) == ssize_t(frame.size());
  }
  // The next frame, or opcode 0 when the connection ended or timed out.
  ipc::Frame Read() {
    auto [opcode, request_id, body] = peer_.Read();
    return {{opcode, 0, request_id, uint32_t(body.size())}, std::move(body)};
  }

 private:
  testing::RawPeer peer_;
  uint64_t id_ = 0;
};

constexpr uint8_t Reply(ipc::Opcode op) { return static_cast<uint8_t>(op) | ipc::kReplyBit; }

// `first_push_ms` > 0: the first chunk goes as two pushes, its first
// `first_push_ms` of audio alone, so the first page does not wait for the
// rest of the chunk's encode (one reply per push, sent when it is encoded).
Item RunStream(const Setup& s, double speed, int first_push_ms) {
  Item item;
  RawConnection c(s.socket);
  ipc::StreamOpenRequest open;  // s16le mono at the file's rate
  open.sample_rate = uint32_t(s.rate);
  open.params.bitrate_kbps = 0;  // the daemon's [opus] settings
  if (!c.ok() || !c.Send(ipc::Opcode::kStreamOpen, ipc::EncodeStreamOpenRequest(open))) {
    item.error = "cannot reach the daemon";
    return item;
  }
  ipc::Frame opened = c.Read();
  if (opened.header.opcode != Reply(ipc::Opcode::kStreamOpen)) {
    item.error = "STREAM_OPEN refused";
    return item;
  }
  const uint32_t stream = ipc::DecodeStreamOpenReply(opened.body)->stream;
  OggPageClock ogg;
  Clock::time_point end;
  std::thread reader([&] {
    while (true) {
      ipc::Frame f = c.Read();
      const Clock::time_point now = Clock::now();
      if (f.header.opcode == Reply(ipc::Opcode::kStreamPush)) {
        ogg.Feed(ipc::DecodeStreamPagesReply(f.body).value(), now);
      } else if (f.header.opcode == Reply(ipc::Opcode::kStreamFinish)) {
        ogg.Feed(ipc::DecodeStreamFinishReply(f.body)->pages, now);
        end = now;
        return;
      } else {
        item.error = f.header.opcode == 0 ? "connection closed"
                                          : "error: " + ipc::DecodeErrorReply(f.body)->message;
        return;
      }
    }
  });
  const double cpu = DaemonCpuMs(s.daemon);
  auto push = [&](std::span<const uint8_t> bytes) {
    return c.Send(ipc::Opcode::kStreamPush,
                  ipc::EncodeStreamPushRequest({stream, {ipc::AudioPlace::kInline, bytes, 0, 0}}));
  };
  const size_t head = size_t(s.rate) * size_t(first_push_ms) / 1000 * 2;
  auto [first, last] = Pace(s, speed, [&](size_t k, std::span<const uint8_t> chunk) {
    if (k == 0 && head > 0 && head < chunk.size()) {
      return push(chunk.first(head)) && push(chunk.subspan(head));
    }
    return push(chunk);
  });
  c.Send(ipc::Opcode::kStreamFinish, ipc::EncodeStreamIdRequest(stream));
  reader.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the daemon's threads back asleep
  item.cpu_ms = DaemonCpuMs(s.daemon) - cpu;
  if (ogg.first_audio()) item.first_ms = Ms(*ogg.first_audio() - first);
  if (item.error.empty()) item.end_ms = Ms(end - last);
  Check(item, s, ogg);
  return item;
}

// libttscache's EncodeStream: between chunks the caller waits for pages
// with WaitForPages (as a producer waiting for its engine would), so a page
// is timed when the callback gets it.
Item RunLibStream(const Setup& s, double speed) {
  Item item;
  auto client = Client::Connect({s.socket, 60000});
  if (!client) {
    item.error = client.error().message;
    return item;
  }
  OggPageClock ogg;
  StreamFormat format;
  format.sample_rate = s.rate;
  auto stream = client->OpenEncodeStream(
      format, [&](std::span<const uint8_t> pages) { ogg.Feed(pages, Clock::now()); });
  if (!stream) {
    item.error = stream.error().message;
    return item;
  }
  const double cpu = DaemonCpuMs(s.daemon);
  auto [first, last] = Pace(
      s, speed,
      [&](size_t, std::span<const uint8_t> chunk) {
        Status st = stream->Push(chunk);
        if (!st) item.error = st.error().message;
        return st.ok();
      },
      [&](Clock::time_point due) {
        while (stream->pushes_in_flight() > 0 && Clock::now() < due) {
          const auto left =
              std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now());
          if (!stream->WaitForPages(static_cast<int>(std::max<int64_t>(left.count(), 0))).ok())
            break;
        }
        std::this_thread::sleep_until(due);
      });
  auto done = stream->Finish();
  const Clock::time_point end = Clock::now();
  if (!done && item.error.empty()) item.error = done.error().message;
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  item.cpu_ms = DaemonCpuMs(s.daemon) - cpu;
  if (ogg.first_audio()) item.first_ms = Ms(*ogg.first_audio() - first);
  item.end_ms = Ms(end - last);
  Check(item, s, ogg);
  return item;
}

Item RunEncode(const Setup& s, double speed) {
  Item item;
  auto client = Client::Connect({s.socket, 60000});
  if (!client) {
    item.error = client.error().message;
    return item;
  }
  const size_t last_chunk = s.chunks() - 1;
  std::this_thread::sleep_for(s.due(1, speed));  // the pause before the last chunk
  const double cpu = DaemonCpuMs(s.daemon);
  const Clock::time_point last = Clock::now();
  auto ogg_bytes = client->Encode(s.wav);
  const Clock::time_point end = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  item.cpu_ms = DaemonCpuMs(s.daemon) - cpu;
  if (!ogg_bytes) {
    item.error = ogg_bytes.error().message;
    return item;
  }
  OggPageClock ogg;
  ogg.Feed(ogg_bytes->u8(), end);
  item.end_ms = Ms(end - last);
  item.first_ms = Ms(s.due(last_chunk, speed)) + item.end_ms;
  Check(item, s, ogg);
  return item;
}

// `small_pages`: ffmpeg's Ogg muxer cuts a page per packet and writes it at
// once (-page_duration 20000 -flush_packets 1) instead of its 1 s pages.
Item RunFfmpeg(const Setup& s, double speed, bool small_pages) {
  Item item;
  std::vector<std::string> argv = {"taskset",
                                   "-c",
                                   s.ffmpeg_cpu,
                                   "ffmpeg",
                                   "-hide_banner",
                                   "-loglevel",
                                   "error",
                                   "-f",
                                   "s16le",
                                   "-ar",
                                   std::to_string(s.rate),
                                   "-ac",
                                   "1",
                                   "-i",
                                   "pipe:0",
                                   "-c:a",
                                   "libopus",
                                   "-b:a",
                                   "32k",
                                   "-vbr",
                                   "on",
                                   "-application",
                                   "voip"};
  if (small_pages) argv.insert(argv.end(), {"-page_duration", "20000", "-flush_packets", "1"});
  argv.insert(argv.end(), {"-f", "ogg", "pipe:1"});
  PipedChild ffmpeg(argv);
  OggPageClock ogg;
  Clock::time_point end;
  std::thread reader([&] {
    uint8_t buffer[65536];
    ssize_t n;
    while ((n = ffmpeg.Read(buffer, sizeof(buffer))) > 0)
      ogg.Feed({buffer, size_t(n)}, Clock::now());
    end = Clock::now();
  });
  auto [first, last] =
      Pace(s, speed, [&](size_t, std::span<const uint8_t> chunk) { return ffmpeg.Write(chunk); });
  ffmpeg.CloseInput();
  reader.join();
  if (!ffmpeg.Wait(&item.cpu_ms)) item.error = "ffmpeg failed";
  if (ogg.first_audio()) item.first_ms = Ms(*ogg.first_audio() - first);
  item.end_ms = Ms(end - last);
  Check(item, s, ogg);
  return item;
}

struct Way {
  std::string name;
  double speed;  // × real time; 0: as fast as it goes
  std::function<Item(const Setup&, double)> run;
  std::vector<Item> items;
};

struct Summary {
  double p50, p90, max, mean;
};
Summary Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return {NAN, NAN, NAN, NAN};
  double sum = 0;
  for (double x : v) sum += x;
  auto at = [&](double p) { return v[size_t(std::ceil(p * double(v.size())) - 1)]; };
  return {at(0.5), at(0.9), v.back(), sum / double(v.size())};
}
template <class F>
Summary Of(const Way& w, F field) {
  std::vector<double> v;
  for (const Item& i : w.items) v.push_back(field(i));
  return Summarize(v);
}

std::string PaceName(double speed) {
  return speed == 0 ? "unpaced" : std::to_string(int(speed)) + "×";
}

int Main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(
        stderr,
        "usage: stream_latency SOCKET WAV DAEMON_PID CPU_FOR_FFMPEG [repetitions] [--smoke]\n");
    return 2;
  }
  const bool smoke = std::string(argv[argc - 1]) == "--smoke";
  const int repetitions = smoke ? 1 : (argc > 5 ? std::atoi(argv[5]) : 20);
  Setup s;
  s.socket = argv[1];
  std::ifstream in(argv[2], std::ios::binary);
  s.wav.assign(std::istreambuf_iterator<char>(in), {});
  s.daemon = pid_t(std::atoi(argv[3]));
  s.ffmpeg_cpu = argv[4];
  auto wav = ParseWav(s.wav);
  if (!wav || wav->format.encoding != SampleEncoding::kSigned16 || wav->format.channels != 1) {
    std::fprintf(stderr, "%s: not a 16-bit mono WAV\n", argv[2]);
    return 2;
  }
  s.pcm = wav->data;
  s.rate = wav->format.sample_rate;
  const double seconds = double(wav->frames) / s.rate;

  std::vector<Way> ways;
  for (double speed : smoke ? std::vector<double>{10} : std::vector<double>{1, 10}) {
    ways.push_back(
        {"stream", speed, [](const Setup& s, double v) { return RunStream(s, v, 0); }, {}});
    ways.push_back({"stream, first 60 ms pushed alone",
                    speed,
                    [](const Setup& s, double v) { return RunStream(s, v, 60); },
                    {}});
    ways.push_back({"stream (libttscache)", speed, RunLibStream, {}});
    ways.push_back({"ENCODE after the last chunk", speed, RunEncode, {}});
    ways.push_back({"ffmpeg, pipe",
                    speed,
                    [](const Setup& s, double v) { return RunFfmpeg(s, v, false); },
                    {}});
    ways.push_back({"ffmpeg, pipe, 20 ms pages",
                    speed,
                    [](const Setup& s, double v) { return RunFfmpeg(s, v, true); },
                    {}});
  }
  ways.push_back({"stream", 0, [](const Setup& s, double v) { return RunStream(s, v, 0); }, {}});
  ways.push_back({"ENCODE after the last chunk", 0, RunEncode, {}});

  // What the daemon spends doing nothing, which a paced stream's CPU includes.
  const double idle_before = DaemonCpuMs(s.daemon);
  std::this_thread::sleep_for(std::chrono::seconds(smoke ? 0 : 2));
  const double idle_ms_per_s = smoke ? 0 : (DaemonCpuMs(s.daemon) - idle_before) / 2;
  // STREAM_LATENCY_ONLY="stream unpaced;ENCODE after the last chunk unpaced":
  // only these ways ("name pace"), e.g. to count instructions under callgrind.
  if (const char* only = getenv("STREAM_LATENCY_ONLY")) {
    const std::string keep = std::string(";") + only + ";";
    std::erase_if(ways, [&](const Way& w) {
      return keep.find(";" + w.name + " " + PaceName(w.speed) + ";") == std::string::npos;
    });
  }

  for (int r = 0; r < repetitions; ++r) {
    for (size_t i = 0; i < ways.size(); ++i) {
      Way& w = ways[(i + size_t(r)) % ways.size()];
      w.items.push_back(w.run(s, w.speed));
      const Item& item = w.items.back();
      std::fprintf(stderr, "%d %s %s: first %.2f ms, end %.2f ms, cpu %.1f ms%s%s\n", r,
                   w.name.c_str(), PaceName(w.speed).c_str(), item.first_ms, item.end_ms,
                   item.cpu_ms, item.error.empty() ? "" : ", ", item.error.c_str());
    }
  }

  std::printf("%.2f s of s16 mono at %d Hz in %zu chunks of %zu samples; %d repetitions\n\n",
              seconds, s.rate, s.chunks(), kChunkFrames, repetitions);
  std::printf(
      "| way | pace | first audio page after first chunk: p50 / p90 / max | end after "
      "last chunk: p50 / p90 / max | CPU per utterance (mean) | Ogg bytes |\n");
  std::printf("|---|---|---|---|---|---|\n");
  int failures = 0;
  for (const Way& w : ways) {
    Summary first = Of(w, [](const Item& i) { return i.first_ms; });
    Summary end = Of(w, [](const Item& i) { return i.end_ms; });
    Summary cpu = Of(w, [](const Item& i) { return i.cpu_ms; });
    const char* whose = w.name.starts_with("ffmpeg") ? "ffmpeg" : "ttscached";
    std::printf(
        "| %s | %s | %.2f / %.2f / %.2f ms | %.2f / %.2f / %.2f ms | %.1f ms (%s) | %llu |\n",
        w.name.c_str(), PaceName(w.speed).c_str(), first.p50, first.p90, first.max, end.p50,
        end.p90, end.max, cpu.mean, whose,
        static_cast<unsigned long long>(w.items.back().ogg_bytes));
    for (const Item& i : w.items) {
      bool sane = i.error.empty() && i.first_ms > 0 && i.end_ms >= 0 && i.cpu_ms >= 0 &&
                  i.first_ms < 60e3 && i.end_ms < 60e3 && i.ogg_bytes > 1000;
      if (!sane) {
        ++failures;
        std::fprintf(stderr, "FAIL %s %s: %s (first %.2f ms, end %.2f ms, cpu %.1f ms)\n",
                     w.name.c_str(), PaceName(w.speed).c_str(), i.error.c_str(), i.first_ms,
                     i.end_ms, i.cpu_ms);
      }
    }
  }
  auto find = [&](const std::string& name, double speed) -> const Way* {
    auto it = std::find_if(ways.begin(), ways.end(),
                           [&](const Way& w) { return w.name == name && w.speed == speed; });
    return it == ways.end() ? nullptr : &*it;
  };
  // The ENCODE does the same work at any pace: its CPU is pooled over all.
  std::vector<double> encode_cpus;
  for (const Way& w : ways) {
    if (!w.name.starts_with("ENCODE")) continue;
    for (const Item& i : w.items) encode_cpus.push_back(i.cpu_ms);
  }
  const double encode_cpu = Summarize(encode_cpus).mean;
  const double frame_ms = encode_cpu / (seconds / 0.020);
  if (!encode_cpus.empty()) {
    std::printf("\none 20 ms frame's encode (whole-file ENCODE's CPU / frames): %.3f ms\n",
                frame_ms);
  }
  for (double speed : smoke ? std::vector<double>{10, 0} : std::vector<double>{1, 10, 0}) {
    const Way* stream = find("stream", speed);
    if (stream == nullptr || encode_cpus.empty()) continue;
    const double cpu = Of(*stream, [](const Item& i) { return i.cpu_ms; }).mean;
    std::printf("daemon CPU, stream %s / whole-file ENCODE: %.1f / %.1f ms = %.3f\n",
                PaceName(speed).c_str(), cpu, encode_cpu, cpu / encode_cpu);
  }
  if (!smoke) {
    std::printf(
        "the daemon idle: %.3f ms of CPU per second (%.1f ms over the utterance's %.2f s)\n",
        idle_ms_per_s, idle_ms_per_s * seconds, seconds);
  }
  if (smoke && failures == 0) std::printf("\nsmoke: every way gave a whole Ogg stream\n");
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace ttscache::bench

int main(int argc, char** argv) { return ttscache::bench::Main(argc, argv); }
