"""Test sources whose frames carry their own index, and readers that get the index back after rendering.

Each source frame is a grey picture with a magenta border and a 4x4 grid of big
black/white cells in its middle: 12 cells hold the frame index in binary and 4
hold a check value, so a misread cell shows up as an unreadable frame (-1)
rather than as a wrong index. The cells survive scaling, padding, cropping and
lossy compression. Audio tracks are sine tones (one frequency per track), with
optional short beeps at given frames for A/V sync checks.

Raw frames go through files (``run_ffmpeg`` keeps stdin closed and reads text).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from megacut.ffmpeg import run_ffmpeg

GRID = 4  # cells per side
INDEX_BITS = 12
BORDER_RGB = (255, 0, 255)
BACKGROUND = 128
GRID_SPAN = (0.2, 0.8)  # the grid's extent, as fractions of the picture's width and height
BEEP_S = 0.05


def check_value(index: int) -> int:
    return (bin(index).count("1") * 5 + 3) & 0xF


def code_bits(index: int) -> list[int]:
    value = index | (check_value(index) << INDEX_BITS)
    return [(value >> bit) & 1 for bit in range(GRID * GRID)]


def base_frame(width: int, height: int) -> np.ndarray:
    frame = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    border = max(3, round(0.06 * min(width, height)))
    frame[:border], frame[-border:] = BORDER_RGB, BORDER_RGB
    frame[:, :border], frame[:, -border:] = BORDER_RGB, BORDER_RGB
    return frame


def _cell_bounds(width: int, height: int, row: int, col: int) -> tuple[int, int, int, int]:
    lo, hi = GRID_SPAN
    cell_w, cell_h = (hi - lo) * width / GRID, (hi - lo) * height / GRID
    x0, y0 = lo * width + col * cell_w, lo * height + row * cell_h
    return round(x0), round(y0), round(x0 + cell_w), round(y0 + cell_h)


def draw_frame(base: np.ndarray, index: int) -> np.ndarray:
    frame = base.copy()
    height, width = frame.shape[:2]
    for bit, value in enumerate(code_bits(index)):
        x0, y0, x1, y1 = _cell_bounds(width, height, bit // GRID, bit % GRID)
        frame[y0:y1, x0:x1] = 255 if value else 0
    return frame


# ----------------------------------------------------------------- sources


@dataclass(frozen=True)
class FramecodeSource:
    path: Path
    frame_times_s: tuple[float, ...]  # each frame's time from the first video frame, as encoded
    width: int
    height: int

    def displayed_at(self, t_s: float, video_start_s: float = 0.0) -> int:
        """Index of the frame shown at content time ``t_s`` (the video's first frame at ``video_start_s``)."""
        times = np.asarray(self.frame_times_s) + video_start_s
        return max(0, int(np.searchsorted(times, t_s + 1e-6, side="right")) - 1)


def exact_times(frames: int, fps: Fraction, rates=None) -> tuple[list[Fraction], Fraction]:
    """Each frame's start time and the end of the last frame; ``rates`` as in make_framecode_video."""
    times, t = [], Fraction(0)
    plan = [(c, Fraction(r)) for c, r in (rates or ())] + [(frames, Fraction(fps))]
    for count, rate in plan:
        for _ in range(count):
            if len(times) == frames:
                return times, t
            times.append(t)
            t += 1 / rate
    return times, t


def _setpts_expr(frames: int, fps: Fraction, rates: Sequence[tuple[int, Fraction]]) -> str:
    """A piecewise-linear setpts expression giving frame N its time from exact_times."""
    times, _ = exact_times(frames, fps, rates)
    pieces, first = [], 0
    for count, rate in [(c, Fraction(r)) for c, r in rates] + [(frames, Fraction(fps))]:
        if first >= frames:
            break
        pieces.append((first, times[first], rate))
        first += count
    expr = ""
    for j in range(len(pieces) - 1, -1, -1):
        first, start, rate = pieces[j]
        term = f"({float(start)!r}+(N-{first})*{float(1 / rate)!r})"
        expr = term if not expr else f"if(lt(N,{pieces[j + 1][0]}),{term},{expr})"
    return f"settb=1/1000,setpts='({expr})/TB'"


def _audio_inputs(tracks: Sequence[Mapping], duration_s: float, beep_times_s: Sequence[float]) -> list[str]:
    args = []
    for track in tracks:
        freq = track.get("freq", 440)
        if beep_times_s:
            gate = "+".join(f"between(t,{t:.6f},{t + BEEP_S:.6f})" for t in beep_times_s)
            source = f"aevalsrc='0.5*sin(2*PI*{freq}*t)*({gate})':s=48000:d={duration_s:.6f}"
        else:
            source = f"sine=frequency={freq}:sample_rate=48000:duration={duration_s:.6f}"
        args += ["-f", "lavfi", "-i", source]
    return args


def make_framecode_video(
    path: str | Path,
    *,
    frames: int = 50,
    fps: Fraction | int | str = 25,
    size: tuple[int, int] = (160, 120),
    vcodec: str = "libx264",
    pix_fmt: str = "yuv420p",
    video_args: Sequence[str] = ("-preset", "ultrafast"),
    audio_tracks: Sequence[Mapping] = ({"freq": 440, "channels": 2},),
    acodec: str | None = None,
    rates: Sequence[tuple[int, Fraction]] | None = None,
    ts_offset_s: float = 0.0,
    beep_frames: Sequence[int] = (),
    extra_args: Sequence[str] = (),
) -> FramecodeSource:
    """Encode ``frames`` framecode frames (and one tone per audio track) into ``path``.

    ``rates``: a variable frame rate, e.g. ((20, 25), (20, 50)) = 20 frames at 25 fps then 20 at
    50 fps, then ``fps``. ``beep_frames``: the tones sound only for 50 ms from those frames' times.
    """
    path = Path(path)
    fps = Fraction(fps)
    width, height = size
    times, end = exact_times(frames, fps, rates)
    raw = path.with_name(path.name + ".rgb")
    base = base_frame(width, height)
    with open(raw, "wb") as handle:
        for index in range(frames):
            handle.write(draw_frame(base, index).tobytes())
    duration_s = float(end)
    args = ["-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
            "-framerate", str(fps), "-i", str(raw)]
    args += _audio_inputs(audio_tracks, duration_s, [float(times[i]) for i in beep_frames])
    args += ["-map", "0:v"] + [x for i in range(len(audio_tracks)) for x in ("-map", f"{i + 1}:a")]
    if rates:
        args += ["-vf", _setpts_expr(frames, fps, rates), "-fps_mode", "passthrough", "-enc_time_base:v", "1/1000"]
    args += ["-c:v", vcodec, *video_args, "-pix_fmt", pix_fmt]
    for i, track in enumerate(audio_tracks):
        args += [f"-ac:a:{i}", str(track.get("channels", 2))]
        if acodec:
            args += [f"-c:a:{i}", acodec]
    if ts_offset_s:
        args += ["-output_ts_offset", str(ts_offset_s)]
    args += [*extra_args, str(path)]
    try:
        run_ffmpeg(args)
    finally:
        raw.unlink(missing_ok=True)
    return FramecodeSource(path=path, frame_times_s=tuple(float(t) for t in times), width=width, height=height)


def source_maker(folder: Path, specs: Mapping[str, Mapping]):
    """``get(name) -> (FramecodeSource, SourceInfo)``: each source in ``specs`` made and probed on first use."""
    from megacut.plan.probe import probe_source

    made = {}

    def get(name: str):
        if name not in made:
            coded = make_framecode_video(folder / name, **specs[name])
            made[name] = (coded, probe_source(coded.path))
        return made[name]

    return get


# ----------------------------------------------------------------- readers


def decode_frames(path: str | Path, width: int, height: int, workdir: str | Path) -> np.ndarray:
    """All video frames of ``path`` as an (n, height, width, 3) uint8 array (decoded at their own size)."""
    raw = Path(workdir) / (Path(path).name + ".decoded.rgb")
    try:
        run_ffmpeg(["-y", "-loglevel", "error", "-i", str(path), "-map", "0:v:0", "-f", "rawvideo",
                    "-pix_fmt", "rgb24", "-fps_mode", "passthrough", str(raw)])
        data = np.fromfile(raw, dtype=np.uint8)
    finally:
        raw.unlink(missing_ok=True)
    return data.reshape(-1, height, width, 3)


def picture_region(src_w: int, src_h: int, out_w: int, out_h: int, fit: str = "pad") -> tuple[float, ...]:
    """(x, y, w, h) of the whole source picture in output pixels (beyond the frame for ``crop``)."""
    scale = min(out_w / src_w, out_h / src_h) if fit == "pad" else max(out_w / src_w, out_h / src_h)
    w, h = src_w * scale, src_h * scale
    return (out_w - w) / 2, (out_h - h) / 2, w, h


def locate_picture(frame: np.ndarray) -> tuple[float, ...] | None:
    """(x, y, w, h) of the magenta-bordered picture in a frame, or None if no border is seen."""
    rgb = frame.astype(np.int16)
    magenta = (rgb[..., 0] > 150) & (rgb[..., 2] > 150) & (rgb[..., 1] < 100)
    cols, rows = np.flatnonzero(magenta.any(axis=0)), np.flatnonzero(magenta.any(axis=1))
    if cols.size == 0 or rows.size == 0:
        return None
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1 - cols[0]), float(rows[-1] + 1 - rows[0])


