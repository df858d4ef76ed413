"""The scaling model's replay (benchmarks/scaling_model.py): megacut's own job order on N simulated cores."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
scaling_model = pytest.importorskip("scaling_model")
Job = scaling_model.Job


def test_jobs_fill_the_cores_and_the_part_is_joined_after_its_last_job():
    jobs = [Job(1, 50, cpu_s=2.0, wall_s=2.0, source="a.mp4") for _ in range(4)]
    wall, cpu, jobs_end = scaling_model.simulate(jobs, {1: 0.5}, cores=2, workers=2)
    assert jobs_end == pytest.approx(4.0)  # two rounds of two jobs
    assert wall == pytest.approx(4.5)  # then the join, on one core
    assert cpu == pytest.approx(8.5)


def test_a_part_waits_for_its_audio_unless_its_last_jobs_sound_is_rendered_alone(monkeypatch):
    monkeypatch.setattr(scaling_model, "AUDIO_S_PER_S", 0.5)  # a slow encoder: 0.5 s per second of audio
    monkeypatch.setattr(scaling_model, "ALONE_S", 0.2)
    jobs = [Job(1, 50, cpu_s=1.0, wall_s=1.0, source="a.mp4", seconds=2.0) for _ in range(2)]
    one_encoder = dict(cores=2, workers=2, audio_lanes=0)
    wall, _, jobs_end = scaling_model.simulate(jobs, {1: 0.0}, ahead_rounds=0, **one_encoder)
    assert jobs_end == pytest.approx(1.0)
    assert wall == pytest.approx(3.0)  # both end at 1 s; then 2 s of audio each, at 0.5 s a second
    # two jobs left, one round of two workers: their sound is rendered alone and encoded from the start
    wall, _, _ = scaling_model.simulate(jobs, {1: 0.0}, ahead_rounds=1, **one_encoder)
    assert wall == pytest.approx(2 * (1.0 + 0.2 / scaling_model.ALONE_THREADS))


def test_a_parts_audio_in_chunks_is_encoded_on_every_core(monkeypatch):
    monkeypatch.setattr(scaling_model, "AUDIO_S_PER_S", 0.5)
    monkeypatch.setattr(scaling_model, "CHUNK_START_S", 0.0)
    monkeypatch.setattr(scaling_model, "ROLL_S", 0.0)
    monkeypatch.setattr(scaling_model, "MUX_S_PER_S", 0.0)
    monkeypatch.setattr(scaling_model, "ALONE_S", 0.0)
    # 8 s of sound handed over at once, chunks of 2 s (1 s each to encode): 4 chunks on 2 cores, 2 rounds
    assert scaling_model.part_audio_s(8.0, cores=2, chunk_s=2.0) == pytest.approx(2.0)
    assert scaling_model.part_audio_s(8.0, cores=0) == pytest.approx(4.0)  # one encoder
    # four jobs of 2 s of sound end at 1 s: a 120 s chunk is one encode, after the last job; with the
    # default lanes (the cores) and 2 s chunks, four encodes two at a time
    jobs = [Job(1, 50, cpu_s=1.0, wall_s=1.0, source="a.mp4", seconds=2.0) for _ in range(4)]
    wall, _, _ = scaling_model.simulate(jobs, {1: 0.0}, cores=4, workers=4, ahead_rounds=0)
    assert wall == pytest.approx(1.0 + 8 * 0.5)
    monkeypatch.setattr(scaling_model, "CHUNK_S", 2.0)
    wall, _, _ = scaling_model.simulate(jobs, {1: 0.0}, cores=2, workers=2, ahead_rounds=0)
    assert wall == pytest.approx(2.0 + 2 * 1.0)  # the jobs in two rounds, then two rounds of two chunks


def test_the_longest_jobs_of_the_window_start_first_and_short_ones_fill_the_end():
    """Six short jobs, then two long ones, on 3 cores: in order, the long ones start late."""
    jobs = [Job(1, 10, 0.5, 0.5, "a.mp4") for _ in range(6)] + [Job(1, 40, 2.0, 2.0, "a.mp4") for _ in range(2)]
    in_order, _, _ = scaling_model.simulate(jobs, {}, cores=3, workers=3, window_per_worker=0)
    longest_first, cpu, _ = scaling_model.simulate(jobs, {}, cores=3, workers=3, window_per_worker=3)
    assert in_order == pytest.approx(3.0)  # shorts 0-1 s, then the long ones
    assert longest_first == pytest.approx(2.5)  # the long ones at once; four shorts beside them, then two
    assert cpu == pytest.approx(7.0)


def test_with_every_cost_known_a_costly_source_starts_first():
    """Equal frame counts, but the last job's source costs four times as much per frame."""
    jobs = [Job(1, 10, 0.5, 0.5, "a.mp4") for _ in range(3)] + [Job(1, 10, 2.0, 2.0, "b.mp4")]
    learned, _, _ = scaling_model.simulate(jobs, {}, cores=2, workers=2, window_per_worker=4)
    known, _, _ = scaling_model.simulate(jobs, {}, cores=2, workers=2, window_per_worker=4, known_costs=True)
    assert learned == pytest.approx(2.5)  # nothing to tell them apart before it runs: it starts with the third
    assert known == pytest.approx(2.0)  # it starts at once, the three others one after another beside it


