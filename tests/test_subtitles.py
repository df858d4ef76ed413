"""Subtitles of a real collection: forced subtitles never lost, subtitle tracks cut with their scenes, Matroska parts.

Five sources, each used from 0:02 to 0:06 (a scene of 4 s, 96 frames at 24 fps), so scene k starts at 4k s
in the part:

* an MKV starting at 1.5 s with a full SRT track and a forced one marked by the forced flag; its first
  forced cue is on screen at the cut-in;
* an MKV with ASS tracks, the forced one marked only by its title "English (Forced)";
* an MP4 with two mov_text tracks, the forced one marked only by having far fewer cues;
* a show's MKV with WebVTT tracks, the forced one flagged;
* a Blu-ray-like MKV whose only track is a full PGS track with forced pictures (burned in).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from subtitle_media import box_cue, make_subtitled_video

from megacut.cli import main
from megacut.ffmpeg import ffmpeg_exe, run_ffmpeg
from megacut.plan.probe import probe_source
from megacut.plan.subtitles import FEWER_CUES_RATIO, choose_subtitles
from megacut.subtitles.cues import parse_srt, read_subtitle_tracks

FPS = 24
FRAME_S = 1 / FPS
SCENE_S = 4.0
FULL_SRT = [(1.0, 2.5, "X1"), (3.0, 3.8, "X2"), (6.5, 7.0, "X3")]
FORCED_SRT = [(1.5, 2.6, "F1"), (4.0, 4.5, "F2")]
FULL_ASS = [(2.2, 2.9, "Y1"), (4.4, 5.0, "Y2")]
FORCED_ASS = [(3.0, 3.5, "T1"), (5.5, 6.8, "T2")]
FULL_MOV = [(0.5 + k * 0.9, 1.0 + k * 0.9, f"Z{k}") for k in range(8)]
FORCED_MOV = [(2.5, 3.0, "M1")]
FULL_VTT = [(2.1, 2.4, "W1")]
FORCED_VTT = [(4.2, 4.8, "V1")]
# Blu-ray pictures (source time): P1 not forced, P2 forced, P3 one forced box and one not.
P1, P2, P3 = (2.5, 3.0), (3.5, 4.5), (5.0, 5.6)
SOURCES = {
    "Alien Film (2019).mkv": dict(start_offset_s=1.5, tracks=[
        dict(form="srt", cues=FULL_SRT, language="eng"),
        dict(form="srt", cues=FORCED_SRT, language="eng", forced=True)]),
    "Titled Film (2020).mkv": dict(tracks=[
        dict(form="ass", cues=FULL_ASS, language="eng", title="English"),
        dict(form="ass", cues=FORCED_ASS, language="eng", title="English (Forced)")]),
    "Few Cues (2021).mp4": dict(tracks=[
        dict(form="mov_text", cues=FULL_MOV, language="eng"),
        dict(form="mov_text", cues=FORCED_MOV, language="eng")]),
    "Web Show S01E01.mkv": dict(tracks=[
        dict(form="vtt", cues=FULL_VTT, language="eng"),
        dict(form="vtt", cues=FORCED_VTT, language="eng", forced=True)]),
    "Blu-ray Film (2022).mkv": dict(tracks=[dict(form="sup", language="eng", cues=[
        box_cue(*P1, forced=False, x=20, y=20),
        box_cue(*P2, forced=True, x=120, y=130),
        box_cue(*P3, forced=True, x=20, y=130, more=[(200, 130, False)])])]),
}
# The forced cues each part must show (part time), the cue on screen at the first cut-in from 0.
FORCED_IN_PART = [(0.0, 0.6, "F1"), (2.0, 2.5, "F2"), (5.0, 5.5, "T1"), (7.5, 8.0, "T2"), (8.5, 9.0, "M1"),
                  (14.2, 14.8, "V1")]


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    folder = tmp_path_factory.mktemp("subtitled")
    movies = folder / "movies"
    movies.mkdir()
    for name, spec in SOURCES.items():
        make_subtitled_video(movies / name, spec["tracks"], start_offset_s=spec.get("start_offset_s", 0.0))
    names = [Path(n).stem for n in SOURCES]
    rows = ["movie,start,end,overlay,subtitles"]
    rows += [f"{name},0:00:02,0:00:06,{'May 1945' if k < 2 else ''},{'' if 'Blu-ray' in name else 'eng'}"
             for k, name in enumerate(names)]
    csv = folder / "scenes.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder, csv, movies


def run(collection, output: Path, *options: str, csv: Path | None = None) -> int:
    folder, default_csv, movies = collection
    return main(["process", "--csv", str(csv or default_csv), "--movies", str(movies), "--output", str(output), "-q",
                 *options])


def report(output: Path) -> dict:
    return json.loads((output / "megacut-report.json").read_text(encoding="utf-8"))


def streams(path: Path) -> list[str]:
    """ffmpeg's description of each stream of ``path``, with its metadata lines after it."""
    text = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    return re.split(r"\n(?=\s*Stream #)", text)[1:]


