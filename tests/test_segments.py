"""Long scenes rendered as several segments: the same frames, samples, overlay, fades and chapters as whole."""

import re
import time
from dataclasses import replace

import numpy as np
from framecode import decode_audio, decode_frames, dominant_frequency, read_indices
from test_engine import (FAST, NTSC, assert_beeps_in_sync, beep_onsets, beep_rows, frame_time,  # noqa: F401
                         movies, write_csv)  # movies: the same generated sources

from megacut import prepare_plan
from megacut.cli.report import report_data
from megacut.errors import FFmpegError
from megacut.ffmpeg import input_file, output_file, run_ffmpeg
from megacut.join.audio import ALONE_AHEAD, PartAudio, segment_pcm
from megacut.mov import read_tracks
from megacut.plan.build import OutputFormat
from megacut.plan.settings import Settings, Transition
from megacut.render.jobs import segment_bounds
from megacut.render.renderers import RENDERERS
from megacut.run.engine import RunOptions, render_plan
from megacut.run.groups import scene_groups


def render(tmp_path, csv, movies, name, settings, **options):
    plan = prepare_plan(csv, movies, settings)
    assert not plan.errors, plan.errors
    result = render_plan(plan, RunOptions(output_dir=tmp_path / name, quiet=True, **options))
    assert result.exit_code == 0, [(r.item.name, r.error) for r in result.items.values()]
    return plan, result


def test_segment_bounds_cover_the_scene_in_order_without_a_tiny_tail():
    assert segment_bounds(100, 0) == [(0, 100)]  # 0: never split
    assert segment_bounds(44, 30) == [(0, 44)]  # under one and a half segments: whole
    assert segment_bounds(45, 30) == [(0, 30), (30, 15)]
    assert segment_bounds(100, 30) == [(0, 30), (30, 30), (60, 40)]  # a 10-frame tail joins the last
    for frames in range(1, 400, 7):
        for length in (1, 25, 30, 250):
            bounds = segment_bounds(frames, length)
            assert [b[0] for b in bounds] == [sum(n for _, n in bounds[:k]) for k in range(len(bounds))]
            assert sum(n for _, n in bounds) == frames
            if len(bounds) > 1:
                assert all(n == length for _, n in bounds[:-1]) and length / 2 <= bounds[-1][1] < length * 1.5
    # where the boundaries fall depends on the scene's length and the setting only; a longer scene keeps the
    # boundaries of a shorter one (an edit of its end re-renders its last segments, not the others)
    assert segment_bounds(400, 30)[:10] == segment_bounds(330, 30)[:10]


def overlay_shade(frames: np.ndarray) -> np.ndarray:
    """How much the overlay's dark box darkens the top right of each frame against the top left (the source
    is grey in both, and a fade darkens both alike): 1 without the overlay, about 0.7 with it."""
    corner = frames[:, 8:17, 100:150].astype(np.float32).mean(axis=(1, 2, 3))
    reference = frames[:, 8:17, 10:60].astype(np.float32).mean(axis=(1, 2, 3))
    return corner / np.maximum(reference, 1.0)


def chapters(path) -> list[tuple[float, float]]:
    stderr = run_ffmpeg(input_file(path), check=False).stderr
    return [(float(a), float(b)) for a, b in re.findall(r"Chapter #\d+:\d+: start ([\d.]+), end ([\d.]+)", stderr)]


