// Test support: splits an Ogg byte stream into pages and packets with libogg,
// so tests can check RFC 7845 page structure. Header-only.
#pragma once

#include <ogg/ogg.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace ttscache::testing {

struct OggPacketInfo {
  std::vector<uint8_t> bytes;
  int64_t granule;
  bool eos;
};

struct OggPageInfo {
  bool bos = false;
  bool eos = false;
  int64_t granule = 0;
  uint32_t serial = 0;
  int packets_completed = 0;
  std::vector<OggPacketInfo> packets;  // packets that complete on this page
};

// Returns every page in order; `ok` is false when libogg finds damage.
inline std::vector<OggPageInfo> SplitOgg(const std::vector<uint8_t>& bytes, bool* ok) {
  std::vector<OggPageInfo> pages;
  ogg_sync_state sync;
  ogg_sync_init(&sync);
  char* buffer = ogg_sync_buffer(&sync, static_cast<long>(bytes.size()));
  std::memcpy(buffer, bytes.data(), bytes.size());
  ogg_sync_wrote(&sync, static_cast<long>(bytes.size()));
  ogg_stream_state stream;
  bool stream_ready = false;
  *ok = true;
  ogg_page page;
  int r;
  while ((r = ogg_sync_pageout(&sync, &page)) != 0) {
    if (r < 0) {
      *ok = false;
      continue;
    }
    OggPageInfo info;
    info.bos = ogg_page_bos(&page);
    info.eos = ogg_page_eos(&page);
    info.granule = ogg_page_granulepos(&page);
    info.serial = static_cast<uint32_t>(ogg_page_serialno(&page));
    info.packets_completed = ogg_page_packets(&page);
    if (!stream_ready) {
      ogg_stream_init(&stream, ogg_page_serialno(&page));
      stream_ready = true;
    }
    if (ogg_stream_pagein(&stream, &page) != 0) *ok = false;
    ogg_packet packet;
    int pr;
    while ((pr = ogg_stream_packetout(&stream, &packet)) != 0) {
      if (pr < 0) {
        *ok = false;
        continue;
      }
      info.packets.push_back({std::vector<uint8_t>(packet.packet, packet.packet + packet.bytes),
                              packet.granulepos, packet.e_o_s != 0});
    }
    pages.push_back(std::move(info));
  }
  if (stream_ready) ogg_stream_clear(&stream);
  ogg_sync_clear(&sync);
  return pages;
}

}  // namespace ttscache::testing