def subtitle_stream(path: Path, name: str) -> int:
    """The position among the subtitle streams of the one named ``name`` (handler name or title)."""
    subtitle = [s for s in streams(path) if ": Subtitle:" in s]
    named = [n for n, s in enumerate(subtitle) if re.search(rf"(handler_name|title)\s*: {re.escape(name)}\s*$", s, re.M)]
    assert named, f"no subtitle track named {name} in {path.name}: {subtitle}"
    return named[0]


def cues_of(path: Path, name: str) -> list[tuple[float, float, str]]:
    """The cues of subtitle track ``name`` of a part, read back with ffmpeg as SubRip (tags dropped)."""
    out = path.with_name(f"{path.stem}.{name}.srt")
    run_ffmpeg(["-y", "-loglevel", "error", "-i", str(path), "-map", f"0:s:{subtitle_stream(path, name)}",
                "-c:s", "srt", str(out)])
    return [(c.start_s, c.end_s, re.sub(r"<[^>]*>|\{[^}]*\}", "", c.text)) for c in parse_srt(out.read_text())]


def assert_cues(found, expected) -> None:
    assert [c[2] for c in found] == [c[2] for c in expected]
    for (start, end, text), (want_start, want_end, _) in zip(found, expected):
        assert abs(start - want_start) <= FRAME_S and abs(end - want_end) <= FRAME_S, (text, start, end)


def gray_frames(path: Path, size=(320, 180)) -> np.ndarray:
    data = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v", "-f", "rawvideo",
                           "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(data, np.uint8).reshape(-1, size[1], size[0])


def box_frames(frames: np.ndarray, x: int, y: int) -> list[int]:
    """The frames showing a bright box whose top left corner is at (x, y) (its centre is sampled)."""
    return [n for n, frame in enumerate(frames) if frame[y + 12, x + 48] > 180]


@pytest.fixture(scope="module")
def mp4_part(collection, tmp_path_factory):
    output = tmp_path_factory.mktemp("out")
    assert run(collection, output, "--overlay", "both") == 0
    return output


# ------------------------------------------------------------------ choosing


