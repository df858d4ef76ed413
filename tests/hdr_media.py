"""Tiny HDR test sources whose every patch has a known luminance, and the reference maths to check them.

The picture (320x180, constant) is computed here, not by ffmpeg: a grey ramp of known luminance in the top
half (``RAMP_NITS``, one 32-pixel block each) and BT.709 colours at a 100-nit reference white in the bottom
half (``PATCHES``, one 64-pixel block each), written as BT.2020 PQ or HLG (1000-nit display) 10-bit YCbCr and
encoded with x265, tagged, with mastering-display and MaxCLL metadata when asked. Blocks are aligned to the
chroma grid and large, so their middles are exact after any scaling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from media import ffmpeg

SIZE = (320, 180)
RAMP_NITS = (0.0, 0.1, 5.0, 20.0, 50.0, 100.0, 200.0, 400.0, 700.0, 1000.0)  # 32 pixels wide each
RAMP_BLOCK = 32
# Linear BT.709 RGB, relative to a 100-nit white: red, green, blue, yellow, a skin tone (64 pixels each).
PATCHES = ((0.5, 0.05, 0.05), (0.05, 0.5, 0.05), (0.05, 0.05, 0.5), (0.5, 0.5, 0.05), (0.6, 0.35, 0.25))
PATCH_BLOCK = 64
REFERENCE_WHITE_NITS = 100.0
BT709_TO_BT2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]])
HLG_PEAK_NITS = 1000.0  # the BT.2100 reference display the HLG source is graded for
HLG_GAMMA = 1.2


def pq_encode(nits: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084 inverse EOTF: absolute luminance (cd/m²) -> signal 0..1."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    y = np.clip(np.asarray(nits, dtype=np.float64) / 10000.0, 0, 1) ** m1
    return ((c1 + c2 * y) / (1 + c3 * y)) ** m2


def hlg_encode(display_rgb_nits: np.ndarray) -> np.ndarray:
    """BT.2100 HLG for a 1000-nit display: display light (RGB in cd/m², BT.2020) -> signal 0..1
    (inverse OOTF, then the OETF)."""
    rgb = np.clip(np.asarray(display_rgb_nits, dtype=np.float64) / HLG_PEAK_NITS, 0, 1)
    luminance = rgb @ np.array([0.2627, 0.6780, 0.0593])
    scene = rgb * np.where(luminance > 0, np.maximum(luminance, 1e-12) ** ((1 - HLG_GAMMA) / HLG_GAMMA), 0)[..., None]
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    return np.where(scene <= 1 / 12, np.sqrt(3 * scene), a * np.log(np.maximum(12 * scene - b, 1e-12)) + c)


def picture_nits() -> np.ndarray:
    """The picture as display light: (height, width, 3) BT.2020 RGB in cd/m²."""
    width, height = SIZE
    rgb = np.zeros((height, width, 3))
    for k, nits in enumerate(RAMP_NITS):
        rgb[: height // 2, k * RAMP_BLOCK:(k + 1) * RAMP_BLOCK] = nits
    for k, colour in enumerate(PATCHES):
        rgb[height // 2:, k * PATCH_BLOCK:(k + 1) * PATCH_BLOCK] = \
            BT709_TO_BT2020 @ np.array(colour) * REFERENCE_WHITE_NITS
    return rgb


def _yuv420p10(signal: np.ndarray) -> bytes:
    """BT.2020 non-constant-luminance Y'CbCr, limited range, 10 bit, 4:2:0 planes."""
    kr, kb = 0.2627, 0.0593
    r, g, b = signal[..., 0], signal[..., 1], signal[..., 2]
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb, cr = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))

    def half(plane):  # 2x2 average: the blocks are even, so it is exact inside them
        return plane.reshape(plane.shape[0] // 2, 2, plane.shape[1] // 2, 2).mean(axis=(1, 3))

    planes = [np.round(64 + 876 * y), np.round(512 + 896 * half(cb)), np.round(512 + 896 * half(cr))]
    return b"".join(np.clip(p, 0, 1023).astype("<u2").tobytes() for p in planes)


def make_hdr_source(path: Path, transfer: str = "pq", *, duration_s: float = 1.0, fps: int = 25,
                    max_cll: int | None = 1000, master_max_nits: int | None = 1000, tagged: bool = True) -> Path:
    """Write the ramp-and-patches picture as a PQ (``"pq"``) or HLG (``"hlg"``) HEVC 10-bit file with a
    sine tone; MaxCLL and the mastering display's peak as given (None: left out); ``tagged=False``: its
    colour not said at all."""
    path = Path(path)
    signal = pq_encode(picture_nits()) if transfer == "pq" else hlg_encode(picture_nits())
    raw = path.with_suffix(".yuv")
    raw.write_bytes(_yuv420p10(signal) * round(duration_s * fps))
    trc = "smpte2084" if transfer == "pq" else "arib-std-b67"
    params = "log-level=error" + (f":colorprim=bt2020:transfer={trc}:colormatrix=bt2020nc:range=limited"
                                  if tagged else "")
    if master_max_nits:
        params += (":master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
                   f"L({master_max_nits * 10000},1)")
    if max_cll:
        params += f":max-cll={max_cll},{max_cll // 4}"
    try:
        ffmpeg(["-f", "rawvideo", "-pix_fmt", "yuv420p10le", "-s", f"{SIZE[0]}x{SIZE[1]}", "-framerate", str(fps),
                "-i", str(raw), "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration_s}",
                "-map", "0:v", "-map", "1:a", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", params,
                "-pix_fmt", "yuv420p10le", "-c:a", "aac", "-t", str(duration_s), str(path)])
    finally:
        raw.unlink(missing_ok=True)
    return path


def _with_box_in_sample_entry(data: bytes, box: bytes, fourcc: bytes | None) -> bytes:
    """An MP4 (its moov after its mdat, as ffmpeg writes it) with ``box`` appended to the first video
    sample entry, the sizes of every box around it grown, and the entry's fourcc replaced by ``fourcc``."""
    path = (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd")
    containers, start, end, depth = [], 0, len(data), 0
    while depth < len(path):
        offset = start
        while offset < end:
            size, kind = int.from_bytes(data[offset:offset + 4], "big"), data[offset + 4:offset + 8]
            if kind == path[depth] and (kind != b"trak" or b"vide" in data[offset:offset + size]):
                break
            offset += size
        else:
            raise ValueError(f"no {path[depth].decode()} box")
        containers.append(offset)
        start, end, depth = offset + 8, offset + size, depth + 1
    entry = containers[-1] + 16  # stsd: header, version and flags, entry count; then the first entry
    entry_size = int.from_bytes(data[entry:entry + 4], "big")
    patched = bytearray(data[:entry + entry_size] + box + data[entry + entry_size:])
    for offset in [*containers, entry]:
        size = int.from_bytes(patched[offset:offset + 4], "big")
        patched[offset:offset + 4] = (size + len(box)).to_bytes(4, "big")
    if fourcc:
        patched[entry + 4:entry + 8] = fourcc
    return bytes(patched)


def make_dolby_vision(path: Path, profile: int, compatibility: int, transfer: str | None) -> Path:
    """A Dolby Vision MP4 as far as a demuxer can tell: the ramp-and-patches HEVC stream (PQ, HLG, or untagged
    when ``transfer`` is None) in a ``dvh1`` sample entry with a Dolby Vision configuration record
    (``dvcC``/``dvvC``) of ``profile`` and base-layer ``compatibility``. Its frames carry no RPU: this
    ffmpeg cannot write Dolby Vision (libx265 needs the RPU of every frame), so only the stream's
    description is Dolby Vision's."""
    plain = path.with_name("plain-" + path.name)
    # a profile 5 stream says nothing of its colour
    make_hdr_source(plain, transfer or "pq", max_cll=None, master_max_nits=None, tagged=transfer is not None)
    fields = (profile << 9) | (6 << 3) | (1 << 2) | 1  # level 6, RPU and base layer present, no enhancement layer
    record = bytes([1, 0]) + fields.to_bytes(2, "big") + bytes([compatibility << 4]) + bytes(19)
    box = (8 + len(record)).to_bytes(4, "big") + (b"dvcC" if profile <= 7 else b"dvvC") + record
    path.write_bytes(_with_box_in_sample_entry(plain.read_bytes(), box, b"dvh1"))
    plain.unlink()
    return path