def read_index(frame: np.ndarray, region: tuple[float, ...] | None = None) -> int:
    """The frame index shown in ``frame`` (-1 when unreadable), in the picture at ``region``."""
    region = region or locate_picture(frame)
    if region is None:
        return -1
    x, y, w, h = region
    luma = frame.astype(np.float32).mean(axis=2)
    lo, hi = GRID_SPAN
    cell_w, cell_h = (hi - lo) * w / GRID, (hi - lo) * h / GRID
    value = 0
    for bit in range(GRID * GRID):
        cx = x + lo * w + (bit % GRID + 0.5) * cell_w
        cy = y + lo * h + (bit // GRID + 0.5) * cell_h
        x0, x1 = int(cx - cell_w / 4), int(cx + cell_w / 4) + 1
        y0, y1 = int(cy - cell_h / 4), int(cy + cell_h / 4) + 1
        if x0 < 0 or y0 < 0 or x1 > frame.shape[1] or y1 > frame.shape[0]:
            return -1
        if luma[y0:y1, x0:x1].mean() > 128:
            value |= 1 << bit
    index = value & ((1 << INDEX_BITS) - 1)
    return index if value >> INDEX_BITS == check_value(index) else -1


def read_indices(frames: np.ndarray, region: tuple[float, ...] | None = None) -> list[int]:
    return [read_index(frame, region) for frame in frames]


def decode_audio(path: str | Path, workdir: str | Path, stream: str = "a:0") -> np.ndarray:
    """One audio stream of ``path`` as s16 48 kHz stereo: an (n, 2) int16 array."""
    raw = Path(workdir) / (Path(path).name + ".decoded.pcm")
    try:
        run_ffmpeg(["-y", "-loglevel", "error", "-i", str(path), "-map", f"0:{stream}", "-f", "s16le",
                    "-ac", "2", "-ar", "48000", str(raw)])
        data = np.fromfile(raw, dtype=np.int16)
    finally:
        raw.unlink(missing_ok=True)
    return data.reshape(-1, 2)


def dominant_frequency(samples: np.ndarray, sample_rate: int = 48000) -> float:
    """The strongest frequency (Hz) in a mono or stereo sample array."""
    mono = samples.astype(np.float64)
    if mono.ndim == 2:
        mono = mono.mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    spectrum[0] = 0
    return float(np.argmax(spectrum) * sample_rate / len(mono))


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


def first_loud_sample(samples: np.ndarray, threshold: float = 3000) -> int | None:
    """Index of the first sample whose absolute value exceeds ``threshold`` (a beep onset)."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)).max(axis=1) > threshold)
    return int(loud[0]) if loud.size else None
