"""Read a MOV/MP4 file's track table without decoding or running ffmpeg.

Segments are checked after every render and before every reuse and join, so
the check must be cheap: it reads the ``moov`` box only (a few kB) and returns,
per track, the handler, codec, time scale, sample count and duration, and the
picture size or audio format from the sample description.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

CONFIG_BOXES = (b"avcC", b"hvcC", b"esds")  # after the 78-byte visual sample entry fields


@dataclass(frozen=True, slots=True)
class MovTrack:
    handler: str  # "vide" or "soun"
    codec: str  # sample entry fourcc: "avc1", "hvc1", "sowt" (PCM s16le), "mp4a" ...
    timescale: int
    samples: int  # video frames, or audio samples for PCM
    duration: int  # in timescale units
    width: int = 0
    height: int = 0
    channels: int = 0
    sample_rate: int = 0
    config: bytes = b""  # the video decoder configuration (avcC / hvcC payload: H.264 SPS and PPS ...)


def read_moov(path: Path) -> bytes:
    """The payload of the top-level ``moov`` box, read without loading the media data."""
    with open(path, "rb") as handle:
        size_total = os.fstat(handle.fileno()).st_size
        pos = 0
        while pos + 8 <= size_total:
            handle.seek(pos)
            header = handle.read(16)
            size, kind = struct.unpack(">I4s", header[:8])
            start = pos + 8
            if size == 1:
                size, start = struct.unpack(">Q", header[8:16])[0], pos + 16
            elif size == 0:
                size = size_total - pos
            if size < start - pos:
                break
            if kind == b"moov":
                handle.seek(start)
                return handle.read(pos + size - start)
            pos += size
    return b""


def boxes(data: bytes, kinds: tuple[bytes, ...] = ()):
    """(type, payload) of the boxes in ``data``; only those of ``kinds`` when given."""
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = len(data) - pos
        if size < header:
            return
        if not kinds or kind in kinds:
            yield kind, data[pos + header:pos + size]
        pos += size


def child(data: bytes, *path: bytes) -> bytes:
    for kind in path:
        data = next((payload for _, payload in boxes(data, (kind,))), b"")
    return data


def _sample_entry(stsd: bytes, handler: str) -> dict:
    """Codec and picture/audio format from the first sample description entry."""
    if len(stsd) < 16:
        return {"codec": ""}
    entry = stsd[8:]
    fields = {"codec": entry[4:8].decode("latin-1")}
    body = entry[8:]  # after the size, fourcc; starts with 6 reserved bytes + data reference index
    if handler == "vide" and len(body) >= 36:
        fields["width"], fields["height"] = struct.unpack(">HH", body[24:28])
        fields["config"] = next((payload for _, payload in boxes(body[78:], CONFIG_BOXES)), b"")
    elif handler == "soun" and len(body) >= 28:
        if struct.unpack(">H", body[8:10])[0] == 2 and len(body) >= 44:  # QuickTime's version 2 (over 2 channels)
            fields["sample_rate"] = round(struct.unpack(">d", body[32:40])[0])
            fields["channels"] = struct.unpack(">I", body[40:44])[0]
        else:
            fields["channels"] = struct.unpack(">H", body[16:18])[0]
            fields["sample_rate"] = struct.unpack(">I", body[24:28])[0] >> 16
    return fields


def read_tracks(path: Path) -> list[MovTrack]:
    """The tracks of a MOV/MP4 file; raises OSError or ValueError when it cannot be read."""
    tracks = []
    try:
        for _, trak in boxes(read_moov(path), (b"trak",)):
            mdia = child(trak, b"mdia")
            handler = child(mdia, b"hdlr")[8:12].decode("latin-1")
            mdhd = child(mdia, b"mdhd")
            timescale = struct.unpack(">I", mdhd[20:24] if mdhd[:1] == b"\x01" else mdhd[12:16])[0] if mdhd else 0
            stbl = child(mdia, b"minf", b"stbl")
            stts = child(stbl, b"stts")
            entries = struct.unpack(">I", stts[4:8])[0] if len(stts) >= 8 else 0
            count = total = 0
            for i in range(min(entries, (len(stts) - 8) // 8)):
                n, delta = struct.unpack(">II", stts[8 + 8 * i:16 + 8 * i])
                count, total = count + n, total + n * delta
            tracks.append(MovTrack(handler=handler, timescale=timescale, samples=count, duration=total,
                                   **_sample_entry(child(stbl, b"stsd"), handler)))
    except struct.error as exc:
        raise ValueError(f"{path.name}: damaged MOV header ({exc})") from None
    return tracks
