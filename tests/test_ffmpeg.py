"""The ffmpeg boundary: errors carry ffmpeg's words, and no ffmpeg outlives a call."""

import os
import subprocess
import sys
import threading
import time

import psutil
import pytest
from scene_jobs import ffmpeg_children

from megacut.errors import Cancelled, FFmpegError
from megacut.ffmpeg import read_from_ffmpeg, run_ffmpeg, stderr_tail


def test_failure_carries_the_last_lines_of_stderr(tmp_path):
    with pytest.raises(FFmpegError) as caught:
        run_ffmpeg(["-i", str(tmp_path / "missing.mkv"), "-f", "null", "-"])
    assert "missing.mkv" in caught.value.stderr_tail and "No such file" in str(caught.value)
    assert not ffmpeg_children()


def test_cancel_stops_a_running_ffmpeg_at_once():
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "null", "-"], cancel=cancel)
    assert time.monotonic() - started < 5
    assert not ffmpeg_children()


def test_a_stuck_ffmpeg_is_killed(tmp_path):
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)  # ffmpeg blocks opening it: no CPU, no progress
    started = time.monotonic()
    with pytest.raises(FFmpegError, match="made no progress"):
        run_ffmpeg(["-i", str(fifo), "-f", "null", "-"], stall_timeout_s=1.0)
    assert time.monotonic() - started < 10
    assert not ffmpeg_children()


def test_overall_timeout():
    with pytest.raises(FFmpegError, match="longer than 0.5 s"):
        run_ffmpeg(["-re", "-f", "lavfi", "-i", "testsrc2", "-f", "null", "-"], timeout_s=0.5)
    assert not ffmpeg_children()


SINE = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2", "-f", "s16le", "-"]


def test_reading_ffmpeg_gives_every_byte_it_writes():
    assert len(b"".join(read_from_ffmpeg(["-loglevel", "error", *SINE], chunk_bytes=1000))) == 2 * 96000
    assert not ffmpeg_children()


def test_reading_ffmpeg_stops_it_when_the_reader_stops_or_is_cancelled():
    endless = ["-f", "lavfi", "-i", "sine=frequency=440", "-f", "s16le", "-"]
    reader = read_from_ffmpeg(endless, chunk_bytes=4096)
    assert len(next(reader)) > 0 and ffmpeg_children(include_zombies=False)
    reader.close()
    assert not ffmpeg_children()
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        for _ in read_from_ffmpeg(endless, cancel, chunk_bytes=4096):
            cancel.set()
    assert not ffmpeg_children()


def test_reading_a_failing_ffmpeg_raises_with_its_stderr(tmp_path):
    with pytest.raises(FFmpegError) as caught:
        list(read_from_ffmpeg(["-i", str(tmp_path / "missing.mkv"), "-f", "s16le", "-"]))
    assert "missing.mkv" in caught.value.stderr_tail
    assert not ffmpeg_children()


def test_no_ffmpeg_outlives_a_megacut_killed_outright(tmp_path):
    marker = tmp_path / "marker.pcm"  # in the command line of the ffmpeg to find
    script = ("import sys; from megacut.ffmpeg import run_ffmpeg; "
              f"run_ffmpeg(['-re', '-f', 'lavfi', '-i', 'sine=frequency=440', '-f', 's16le', '-y', {str(marker)!r}])")
    megacut = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:  # ffmpeg is writing
            time.sleep(0.1)
        assert marker.exists() and running_with(str(marker))
        megacut.kill()  # SIGKILL: nothing of it runs any more
        megacut.wait()
        deadline = time.monotonic() + 5
        while running_with(str(marker)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running_with(str(marker))
    finally:
        megacut.kill()
        for proc in running_with(str(marker)):
            proc.kill()


def running_with(marker: str) -> list[psutil.Process]:
    """The processes whose command line has ``marker``, not yet exited."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if any(marker in arg for arg in proc.info["cmdline"] or []) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def test_stderr_tail_keeps_the_last_non_empty_lines():
    assert stderr_tail("a\n\nb\rc\n" + "x\n" * 20, lines=3) == "x\nx\nx"
    assert stderr_tail("first\nlast error\n\n") == "first\nlast error"