def test_probe_lists_subtitle_tracks_with_their_flags_and_cues(collection, capsys):
    _, _, movies = collection
    assert main(["probe", str(movies / "Alien Film (2019).mkv"), str(movies / "Blu-ray Film (2022).mkv")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"subtitles #1 \(stream 2\): eng, SRT, 3 cues\n", out)
    assert re.search(r"subtitles #2 \(stream 3\): eng, SRT, 2 cues, forced\n", out)
    assert re.search(r"subtitles #1 \(stream 2\): eng, PGS, 3 cues \(2 forced\)", out)


@pytest.mark.parametrize("name, forced_order, how", [
    ("Alien Film (2019).mkv", 1, "forced flag"),
    ("Titled Film (2020).mkv", 1, 'title "English (Forced)"'),
    ("Few Cues (2021).mp4", 1, "1 cues, #1 has 8"),
    ("Blu-ray Film (2022).mkv", 0, "2 forced pictures"),
])
def test_the_forced_track_is_found_each_way_rips_mark_it(collection, name, forced_order, how):
    _, _, movies = collection
    info = probe_source(movies / name)
    cues = read_subtitle_tracks(info)
    choice = choose_subtitles(info, info.audio_tracks[0], cues)
    assert choice.forced is not None and choice.forced.order == forced_order
    assert choice.forced_how == how
    assert choice.full is None  # none asked for


def test_a_track_with_a_quarter_of_the_cues_or_more_is_not_taken_for_forced(collection, tmp_path):
    cues = [(k * 1.0, k * 1.0 + 0.5, f"A{k}") for k in range(8)]
    make_subtitled_video(tmp_path / "Commentary.mkv", [dict(form="srt", cues=cues, language="eng"),
                                                        dict(form="srt", cues=cues[:3], language="eng")])
    info = probe_source(tmp_path / "Commentary.mkv")
    read = read_subtitle_tracks(info)
    assert 3 > FEWER_CUES_RATIO * 8
    assert choose_subtitles(info, info.audio_tracks[0], read).forced is None


def test_plan_rows_show_each_rows_choice_and_why(collection, capsys):
    _, csv, movies = collection
    assert main(["plan", "--csv", str(csv), "--movies", str(movies), "--rows"]) == 0
    out = capsys.readouterr().out
    assert "forced #2 eng SRT: 2 cues; full #1 eng SRT: 2 cues" in out  # X1 clipped, X2; X3 after the scene
    assert 'forced #2 eng "English (Forced)" ASS: 2 cues' in out
    assert "forced #1 eng PGS: 2 cues burned" in out
    assert "Subtitles (MP4 parts" in out
    assert "Titled Film (2020).mkv: forced #2 eng \"English (Forced)\" ASS (title \"English (Forced)\")" in out
    assert "Few Cues (2021).mp4: forced #2 eng mov_text (1 cues, #1 has 8)" in out


def test_full_pictures_asked_for_in_an_mp4_part_are_a_plan_error(collection, tmp_path, capsys):
    assert run(collection, tmp_path, "--subtitles", "eng", "--dry-run") == 2
    out = capsys.readouterr().out
    assert "holds pictures, which MP4 parts cannot carry" in out and "--container mkv" in out


# ------------------------------------------------------------------ the parts


def test_every_forced_cue_is_in_the_mp4_part_at_its_place_flagged_forced(mp4_part):
    part = mp4_part / "mega_cut_part_1.mp4"
    assert_cues(cues_of(part, "Forced"), FORCED_IN_PART)
    forced = streams(part)[2 + subtitle_stream(part, "Forced")]
    assert "mov_text" in forced and "(default)" in forced and "(forced)" in forced


def test_the_full_tracks_asked_for_are_cut_with_their_scenes(mp4_part):
    part = mp4_part / "mega_cut_part_1.mp4"
    full = cues_of(part, "Full")
    assert [c[2] for c in full] == ["X1", "X2", "Y1", "Y2", "Z2", "Z3", "Z4", "Z5", "Z6", "W1"]
    assert_cues(full[:2], [(0.0, 0.5, "X1"), (1.0, 1.8, "X2")])
    assert "(forced)" not in streams(part)[2 + subtitle_stream(part, "Full")]


def test_the_dates_are_a_soft_track_too(mp4_part):
    part = mp4_part / "mega_cut_part_1.mp4"
    assert_cues(cues_of(part, "Dates"), [(0.0, 3.0, "May 1945\nAlien Film"), (4.0, 7.0, "May 1945\nTitled Film")])


def test_forced_pictures_are_burned_in_while_they_show_and_only_they(mp4_part):
    frames = gray_frames(mp4_part / "mega_cut_part_1.mp4")
    offset = 4 * round(SCENE_S * FPS)  # the Blu-ray scene is the fifth
    # frame k shows a picture on screen at its instant, k / fps
    shown = lambda a, b: list(range(offset + math.ceil((a - 2.0) * FPS), offset + math.ceil((b - 2.0) * FPS)))  # noqa: E731
    assert box_frames(frames, 120, 130) == shown(*P2)
    assert box_frames(frames, 20, 130) == shown(*P3)
    assert box_frames(frames, 20, 20) == []  # P1 is not forced
    assert box_frames(frames, 200, 130) == []  # P3's other box is not forced


def test_a_split_scene_burns_and_carries_the_same_cues(collection, mp4_part, tmp_path):
    assert run(collection, tmp_path, "--overlay", "both", "--segment-duration", "1") == 0
    split, whole = tmp_path / "mega_cut_part_1.mp4", mp4_part / "mega_cut_part_1.mp4"
    assert len(report(tmp_path)["scenes"][4]["segments"]) == 4
    for x, y in ((120, 130), (20, 130)):
        assert box_frames(gray_frames(split), x, y) == box_frames(gray_frames(whole), x, y)
    for name in ("Forced", "Full", "Dates"):
        assert cues_of(split, name) == cues_of(whole, name)


def test_a_change_to_a_soft_track_joins_the_part_again_and_renders_nothing(collection, mp4_part, tmp_path):
    folder, csv, _ = collection
    no_full = tmp_path / "no-full.csv"
    no_full.write_text(csv.read_text().replace(",eng\n", ",off\n"), encoding="utf-8")
    assert run(collection, mp4_part, "--overlay", "both", csv=no_full) == 0
    again = report(mp4_part)
    assert {s["status"] for s in again["scenes"]} == {"cached"}
    assert again["parts"][0]["status"] == "written"
    part = mp4_part / "mega_cut_part_1.mp4"
    assert not any("handler_name    : Full" in s for s in streams(part))
    assert_cues(cues_of(part, "Forced"), FORCED_IN_PART)
    assert run(collection, mp4_part, "--overlay", "both", csv=no_full) == 0
    assert report(mp4_part)["parts"][0]["status"] == "current"
    assert run(collection, mp4_part, "--overlay", "both") == 0  # as the other tests find it


def test_a_matroska_part_carries_chapters_every_track_and_its_flags(collection, mp4_part):
    assert run(collection, mp4_part, "--overlay", "both", "--container", "mkv", "--subtitles", "eng") == 0
    data = report(mp4_part)
    assert {s["status"] for s in data["scenes"]} == {"cached"}  # the MP4 part's segments
    part = mp4_part / "mega_cut_part_1.mkv"
    described = streams(part)
    kinds = [re.search(r": (Video|Audio|Subtitle): (\w+)", s).groups() for s in described]
    assert kinds == [("Video", "h264"), ("Audio", "aac"), ("Subtitle", "ass"), ("Subtitle", "ass"),
                     ("Subtitle", "hdmv_pgs_subtitle"), ("Subtitle", "subrip")]
    assert "(default) (forced)" in described[2] and "title           : Forced" in described[2]
    assert "(forced)" not in described[3] and "title           : Full" in described[3]
    assert_cues(cues_of(part, "Forced"), FORCED_IN_PART)
    mp4_frames, mkv_frames = gray_frames(mp4_part / "mega_cut_part_1.mp4"), gray_frames(part)
    assert len(mkv_frames) == len(mp4_frames)
    for x, y in ((120, 130), (20, 130), (20, 20)):
        assert box_frames(mkv_frames, x, y) == box_frames(mp4_frames, x, y)
    ass_text = part.with_name("forced.ass")
    run_ffmpeg(["-y", "-loglevel", "error", "-i", str(part), "-map", "0:s:0", "-c:s", "copy", str(ass_text)])
    assert "Style: Sign," in ass_text.read_text()  # the titled film's ASS style kept
    chapters = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(part)], capture_output=True,
                              text=True).stderr.count("Chapter #0:")
    assert chapters == 5
    # the full PGS track: its three pictures (the Blu-ray scene's), moved to the part's time
    sup = part.with_name("full.sup")
    run_ffmpeg(["-y", "-loglevel", "error", "-i", str(part), "-map", "0:s:2", "-c:s", "copy", str(sup)])
    from megacut.subtitles.pgs import read_sup

    pictures = read_sup(sup.read_bytes())
    assert [round(p.start_s - 16.0, 2) for p in pictures] == [P1[0] - 2.0, P2[0] - 2.0, P3[0] - 2.0]


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_a_track_whose_first_cue_is_late_in_the_part_keeps_its_time(collection, tmp_path, container):
    folder, _, _ = collection
    csv = tmp_path / "one.csv"
    csv.write_text("movie,start,end\nFew Cues (2021),0:00:02,0:00:06\n", encoding="utf-8")
    assert run(collection, tmp_path / "out", "--container", container, csv=csv) == 0
    assert_cues(cues_of(tmp_path / "out" / f"mega_cut_part_1.{container}", "Forced"), [(0.5, 1.0, "M1")])


