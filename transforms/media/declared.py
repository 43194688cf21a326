"""How long a file says it is, where its format writes that down before the data.

A download or copy that stopped early leaves a file that opens and decodes up to the cut:
nothing fails, so the cut is only seen by comparing where the streams stop with what the
header promised. ffmpeg's own ``duration`` is no judge here: for AVI and WAV it is estimated
from the file's size, so it shrinks with the cut. The promise is read instead from

* Matroska / WebM: the Segment Info duration (ffmpeg's container duration);
* FLV: the ``onMetaData`` duration (likewise);
* AVI: the frame count in the video stream header, over its frame rate;
* WAV: the ``data`` chunk's size in the RIFF header, over the byte rate.

Formats that state no length (MPEG-TS, MPEG-PS, raw streams) give None; MP4 and MOV keep
their index at one end, and a cut there leaves nothing to open. An MPEG-TS file is made of
fixed-size packets (188 bytes; 192 in Blu-ray's M2TS, 204 with error-correction bytes), so a cut
at any byte but a packet boundary shows in its size (``ends_mid_packet``).
"""

from __future__ import annotations

import struct
from typing import Optional

from mmfuse.clock import US_PER_SECOND, pts_to_us
from mmfuse.fs import open_read

_TS_PACKET_SIZES = (188, 192, 204)

__all__ = [
    "HEADER_BYTES",
    "declared_end_us",
    "ends_mid_packet",
    "plausible_duration_us",
    "sniff",
    "still_image_size",
    "wav_data_seconds",
]

_CONTAINER_DURATION_FORMATS = ("matroska", "webm", "flv")
HEADER_BYTES = 1 << 16  # what the checks here read of a file's start


def sniff(uri: str) -> tuple[bytes, int]:
    """The file's first ``HEADER_BYTES`` and its size, in one open (one request on an object
    store): everything the checks here need besides what ffmpeg reads."""
    with open_read(uri) as f:
        header = f.read(HEADER_BYTES)
        return header, f.seek(0, 2)


def wav_data_seconds(header: bytes) -> Optional[float]:
    """Seconds of sound a RIFF/WAVE header announces; None when it announces none (streamed
    WAV writes 0 or 0xFFFFFFFF) or the header is not RIFF."""
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, None
    while pos + 8 <= len(header):
        tag, size = header[pos : pos + 4], struct.unpack_from("<I", header, pos + 4)[0]
        if tag == b"fmt " and pos + 20 <= len(header):
            byte_rate = struct.unpack_from("<I", header, pos + 8 + 8)[0]
        elif tag == b"data":
            if not byte_rate or size in (0, 0xFFFFFFFF):
                return None
            return size / byte_rate
        pos += 8 + size + (size & 1)
    return None


def declared_end_us(container, header: bytes, origin_us: int, video_stream=None) -> Optional[int]:
    """The end of the media on its clock as the file's header states it (``header``: the
    file's first bytes, from :func:`sniff`), or None."""
    names = container.format.name.split(",")
    if any(n in _CONTAINER_DURATION_FORMATS for n in names):
        if container.duration is not None and container.duration > 0:
            return int(container.start_time or 0) + int(container.duration) - origin_us
        return None
    if "avi" in names and video_stream is not None:
        rate = video_stream.average_rate or video_stream.base_rate
        if video_stream.frames and rate:
            start = video_stream.start_time if video_stream.start_time is not None and video_stream.time_base else 0
            return pts_to_us(start, video_stream.time_base or 1, origin_us) + int(video_stream.frames * US_PER_SECOND / rate)
        return None
    if "wav" in names:
        seconds = wav_data_seconds(header)
        return None if seconds is None else int(seconds * US_PER_SECOND)
    return None


# No media holds a second in fewer bytes than this (Opus speech at 6 kbit/s is 750 B/s, AAC
# at its lowest 1 kB/s): a length beyond size / this is not true.
_MIN_BYTES_PER_SECOND = 100


def plausible_duration_us(size_bytes: int) -> int:
    """The longest media ``size_bytes`` can hold, at least 60 s."""
    return max(60, size_bytes // _MIN_BYTES_PER_SECOND) * US_PER_SECOND


def ends_mid_packet(container, uri: str, size: int) -> Optional[str]:
    """A warning when an MPEG-TS file's size is no whole number of transport packets."""
    if "mpegts" not in container.format.name.split(","):
        return None
    if size and all(size % n for n in _TS_PACKET_SIZES):
        return f"{uri} ends inside a transport-stream packet ({size} bytes is no whole number of 188-byte packets): the file was cut short"
    return None


def still_image_size(header: bytes) -> Optional[tuple[int, int]]:
    """(width, height) a PNG or JPEG header states, else None. Read before ffmpeg opens the
    file: its probing decodes the first picture, and a 16000×16000 RGB picture takes 768 MB."""
    if header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR":
        return struct.unpack(">II", header[16:24])
    if header[:2] == b"\xff\xd8":  # JPEG: walk the markers to the first start-of-frame
        pos = 2
        while pos + 9 <= len(header) and header[pos] == 0xFF:
            marker, size = header[pos + 1], struct.unpack(">H", header[pos + 2 : pos + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", header[pos + 5 : pos + 9])
                return width, height
            pos += 2 + size
    return None
