"""Memory sampling, backpressure, the default worker count, the disk check and the progress output."""

import io
import subprocess
import sys
import time

import pytest

from megacut.plan.build import OutputFormat
from megacut.run import disk, monitor
from megacut.run.disk import DiskSpaceError, check_free_space, estimate_bytes
from megacut.run.monitor import (
    MemoryMonitor,
    job_memory_bytes,
    tree_rss_bytes,
    workers_for_memory,
)
from megacut.run.progress import Progress


def test_tree_rss_counts_child_processes():
    alone = tree_rss_bytes()
    child = subprocess.Popen([sys.executable, "-c", "x = bytearray(200_000_000); import time; time.sleep(5)"])
    try:
        deadline = time.monotonic() + 10
        while tree_rss_bytes() < alone + 150_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tree_rss_bytes() >= alone + 150_000_000
    finally:
        child.kill()
        child.wait()


def test_monitor_keeps_the_peak_and_holds_jobs_over_the_limit():
    with MemoryMonitor(limit_bytes=1) as memory:  # megacut alone is over a 1-byte limit
        assert not memory.admit()
        assert memory.held_back == 1
    assert memory.peak_rss_bytes >= memory.current_rss_bytes > 0
    with MemoryMonitor(limit_bytes=None, floor_bytes=0) as relaxed:
        assert relaxed.admit()


def test_default_workers_are_lowered_when_memory_is_short(monkeypatch):
    job = monitor.job_memory_bytes(1280 * 720)
    assert 300e6 < job < 400e6  # measured ~300 MB for a 720p x264 medium job and its worker
    assert monitor.job_memory_bytes(1920 * 1080) > job
    monkeypatch.setattr(monitor, "available_bytes", lambda: monitor.DEFAULT_FLOOR_BYTES + 2 * job)
    assert workers_for_memory(8, job) == 2
    monkeypatch.setattr(monitor, "available_bytes", lambda: 0)
    assert workers_for_memory(8, job) == 1
    monkeypatch.setattr(monitor, "available_bytes", lambda: 10**12)
    assert workers_for_memory(8, job) == 8


def test_default_worker_count_keeps_cores_busy_without_oversubscribing(monkeypatch):
    from megacut.cli import rendering as cli
    from megacut.run import scheduler
    from megacut.run.groups import Group

    monkeypatch.setattr(monitor, "available_bytes", lambda: 10**12)
    monkeypatch.setattr(scheduler, "default_workers", lambda: 8)
    pixels = cli.largest_pixels([Group(1, None, (), OutputFormat(1280, 720, 25), "t")])
    assert pixels == 1280 * 720
    assert cli.default_worker_count(pixels, encoder_threads=2) == 4
    assert cli.default_worker_count(pixels, encoder_threads=1) == 8
    assert cli.default_worker_count(pixels, encoder_threads=16) == 1
    # before the plan is made, the size may not be known: 1080p jobs are assumed
    monkeypatch.setattr(monitor, "available_bytes", lambda: monitor.DEFAULT_FLOOR_BYTES + 3 * job_memory_bytes(1920 * 1080))
    assert cli.default_worker_count(None, encoder_threads=1) == 3


def test_disk_check_names_the_folder_and_the_sizes(tmp_path, monkeypatch):
    fmt = OutputFormat(1920, 1080, 25)
    segments, parts = estimate_bytes(25 * 3600, 25 * 3600, fmt)
    assert 3e9 < segments < 5e9 and 3e9 < parts < 4.5e9  # an hour of 1080p: a few GB each
    usage = type("Usage", (), {"free": 1_000_000_000})
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: usage)
    with pytest.raises(DiskSpaceError) as caught:
        check_free_space(tmp_path / "cache", segments, tmp_path / "out", parts)
    message = str(caught.value)
    assert str(tmp_path / "cache") in message and "needs about 7.7" in message and "1.0 GB is free" in message
    check_free_space(tmp_path / "cache", 1000, tmp_path / "out", 1000)  # small renders pass


def test_plain_progress_lines_when_not_on_a_terminal():
    stream = io.StringIO()
    progress = Progress(20.0, stream=stream, interactive=False)
    progress.reused(5.0, 2)
    progress.advance(10.0, "ok", running=1, rss_bytes=300_000_000, message="scene 3 (line 4) ok in 2.0 s")
    progress.advance(5.0, "failed", running=0, rss_bytes=300_000_000, message="scene 4 (line 5) failed: boom")
    lines = stream.getvalue().splitlines()
    assert lines == ["megacut: 2 segment(s) reused from the cache (5 s of output)",
                     "megacut: [15/20 s] scene 3 (line 4) ok in 2.0 s (mem 300 MB)",
                     "megacut: [20/20 s] scene 4 (line 5) failed: boom (mem 300 MB)"]
    quiet = io.StringIO()
    Progress(1.0, stream=quiet, interactive=False, quiet=True).advance(
        1.0, "failed", running=0, rss_bytes=1, message="scene 1 failed")
    assert "scene 1 failed" in quiet.getvalue()  # failures are shown even when quiet


def test_work_a_stop_cancelled_is_shown_as_cancelled_not_done():
    stream = io.StringIO()
    progress = Progress(20.0, stream=stream, interactive=True)
    progress.advance(10.0, "ok", running=2, rss_bytes=1, message="scene 1 ok")
    progress.advance(5.0, "not-started", running=1, rss_bytes=1, message="scene 2 not-started")
    progress.advance(5.0, "cancelled", running=0, rss_bytes=1, message="scene 3 cancelled")
    assert progress.done_s == 10.0 and progress.bar.n == 10.0  # not 100%
    assert progress.counts == {"done": 1, "failed": 0, "cancelled": 2}
    assert "1 done, 0 failed, 2 cancelled, 0 running" in str(progress.bar.postfix)
    progress.close()
