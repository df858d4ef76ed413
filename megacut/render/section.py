"""Stills: a slide or a title card (image, text, narration) rendered into a joinable segment.

The picture is drawn once with Pillow (the image fitted by padding; text alone
a title card centred on black; text with an image a caption band at the
bottom; fonts found like the overlay's, so any script renders) and encoded
as a still (``still.py``: the picture sent once, x264's motion search cut to
what a picture that never moves needs, GOPs repeated by stream copy). With
``--backend moviepy`` a moviepy ``ImageClip`` draws every frame instead, the
reference renderer; composing per frame with CompositeVideoClip would only
redo the same blend hundreds of times.

Audio goes through pydub: the narration is decoded by ffmpeg (any format it
reads; ``run_ffmpeg``, as pydub itself would need ffprobe) to 48 kHz stereo
s16, levelled like the scenes' sources (one gain to ``--loudness``, EBU R128, the true peak kept at or under
-1 dBTP: render/loudness.py) and padded with silence, or cut, to exactly the
video's sample count. The segment meets the scene renderers' contract, so
sections and scenes join by stream copy.
"""

from __future__ import annotations

import time
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from megacut.ffmpeg import input_file, output_file, run_ffmpeg
from megacut.plan.build import OutputFormat
from megacut.plan.fonts import font_runs, load_font, primary_font
from megacut.plan.settings import Settings
from megacut.plan.settings import DEFAULT_LOUDNESS_LUFS
from megacut.render.jobs import JobResult, Still, StillJob
from megacut.render.loudness import measure_file
from megacut.render.pipe import write_segment
from megacut.render.scene_ffmpeg import pcm_format
from megacut.render.segment import (
    check_cancel,
    job_result,
    process_cpu_s,
    writing_segment,
)
from megacut.render.still import encode_still

CUT_FADE_MS = 20  # fade-out where a too-long narration is cut, so it ends without a click
TITLE_SIZE_PER_HEIGHT = 0.075
CAPTION_SIZE_PER_HEIGHT = 0.045
TEXT_RGB = (255, 255, 255)
CAPTION_BAND_RGBA = (0, 0, 0, 170)
LINE_GAP = 0.25  # between lines, as a fraction of the font size


# ------------------------------------------------------------------ picture


