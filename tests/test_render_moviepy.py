"""The moviepy scene backend: same segments as the ffmpeg backend, frame accuracy, audio track, effects, cleanup."""

from __future__ import annotations

import threading
from dataclasses import replace
from fractions import Fraction

import numpy as np
import psutil
import pytest
from framecode import (
    decode_audio,
    decode_frames,
    dominant_frequency,
    make_framecode_video,
    picture_region,
    read_indices,
    source_maker,
)
from scene_jobs import (
    FAST,
    FMT,
    assert_nothing_left,
    ffmpeg_children,
    make_job,
    make_scene,
    seconds_until_cancelled,
)

from megacut.errors import UsageError
from megacut.join.assemble import stream_signature
from megacut.plan.build import OutputFormat
from megacut.plan.probe import probe_source
from megacut.plan.settings import Settings
from megacut.render.clips import ClipCache
from megacut.render.scene_ffmpeg import render_scene_ffmpeg
from megacut.render.scene_moviepy import (
    fit_frame,
    fitted_size,
    load_effect,
    render_scene_moviepy,
)
from megacut.render.segment import segment_problem

TONES = ({"freq": 330, "channels": 2}, {"freq": 550, "channels": 2}, {"freq": 880, "channels": 2})
SOURCES = {
    "tones.mp4": dict(frames=60, fps=25, audio_tracks=TONES, video_args=("-preset", "veryfast", "-bf", "3")),
    "ntsc.mkv": dict(frames=45, fps=Fraction(30000, 1001), ts_offset_s=1.5, audio_tracks=({"freq": 1000},)),
    "short.mp4": dict(frames=30, fps=25, size=(90, 160)),
}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """source(name) -> (FramecodeSource, SourceInfo), made once per module on first use."""
    return source_maker(tmp_path_factory.mktemp("moviepy-sources"), SOURCES)


@pytest.fixture
def clips():
    cache = ClipCache(2)
    yield cache
    cache.clear()


def psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


# ------------------------------------------------------- same as the ffmpeg backend


@pytest.mark.parametrize("fit", ["pad", "crop"])
def test_both_backends_give_the_same_segment(tmp_path, source, clips, fit):
    coded, info = source("tones.mp4")
    track = info.audio_tracks[1]
    scene = make_scene(info, coded.frame_times_s[12], 30, audio=track, overlay_lines=("1943", "Thor · S01E02"),
                       fade_in_s=0.3, fade_out_s=0.3)
    settings = replace(FAST, fit=fit, overlay_duration_s=1.0)
    by_ffmpeg = render_scene_ffmpeg(make_job(tmp_path, scene, settings=settings, name="ffmpeg"))
    by_moviepy = render_scene_moviepy(make_job(tmp_path, scene, settings=settings, name="moviepy"), clips=clips)

    for result in (by_ffmpeg, by_moviepy):
        assert segment_problem(result.segment_path, 30, FMT) is None
    assert stream_signature(by_moviepy.segment_path) == stream_signature(by_ffmpeg.segment_path)
    reference = decode_frames(by_ffmpeg.segment_path, 320, 180, tmp_path)
    frames = decode_frames(by_moviepy.segment_path, 320, 180, tmp_path)
    assert len(frames) == len(reference) == 30
    assert psnr_db(frames, reference) >= 30
    audio, reference_audio = decode_audio(by_moviepy.segment_path, tmp_path), decode_audio(by_ffmpeg.segment_path,
                                                                                          tmp_path)
    assert len(audio) == FMT.samples_for(30)
    assert np.abs(audio.astype(np.int32) - reference_audio).max() <= 1  # the same audio graph
    assert by_moviepy.job_id == "scene-0" and by_moviepy.render_s > 0 and by_moviepy.cpu_s > 0


@pytest.mark.parametrize("name, fps, first", [("tones.mp4", Fraction(25), 37),
                                              ("ntsc.mkv", Fraction(30000, 1001), 11)])
def test_first_frame_is_the_requested_source_frame(tmp_path, source, clips, name, fps, first):
    coded, info = source(name)
    fmt = OutputFormat(width=320, height=180, fps=fps)
    start_s = coded.frame_times_s[first] + 0.25 / float(fps)  # a time inside the frame, as read off a player
    result = render_scene_moviepy(make_job(tmp_path, make_scene(info, start_s, 12, fmt), fmt), clips=clips)
    got = read_indices(decode_frames(result.segment_path, 320, 180, tmp_path),
                       picture_region(coded.width, coded.height, 320, 180))
    assert got == list(range(first, first + 12))


def test_a_scene_past_the_source_end_repeats_the_last_frame(tmp_path, source, clips):
    coded, info = source("short.mp4")  # 30 frames, portrait
    result = render_scene_moviepy(make_job(tmp_path, make_scene(info, coded.frame_times_s[25], 10)), clips=clips)
    frames = decode_frames(result.segment_path, 320, 180, tmp_path)
    assert read_indices(frames, picture_region(90, 160, 320, 180)) == [25, 26, 27, 28, 29] + [29] * 5
    bar = int(picture_region(90, 160, 320, 180)[0]) - 2
    assert frames[:, :, :bar].mean() < 20 and frames[:, :, -bar:].mean() < 20  # pillarboxed


@pytest.mark.parametrize("order, freq", [(0, 330), (2, 880)])
def test_the_chosen_audio_track_is_heard(tmp_path, source, clips, order, freq):
    coded, info = source("tones.mp4")
    scene = make_scene(info, 0.4, 25, audio=info.audio_tracks[order])
    result = render_scene_moviepy(make_job(tmp_path, scene), clips=clips)
    audio = decode_audio(result.segment_path, tmp_path)
    assert len(audio) == 48000
    assert abs(dominant_frequency(audio) - freq) < 5


