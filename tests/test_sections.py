"""Narrated-slide specs and their rendering: validation messages, durations, pictures, loudness, cleanup."""

from __future__ import annotations

import json
import os
import threading
import wave
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import psutil
import pytest
from framecode import decode_audio, decode_frames, dominant_frequency, rms
from media import make_audio, make_video
from PIL import Image
from scene_jobs import make_job as make_scene_job
from scene_jobs import make_still_job
from scene_jobs import make_scene

from megacut.errors import InputError
from megacut.ffmpeg import run_ffmpeg
from megacut.join.assemble import stream_signature
from megacut.plan import sections as sections_mod
from megacut.plan.build import OutputFormat
from megacut.plan.probe import probe_source
from megacut.plan.sections import (
    DEFAULT_STILL_S,
    Section,
    load_section_spec,
    load_section_specs,
    spec_format,
)
from megacut.plan.settings import Settings
from megacut.render.loudness import parse_summary
from megacut.render.scene_ffmpeg import render_scene_ffmpeg
from megacut.render.jobs import StillJob
from megacut.render.section import (
    render_still,
    section_pcm,
    section_picture,
)
from megacut.render.segment import segment_problem
from megacut.run.groups import section_groups

FAST = Settings(preset="ultrafast", encoder_threads=1)
FMT = OutputFormat(width=160, height=90, fps=Fraction(25))
SHARED_MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def write_spec(folder: Path, sections, name: str = "intro.json", **top) -> Path:
    data = {"output": name.replace(".json", ".mp4"), "resolution": "160x90", "fps": 25, **top, "sections": sections}
    path = folder / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_tone(path: Path, *, duration_s: float, amplitude: float, freq: float = 440, rate: int = 44100) -> Path:
    """A mono 16-bit WAV sine at ``amplitude`` (1.0 = full scale)."""
    t = np.arange(int(duration_s * rate)) / rate
    samples = (amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())
    return path