def test_the_report_says_each_scenes_subtitles(mp4_part):
    scenes = report(mp4_part)["scenes"]
    assert scenes[0]["subtitles"]["forced"]["format"] == "SRT" and scenes[0]["subtitles"]["forced_how"] == "forced flag"
    assert [s["subtitles"]["forced_cues"] for s in scenes] == [2, 2, 1, 1, 0]
    assert scenes[4]["subtitles"]["burned_cues"] == 2


def test_the_moviepy_backend_burns_the_same_pictures(collection, tmp_path):
    csv = tmp_path / "one.csv"
    csv.write_text("movie,start,end\nBlu-ray Film (2022),0:00:02,0:00:06\n", encoding="utf-8")
    assert run(collection, tmp_path / "out", "--backend", "moviepy", csv=csv) == 0
    frames = gray_frames(tmp_path / "out" / "mega_cut_part_1.mp4")
    assert box_frames(frames, 120, 130) == list(range(36, 60))
    assert box_frames(frames, 20, 130) == list(range(72, 87))
    assert box_frames(frames, 20, 20) == [] and box_frames(frames, 200, 130) == []


def test_a_scene_with_burned_pictures_is_not_copied(collection, capsys):
    _, csv, movies = collection
    main(["plan", "--csv", str(csv), "--movies", str(movies), "--copy", "auto"])
    assert "forced subtitle pictures are burned into it" in capsys.readouterr().out


