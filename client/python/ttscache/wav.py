"""The 44-byte header of a PCM WAV, for producers that write samples straight
into an arena block: header first, then the samples after it."""
from __future__ import annotations

import struct

WAV_HEADER_BYTES = 44


def wav_header(frames: int, sample_rate: int = 22050, channels: int = 1,
               bits_per_sample: int = 16) -> bytes:
    """RIFF/WAVE header of `frames` PCM frames (integer PCM, format tag 1)."""
    block_align = channels * bits_per_sample // 8
    data_bytes = frames * block_align
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate,
                                    sample_rate * block_align, block_align, bits_per_sample)
            + b"data" + struct.pack("<I", data_bytes))