def test_the_many_cores_check_judges_the_targets_from_the_runs_it_measured(monkeypatch, capsys, tmp_path):
    import os

    check = pytest.importorskip("many_cores_check")
    cpus = len(os.sched_getaffinity(0))
    command = {"wall_s": 10.0, "cpu_s": 110.0, "valid": True}
    megacut = {"wall_s": 7.9, "cpu_s": 0.9 * 7.9 * cpus, "valid": True}
    monkeypatch.setattr(check, "run_demo", lambda *args: {"ffmpeg-command": command, f"megacut-{cpus}w": megacut})
    assert check.main(["--workloads", "readme", "--out", str(tmp_path)]) == 0
    assert "90%   0.79   busy >= 85%, ratio <= 0.80: met" in capsys.readouterr().out
    megacut["wall_s"] = 8.5  # slower than 0.80x the command, and fewer cores busy
    assert check.main(["--workloads", "readme", "--out", str(tmp_path)]) == 0
    assert "84%   0.85   busy >= 85%, ratio <= 0.80: not met" in capsys.readouterr().out
    megacut["valid"] = False  # an output that failed its checks: figures that do not count
    assert check.main(["--workloads", "readme", "--out", str(tmp_path)]) == 1
    assert "(an output failed its checks)" in capsys.readouterr().out


def test_the_saga_is_parts_of_two_hours_split_by_megacuts_own_segment_bounds():
    costs = scaling_model.JobCosts(per_frame=0.1, per_job=0.5, cores=1.0)
    whole, _ = scaling_model.saga_jobs(costs, 0.0, parts=2)
    split, joins = scaling_model.saga_jobs(costs, 30.0, parts=2)
    assert len(whole) == 2 * scaling_model.SAGA_SCENES and set(joins) == {1, 2}
    for jobs in (whole, split):
        for part in (1, 2):
            seconds = sum(j.seconds for j in jobs if j.part == part)
            assert seconds == pytest.approx(scaling_model.SAGA_PART_S, abs=1.0)  # frames rounded per scene
    assert all(j.seconds < 45.0 for j in split) and len(split) > 4 * len(whole)
    # each job: its frames' cost and one job's more
    assert all(j.cpu_s == pytest.approx(0.5 + 0.1 * j.frames) for j in split)


def test_segments_keep_many_cores_busy_where_whole_scenes_cannot():
    costs = scaling_model.JobCosts(per_frame=0.1, per_job=0.5, cores=1.0)
    model = scaling_model.saga_model(costs, cores_list=(64,), targets=(30.0,))
    whole, split = model["0"][0]["part"], model["30"][0]["part"]
    assert whole["busy"] < 0.3 and split["busy"] > 0.8  # a part's longest scene bounds it when whole
    assert split["cpu_s"] > whole["cpu_s"]  # the segments' own cost is counted


def test_the_long_workload_adds_up_to_twenty_minutes_of_scenes_from_5_s_to_4_min():
    lengths = scaling_model.demo.power_lengths(30, 5.0, 240.0, 1200.0, seed=7)
    assert len(lengths) == 30 and sum(lengths) == pytest.approx(1200.0, abs=0.01)
    assert min(lengths) >= 5.0 and max(lengths) == 240.0
    assert sorted(lengths) != lengths  # in a seeded order, not sorted


def test_the_saga_model_knows_what_tone_mapping_costs():
    costs = scaling_model.JobCosts(per_frame=0.1, per_job=0.5, cores=1.0)
    sdr, _ = scaling_model.saga_jobs(costs, 30.0, 1)
    half, _ = scaling_model.saga_jobs(costs, 30.0, 1, hdr_share=0.5)
    hdr_frames = sum(j.frames for j in half if j.source == "saga-hdr.mkv")
    assert 0 < hdr_frames < sum(j.frames for j in half)
    extra = sum(j.cpu_s for j in half) - sum(j.cpu_s for j in sdr)
    assert extra == pytest.approx(hdr_frames * scaling_model.TONE_MAP_CPU_S["pq"])


def test_on_many_cores_a_parts_audio_in_chunks_no_longer_finishes_last():
    rows = scaling_model.audio_model([2, 16])["rows"]
    two, sixteen = rows
    assert two["audio_chunks_s"] < 0.6 * two["audio_one_s"]  # two cores: about half the time
    assert sixteen["audio_chunks_s"] < two["audio_chunks_s"] / 4  # and it goes on with the cores
    for row in rows:
        assert row["encode_chunks_s"] <= row["encode_one_s"] and row["copy_chunks_s"] <= row["copy_one_s"]
    # smart copy's jobs are cheap: one encoder is still busy long after the last job; chunks are not
    assert sixteen["copy_one_tail_s"] > 2 * sixteen["copy_chunks_tail_s"]