def test_a_soft_overlay_leaves_the_picture_as_without_one(collection):
    from dataclasses import replace

    from megacut.plan.prepare import prepare_plan
    from megacut.plan.settings import Settings
    from megacut.render.jobs import scene_jobs

    _, csv, movies = collection
    plan = prepare_plan(csv, movies, Settings(overlay="soft"))
    scene = plan.scenes[0]
    assert scene.overlay_lines
    soft = scene_jobs(scene, plan.format, plan.settings)
    bare = scene_jobs(replace(scene, overlay_lines=()), plan.format, plan.settings)
    assert soft[0].overlay is None and [j.key for j in soft] == [j.key for j in bare]


def test_pictures_are_counted_without_drawing_them_as_reading_them_counts():
    from megacut.subtitles.cues import TrackCues
    from megacut.subtitles.pgs import read_sup, write_sup

    cues = [box_cue(1.0, 2.0, forced=False, x=0, y=0), box_cue(2.0, 3.0, forced=True, x=10, y=10),
            box_cue(4.0, 5.0, forced=False, x=0, y=0, more=[(100, 100, True)]), box_cue(6.0, 7.0, forced=False, x=5, y=5)]
    sup = write_sup(cues)
    track = TrackCues("pgs", sup=sup)
    drawn = read_sup(sup)
    assert (track.count, track.forced_count) == (len(drawn), sum(any(o.forced for o in c.objects) for c in drawn))
    assert (track.count, track.forced_count) == (4, 2)


