"""Slides encoded as stills: every frame the picture, at an even pace, in GOPs that join with scene segments."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from framecode import decode_audio, decode_frames, dominant_frequency
from media import make_audio, make_video
from PIL import Image
from scene_jobs import make_job as make_scene_job
from scene_jobs import make_still_job
from scene_jobs import make_scene
from test_render_moviepy import psnr_db

from megacut.errors import Cancelled
from megacut.ffmpeg import ffmpeg_exe
from megacut.join.assemble import (
    AssemblyError,
    PartInput,
    assemble_part,
    stream_signature,
)
from megacut.mov import read_tracks
from megacut.plan.build import OutputFormat
from megacut.plan.probe import probe_source
from megacut.plan.sections import Section
from megacut.plan.settings import Settings
from megacut.render import still
from megacut.render.scene_ffmpeg import render_scene_ffmpeg
from megacut.render.jobs import StillJob
from megacut.render.section import render_still, section_picture
from megacut.render.segment import segment_problem

FMT = OutputFormat(width=96, height=54, fps=Fraction(25))
MEDIUM = Settings(encoder_threads=1)  # the default preset and crf: x264 searches motion in earnest


@pytest.mark.parametrize("frames", [1, 2, 249, 250, 251, 499, 500, 501, 900, 901, 7919])
def test_gops_are_as_few_as_possible_and_even(frames):
    lengths = still.gop_lengths(frames)
    assert sum(lengths) == frames
    assert max(lengths) <= still.GOP_FRAMES and len(lengths) == -(-frames // still.GOP_FRAMES)
    assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)


def test_gop_examples():
    assert still.gop_lengths(900) == [225] * 4
    assert still.gop_lengths(251) == [126, 125]


def slide(tmp_path: Path) -> Path:
    """A detailed picture: a gradient with coloured blocks and fine stripes."""
    y, x = np.mgrid[0:54, 0:96]
    rgb = np.stack([x * 2.5, y * 4.0, 255 - x * 2.0], axis=-1)
    rgb[10:30, 10:40] = (220, 30, 30)
    rgb[30:50, 60:90, 1] = 255 * ((x[30:50, 60:90] // 2) % 2)
    path = tmp_path / "slide.png"
    Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(path)
    return path


def section_job(tmp_path: Path, settings: Settings, frames: int, name: str, audio: Path | None = None) -> StillJob:
    section = Section(tmp_path / "s.json", 1, slide(tmp_path), None, audio, frames / 25, 0.0)
    return make_still_job(tmp_path, section, FMT, settings, name)


def frame_log(path: Path) -> list[tuple[float, bool]]:
    """(presentation time, keyframe?) of every decoded video frame."""
    run = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path), "-map", "0:v", "-vf", "showinfo", "-f", "null",
                          "-"], capture_output=True, text=True, check=True)
    return [(float(m[1]), m[2] == "1") for m in re.finditer(r"pts_time:(\S+).*?iskey:(\d)", run.stderr)]


def x264_options(path: Path) -> str:
    return re.search(rb"options: ([ -~]*)", path.read_bytes())[1].decode()


@pytest.fixture
def short_gops(monkeypatch):
    monkeypatch.setattr(still, "GOP_FRAMES", 20)


def test_a_long_still_shows_the_picture_on_every_frame_at_an_even_pace(tmp_path, short_gops):
    make_audio(tmp_path / "voice.wav", duration_s=2.5, freq=660)
    job = section_job(tmp_path, MEDIUM, 61, "long", tmp_path / "voice.wav")  # GOPs of 16, 15, 15 and 15 frames
    result = render_still(job)
    assert segment_problem(result.segment_path, 61, FMT) is None
    frames = decode_frames(result.segment_path, FMT.width, FMT.height, tmp_path)
    picture = section_picture(job.still, FMT, MEDIUM)
    assert len(frames) == 61
    assert min(psnr_db(frame, picture) for frame in frames) >= 30
    log = frame_log(result.segment_path)
    assert [round(t * 25, 3) for t, _ in log] == list(range(61))  # one frame every 1/25 s, none twice
    assert [n for n, (_, key) in enumerate(log) if key] == [0, 16, 31, 46]  # a keyframe opens every GOP
    assert "me=dia" in x264_options(result.segment_path)  # the motion search a still needs, not medium's
    audio = decode_audio(result.segment_path, tmp_path)
    assert len(audio) == FMT.samples_for(61) and abs(dominant_frequency(audio[:96000]) - 660) < 5


def test_a_still_joins_a_scene_by_stream_copy(tmp_path, short_gops):
    info = probe_source(make_video(tmp_path / "movie.mp4", duration_s=1.0, size="96x54"))
    scene_job = make_scene_job(tmp_path, make_scene(info, 0.0, 10, FMT), FMT, MEDIUM)
    scene = render_scene_ffmpeg(scene_job)
    job = section_job(tmp_path, MEDIUM, 45, "still")
    section = render_still(job)
    # Identical SPS and PPS: the joined part decodes the still with the headers of the scene before it.
    assert read_tracks(section.segment_path)[0].config == read_tracks(scene.segment_path)[0].config
    assert stream_signature(section.segment_path) == stream_signature(scene.segment_path)
    part = assemble_part([PartInput(scene.segment_path, 10, "scene"), PartInput(section.segment_path, 45, "slide"),
                          PartInput(scene.segment_path, 10, "again")], tmp_path / "part.mp4", FMT.fps, title="t")
    frames = decode_frames(part, FMT.width, FMT.height, tmp_path)
    picture = section_picture(job.still, FMT, MEDIUM)
    scene_frames = decode_frames(scene.segment_path, FMT.width, FMT.height, tmp_path)
    assert len(frames) == 65
    assert min(psnr_db(frame, picture) for frame in frames[10:55]) >= 30
    assert psnr_db(frames[:10], scene_frames) >= 40 and psnr_db(frames[55:], scene_frames) >= 40
    assert [round(t * 25, 3) for t, _ in frame_log(part)] == list(range(65))


def test_segments_with_other_headers_are_not_joined(tmp_path):
    medium = render_still(section_job(tmp_path, MEDIUM, 10, "medium"))
    ultrafast = render_still(section_job(tmp_path, replace(MEDIUM, preset="ultrafast"), 10, "ultrafast"))
    assert read_tracks(medium.segment_path)[0].config != read_tracks(ultrafast.segment_path)[0].config  # CAVLC
    with pytest.raises(AssemblyError, match="different stream parameters.*headers"):
        assemble_part([PartInput(medium.segment_path, 10, "a"), PartInput(ultrafast.segment_path, 10, "b")],
                      tmp_path / "part.mp4", FMT.fps, title="t")
    assert not list(tmp_path.glob("*part*.mp4"))


def test_headers_that_differ_fall_back_to_the_real_settings(tmp_path, monkeypatch, caplog):
    real = still.reference_headers(MEDIUM, FMT)
    monkeypatch.setattr(still, "reference_headers", lambda settings, fmt: (b"other headers", real[1]))
    caplog.set_level("INFO", logger="megacut.render.still")
    result = render_still(section_job(tmp_path, MEDIUM, 30, "fallback"))
    assert segment_problem(result.segment_path, 30, FMT) is None
    options = x264_options(result.segment_path)
    assert "me=hex" in options and "subme=7" in options  # preset medium's own analysis
    assert read_tracks(result.segment_path)[0].config == real[0]
    assert "x264 wrote other headers" in caplog.text


def test_the_still_looks_like_the_moviepy_reference(tmp_path):
    fast = render_still(section_job(tmp_path, MEDIUM, 30, "still"))
    reference = render_still(section_job(tmp_path, replace(MEDIUM, backend="moviepy"), 30, "moviepy"))
    a = decode_frames(fast.segment_path, FMT.width, FMT.height, tmp_path)
    b = decode_frames(reference.segment_path, FMT.width, FMT.height, tmp_path)
    assert len(a) == len(b) == 30 and psnr_db(a, b) >= 30
    assert "me=dia" not in x264_options(reference.segment_path)


def test_hevc_stills_repeat_their_gops_too_and_are_tagged_hvc1(tmp_path, short_gops):
    settings = Settings(video_codec="libx265", preset="ultrafast", encoder_threads=1)
    job = section_job(tmp_path, settings, 50, "hevc")  # GOPs of 17, 17 and 16 frames
    result = render_still(job)
    assert segment_problem(result.segment_path, 50, FMT) is None
    assert read_tracks(result.segment_path)[0].codec == "hvc1"
    frames = decode_frames(result.segment_path, FMT.width, FMT.height, tmp_path)
    picture = section_picture(job.still, FMT, settings)
    assert len(frames) == 50 and min(psnr_db(frame, picture) for frame in frames) >= 30
    log = frame_log(result.segment_path)
    assert [round(t * 25, 3) for t, _ in log] == list(range(50))
    assert [n for n, (_, key) in enumerate(log) if key] == [0, 17, 34]


def test_other_encoders_get_one_encode_of_every_frame(tmp_path, short_gops):
    settings = Settings(video_codec="mpeg4", encoder_threads=1)
    result = render_still(section_job(tmp_path, settings, 30, "mpeg4"))
    assert segment_problem(result.segment_path, 30, FMT) is None
    assert len(decode_frames(result.segment_path, FMT.width, FMT.height, tmp_path)) == 30


def test_a_cancelled_still_leaves_nothing(tmp_path):
    class Cancelled_:
        def is_set(self):
            return any(p.name.startswith("gop") for p in (tmp_path / "work" / "c").glob("*.mov"))

    job = section_job(tmp_path, MEDIUM, 30, "c")
    with pytest.raises(Cancelled):
        render_still(job, cancel=Cancelled_())
    assert not job.segment_path.exists() and not list((tmp_path / "segments").glob("*partial*"))
    assert not (tmp_path / "work" / "c").exists()
