"""Still pictures (section slides, title cards) encoded into segments in a fraction of a full encode.

A slide is one picture held for hundreds of frames. Piping every frame to
ffmpeg and letting x264 analyse each one as if it moved costs more than
real time (30 s for 30 s of 1080p at preset medium on one core); nearly all
of it is spent finding that nothing changed. Here:

- the picture goes to ffmpeg once, is converted to YUV once and repeated by
  the ``loop`` filter;
- with libx264 and libx265 the video is a run of closed GOPs of at most
  ``GOP_FRAMES`` frames (the encoders' own keyframe interval, so a still has
  a keyframe as often as a scene segment does). All GOPs of a still are the
  same picture, so at most two (lengths n and n + 1) are encoded and the
  segment lists them as often as needed, joined by stream copy with exact
  durations, like a part;
- x264 analyses motion with the cheapest search (``me=dia:subme=1:trellis=0``;
  a still has no motion), with the chroma QP offset the real settings'
  psy-RD would give. Those options change no header: the SPS and PPS are
  checked against those of the real settings (a one-frame encode, once per
  process and format) and, should they ever differ, the GOPs are encoded
  again with the real settings, so a still always joins with scene segments.

With libx265 the real settings encode the GOPs (a 30 s 1080p slide in about
10 s instead of 40 s on one core); other encoders get the single repeated
picture and one encode of all frames.
"""

from __future__ import annotations

import functools
import logging
import re
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from megacut.errors import FFmpegError
from megacut.ffmpeg import (
    concat_list,
    input_file,
    output_file,
    run_ffmpeg,
    timestamp_problem,
)
from megacut.mov import read_tracks
from megacut.plan.build import OutputFormat
from megacut.plan.settings import Settings
from megacut.render.colour import rgb_to_output
from megacut.render.scene_ffmpeg import (
    raw_rgb_input,
    segment_output_args,
    video_encoder_args,
    video_timescale,
)
from megacut.render.segment import check_cancel

log = logging.getLogger(__name__)

GOP_FRAMES = 250  # x264's and x265's default keyint, which scene segments use
REPEATABLE_CODECS = ("libx264", "libx265")  # each GOP file opens with an IDR frame: files join by copy
STILL_MOTION_SEARCH = {"me": "dia", "subme": "1", "trellis": "0"}