def test_a_dvds_forced_vobsub_pictures_are_found_and_burned_in(tmp_path):
    movies = tmp_path / "movies"
    movies.mkdir()
    dvd = dict(canvas=(720, 480), w=160, h=40)
    make_subtitled_video(movies / "DVD Episode S01E01.mkv", [dict(form="dvdsub", language="eng", cues=[
        box_cue(2.5, 3.0, forced=False, x=40, y=40, **dvd),
        box_cue(3.5, 4.5, forced=True, x=280, y=400, **dvd)])], size="720x480")
    csv = tmp_path / "scenes.csv"
    csv.write_text("movie,start,end\nDVD Episode S01E01,0:00:02,0:00:06\n", encoding="utf-8")
    assert main(["process", "--csv", str(csv), "--movies", str(movies), "--output", str(tmp_path / "out"), "-q"]) == 0
    scene = report(tmp_path / "out")["scenes"][0]
    assert scene["subtitles"]["forced"]["format"] == "VobSub" and scene["subtitles"]["forced_how"] == "1 forced pictures"
    frames = gray_frames(tmp_path / "out" / "mega_cut_part_1.mp4", (720, 480))
    shown = [n for n, frame in enumerate(frames) if frame[400 + 20, 280 + 80] > 180]
    assert shown == list(range(36, 60))  # 3.5-4.5 s in the source: 1.5-2.5 s in the scene, 24 fps
    assert not any(frame[40 + 20, 40 + 80] > 180 for frame in frames)  # the picture that is not forced


def test_pictures_that_cannot_be_read_are_left_out_with_a_warning(collection):
    from megacut.subtitles.cues import TrackCues

    _, _, movies = collection
    info = probe_source(movies / "Blu-ray Film (2022).mkv")
    broken = {info.subtitle_tracks[0].index: TrackCues("pgs", sup=b"PG\0\0\0\0\0\0\0\0\x16\0\x20" + b"\0" * 8)}
    choice = choose_subtitles(info, info.audio_tracks[0], broken, "eng")
    assert choice.full is None and choice.forced is None
    assert any("cannot be read" in w and "left out" in w for w in choice.warnings)


def test_cues_of_a_file_that_starts_late_are_read_in_content_time(tmp_path):
    made = make_subtitled_video(tmp_path / "Late.mkv", [
        dict(form="sup", language="eng", cues=[box_cue(2.5, 3.0, forced=True, x=10, y=10)]),
        dict(form="ass", language="eng", cues=[(2.0, 2.5, "A")]),
        dict(form="srt", language="eng", cues=[(4.0, 4.5, "B")])], start_offset_s=1.5)
    info = probe_source(made)
    assert info.start_s == 1.5
    read = read_subtitle_tracks(info)
    pictures, ass, srt = (read[t.index] for t in info.subtitle_tracks)
    assert [(p.start_s, p.end_s) for p in pictures.images] == [(2.5, 3.0)]
    assert [(c.start_s, c.end_s) for c in ass.cues] == [(2.0, 2.5)] and [(c.start_s, c.end_s) for c in srt.cues] == [(4.0, 4.5)]
    assert "Style: Sign," in ass.header


def _remux(video: Path, audio: Path, out: Path, tracks: list[dict]) -> Path:
    """``video``'s picture, ``audio``'s sound and subtitle ``tracks`` (as make_subtitled_video takes them) in one
    Matroska file, as a fan's remux is made."""
    subtitled = make_subtitled_video(out.with_name(f".{out.stem}.subs.mkv"), tracks, duration_s=6.0)
    run_ffmpeg(["-y", "-loglevel", "error", "-i", str(video), "-i", str(audio), "-i", str(subtitled),
                "-map", "0:v", "-map", "1:a", "-map", "2:s", "-c", "copy", "-metadata:s:a:0", "language=eng",
                str(out)])
    return out