def test_a_scene_without_audio_gets_silence(tmp_path, source, clips):
    coded, info = source("short.mp4")
    result = render_scene_moviepy(make_job(tmp_path, make_scene(info, 0.0, 7, audio=None)), clips=clips)
    audio = decode_audio(result.segment_path, tmp_path)
    assert len(audio) == FMT.samples_for(7) and not audio.any()


# --------------------------------------------------------------------- effects


def test_an_inverting_effect_shows_inverted_frames(tmp_path, source, clips):
    coded, info = source("tones.mp4")
    scene = make_scene(info, 0.2, 6)
    plain = render_scene_moviepy(make_job(tmp_path, scene, name="plain"), clips=clips)
    results = {spec: render_scene_moviepy(make_job(tmp_path, scene, settings=replace(FAST, effect=spec), name=spec),
                                          clips=clips)
               for spec in ("effects_for_tests:invert", "effects_for_tests:invert_in_place")}
    original = decode_frames(plain.segment_path, 320, 180, tmp_path).astype(np.int16)
    for result in results.values():
        inverted = decode_frames(result.segment_path, 320, 180, tmp_path).astype(np.int16)
        assert np.abs(inverted - (255 - original)).mean() < 3
        assert inverted[:, :, :20].mean() > 230  # the black bars became white


@pytest.mark.parametrize("spec, message", [
    ("effects_for_tests", "not module:function"),
    ("no_such_module_xyz:invert", "cannot import 'no_such_module_xyz'"),
    ("effects_for_tests:missing", "has no 'missing'"),
    ("effects_for_tests:NOT_CALLABLE", "not a function"),
])
def test_a_bad_effect_spec_is_a_usage_error_naming_it(spec, message):
    with pytest.raises(UsageError) as caught:
        load_effect(spec)
    assert spec.split(":")[0] in str(caught.value) and message in str(caught.value)


@pytest.mark.parametrize("effect", ["wrong_shape", "wrong_dtype"])
def test_an_effect_returning_a_wrong_frame_fails_cleanly(tmp_path, source, effect):
    coded, info = source("tones.mp4")
    spec = f"effects_for_tests:{effect}"
    job = make_job(tmp_path, make_scene(info, 0.0, 5), settings=replace(FAST, effect=spec))
    with pytest.raises(UsageError, match=f"--effect {spec} returned a .*; it must return a 180x320x3 uint8"):
        render_scene_moviepy(job)
    assert_nothing_left(job)
    assert ffmpeg_children(include_zombies=False) == []


def test_cancel_between_frames_stops_at_once_and_leaves_nothing(tmp_path, source):
    coded, info = source("tones.mp4")
    job = make_job(tmp_path, make_scene(info, 0.0, 200), settings=replace(FAST, effect="effects_for_tests:slow"))
    assert seconds_until_cancelled(lambda cancel: render_scene_moviepy(job, cancel=cancel), 0.4) < 3
    assert_nothing_left(job)
    assert ffmpeg_children(include_zombies=False) == []


# ------------------------------------------------------------------ resources


def test_the_clip_lru_bounds_reader_processes(tmp_path):
    """60 renders from 6 sources with an LRU of 2: never more than 2 readers; nothing left after clear()."""
    folder = tmp_path / "sources"
    folder.mkdir()
    infos = [probe_source(make_framecode_video(folder / f"s{i}.mp4", frames=4, size=(64, 48), audio_tracks=()).path)
             for i in range(6)]
    fmt = OutputFormat(width=64, height=36, fps=Fraction(25))
    settings = Settings(preset="ultrafast", encoder_threads=1)
    me = psutil.Process()
    fds, threads = me.num_fds(), threading.active_count()
    cache = ClipCache(2)
    try:
        for n in range(60):  # every render misses the cache: a clip is opened and one evicted (closed)
            scene = make_scene(infos[n % 6], 0.0, 1, fmt, audio=None)
            render_scene_moviepy(make_job(tmp_path, scene, fmt, settings, name=f"r{n}"), clips=cache)
            assert len(cache) <= 2
            assert len(ffmpeg_children(include_zombies=False)) <= len(cache)
    finally:
        cache.clear()
    assert ffmpeg_children(include_zombies=False) == []
    assert me.num_fds() <= fds and threading.active_count() <= threads
    assert not any((tmp_path / "work").iterdir())


# ------------------------------------------------------------------ geometry


@pytest.mark.parametrize("size, fit, expected", [
    ((160, 120), "pad", (240, 180)), ((160, 120), "crop", (320, 240)),
    ((90, 160), "pad", (102, 180)), ((1920, 800), "pad", (320, 134)), ((320, 180), "pad", (320, 180)),
])
def test_fitted_size_matches_the_ffmpeg_renderer(size, fit, expected):
    assert fitted_size(*size, FMT, fit) == expected


def test_fit_frame_centres_on_even_offsets():
    picture = np.full((180, 102, 3), 200, dtype=np.uint8)
    framed = fit_frame(picture, 320, 180)
    columns = np.flatnonzero(framed[90, :, 0])
    assert framed.shape == (180, 320, 3) and columns[0] == 108 and columns[-1] == 209  # (320-102)/2 = 109 -> 108
    cropped = fit_frame(np.arange(240 * 320 * 3, dtype=np.uint32).reshape(240, 320, 3).astype(np.uint8), 320, 180)
    assert cropped.shape == (180, 320, 3)
