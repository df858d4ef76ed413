"""Never lose work: signals and kills at random moments, then a rerun that finishes the job.

Each test runs `megacut process` as a real subprocess in its own process group
(as a terminal would) and checks the exit code, the files on disk, that no
ffmpeg is left running, and that a rerun decodes to the same frames as an
uninterrupted run without rendering finished scenes again.
"""

import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from fractions import Fraction

import psutil
import pytest
from framecode import decode_frames, make_framecode_video

pytestmark = pytest.mark.slow

SCENES = 14
RNG = random.Random(11)


def framecode_workload(root, lengths_s: list[float]):
    """Two frame-coded movies and a CSV of one scene per length, alternating movies; its uninterrupted
    render in ``root/reference``."""
    movies = root / "movies"
    movies.mkdir()
    make_framecode_video(movies / "A.mp4", frames=400, fps=25, size=(320, 180))
    make_framecode_video(movies / "B.mkv", frames=400, fps=Fraction(30000, 1001), size=(256, 144))
    rows = [f"{'A' if i % 2 else 'B'},{0.5 + i * 0.9:.3f},{0.5 + i * 0.9 + length:.3f},Year {1900 + i}"
            for i, length in enumerate(lengths_s)]
    csv = root / "scenes.csv"
    csv.write_text("movie,start,end,overlay\n" + "\n".join(rows) + "\n", encoding="utf-8")
    reference = root / "reference"
    proc = megacut(csv, movies, reference)
    assert proc.wait(timeout=300) == 0, proc.communicate()
    return csv, movies, reference


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    root = tmp_path_factory.mktemp("interrupt")
    csv, movies, reference = framecode_workload(root, [1.2] * SCENES)
    return csv, movies, digests(reference, root)


def megacut(csv, movies, output, *extra):
    args = [sys.executable, "-m", "megacut", "process", "--csv", str(csv), "--movies", str(movies),
            "--output", str(output), "--resolution", "320x180", "--fps", "25", "--preset", "veryfast",
            "--encoder-threads", "1", "--max-workers", "2", "--chunk-duration", "8s", "--segment-duration", "2", "-q",
            *extra]
    return subprocess.Popen(args, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def digests(output, scratch):
    found = {}
    for part in sorted(output.glob("mega_cut_part_*.mp4")):
        frames = decode_frames(part, 320, 180, scratch)
        found[part.name] = hashlib.sha256(frames.tobytes()).hexdigest()
    return found


def segments(output):
    """Finished segments (a killed run may also have left hidden .partial files, which do not count)."""
    return sorted(p for p in (output / ".megacut-cache" / "segments").glob("*.mov") if not p.name.startswith("."))


def wait_for_segments(output, count, proc, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    while len(segments(output)) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def ffmpeg_left(marker):
    time.sleep(0.5)
    return [p for p in psutil.process_iter(["cmdline"]) if any(marker in a for a in (p.info["cmdline"] or []))
            and any("ffmpeg" in a for a in p.info["cmdline"][:1])]


def kill_while_writing(proc, victim=lambda ffmpeg: ffmpeg, timeout_s=120):
    """As soon as an ffmpeg under ``proc`` writes a partial file, kill the process ``victim`` picks for it
    (that ffmpeg by default; None: not this one); return its pid, or None if none was found in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        for child in psutil.Process(proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "ffmpeg" in child.name() and any(".partial" in a for a in child.cmdline()):
                    target = victim(child)
                    if target is not None:
                        target.kill()
                        return target.pid
        time.sleep(0.01)
    return None


def no_partial_at_final_paths(output):
    assert not [p for p in output.iterdir() if ".partial" in p.name]
    report = json.loads((output / "megacut-report.json").read_text())
    for part in report["parts"]:
        if part["path"]:
            assert (output / f"mega_cut_part_{part['n']}.mp4").stat().st_size > 0
    return report


def rerun_matches_reference(workload, output, tmp_path, done_before):
    csv, movies, reference = workload
    proc = megacut(csv, movies, output)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    report = json.loads((output / "megacut-report.json").read_text())
    rendered = sum(1 for s in report["scenes"] if s["status"] == "ok")
    assert rendered <= SCENES - done_before  # finished scenes were not rendered again
    assert digests(output, tmp_path) == reference


def test_first_ctrl_c_finishes_running_scenes_and_keeps_them(workload, tmp_path):
    csv, movies, _ = workload
    output = tmp_path / "out"
    proc = megacut(csv, movies, output)
    wait_for_segments(output, RNG.randrange(1, 5), proc)
    os.killpg(proc.pid, signal.SIGINT)  # the terminal signals the whole process group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "interrupted: run the same command again to resume" in out
    report = no_partial_at_final_paths(output)
    assert report["interrupted"] is True
    statuses = [s["status"] for s in report["scenes"]]
    assert "cancelled" in statuses and "failed" not in statuses
    done = len(segments(output))
    assert statuses.count("ok") == done  # every job that was running finished and was kept
    assert not ffmpeg_left(str(output))
    rerun_matches_reference(workload, output, tmp_path, done)


@pytest.mark.parametrize("how", ["double-ctrl-c", "sigterm"])
def test_stopping_at_once_leaves_no_partial_file_and_no_ffmpeg(workload, tmp_path, how):
    csv, movies, _ = workload
    output = tmp_path / "out"
    proc = megacut(csv, movies, output)
    wait_for_segments(output, RNG.randrange(1, 4), proc)
    if how == "sigterm":
        os.kill(proc.pid, signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
    started = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert time.monotonic() - started < 15
    no_partial_at_final_paths(output)
    assert not list((output / ".megacut-cache" / "segments").glob(".*partial*"))
    assert not ffmpeg_left(str(output))
    rerun_matches_reference(workload, output, tmp_path, len(segments(output)))


def test_sigkill_of_the_main_process_then_rerun(workload, tmp_path):
    csv, movies, _ = workload
    output = tmp_path / "out"
    proc = megacut(csv, movies, output)
    wait_for_segments(output, RNG.randrange(2, 6), proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10  # workers notice and stop their ffmpeg within about a second
    while ffmpeg_left(str(output)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not ffmpeg_left(str(output))
    rerun_matches_reference(workload, output, tmp_path, len(segments(output)))
    assert not list((output / ".megacut-cache" / "segments").glob(".*partial*"))


def test_an_ffmpeg_killed_mid_job_is_retried(workload, tmp_path):
    csv, movies, reference = workload
    output = tmp_path / "out"
    proc = megacut(csv, movies, output)
    assert kill_while_writing(proc) is not None
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    report = json.loads((output / "megacut-report.json").read_text())
    retried = [s for s in report["scenes"] if s["attempts"] == 2]
    assert len(retried) == 1 and "ffmpeg failed" in retried[0]["retried_after"][0]  # the report says why
    assert digests(output, tmp_path) == reference