def test_a_fans_collection_hdr_and_surround_keeps_its_forced_subtitles(tmp_path):
    """Files made like a fan's: an HDR10 film with E-AC-3 5.1(side) and Blu-ray tracks (a full PGS track and a
    forced one flagged as a track, its pictures not marked one by one, as rips often are), an HLG episode in
    stereo whose forced SRT track is marked by nothing but its few cues, and a 7.1 film with a flagged forced
    SRT track. Into a Matroska part: 5.1 sound, SDR picture, every forced cue at its place, the forced
    pictures burned in, the full tracks soft."""
    from hdr_media import make_hdr_source
    from media import make_collection_video

    movies, work = tmp_path / "movies", tmp_path / "work"
    movies.mkdir(), work.mkdir()
    green = (145, 54, 34, 255)  # BT.601 limited range: pure green
    box = dict(canvas=(320, 180), colour=green, w=96, h=24)
    _remux(make_hdr_source(work / "dune.mkv", "pq", duration_s=6.0),
           make_collection_video(work / "dune-sound.mkv", layout="5.1(side)", tones=[300, 500, 700, 60, 900, 1100],
                                 lufs=-27, codec="eac3", duration_s=6.0),
           movies / "Dune (2021).mkv",
           [dict(form="sup", language="eng", cues=[box_cue(2.2, 2.8, forced=False, x=20, y=20, **box)]),
            dict(form="sup", language="eng", forced=True, cues=[box_cue(3.0, 4.0, forced=False, x=110, y=140, **box)])])
    _remux(make_hdr_source(work / "show.mkv", "hlg", duration_s=6.0),
           make_collection_video(work / "show-sound.mkv", layout="stereo", tones=[400, 600], lufs=-16, duration_s=6.0),
           movies / "Show S01E01.mkv",
           [dict(form="srt", language="eng", cues=[(k * 0.5, k * 0.5 + 0.4, f"S{k}") for k in range(12)]),
            dict(form="srt", language="eng", cues=[(3.5, 4.2, "H1")])])
    _remux(make_collection_video(work / "film.mkv", layout="7.1", tones=[360, 560, 760, 60, 960, 1160, 1360, 1560],
                                 lufs=-29, codec="flac", duration_s=6.0, size="320x180"),
           work / "film.mkv", movies / "Film (1999).mkv",
           [dict(form="srt", language="eng", cues=[(2.5, 3.0, "G0")]),
            dict(form="srt", language="eng", forced=True, cues=[(1.0, 2.4, "R1")])])
    csv = tmp_path / "scenes.csv"
    csv.write_text("movie,start,end\nDune,0:00:02,0:00:05\nShow S01E01,0:00:02,0:00:05\nFilm,0:00:02,0:00:05\n",
                   encoding="utf-8")
    output = tmp_path / "out"
    assert main(["process", "--csv", str(csv), "--movies", str(movies), "--output", str(output), "-q",
                 "--container", "mkv", "--subtitles", "eng", "--fps", "25"]) == 0
    part = output / "mega_cut_part_1.mkv"
    described = streams(part)
    assert "bt709" in described[0] and "Audio: aac (LC), 48000 Hz, 5.1," in described[1]
    # the 7.1 film's cue on screen at the cut-in from its first frame; the episode's few-cue track
    assert_cues(cues_of(part, "Forced"), [(4.5, 5.2, "H1"), (6.0, 6.4, "R1")])
    assert [c[2] for c in cues_of(part, "Full")] == ["S4", "S5", "S6", "S7", "S8", "S9", "G0"]
    scenes = report(output)["scenes"]
    assert [s["subtitles"]["forced_how"] for s in scenes] == ["forced flag", "1 cues, #1 has 12", "forced flag"]
    data = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(part), "-map", "0:v", "-f", "rawvideo",
                           "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(data, np.uint8).reshape(-1, 180, 320, 3).astype(int)
    greenish = [n for n, frame in enumerate(frames) if frame[152, 158, 1] - frame[152, 158, 0] > 150]
    assert greenish == list(range(25, 50))  # the forced track's picture: 3.0-4.0 s, 1.0-2.0 s in the part
    assert not any(frame[32, 68, 1] - frame[32, 68, 0] > 150 for frame in frames)  # the full track's: not burned
