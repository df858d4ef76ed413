"""Rendering whole plans: order, sync across joins, determinism, failures, reruns."""

import hashlib
import json
import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import psutil
import pytest
from framecode import decode_audio, decode_frames, make_framecode_video, read_indices

from megacut import prepare_plan
from megacut.cli import main
from megacut.mov import read_tracks
from megacut.plan.settings import Settings
from megacut.run.engine import RunOptions, render_plan

NTSC = Fraction(30000, 1001)
FAST = dict(preset="ultrafast", encoder_threads=1)
BEEP_EVERY = 10  # beeps start on source frames 0, 10, 20, ...


@pytest.fixture(scope="module")
def movies(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine-movies")
    make_framecode_video(root / "Beeps.mp4", frames=900, fps=NTSC, size=(160, 120),
                         beep_frames=range(0, 900, BEEP_EVERY), video_args=("-preset", "ultrafast", "-g", "120"))
    make_framecode_video(root / "Other.mkv", frames=300, fps=25, size=(192, 108),
                         audio_tracks=({"freq": 300},))
    return root


def write_csv(tmp_path, rows, header="movie,start,end,overlay"):
    path = tmp_path / "scenes.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def frame_time(frame, fps=NTSC):
    """A time that falls inside source frame ``frame`` (a quarter frame after it starts)."""
    return f"{(frame + 0.25) / float(fps):.6f}"


def render(tmp_path, csv, movies, settings=Settings(**FAST), **options):
    plan = prepare_plan(csv, movies, settings)
    assert not plan.errors, plan.errors
    output = options.pop("output", tmp_path / "out")
    result = render_plan(plan, RunOptions(output_dir=output, quiet=True, **options))
    return plan, result


def part_frames(path, tmp_path, width=160, height=120):
    return decode_frames(path, width, height, tmp_path)


def ffmpeg_processes(folder):
    """ffmpeg processes working on files under ``folder`` (other runs on the machine do not count)."""
    return [p for p in psutil.process_iter(["name", "cmdline"])
            if "ffmpeg" in (p.info["name"] or "") and any(str(folder) in c for c in (p.info["cmdline"] or []))]


def test_parts_hold_the_scenes_in_csv_order_with_the_right_frames(tmp_path, movies):
    ranges = [(600, 630), (90, 110), (300, 345), (0, 12), (450, 480)]  # source frames, CSV order
    rows = [f"Beeps,{frame_time(a)},{frame_time(b)}," for a, b in ranges]
    csv = write_csv(tmp_path, rows)
    plan, result = render(tmp_path, csv, movies, Settings(chunk_duration_s=2.0, **FAST), max_workers=2)
    assert result.exit_code == 0
    # 2 s hold 59 frames at 29.97: 30+20 | 45+12 | 30
    assert [[s.index for s in p.scenes] for p in plan.parts] == [[0, 1], [2, 3], [4]]
    seen = []
    for part in result.parts:
        assert part.status == "written" and part.path.name == f"mega_cut_part_{part.part.number}.mp4"
        seen += read_indices(part_frames(part.path, tmp_path))
    expected = [i for a, b in ranges for i in range(a, b)]
    assert seen == expected
    assert not list((tmp_path / "out").glob(".*partial*"))
    assert not ffmpeg_processes(tmp_path)


def test_a_parts_jobs_start_before_the_next_parts(tmp_path, movies):
    """So that a part is joined, and its audio encoded, while the next one renders."""
    # two parts of two scenes; 0.5 s segments: 15 frames, the second part's scenes end on one of 20
    ranges = [(0, 60), (100, 160), (200, 280), (300, 380)]
    csv = write_csv(tmp_path, [f"Beeps,{frame_time(a)},{frame_time(b)}," for a, b in ranges])
    settings = Settings(chunk_duration_s=5.5, segment_s=0.5, **FAST)
    plan, result = render(tmp_path, csv, movies, settings, max_workers=2)
    assert result.exit_code == 0 and [[s.index for s in p.scenes] for p in plan.parts] == [[0, 1], [2, 3]]
    first, second = result.parts

    def starts(part):
        return [s.ended_at_s - s.render_s for i in part.item_ids for s in result.items[i].segments]

    assert (len(starts(first)), len(starts(second))) == (8, 10)
    assert max(starts(first)) <= min(starts(second)) + 0.05  # clocks of two processes


def test_segments_joined_ahead_while_the_part_renders_give_the_same_part(tmp_path, movies, monkeypatch):
    """Runs of a part's finished segments are joined ahead (and runs of those into longer ones) while the
    rest renders; the part is the same, byte for byte, as one joined from every segment at the end."""
    from megacut.join import chunks

    ranges = [(0, 90), (120, 200), (300, 345), (400, 480)]
    csv = write_csv(tmp_path, [f"Beeps,{frame_time(a)},{frame_time(b)}," for a, b in ranges])
    settings = Settings(segment_s=0.5, **FAST)  # 15-frame segments: 6 + 5 + 3 + 5
    joins = []

    def join_segments(files, output, fps, **options):
        joins.append(len(files))
        return original(files, output, fps, **options)

    original = chunks.join_segments
    monkeypatch.setattr(chunks, "join_segments", join_segments)
    monkeypatch.setattr(chunks, "CHUNK_SEGMENTS", 2)
    plan, ahead = render(tmp_path, csv, movies, settings, max_workers=2, output=tmp_path / "ahead")
    assert ahead.exit_code == 0
    assert joins.count(2) >= 3  # runs of two segments, and runs of two of those
    assert not list((tmp_path / "ahead" / ".megacut-cache" / "work").glob("chunks-*"))  # removed after the join
    monkeypatch.setattr(chunks, "CHUNK_SEGMENTS", 10**6)
    _, plain = render(tmp_path, csv, movies, settings, max_workers=2, output=tmp_path / "plain")
    part, plain_part = ahead.parts[0].path, plain.parts[0].path
    assert read_indices(part_frames(part, tmp_path)) == [i for a, b in ranges for i in range(a, b)]
    assert part.read_bytes() == plain_part.read_bytes()


def top_level_boxes(path: Path) -> list[tuple[bytes, int]]:
    """(name, size) of each top-level box of an MP4, in order."""
    boxes, position, size = [], 0, path.stat().st_size
    with open(path, "rb") as handle:
        while position < size:
            handle.seek(position)
            length, name = int.from_bytes(handle.read(4), "big"), handle.read(4)
            if length == 1:
                length = int.from_bytes(handle.read(8), "big")
            boxes.append((name, length))
            position += length
    return boxes


def test_a_part_has_its_index_in_front_written_in_one_pass_or_moved_there(tmp_path, movies, monkeypatch):
    """Players streaming a part need its index (moov) before its media data: space is reserved for it,
    and when the index needs more, it is moved to the front after the part is written."""
    from megacut.join import assemble

    csv = write_csv(tmp_path, [f"Beeps,{frame_time(a)},{frame_time(b)}," for a, b in ((0, 60), (90, 120))])
    def before_media(path):
        boxes = top_level_boxes(path)
        return boxes[:[name for name, _ in boxes].index(b"mdat")]

    _, result = render(tmp_path, csv, movies, output=tmp_path / "reserved")
    front = before_media(result.parts[0].path)
    assert [name for name, _ in front][:2] == [b"ftyp", b"moov"]
    assert max(size for name, size in front if name == b"free") > 8000  # the room reserved and not used
    monkeypatch.setattr(assemble, "moov_reserve", lambda *args: 1000)  # far too little
    _, moved = render(tmp_path, csv, movies, output=tmp_path / "moved")
    assert moved.exit_code == 0
    front = before_media(moved.parts[0].path)
    assert [name for name, _ in front][:2] == [b"ftyp", b"moov"]
    assert all(size == 8 for name, size in front if name == b"free")  # moved to the front: no room left
    assert read_indices(part_frames(moved.parts[0].path, tmp_path)) == [*range(0, 60), *range(90, 120)]


def beep_onsets(samples, threshold=3000, gap=2000):
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)).max(axis=1) > threshold)
    return [int(x) for i, x in enumerate(loud) if i == 0 or x - loud[i - 1] > gap]