def write_image(path: Path, size=(120, 90), colour=(200, 40, 40)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


def problems_of(*paths) -> str:
    with pytest.raises(InputError) as caught:
        load_section_specs(paths)
    return str(caught.value)


def job_for(tmp_path: Path, section: Section, fmt: OutputFormat = FMT, name: str = "s") -> StillJob:
    return make_still_job(tmp_path, section, fmt, FAST, name)


def render(tmp_path: Path, section: Section, fmt: OutputFormat = FMT, name: str = "s"):
    job = job_for(tmp_path, section, fmt, name)
    result = render_still(job)
    assert segment_problem(result.segment_path, job.frames, fmt) is None
    frames = decode_frames(result.segment_path, fmt.width, fmt.height, tmp_path)
    return job, frames, decode_audio(result.segment_path, tmp_path)


# ------------------------------------------------------------------- lengths


def test_a_section_lasts_its_audio_plus_padding(tmp_path):
    make_audio(tmp_path / "voice.wav", duration_s=1.0, freq=440)
    spec = load_section_spec(write_spec(tmp_path, [{"text": "One", "audio": "voice.wav"}]))
    section = spec.sections[0]
    assert abs(section.duration_s - 1.5) < 0.005 and section.padding_s == 0.5
    job, frames, audio = render(tmp_path, section)
    assert abs(len(frames) - 1.5 * 25) <= 1 and len(frames) == job.frames
    assert len(audio) == FMT.samples_for(len(frames))
    assert rms(audio[:48000]) > 1000 and not audio[49000:].any()  # the narration, then silent padding
    assert abs(dominant_frequency(audio[:48000]) - 440) < 5


def test_duration_sets_the_length_and_narration_shorter_than_it_is_followed_by_silence(tmp_path):
    make_audio(tmp_path / "voice.wav", duration_s=0.4)
    spec = load_section_spec(write_spec(tmp_path, [{"text": "Long", "audio": "voice.wav", "duration": 1.0}]))
    assert spec.sections[0].duration_s == 1.0
    job, frames, audio = render(tmp_path, spec.sections[0])
    assert len(frames) == 25 and rms(audio[:19000]) > 1000 and not audio[20000:].any()


def test_a_duration_shorter_than_the_narration_is_an_error_naming_both_lengths(tmp_path):
    make_audio(tmp_path / "long.wav", duration_s=2.0)
    path = write_spec(tmp_path, [{"text": "Fits", "audio": "long.wav", "duration": 2.0},
                                 {"text": "Cut", "audio": "long.wav", "duration": 0.6}])
    message = problems_of(path)
    assert (f"{path}: section 2: the narration 'long.wav' lasts 2.00 s, longer than its \"duration\" of 0.6 s: "
            "it would be cut; raise \"duration\" to at least 2.00 or remove it (the section then lasts the "
            "narration plus \"padding\")") in message.splitlines()
    assert "section 1" not in message


def test_padding_is_an_error_where_it_would_be_ignored(tmp_path):
    make_audio(tmp_path / "voice.wav", duration_s=0.4)
    path = write_spec(tmp_path, [{"text": "Both", "audio": "voice.wav", "duration": 2, "padding": 1},
                                 {"text": "Silent", "padding": 1},
                                 {"text": "Fine", "audio": "voice.wav", "padding": 1}])
    lines = problems_of(path).splitlines()
    assert (f'{path}: section 1: "padding" and "duration" are both given, and a section with "duration" lasts '
            'exactly that; remove one of them') in lines
    assert (f'{path}: section 2: "padding" is the silence after the narration, and this section has no "audio"; '
            'give "duration" instead') in lines
    assert len(lines) == 3


def test_the_renderer_still_cuts_narration_longer_than_the_section_with_a_fade(tmp_path):
    audio_path = make_audio(tmp_path / "long.wav", duration_s=2.0)  # a spec cannot ask for this: a safety net
    section = Section(tmp_path / "intro.json", 1, None, "Cut", audio_path.absolute(), 0.6, 0.0)
    job, frames, audio = render(tmp_path, section)
    assert len(frames) == 15 and len(audio) == 28800
    assert rms(audio[:20000]) > 1000 and rms(audio[-50:]) < rms(audio[:20000]) / 10  # faded at the cut


def test_no_audio_gives_silence_of_the_right_length(tmp_path):
    write_image(tmp_path / "slide.png")
    spec = load_section_spec(write_spec(tmp_path, [{"image": "slide.png"}, {"text": "Short", "duration": 0.44}]))
    assert spec.sections[0].duration_s == DEFAULT_STILL_S
    job, frames, audio = render(tmp_path, spec.sections[1])
    assert len(frames) == 11 and len(audio) == FMT.samples_for(11) == 21120
    assert not audio.any()


# ------------------------------------------------------------------- pictures


def card(text: str, fmt: OutputFormat = FMT) -> np.ndarray:
    return section_picture(Section(Path("/x/intro.json"), 1, None, text, None, 1.0, 0.0), fmt, FAST)


def test_a_title_card_shows_its_text_centred_on_black():
    picture = card("Chapter 2")
    assert picture.shape == (90, 160, 3)
    middle = picture[30:60, 20:140]
    assert middle.max() > 200 and (middle > 100).mean() > 0.02  # white text
    assert picture[:15].max() == 0 and picture[-15:].max() == 0 and picture[:, :10].max() == 0  # black around it
    assert np.abs(card("Chapter 3").astype(int) - picture).sum() > 0
    assert np.abs(card("Something else entirely").astype(int) - picture).mean() > 1


def test_long_text_wraps_inside_the_frame():
    picture = card("a very long title that cannot possibly fit on one line of a small frame")
    columns = np.flatnonzero(picture.max(axis=(0, 2)) > 100)
    rows = np.flatnonzero(picture.max(axis=(1, 2)) > 100)
    assert columns[0] > 0 and columns[-1] < 159 and rows[-1] - rows[0] > 15  # several lines, within the width


def test_an_image_fills_the_frame_padded(tmp_path):
    image = write_image(tmp_path / "four_three.png", size=(400, 300), colour=(200, 40, 40))
    section = Section(tmp_path / "intro.json", 1, image, None, None, 0.2, 0.0)
    picture = section_picture(section, FMT, FAST)
    # 4:3 in 160x90: 120x90 in the middle, 20-pixel black bars
    assert picture[:, :18].max() == 0 and picture[:, -18:].max() == 0
    assert np.abs(picture[:, 22:138].reshape(-1, 3).astype(int) - (200, 40, 40)).max() <= 2
    _, frames, _ = render(tmp_path, section)
    assert len(frames) == 5
    assert frames[:, :, :16].mean() < 5 and frames[:, :, -16:].mean() < 5
    centre = frames[:, 20:70, 40:120].reshape(-1, 3).mean(axis=0)
    assert np.abs(centre - (200, 40, 40)).max() < 12


def test_a_caption_is_a_band_at_the_bottom(tmp_path):
    image = write_image(tmp_path / "wide.png", size=(320, 180), colour=(40, 160, 40))
    plain = section_picture(Section(tmp_path / "s.json", 1, image, None, None, 1.0, 0.0), FMT, FAST)
    captioned = section_picture(Section(tmp_path / "s.json", 1, image, "caption", None, 1.0, 0.0), FMT, FAST)
    changed_rows = np.flatnonzero(np.abs(captioned.astype(int) - plain).max(axis=(1, 2)) > 10)
    assert changed_rows.size and changed_rows[0] > 55 and changed_rows[-1] == 89  # only the bottom band
    assert captioned[60:, :, :].max() > 200  # white text in it


# ------------------------------------------------------------------- loudness


@pytest.mark.parametrize("target", [-27.0, -20.0])
def test_narrations_at_different_volumes_come_out_at_the_scenes_loudness(tmp_path, target):
    loud = write_tone(tmp_path / "loud.wav", duration_s=1.0, amplitude=0.5)
    quiet = write_tone(tmp_path / "quiet.wav", duration_s=1.0, amplitude=0.01)  # 34 dB quieter
    for path in (loud, quiet):
        section = Section(tmp_path / "s.json", 1, None, "x", path, 1.0, 0.0)
        work = tmp_path / path.stem
        work.mkdir()
        pcm = section_pcm(section, FMT, 25, work, target_lufs=target)
        assert pcm.stat().st_size == 4 * FMT.samples_for(25)
        measured = run_ffmpeg(["-nostats", "-f", "s16le", "-ar", "48000", "-ac", "2", "-i", str(pcm),
                               "-af", "ebur128=peak=true:framelog=quiet", "-f", "null", "-"]).stderr
        loudness = parse_summary(measured)
        assert loudness.integrated_lufs == pytest.approx(target, abs=0.5) and loudness.true_peak_dbtp <= -1.0


# ------------------------------------------------------------------ the spec


def test_title_becomes_a_first_card_and_paths_are_relative_to_the_spec(tmp_path, monkeypatch):
    (tmp_path / "deck" / "slides").mkdir(parents=True)
    write_image(tmp_path / "deck" / "slides" / "01.png")
    path = write_spec(tmp_path / "deck", [{"image": "slides/01.png", "text": "caption"}],
                      title="Welcome")
    monkeypatch.chdir(tmp_path)
    spec = load_section_spec(Path("deck") / "intro.json")
    assert str(spec.output) == "intro.mp4" and spec.resolution == (160, 90) and spec.fps == 25
    title, first = spec.sections
    assert (title.index, title.text, title.image, title.name) == (0, "Welcome", None, "intro.json title")
    assert first.image == path.parent / "slides" / "01.png" and first.image.is_absolute()
    assert first.duration_s == DEFAULT_STILL_S and first.padding_s == 0 and first.name == "intro.json section 1"
    assert spec_format(spec, Settings()) == FMT
    assert spec_format(replace(spec, resolution=None, fps=None), Settings()) == OutputFormat(1920, 1080, Fraction(30))


def test_audio_is_measured_once_per_file(tmp_path, monkeypatch):
    make_audio(tmp_path / "voice.mp3", duration_s=1.2)
    sections_mod.measure_audio_s.cache_clear()
    calls = []
    real = sections_mod.run_ffmpeg
    monkeypatch.setattr(sections_mod, "run_ffmpeg", lambda args, **kw: calls.append(args) or real(args, **kw))
    spec = load_section_spec(write_spec(tmp_path, [{"text": "a", "audio": "voice.mp3"},
                                                   {"text": "b", "audio": "voice.mp3", "padding": 0}]))
    assert len(calls) == 1
    assert abs(spec.sections[1].duration_s - 1.2) < 0.03  # decoded length (an MP3 adds up to a frame)


@pytest.mark.parametrize("content, expected", [
    ('{"output": "a.mp4",\n "sections": [}', "bad.json: invalid JSON at line 2, column 15"),
    ('[1, 2]', "bad.json: the spec must be a JSON object"),
    ('{"output": "a.mp4"}', 'bad.json: "sections" is missing or empty'),
    ('{"output": "a.mp4", "sections": []}', 'bad.json: "sections" is missing or empty'),
    ('{"sections": [{"text": "x"}]}', 'bad.json: "output" is missing'),
    ('{"output": "a.mov", "sections": [{"text": "x"}]}', "bad.json: output 'a.mov' must end in .mp4"),
    ('{"output": "../a.mp4", "sections": [{"text": "x"}]}', "bad.json: output '../a.mp4' leaves the output folder"),
    ('{"output": "/tmp/a.mp4", "sections": [{"text": "x"}]}', "bad.json: output '/tmp/a.mp4' leaves"),
    ('{"output": "a.mp4", "resolution": "161x90", "sections": [{"text": "x"}]}', 'bad.json: resolution "161x90"'),
    ('{"output": "a.mp4", "fps": 0, "sections": [{"text": "x"}]}', "bad.json: fps 0 is not a frame rate"),
    ('{"output": "a.mp4", "sections": [{"text": "x"}, {"padding": 1}]}', 'bad.json: section 2: has neither'),
    ('{"output": "a.mp4", "sections": [{"text": "x", "duration": 0}]}', 'bad.json: section 1: "duration" is 0'),
    ('{"output": "a.mp4", "sections": [{"text": "x", "duration": Infinity}]}', 'section 1: "duration" is Infinity'),
    ('{"output": "a.mp4", "sections": [{"text": "x", "duration": "3"}]}', 'section 1: "duration" is "3"'),
    ('{"output": "a.mp4", "sections": [{"text": "x", "padding": -1}]}', 'bad.json: section 1: "padding" is -1'),
    ('{"output": "a.mp4", "sections": [{"text": "x", "imgae": "a.png"}]}', 'section 1: unknown key "imgae"'),
    ('{"output": "a.mp4", "sections": ["slide.png"]}', "bad.json: section 1: must be an object"),
])
def test_each_spec_problem_is_reported_with_file_and_section(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    assert expected in problems_of(path)


def test_missing_and_unreadable_media_are_named_with_their_section(tmp_path):
    (tmp_path / "voice").mkdir()
    (tmp_path / "broken.png").write_text("not an image")
    (tmp_path / "voice" / "02.mp3").write_text("not audio")
    make_audio(tmp_path / "fine.wav", duration_s=0.2)
    path = write_spec(tmp_path, [
        {"image": "missing.png"},
        {"image": "broken.png", "audio": "voice/02.mp3"},
        {"text": "three", "audio": "voice/03.mp3"},
        {"text": "fine", "audio": "fine.wav"},
    ])
    message = problems_of(path)
    lines = message.splitlines()
    assert lines[0] == "4 problems in the section specs:"
    assert f"{path}: section 1: image 'missing.png' not found" in lines
    assert any(line.startswith(f"{path}: section 2: image 'broken.png' cannot be read as an image") for line in lines)
    assert any(line.startswith(f"{path}: section 2: audio 'voice/02.mp3' cannot be read") for line in lines)
    assert f"{path}: section 3: audio 'voice/03.mp3' not found" in lines
    assert "section 4" not in message


def test_problems_of_several_specs_are_all_listed_and_outputs_must_differ(tmp_path):
    first = write_spec(tmp_path, [{"text": "a"}], name="a.json", output="same.mp4")
    second = write_spec(tmp_path, [{"text": "b"}], name="b.json", output="same.mp4")
    third = write_spec(tmp_path, [{"text": "c", "duration": -2}, {}], name="c.json")
    with pytest.raises(InputError) as caught:
        load_section_specs([first, second, third])
    problems = caught.value.problems
    assert f"{second}: output 'same.mp4' is also written by {first}; give each spec its own output" in problems
    assert any(p.startswith(f"{third}: section 1: \"duration\" is -2") for p in problems)
    assert any(p.startswith(f"{third}: section 2: has neither") for p in problems)
    assert len(problems) == 3
    assert [spec.output.name for spec in load_section_specs([first])] == ["same.mp4"]


def test_real_narration_and_photo_pass_validation(tmp_path):
    if not SHARED_MEDIA.is_dir():
        pytest.skip(f"{SHARED_MEDIA} (the real sample media) is not present")
    spec = load_section_spec(write_spec(tmp_path, [
        {"image": str(SHARED_MEDIA / "vacation_2017.jpg"), "audio": str(SHARED_MEDIA / "crunching.mp3")}]))
    assert abs(spec.sections[0].duration_s - (8.304 + 0.5)) < 0.05


# ------------------------------------------------------------------- jobs


def test_job_key_follows_everything_that_changes_the_segment(tmp_path):
    make_audio(tmp_path / "voice.wav", duration_s=0.3)
    spec = load_section_spec(write_spec(tmp_path, [{"text": "a", "audio": "voice.wav"}, {"text": "b"}]))

    def section_jobs():  # as megacut sections schedules them
        return [job for item in section_groups([spec], tmp_path / "out", FAST)[0].items for job in item.jobs]

    jobs, again = section_jobs(), section_jobs()
    assert [j.key for j in jobs] == [j.key for j in again] and jobs[0].key != jobs[1].key
    assert jobs[0].name == "intro.json section 1" and jobs[0].cost == jobs[0].frames == 20
    section = spec.sections[0]
    base = job_for(tmp_path, section)
    variants = [job_for(tmp_path, replace(section, text="c")),
                job_for(tmp_path, replace(section, duration_s=2.0)),
                job_for(tmp_path, section, replace(FMT, width=320)),
                make_still_job(tmp_path, section, FMT, replace(FAST, crf=30))]
    assert base.key == jobs[0].key
    assert len({base.key, *(v.key for v in variants)}) == 5
    stat = (tmp_path / "voice.wav").stat()
    os.utime(tmp_path / "voice.wav", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert job_for(tmp_path, section).key != base.key  # the audio file's identity is part of the key


def test_many_sections_leave_no_process_thread_or_file_behind(tmp_path):
    fmt = OutputFormat(width=64, height=36, fps=Fraction(25))
    me = psutil.Process()
    render_still(job_for(tmp_path, Section(tmp_path / "s.json", 1, None, "warm-up", None, 0.04, 0.0), fmt, "w"))
    fds, threads, children = me.num_fds(), threading.active_count(), set(me.children(recursive=True))
    for n in range(200):
        section = Section(tmp_path / "s.json", n + 1, None, f"{n}", None, 0.04, 0.0)  # one frame each
        render_still(job_for(tmp_path, section, fmt, f"s{n}"))
    assert set(me.children(recursive=True)) <= children  # no ffmpeg (or anything else) left running
    assert me.num_fds() <= fds and threading.active_count() <= threads
    assert not any((tmp_path / "work").iterdir())
    assert len(list((tmp_path / "segments").iterdir())) == 201


def test_section_segments_join_with_scene_segments(tmp_path):
    info = probe_source(make_video(tmp_path / "movie.mp4", duration_s=0.5, size="160x90"))
    scene = render_scene_ffmpeg(make_scene_job(tmp_path, make_scene(info, 0.0, 5, FMT), FMT, FAST))
    job = job_for(tmp_path, Section(tmp_path / "s.json", 1, None, "x", None, 0.2, 0.0))
    section = render_still(job)
    assert stream_signature(section.segment_path) == stream_signature(scene.segment_path)