def fit_image(path: Path, width: int, height: int) -> Image.Image:
    """The image (EXIF orientation applied, transparency over black) scaled to fit width x height,
    centred between black bars."""
    with Image.open(path) as source:
        source.draft("RGB", (max(width, height), max(width, height)))  # JPEG: decode at a reduced scale
        image = ImageOps.exif_transpose(source)
        image = image.convert("RGBA")
    flat = Image.new("RGBA", image.size, (0, 0, 0, 255))
    flat.alpha_composite(image)
    scale = min(width / image.width, height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    fitted = flat.convert("RGB").resize(size, Image.LANCZOS)
    canvas = Image.new("RGB", (width, height), (0, 0, 0))
    canvas.paste(fitted, ((width - size[0]) // 2, (height - size[1]) // 2))
    return canvas


def _line_width(text: str, primary: str, size: int) -> float:
    return sum(load_font(spec, size).getlength(run) for run, spec in font_runs(text, primary))


def wrap_text(text: str, primary: str, size: int, max_width: float) -> list[str]:
    """``text`` broken into lines no wider than ``max_width``: at spaces, inside a word only if it must."""
    def fits(line: str) -> bool:
        return _line_width(line, primary, size) <= max_width

    lines = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            if line and not fits(f"{line} {word}"):
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
            while len(line) > 1 and not fits(line):  # wider than the frame (or CJK, which has no spaces)
                cut = max([i for i in range(1, len(line)) if fits(line[:i])], default=1)
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return lines


def _draw_line(draw: ImageDraw.ImageDraw, text: str, primary: str, size: int, x: float, baseline: float) -> None:
    for run, spec in font_runs(text, primary):
        font = load_font(spec, size)
        if isinstance(font, ImageFont.FreeTypeFont):
            draw.text((x, baseline), run, font=font, fill=TEXT_RGB, anchor="ls")
        else:  # Pillow's bitmap font has no anchors: draw from the top
            draw.text((x, baseline - size), run, font=font, fill=TEXT_RGB)
        x += font.getlength(run)


def draw_text_block(image: Image.Image, lines: list[str], settings: Settings, size: int,
                    centre_y: float) -> tuple[float, float]:
    """Draw ``lines`` (from ``wrap_text``) centred in white around ``centre_y``; returns the block's
    (top, bottom)."""
    primary = primary_font(settings)
    step = size * (1 + LINE_GAP)
    top = centre_y - (step * len(lines) - size * LINE_GAP) / 2
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        x = (image.width - _line_width(line, primary, size)) / 2
        _draw_line(draw, line, primary, size, x, top + number * step + size * 0.8)
    return top, top + step * len(lines) - size * LINE_GAP


def section_picture(section: Still, fmt: OutputFormat, settings: Settings) -> np.ndarray:
    """The slide as an H x W x 3 uint8 frame."""
    width, height = fmt.width, fmt.height
    if section.image is not None:
        picture = fit_image(section.image, width, height)
    else:
        picture = Image.new("RGB", (width, height), (0, 0, 0))
    if section.text and section.image is None:
        size = settings.font_size or max(10, round(height * TITLE_SIZE_PER_HEIGHT))
        lines = wrap_text(section.text, primary_font(settings), size, width * 0.85)
        draw_text_block(picture, lines, settings, size, height / 2)
    elif section.text:
        picture = _with_caption(picture, section.text, settings)
    return np.asarray(picture, dtype=np.uint8)


def _with_caption(picture: Image.Image, text: str, settings: Settings) -> Image.Image:
    """A dark band across the bottom with the text centred in it."""
    width, height = picture.size
    size = settings.font_size or max(8, round(height * CAPTION_SIZE_PER_HEIGHT))
    lines = wrap_text(text, primary_font(settings), size, width * 0.9)
    band_h = min(height, round(size * (1 + LINE_GAP) * len(lines) + size))
    band = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(band).rectangle((0, height - band_h, width, height), fill=CAPTION_BAND_RGBA)
    picture = Image.alpha_composite(picture.convert("RGBA"), band).convert("RGB")
    draw_text_block(picture, lines, settings, size, height - band_h / 2)
    return picture


# -------------------------------------------------------------------- audio


def _audio_segment(data: bytes, fmt: OutputFormat):
    with warnings.catch_warnings():  # pydub warns at import (no ffmpeg on PATH: unused here; audioop on 3.12)
        warnings.simplefilter("ignore")
        from pydub import AudioSegment
    return AudioSegment(data=data, sample_width=2, frame_rate=fmt.sample_rate, channels=fmt.channels)


def decode_narration(path: Path, fmt: OutputFormat, work_dir: Path, cancel=None):
    """The file's first audio stream as a pydub AudioSegment, 48 kHz stereo s16."""
    raw = work_dir / "narration.pcm"
    run_ffmpeg(["-loglevel", "error", *input_file(path), "-map", "0:a:0", "-vn", "-ac", str(fmt.channels),
                "-ar", str(fmt.sample_rate), "-c:a", "pcm_s16le", *output_file(raw, "-f", "s16le")], cancel=cancel)
    return _audio_segment(raw.read_bytes(), fmt)


def section_pcm(section: Still, fmt: OutputFormat, frames: int, work_dir: Path, cancel=None,
                target_lufs: float | None = DEFAULT_LOUDNESS_LUFS) -> Path:
    """Raw s16le PCM of exactly ``fmt.samples_for(frames)`` samples: the narration, or silence. The narration
    is levelled like a scene's source (render/loudness.py): one gain to ``target_lufs``, its true peak kept at
    or under -1 dBTP; None keeps its level."""
    samples = fmt.samples_for(frames)
    frame_bytes = 2 * fmt.channels
    data = b""
    if section.audio is not None:
        narration = decode_narration(section.audio, fmt, work_dir, cancel)
        if target_lufs is not None:
            narration = narration.apply_gain(measure_file(section.audio, fmt.channels, cancel).gain_db(target_lufs))
        if len(narration.raw_data) > samples * frame_bytes:
            narration = narration[: samples * 1000 / fmt.sample_rate].fade_out(CUT_FADE_MS)
        data = narration.raw_data[: samples * frame_bytes]
    path = work_dir / "section.pcm"
    path.write_bytes(data + bytes(samples * frame_bytes - len(data)))
    return path


# ---------------------------------------------------------------- the job


def render_still(job: StillJob, cancel=None, clips=None) -> JobResult:
    """Render one slide or title card to ``job.segment_path`` (complete or absent, never partial).

    The picture is encoded as a still (``still.encode_still``); with ``--backend
    moviepy`` every frame is drawn by a moviepy ``ImageClip`` and piped to
    ffmpeg instead, the reference the still encoder is tested against. Stills
    need no source cache (``clips``). Raises FFmpegError or Cancelled; the
    temporary file and ``job.work_dir`` are removed either way.
    """
    del clips
    check_cancel(cancel)
    started_s, cpu_before_s = time.monotonic(), process_cpu_s()
    fmt, frames = job.format, job.frames
    with writing_segment(job.name, job.segment_path, job.work_dir, frames, fmt) as temp:
        pcm = section_pcm(job.still, fmt, frames, job.work_dir, cancel, job.settings.loudness)
        audio_inputs = input_file(pcm, "-f", "s16le", "-ar", str(fmt.sample_rate), "-ac", str(fmt.channels))
        audio_filter = f"[0:a]{pcm_format(fmt)}[a]"
        picture = section_picture(job.still, fmt, job.settings)
        if job.settings.backend == "moviepy":
            _write_with_moviepy(picture, frames, fmt, job.settings, audio_inputs, audio_filter, temp, job.work_dir,
                                cancel)
        else:
            encode_still(picture, frames, fmt, job.settings, audio_inputs, audio_filter, temp, job.work_dir, cancel)
    return job_result(job, started_s, cpu_before_s)


def _write_with_moviepy(picture: np.ndarray, frames: int, fmt: OutputFormat, settings: Settings,
                        audio_inputs: list[str], audio_filter: str, output: Path, work_dir: Path, cancel) -> None:
    from moviepy import ImageClip

    clip = ImageClip(picture, duration=fmt.seconds_for(frames))
    try:
        write_segment(lambda k: clip.get_frame(float(Fraction(k) / fmt.fps)), frames, fmt, settings, audio_inputs,
                      audio_filter, output, work_dir, cancel)
    finally:
        clip.close()