def gop_lengths(frames: int) -> list[int]:
    """``frames`` split into as few GOPs of at most ``GOP_FRAMES`` frames as possible, their lengths differing
    by at most one (longer ones first): 900 -> [225] * 4, 260 -> [130, 130], 251 -> [126, 125]."""
    count = -(-frames // GOP_FRAMES)
    base, extra = divmod(frames, count)
    return [base + 1] * extra + [base] * (count - extra)


def _encode_gops(picture: Path, lengths: list[int], fmt: OutputFormat, encoder: list[str], work_dir: Path,
                 cancel) -> dict[int, Path]:
    """The picture repeated and encoded once per distinct length in ``lengths`` (one after the other: two
    x264 encoders at once would double the memory a still needs)."""
    files = {}
    for n in sorted(set(lengths), reverse=True):
        files[n] = work_dir / f"gop{n}.mov"
        graph = f"[0:v]setsar=1,{rgb_to_output(fmt.pix_fmt)},loop={n - 1}:1[v]"
        run_ffmpeg(["-loglevel", "error", *raw_rgb_input(picture, fmt), "-filter_complex", graph,
                    "-map", "[v]", "-frames:v", str(n), *encoder, "-an",
                    "-video_track_timescale", str(video_timescale(fmt.fps)), *output_file(files[n], "-f", "mov")],
                   cancel=cancel)
    return files


def _x264_options(path: Path) -> dict[str, str]:
    """The options x264 reports in the stream it wrote (its SEI text: ``cabac=1 ref=3 ...``)."""
    with open(path, "rb") as handle:
        found = re.search(rb"x264 - core [^\x00]*? options: ([ -~]*)", handle.read(1 << 20))
    if found is None:
        return {}
    return dict(item.split("=", 1) for item in found[1].decode("ascii").split() if "=" in item)


@functools.lru_cache(maxsize=8)
def reference_headers(settings: Settings, fmt: OutputFormat) -> tuple[bytes, dict[str, str]]:
    """(decoder configuration, x264 options) of a one-frame encode with the real settings: what every
    segment in this format carries. Headers do not depend on the picture, so a black one does."""
    with tempfile.TemporaryDirectory(prefix="megacut-still-") as scratch:
        black = Path(scratch, "black.rgb")
        black.write_bytes(bytes(fmt.width * fmt.height * 3))
        files = _encode_gops(black, [1], fmt, video_encoder_args(settings, fmt.pix_fmt), Path(scratch), None)
        return read_tracks(files[1])[0].config, _x264_options(files[1])


def still_encoder_args(settings: Settings, fmt: OutputFormat, real: list[str]) -> tuple[list[str], bytes | None]:
    """(encoder arguments for a still, the decoder configuration they must produce), from ``real``, the
    settings' own arguments; (``real``, None) when those are used as they are."""
    if settings.video_codec != "libx264":
        return real, None
    config, options = reference_headers(settings, fmt)
    if int(options.get("subme", "1")) < 1:  # the real settings search even less: keep them
        return real, None
    fast = {**STILL_MOTION_SEARCH, "chroma-qp-offset": options.get("chroma_qp_offset", "0")}
    params = real[real.index("-x264-params") + 1]
    extra = ":".join(f"{key}={value}" for key, value in fast.items())
    args = list(real)
    args[real.index("-x264-params") + 1] = f"{params}:{extra}"
    return args, config


def encode_still(picture: np.ndarray, frames: int, fmt: OutputFormat, settings: Settings,
                 audio_inputs: list[str], audio_filter: str, output: Path, work_dir: Path, cancel=None) -> None:
    """Write ``output``: ``picture`` (H x W x 3 uint8) for ``frames`` frames, with the audio from
    ``audio_inputs`` through ``audio_filter`` (ending in ``[a]``), in the scene renderers' segment format."""
    if picture.shape != (fmt.height, fmt.width, 3) or picture.dtype != np.uint8:
        raise ValueError(f"the picture is {picture.shape} {picture.dtype}; expected "
                         f"({fmt.height}, {fmt.width}, 3) uint8")
    raw = work_dir / "still.rgb"
    raw.write_bytes(np.ascontiguousarray(picture).tobytes())
    real = video_encoder_args(settings, fmt.pix_fmt)
    encoder, expected = still_encoder_args(settings, fmt, real)
    lengths = gop_lengths(frames) if settings.video_codec in REPEATABLE_CODECS else [frames]
    files = _encode_gops(raw, lengths, fmt, encoder, work_dir, cancel)
    if expected is not None and any(read_tracks(path)[0].config != expected for path in files.values()):
        log.info("still picture: x264 wrote other headers with fast motion search; encoding with %s", " ".join(real))
        files = _encode_gops(raw, lengths, fmt, real, work_dir, cancel)
    check_cancel(cancel)
    listing = work_dir / "gops.ffconcat"
    listing.write_text(concat_list([(files[n], n) for n in lengths], Fraction(fmt.fps)),
                       encoding="utf-8")
    video_input = audio_inputs.count("-i")
    tag = encoder[encoder.index("-tag:v"):encoder.index("-tag:v") + 2] if "-tag:v" in encoder else []
    args = ["-loglevel", "warning", *audio_inputs, *input_file(listing, "-f", "concat", "-safe", "0"),
            "-filter_complex", audio_filter, "-map", f"{video_input}:v", "-map", "[a]", "-c:v", "copy", *tag,
            *segment_output_args(fmt, output)]
    completed = run_ffmpeg(args, cancel=cancel)
    broken = timestamp_problem(completed.stderr)
    if broken:
        raise FFmpegError(f"joining the still's GOPs produced broken timestamps ({broken})")