def beep_rows(seed: int, count: int, lengths: range) -> list[str]:
    """``count`` scenes of one of ``lengths`` frames, each with a beep inside and none on its last frame
    (a scene ending on a beep frame would carry the beep's first 8 ms without its frame)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        start = rng.randrange(0, 80) * BEEP_EVERY + rng.choice((3, 4, 5, 6))
        length = rng.choice([n for n in lengths if (start + n) % BEEP_EVERY])
        rows.append(f"Beeps,{frame_time(start)},{frame_time(start + length)},")
    return rows


def assert_beeps_in_sync(path, plan, tmp_path, at_least: int) -> None:
    """Every frame showing a beep frame is heard at its own time, and the part's audio lasts as long as
    its video (AAC adds at most one 1024-sample frame)."""
    indices = read_indices(part_frames(path, tmp_path))
    assert len(indices) == sum(s.frames for s in plan.scenes) and -1 not in indices
    video_beeps = [position for position, index in enumerate(indices) if index % BEEP_EVERY == 0]
    audio = decode_audio(path, tmp_path)
    onsets = beep_onsets(audio)
    assert len(onsets) == len(video_beeps) >= at_least
    errors_s = [onset / 48000 - position / float(NTSC) for onset, position in zip(onsets, video_beeps)]
    assert max(abs(e) for e in errors_s) < 1 / float(NTSC), errors_s
    assert abs(len(audio) / 48000 - len(indices) / float(NTSC)) < 1024 / 48000 + 0.001


def test_fifty_five_joined_scenes_keep_audio_and_video_within_a_frame(tmp_path, movies):
    csv = write_csv(tmp_path, beep_rows(7, 55, range(12, 19)))
    plan, result = render(tmp_path, csv, movies, max_workers=2)
    assert result.exit_code == 0 and len(plan.parts) == 1
    assert_beeps_in_sync(result.parts[0].path, plan, tmp_path, 55)


def decoded_digest(path, tmp_path):
    frames = part_frames(path, tmp_path)
    return hashlib.sha256(frames.tobytes()).hexdigest(), len(frames)


def test_no_threading_one_and_two_workers_give_identical_frames(tmp_path, movies):
    rows = [f"Beeps,{frame_time(a)},{frame_time(a + 20)},Year {a}" for a in (10, 200, 400)]
    rows.append("Other,1,2,")
    csv = write_csv(tmp_path, rows)
    digests = []
    for name, options in [("inline", dict(executor="inline")), ("one", dict(max_workers=1)),
                          ("two", dict(max_workers=2)), ("threads", dict(executor="thread", max_workers=2))]:
        _, result = render(tmp_path, csv, movies, output=tmp_path / name, **options)
        assert result.exit_code == 0
        digests.append(decoded_digest(result.parts[0].path, tmp_path))
    assert len(set(digests)) == 1, digests


def test_a_failed_scene_is_reported_and_its_part_assembled_without_it(tmp_path, movies):
    source = tmp_path / "movies"
    source.mkdir()
    for name in ("Beeps.mp4", "Other.mkv"):
        (source / name).write_bytes((movies / name).read_bytes())
    csv = write_csv(tmp_path, ["Beeps,1,2,", "Other,1,2,", "Beeps,3,4,"])
    plan = prepare_plan(csv, source, Settings(**FAST))
    (source / "Other.mkv").unlink()  # the drive went away after planning
    result = render_plan(plan, RunOptions(output_dir=tmp_path / "out", quiet=True, retries=1, max_workers=2))
    assert result.exit_code == 1
    failed = result.items["scene-1"]
    assert failed.status == "failed" and failed.attempts == 2 and "Other.mkv" in failed.error
    part = result.parts[0]
    assert part.status == "incomplete" and part.item_ids == ["scene-0", "scene-2"]
    frames = part_frames(part.path, tmp_path)
    assert len(frames) == plan.scenes[0].frames + plan.scenes[2].frames
    strict = render_plan(plan, RunOptions(output_dir=tmp_path / "strict", quiet=True, retries=0, strict=True))
    assert strict.parts[0].status == "failed" and not (tmp_path / "strict" / "mega_cut_part_1.mp4").exists()
    assert not ffmpeg_processes(tmp_path)


def test_rerun_reuses_segments_and_an_edit_rerenders_one_scene(tmp_path, movies):
    rows = [f"Beeps,{frame_time(a)},{frame_time(a + 15)},Year {a}" for a in (30, 130, 230, 330)]
    csv = write_csv(tmp_path, rows)
    _, first = render(tmp_path, csv, movies, Settings(chunk_duration_s=1.1, **FAST), max_workers=2)
    assert [p.status for p in first.parts] == ["written", "written"]
    _, again = render(tmp_path, csv, movies, Settings(chunk_duration_s=1.1, **FAST), max_workers=2)
    assert [p.status for p in again.parts] == ["current", "current"]
    assert {s.status for s in again.items.values()} == {"cached"}
    csv.write_text(csv.read_text().replace("Year 230", "Year 231"))
    _, edited = render(tmp_path, csv, movies, Settings(chunk_duration_s=1.1, **FAST), max_workers=2)
    assert [s.status for _, s in sorted(edited.items.items())] == ["cached", "cached", "ok", "cached"]
    assert [p.status for p in edited.parts] == ["current", "written"]


def test_a_damaged_cached_segment_is_rendered_again(tmp_path, movies):
    csv = write_csv(tmp_path, [f"Beeps,{frame_time(40)},{frame_time(60)},"])
    plan, first = render(tmp_path, csv, movies)
    segment = next((tmp_path / "out" / ".megacut-cache" / "segments").glob("*.mov"))
    segment.write_bytes(segment.read_bytes()[: segment.stat().st_size // 2])  # truncated, moov lost
    (tmp_path / "out" / "mega_cut_part_1.mp4").unlink()
    _, second = render(tmp_path, csv, movies)
    assert second.items["scene-0"].status == "ok"
    assert [t.samples for t in read_tracks(segment) if t.handler == "vide"] == [plan.scenes[0].frames]


def test_process_command_writes_parts_report_and_exit_code(tmp_path, movies, capsys):
    csv = write_csv(tmp_path, ["Beeps,1,2,Year 1", "Nowhere,1,2,", "Other,0:01,0:02,"])
    output = tmp_path / "out"
    args = ["process", "--csv", str(csv), "--movies", str(movies), "--output", str(output), "--preset",
            "ultrafast", "--max-workers", "2", "-q"]
    assert main(args) == 2 and not output.exists()
    log_file = tmp_path / "run.log"
    assert main(["--log-file", str(log_file)] + args + ["--skip-invalid"]) == 0
    logged = log_file.read_text()
    assert "scene 1 (line 2) ok" in logged and "mega_cut_part_1.mp4: written" in logged
    assert "-f concat" in logged  # the join's ffmpeg command, for bug reports
    report = json.loads((output / "megacut-report.json").read_text())
    assert [(s["index"], s["line"], s["status"]) for s in report["scenes"]] == [
        (0, 2, "ok"), (1, 3, "skipped"), (2, 4, "ok")]
    assert "not found" in report["scenes"][1]["error"]
    assert report["parts"][0]["scenes"] == [0, 2] and report["parts"][0]["status"] == "written"
    assert report["scenes"][2]["offset_s"] == pytest.approx(report["scenes"][0]["duration_s"])
    assert report["scenes"][0]["audio_track"]["index"] == 1
    assert report["peak_rss_bytes"] > 0 and report["wall_s"] > 0 and report["settings"]["crf"] == 20
    out = capsys.readouterr().out
    assert "part 1: written" in out and "scenes: 2 ok" in out


def test_hevc_parts_join_and_are_tagged_for_players(tmp_path, movies):
    csv = write_csv(tmp_path, [f"Beeps,{frame_time(a)},{frame_time(a + 10)}," for a in (50, 250)])
    plan, result = render(tmp_path, csv, movies, Settings(video_codec="libx265", preset="ultrafast",
                                                          encoder_threads=1), max_workers=2)
    assert result.exit_code == 0
    video = [t for t in read_tracks(result.parts[0].path) if t.handler == "vide"]
    assert video[0].codec == "hvc1" and video[0].samples == 20
    assert read_indices(part_frames(result.parts[0].path, tmp_path)) == list(range(50, 60)) + list(range(250, 260))


def test_python_api_one_call_with_a_progress_callback(tmp_path, movies):
    import megacut

    csv = write_csv(tmp_path, ["Beeps,1,2,Year 1", "Other,0:01,0:02,"])
    seen = []
    result = megacut.process(csv, movies, tmp_path / "out", Settings(**FAST),
                             megacut.RunOptions(output_dir=tmp_path / "ignored", max_workers=2),
                             on_item=lambda r: seen.append((r.item.index, r.status)))
    assert result.exit_code == 0 and sorted(seen) == [(0, "ok"), (1, "ok")]
    assert result.parts[0].path == tmp_path / "out" / "mega_cut_part_1.mp4" and result.parts[0].path.exists()
    bad = write_csv(tmp_path, ["Nowhere,1,2,"])
    with pytest.raises(megacut.InputError, match="scenes.csv:2: error: "):
        megacut.process(bad, movies, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_every_path_of_the_python_api_may_be_a_string(tmp_path, movies, monkeypatch):
    import megacut

    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path, ["Beeps,1,1.4,Year 1"])
    options = megacut.RunOptions(output_dir="out", cache_dir="cache", executor="inline", quiet=True)
    assert (options.output_dir, options.cache_dir) == (Path("out"), Path("cache"))
    assert [row.movie for row in megacut.load_scenes("scenes.csv").rows] == ["Beeps"]
    plan = megacut.prepare_plan("scenes.csv", str(movies), Settings(**FAST))
    assert megacut.render_plan(plan, options).exit_code == 0
    assert (tmp_path / "out" / "mega_cut_part_1.mp4").exists() and list((tmp_path / "cache").rglob("*.mov"))
    result = megacut.process("scenes.csv", str(movies), "again", Settings(**FAST), options)  # the cache's segment
    assert result.exit_code == 0 and result.parts[0].path == Path("again") / "mega_cut_part_1.mp4"
    assert (tmp_path / "again" / "mega_cut_part_1.mp4").exists()


def test_identical_rows_are_rendered_once_and_used_twice(tmp_path, movies):
    row = f"Beeps,{frame_time(100)},{frame_time(110)},Recap"
    csv = write_csv(tmp_path, [row, f"Beeps,{frame_time(200)},{frame_time(205)},", row])
    plan, result = render(tmp_path, csv, movies, max_workers=2)
    assert result.items["scene-0"].item.keys == result.items["scene-2"].item.keys
    assert result.exit_code == 0 and [r.status for _, r in sorted(result.items.items())] == ["ok", "ok", "ok"]
    assert len([p for p in (tmp_path / "out" / ".megacut-cache" / "segments").glob("*.mov")]) == 2
    assert len(part_frames(result.parts[0].path, tmp_path)) == 25


def test_moviepy_backend_with_an_effect_through_the_command(tmp_path, movies, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "my_effects.py").write_text("def invert(frame, t):\n    return 255 - frame\n")
    csv = write_csv(tmp_path, [f"Beeps,{frame_time(a)},{frame_time(a + 8)}," for a in (100, 300)])
    common = ["process", "--csv", str(csv), "--movies", str(movies), "--preset", "ultrafast",
              "--encoder-threads", "1", "-q"]
    assert main([*common, "--output", str(tmp_path / "plain")]) == 0
    assert main([*common, "--effect", "my_effects:invert", "--output", str(tmp_path / "x")]) == 2
    assert "--effect runs inside the moviepy renderer" in capsys.readouterr().err
    assert main([*common, "--effect", "my_effects:nothing", "--backend", "moviepy", "--output",
                 str(tmp_path / "x")]) == 2
    for executor in (["--no-threading"], ["--executor", "thread", "--max-workers", "2"]):
        output = tmp_path / f"fx{len(executor)}"
        assert main([*common, "--backend", "moviepy", "--effect", "my_effects:invert", *executor,
                     "--output", str(output)]) == 0
        plain = part_frames(tmp_path / "plain" / "mega_cut_part_1.mp4", tmp_path).astype(int)
        inverted = part_frames(output / "mega_cut_part_1.mp4", tmp_path).astype(int)
        assert plain.shape == inverted.shape
        assert np.abs((255 - plain) - inverted).mean() < 6  # every frame inverted (up to compression)
        assert not [p for p in psutil.Process().children(recursive=True) if "ffmpeg" in p.name()]
    first_keys = json.loads((tmp_path / "fx1" / "megacut-report.json").read_text())["scenes"]
    (tmp_path / "my_effects.py").write_text("def invert(frame, t):\n    return 255 - frame  # edited\n")
    assert main([*common, "--backend", "moviepy", "--effect", "my_effects:invert", "--no-threading",
                 "--output", str(tmp_path / "fx1")]) == 0
    again = json.loads((tmp_path / "fx1" / "megacut-report.json").read_text())["scenes"]
    assert [s["status"] for s in again] == ["ok", "ok"]  # the edited effect re-renders
    assert [s["key"] for s in again] != [s["key"] for s in first_keys]


def test_section_cards_put_a_title_card_before_the_scenes_of_a_heading(tmp_path, movies, capsys):
    csv = write_csv(tmp_path, ["The 1940s,,,", f"Beeps,{frame_time(100)},{frame_time(110)},",
                               f"Beeps,{frame_time(200)},{frame_time(205)},"])
    common = ["process", "--csv", str(csv), "--movies", str(movies), "--preset", "ultrafast", "-q"]
    assert main([*common, "--output", str(tmp_path / "plain")]) == 0
    assert main([*common, "--section-cards", "--output", str(tmp_path / "cards")]) == 0
    plain = part_frames(tmp_path / "plain" / "mega_cut_part_1.mp4", tmp_path)
    carded = part_frames(tmp_path / "cards" / "mega_cut_part_1.mp4", tmp_path)
    card_frames = round(3.0 * float(NTSC))
    assert len(carded) == len(plain) + card_frames
    card = carded[card_frames // 2].astype(int)
    assert card.mean() < 40 and card.max() > 200  # white title on black
    assert read_indices(carded[card_frames:]) == read_indices(plain)
    report = json.loads((tmp_path / "cards" / "megacut-report.json").read_text())
    assert report["cards"][0]["text"] == "The 1940s" and report["cards"][0]["offset_s"] == 0
    assert report["parts"][0]["scenes"] == [0, 1]
    assert report["scenes"][0]["offset_s"] == pytest.approx(card_frames / float(NTSC))