def test_a_split_scene_has_the_frames_overlay_fades_and_chapter_of_the_whole_scene(tmp_path, movies):
    # scene 1: 120 frames with a 3 s overlay (90 frames) across three 30-frame segments, then fades
    # through black (1 s) into scene 2 across the boundary of its last segment
    rows = [f"Beeps,{frame_time(100)},{frame_time(220)},Year 1", f"Beeps,{frame_time(500)},{frame_time(530)},"]
    csv = write_csv(tmp_path, rows)
    base = Settings(transition=Transition("fade", 1.0), **FAST)
    _, whole = render(tmp_path, csv, movies, "whole", replace(base, segment_s=0))
    plan, split = render(tmp_path, csv, movies, "split", replace(base, segment_s=1.0))
    first = split.items["scene-0"]
    assert [s.job_id for s in first.segments] == ["scene-0.1", "scene-0.2", "scene-0.3", "scene-0.4"]
    assert [s.frames for s in first.segments] == [30, 30, 30, 30]
    segment_files = [tmp_path / "split" / ".megacut-cache" / "segments" / f"{s.key}.mov" for s in first.segments]
    for path, segment in zip(segment_files, first.segments):  # every segment starts on a keyframe: its own file
        video, audio = sorted(read_tracks(path), key=lambda t: t.handler != "vide")
        assert video.samples == segment.frames
    # exactly the samples of the whole scene, split at the cumulative frame counts
    fmt = OutputFormat(160, 120, NTSC)
    samples = [next(t for t in read_tracks(p) if t.handler == "soun").duration for p in segment_files]
    assert samples == [fmt.samples_for(30 * (k + 1)) - fmt.samples_for(30 * k) for k in range(4)]
    assert sum(samples) == fmt.samples_for(120)

    frames = {name: decode_frames(r.parts[0].path, 160, 120, tmp_path) for name, r in (("whole", whole),
                                                                                         ("split", split))}
    assert len(frames["split"]) == len(frames["whole"]) == 150
    indices = read_indices(frames["split"])  # frames darkened by the fade-out no longer read
    assert indices[:90] == read_indices(frames["whole"])[:90] == list(range(100, 190))
    assert indices[140:] == list(range(520, 530))  # scene 2 fades in over its first half
    shade = overlay_shade(frames["split"])
    assert np.abs(shade - overlay_shade(frames["whole"])).max() < 0.05  # its fades too
    assert (shade[15:70] < 0.85).all() and (shade[95:110] > 0.95).all()  # across the boundaries at frames 30 and 60
    luma = {name: f.astype(np.float32).mean(axis=(1, 2, 3)) for name, f in frames.items()}
    assert np.abs(luma["split"] - luma["whole"]).max() < 3  # the fade through black falls where it falls whole
    assert luma["split"][119] < 20 and luma["split"][80] > 60
    # audio: the same fade, the same samples (within encoding noise) and one chapter per scene
    audio = {name: decode_audio(r.parts[0].path, tmp_path).astype(np.int32) for name, r in (("whole", whole),
                                                                                              ("split", split))}
    assert len(audio["split"]) == len(audio["whole"])
    # sample for sample but for noise: the source's AAC fills some bands with random noise (PNS), which
    # depends on where decoding started; the beeps start on the same samples
    difference = audio["split"] - audio["whole"]
    assert np.sqrt((difference.astype(np.float64) ** 2).mean()) < 0.02 * np.sqrt((audio["whole"] ** 2.0).mean())
    assert beep_onsets(audio["split"]) == beep_onsets(audio["whole"])
    assert len(chapters(split.parts[0].path)) == 2 and chapters(split.parts[0].path) == chapters(whole.parts[0].path)
    # the report: one entry per scene, its segments listed inside with their render times
    report = report_data(split)
    scene = next(s for s in report["scenes"] if s["index"] == 0)
    assert [s["job"] for s in scene["segments"]] == ["scene-0.1", "scene-0.2", "scene-0.3", "scene-0.4"]
    assert all(s["status"] == "ok" and s["render_s"] > 0 for s in scene["segments"])
    assert len(report["scenes"]) == 2 and report["parts"][0]["scenes"] == [0, 1]


def test_editing_an_overlay_re_renders_only_the_segments_that_show_it(tmp_path, movies):
    settings = Settings(segment_s=1.0, **FAST)
    csv = write_csv(tmp_path, [f"Beeps,{frame_time(100)},{frame_time(220)},Year 1"])
    render(tmp_path, csv, movies, "out", settings)
    csv.write_text(csv.read_text().replace("Year 1", "Year 2"))
    _, edited = render(tmp_path, csv, movies, "out", settings)
    assert [s.status for s in edited.items["scene-0"].segments] == ["ok", "ok", "ok", "cached"]
    assert edited.parts[0].status == "written"


