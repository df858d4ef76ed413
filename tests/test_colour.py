"""Every segment is BT.709 and tagged so: SD and HD sources, tagged or not, keep their colours when joined."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from framecode import decode_frames
from media import ffmpeg
from scene_jobs import make_job, make_scene, make_still_job

from megacut.join.assemble import PartInput, assemble_part
from megacut.plan.build import OutputFormat
from megacut.plan.dynamic_range import DynamicRange
from megacut.plan.probe import _color_tags, probe_source
from megacut.plan.sections import Section
from megacut.plan.settings import Settings
from megacut.render.clips import ClipCache
from megacut.render.colour import reader_matrix, source_matrix
from megacut.render.scene_ffmpeg import render_scene_ffmpeg
from megacut.render.scene_moviepy import render_scene_moviepy
from megacut.render.section import render_still

FMT = OutputFormat(width=320, height=180, fps=Fraction(25))
FAST = Settings(preset="ultrafast", encoder_threads=1)
RED = (200, 30, 30)  # saturated: 601 and 709 decode it 15 levels apart
TOLERANCE = 5
# moviepy's reader converts to RGB with ffmpeg's fast rounding, the encoder back to YCbCr: a few levels more
# (unconverted, an untagged HD red came out 20 levels off)
MOVIEPY_TOLERANCE = 8
# (size, matrix the YCbCr values were made with, colour-space tag or None for an untagged file)
SOURCES = {"sd-untagged": ("640x480", "bt601", None), "sd-tagged": ("640x480", "bt601", "smpte170m"),
           "hd-untagged": ("1280x720", "bt709", None), "hd-tagged": ("1280x720", "bt709", "bt709")}


@pytest.mark.parametrize("description, expected", [
    ("yuv420p(tv, bt709, progressive)", ("bt709", "bt709")),
    ("yuvj420p(pc, bt470bg/unknown/unknown)", ("bt470bg", "")),
    ("yuv420p(tv, smpte170m/smpte170m/bt709, top first)", ("smpte170m", "bt709")),
    ("yuv420p(progressive)", ("", "")), ("yuv420p(tv, progressive, left)", ("", "")),
    ("yuv420p10le(tv, bt2020nc/bt2020/smpte2084)", ("bt2020nc", "smpte2084")), ("yuv420p", ("", "")),
    ("yuv420p(tv, bt709, progressive), 1920x1080", ("bt709", "bt709"))])
def test_the_colour_tags_are_read_from_ffmpegs_description(description, expected):
    assert _color_tags(["h264 (High)", description]) == expected


def test_a_pq_or_hlg_source_is_hdr(sources):
    assert not sources["hd-tagged"].hdr and not sources["sd-untagged"].hdr
    assert replace(sources["hd-tagged"], dynamic_range=DynamicRange("HDR10", "pq")).hdr
    assert replace(sources["hd-tagged"], dynamic_range=DynamicRange("HLG", "hlg")).hdr


def red_source(folder: Path, name: str) -> Path:
    size, matrix, tag = SOURCES[name]
    tags = f"colorspace={tag}:color_primaries={tag}:color_trc={tag}" if tag else \
        "colorspace=unknown:color_primaries=unknown:color_trc=unknown"
    path = folder / f"{name}.mp4"
    ffmpeg(["-y", "-f", "lavfi", "-i", f"color=c=0x{bytes(RED).hex()}:s={size}:r=25:d=0.4", "-vf",
            f"scale=out_color_matrix={matrix}:out_range=tv,format=yuv420p,setparams={tags}:range=tv",
            "-c:v", "libx264", "-preset", "ultrafast", "-an", str(path)])
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("colour-sources")
    infos = {name: probe_source(red_source(folder, name)) for name in SOURCES}
    for name, info in infos.items():  # the test means nothing if the files are not tagged as intended
        assert info.color_matrix == (SOURCES[name][2] or ""), (name, info.color_matrix)
    return infos


def centre_rgb(path: Path, tmp_path: Path, fmt: OutputFormat = FMT) -> np.ndarray:
    frames = decode_frames(path, fmt.width, fmt.height, tmp_path)
    y, x = fmt.height // 2, fmt.width // 2
    return frames[:, y - 8:y + 8, x - 8:x + 8].mean(axis=(0, 1, 2))


def tagged_matrix(path: Path) -> str:
    return probe_source(path).color_matrix


def test_untagged_sources_are_guessed_as_players_guess(sources):
    assert source_matrix(sources["sd-untagged"]) == "bt601" and source_matrix(sources["hd-untagged"]) == "bt709"
    assert source_matrix(sources["sd-tagged"]) == "smpte170m"


@pytest.mark.parametrize("name", list(SOURCES))
def test_every_source_keeps_its_colour_in_a_bt709_segment(tmp_path, sources, name):
    job = make_job(tmp_path, make_scene(sources[name], 0.0, 5, FMT), FMT, FAST)
    segment = render_scene_ffmpeg(job).segment_path
    assert tagged_matrix(segment) == "bt709"
    assert np.abs(centre_rgb(segment, tmp_path) - RED).max() <= TOLERANCE


def test_a_part_of_sd_and_hd_scenes_shows_both_in_their_colours(tmp_path, sources):
    segments = []
    for n, name in enumerate(["sd-tagged", "hd-untagged", "sd-untagged", "hd-tagged"]):
        job = make_job(tmp_path, make_scene(sources[name], 0.0, 5, FMT), FMT, FAST, name=f"s{n}")
        segments.append(PartInput(render_scene_ffmpeg(job).segment_path, 5, name))
    part = assemble_part(segments, tmp_path / "part.mp4", FMT.fps, title="colours")
    frames = decode_frames(part, FMT.width, FMT.height, tmp_path)
    assert len(frames) == 20
    centre = frames[:, 82:98, 152:168].reshape(4, 5, -1, 3).mean(axis=(1, 2))  # per scene
    assert np.abs(centre - RED).max() <= TOLERANCE, centre


@pytest.mark.parametrize("name", ["hd-untagged", "sd-untagged", "hd-tagged"])
def test_the_moviepy_backend_agrees_on_colour(tmp_path, sources, name):
    clips = ClipCache(2)
    try:
        job = make_job(tmp_path, make_scene(sources[name], 0.0, 5, FMT), FMT, replace(FAST, backend="moviepy"))
        segment = render_scene_moviepy(job, clips=clips).segment_path
    finally:
        clips.clear()
    assert tagged_matrix(segment) == "bt709"
    assert np.abs(centre_rgb(segment, tmp_path) - RED).max() <= MOVIEPY_TOLERANCE


def test_moviepy_frames_of_an_untagged_hd_source_are_encoded_back_with_bt601(sources):
    assert reader_matrix(sources["hd-untagged"]) == "bt601"  # what moviepy's reader decoded them with
    assert {reader_matrix(sources[n]) for n in ("sd-untagged", "sd-tagged", "hd-tagged")} == {"bt709"}


def test_a_slide_is_bt709_and_keeps_its_colour(tmp_path):
    from PIL import Image

    Image.new("RGB", (64, 36), RED).save(tmp_path / "red.png")
    section = Section(tmp_path / "s.json", 1, tmp_path / "red.png", None, None, 0.2, 0.0)
    for backend in ("ffmpeg", "moviepy"):
        job = make_still_job(tmp_path, section, FMT, replace(FAST, backend=backend), backend)
        segment = render_still(job).segment_path
        assert tagged_matrix(segment) == "bt709"
        assert np.abs(centre_rgb(segment, tmp_path) - RED).max() <= TOLERANCE


def test_probe_reads_an_hdr10_tag(tmp_path):
    path = tmp_path / "hdr10.mp4"
    ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=0.2", "-vf",
            "format=yuv420p10le,setparams=colorspace=bt2020nc:color_primaries=bt2020:color_trc=smpte2084",
            "-c:v", "libx264", "-preset", "ultrafast", "-an", str(path)])
    info = probe_source(path)
    assert (info.color_matrix, info.color_transfer, info.hdr) == ("bt2020nc", "smpte2084", True)