def test_an_overlay_edit_keeps_the_parts_audio_track_and_a_time_edit_encodes_it_again(tmp_path, movies):
    settings = Settings(segment_s=1.0, **FAST)
    csv = write_csv(tmp_path, [f"Beeps,{frame_time(100)},{frame_time(220)},Year 1",
                               f"Beeps,{frame_time(300)},{frame_time(330)},"])
    render(tmp_path, csv, movies, "out", settings)
    kept = list((tmp_path / "out" / ".megacut-cache" / "audio").glob("*.m4a"))
    assert len(kept) == 1
    encoded_at = kept[0].stat().st_mtime_ns
    csv.write_text(csv.read_text().replace("Year 1", "Year 2"))
    _, edited = render(tmp_path, csv, movies, "out", settings)
    assert [s.status for s in edited.items["scene-0"].segments] == ["ok", "ok", "ok", "cached"]
    assert kept[0].stat().st_mtime_ns == encoded_at  # the sound did not change: not encoded again
    _, fresh = render(tmp_path, csv, movies, "fresh", settings)
    assert np.array_equal(decode_audio(edited.parts[0].path, tmp_path), decode_audio(fresh.parts[0].path, tmp_path))
    csv.write_text(csv.read_text().replace(frame_time(330), frame_time(340)))
    _, longer = render(tmp_path, csv, movies, "out", settings)
    assert kept[0].stat().st_mtime_ns != encoded_at  # new times, new sound: encoded again
    audio = decode_audio(longer.parts[0].path, tmp_path)
    assert abs(len(audio) / 48000 - 160 / float(NTSC)) < 1024 / 48000 + 0.001
    assert np.array_equal(audio[:len(audio) // 2], decode_audio(fresh.parts[0].path, tmp_path)[:len(audio) // 2])


def test_a_kept_audio_track_is_not_used_for_a_part_that_lost_an_item(tmp_path, movies, monkeypatch):
    settings = Settings(segment_s=1.0, **FAST)
    csv = write_csv(tmp_path, [f"Beeps,{frame_time(100)},{frame_time(160)},Year 1",
                               f"Beeps,{frame_time(300)},{frame_time(330)},"])
    render(tmp_path, csv, movies, "out", settings)
    csv.write_text(csv.read_text().replace("Year 1", "Year 2"))

    def fails(job, **kwargs):
        raise FFmpegError("this scene fails now")

    monkeypatch.setitem(RENDERERS, "scene/ffmpeg", fails)
    plan = prepare_plan(csv, movies, settings)
    result = render_plan(plan, RunOptions(output_dir=tmp_path / "out", executor="inline", retries=0, quiet=True))
    assert result.parts[0].status == "incomplete"
    audio = decode_audio(result.parts[0].path, tmp_path)
    assert abs(len(audio) / 48000 - 30 / float(NTSC)) < 1024 / 48000 + 0.001  # the second scene's sound only


def test_split_scenes_give_identical_frames_with_any_worker_count(tmp_path, movies):
    csv = write_csv(tmp_path, [f"Beeps,{frame_time(40)},{frame_time(130)},Year 3", "Beeps,1,2,"])
    settings = Settings(segment_s=1.0, **FAST)
    digests = set()
    for name, options in [("inline", dict(executor="inline")), ("two", dict(max_workers=2))]:
        _, result = render(tmp_path, csv, movies, name, settings, **options)
        digests.add(hash(decode_frames(result.parts[0].path, 160, 120, tmp_path).tobytes()))
    assert len(digests) == 1


def test_fifty_split_scenes_keep_audio_and_video_within_a_frame_at_every_boundary(tmp_path, movies):
    csv = write_csv(tmp_path, beep_rows(11, 50, range(31, 45)))  # 2 segments of 15 frames (the last longer)
    plan, result = render(tmp_path, csv, movies, "out", Settings(segment_s=0.5, **FAST), max_workers=2)
    assert all(len(r.segments) >= 2 for r in result.items.values())
    assert_beeps_in_sync(result.parts[0].path, plan, tmp_path, 150)


def test_segment_keys_do_not_depend_on_other_rows(tmp_path, movies):
    settings = Settings(segment_s=1.0, **FAST)
    row = f"Beeps,{frame_time(100)},{frame_time(220)},Year 1"

    def keys(rows):
        plan = prepare_plan(write_csv(tmp_path, rows), movies, settings)
        return {i.id: i.keys for g in scene_groups(plan, tmp_path) for i in g.items}

    alone = keys([row])["scene-0"]
    assert len(alone) == 4
    assert keys([f"Beeps,{frame_time(600)},{frame_time(700)},", row])["scene-1"] == alone


def test_a_segments_sound_is_kept_lossless_and_smaller_than_its_pcm(tmp_path, movies):
    csv = write_csv(tmp_path, [f"Beeps,{frame_time(100)},{frame_time(160)},"])
    plan, result = render(tmp_path, csv, movies, "out", Settings(segment_s=1.0, **FAST))
    for segment in result.items["scene-0"].segments:
        path = tmp_path / "out" / ".megacut-cache" / "segments" / f"{segment.key}.mov"
        data = b"".join(segment_pcm(path))
        assert len(data) == 4 * plan.format.samples_for(segment.frames)
        assert np.frombuffer(data, dtype=np.int16).reshape(-1, 2).tolist() == decode_audio(path, tmp_path).tolist()
        sound = next(t for t in read_tracks(path) if t.handler == "soun")
        assert sound.codec == "alac" and sound.duration == plan.format.samples_for(segment.frames)


def test_the_part_is_right_when_its_early_audio_encode_fails(tmp_path, movies, monkeypatch, caplog):
    finish, failed = PartAudio.finish, []

    def broken_once(self):  # the early encoder fails; the join encodes the finished segments' sound again
        if not failed:
            failed.append(self)
            raise OSError("disk gone")
        return finish(self)

    monkeypatch.setattr(PartAudio, "finish", broken_once)
    csv = write_csv(tmp_path, [f"Beeps,{frame_time(100)},{frame_time(160)},", f"Beeps,{frame_time(300)},{frame_time(330)},"])
    plan, result = render(tmp_path, csv, movies, "out", Settings(segment_s=1.0, **FAST))
    path = result.parts[0].path
    assert read_indices(decode_frames(path, 160, 120, tmp_path)) == [*range(100, 160), *range(300, 330)]
    audio = decode_audio(path, tmp_path)
    assert abs(len(audio) / 48000 - 90 / float(NTSC)) < 1024 / 48000 + 0.001
    assert "encoding its audio early failed (OSError: disk gone); encoding it now" in caplog.text


def test_a_parts_sound_rendered_ahead_of_its_video_gives_the_same_part(tmp_path, movies, monkeypatch):
    import megacut.run.part as part

    csv = write_csv(tmp_path, [f"Beeps,{frame_time(100)},{frame_time(190)},Year 1",
                               f"Beeps,{frame_time(300)},{frame_time(360)},"])
    settings = Settings(segment_s=1.0, transition=Transition("fade", 0.5), **FAST)  # fades in the sound too
    parts = {}
    for name, rounds in (("in order", 0), ("ahead", 1000)):
        monkeypatch.setattr(part, "AHEAD_ROUNDS", rounds)
        _, result = render(tmp_path, csv, movies, name, settings, executor="inline")
        parts[name] = (result.parts[0].path.read_bytes(), report_data(result)["parts"][0]["sounds_alone"])
    # in order: every segment's sound read from it; ahead: the first ones rendered alone while the jobs ran
    assert parts["in order"][1] == 0 and parts["ahead"][1] >= 1
    assert parts["ahead"][0] == parts["in order"][0]


def test_a_scene_whose_sound_went_ahead_and_then_failed_is_left_out_of_the_audio_too(tmp_path, movies, monkeypatch,
                                                                                   caplog):
    import megacut.run.part as part

    render_scene = RENDERERS["scene/ffmpeg"]

    def first_scene_fails(job, **kwargs):
        if job.id.startswith("scene-0."):
            raise FFmpegError("this scene fails")
        return render_scene(job, **kwargs)

    monkeypatch.setattr(part, "AHEAD_ROUNDS", 1000)  # every scene's sound goes to the encoder at once
    monkeypatch.setitem(RENDERERS, "scene/ffmpeg", first_scene_fails)
    csv = write_csv(tmp_path, [f"Beeps,{frame_time(100)},{frame_time(160)},Year 1",
                               f"Beeps,{frame_time(300)},{frame_time(330)},"])
    plan = prepare_plan(csv, movies, Settings(segment_s=1.0, **FAST))
    with caplog.at_level("INFO", logger="megacut.run.part"):
        result = render_plan(plan, RunOptions(output_dir=tmp_path / "out", executor="inline", retries=0, quiet=True))
    assert result.parts[0].status == "incomplete"
    path = result.parts[0].path
    assert read_indices(decode_frames(path, 160, 120, tmp_path)) == list(range(300, 330))
    audio = decode_audio(path, tmp_path)
    assert abs(len(audio) / 48000 - 30 / float(NTSC)) < 1024 / 48000 + 0.001  # the second scene's sound only
    assert "failed after its sound went to the part's audio; the audio is encoded at the join" in caplog.text


def test_sounds_rendered_alone_reach_the_encoder_in_order_a_few_at_a_time(tmp_path):
    folder = tmp_path / "audio"
    waiting = []  # sounds rendered alone and not encoded yet, each time another one starts

    def tone(frequency):
        def args(output):
            waiting.append(len(list(folder.glob("sound-*.pcm"))))
            if frequency == 200:
                time.sleep(0.5)  # the first one is slow: the others must not pile up behind it
            return ["-loglevel", "error", "-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate=48000:"
                    "duration=0.5", "-ac", "2", "-c:a", "pcm_s16le", *output_file(output, "-f", "s16le")]
        return args

    audio = PartAudio(folder, OutputFormat(160, 120, NTSC))
    try:
        for k in range(8):  # segments not rendered (never will be): every sound rendered alone
            audio.add(tmp_path / f"segment-{k}.mov", tone(200 + 100 * k))
        decoded = decode_audio(audio.finish(), tmp_path)
        assert audio.rendered_alone == 8
    finally:
        audio.close()
    assert abs(len(decoded) / 48000 - 4.0) < 2048 / 48000
    heard = [dominant_frequency(decoded[k * 24000 + 4000:(k + 1) * 24000 - 4000]) for k in range(8)]
    assert [round(f / 100) * 100 for f in heard] == [200 + 100 * k for k in range(8)]  # in the order added
    assert len(waiting) == 8 and max(waiting) < ALONE_AHEAD
    assert not folder.exists()  # closed: its scratch folder is gone


def test_closing_a_parts_audio_stops_the_sounds_being_rendered_alone(tmp_path):
    import psutil

    folder = tmp_path / "audio"

    def slow(output):  # 30 s of sound at its own pace
        return ["-loglevel", "error", "-re", "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=30", "-ac", "2",
                "-c:a", "pcm_s16le", *output_file(output, "-f", "s16le")]

    audio = PartAudio(folder, OutputFormat(160, 120, NTSC))
    for k in range(5):
        audio.add(tmp_path / f"segment-{k}.mov", slow)
    time.sleep(0.5)
    assert len([p for p in psutil.Process().children(recursive=True) if "ffmpeg" in p.name()]) >= 2
    started = time.monotonic()
    audio.close()
    assert time.monotonic() - started < 5
    assert not folder.exists()
    assert not [p for p in psutil.Process().children(recursive=True) if "ffmpeg" in p.name()]
