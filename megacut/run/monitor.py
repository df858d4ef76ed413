"""Memory of megacut's whole process tree, sampled with psutil, and the backpressure rule.

The sampler runs as a thread in the parent: it sums the RSS of megacut and all
its descendants (workers and their ffmpeg processes), keeps the peak for the
progress bar, the summary and the report, and tells the scheduler to hold new
jobs while available memory is below a floor or the tree is above a limit.
"""

from __future__ import annotations

import threading

import psutil

SAMPLE_INTERVAL_S = 0.25  # short enough to catch an ffmpeg's peak, cheap enough to be invisible
# Below this much available memory no new job starts: a 1080p x264 job takes a few hundred MB.
DEFAULT_FLOOR_BYTES = 512 * 1024 * 1024
# Memory one render job needs, to lower the default worker count: measured ~300 MB for a 720p
# x264 "medium" job (its look-ahead and reference frames grow with the picture) plus its worker.
JOB_BASE_BYTES = 120 * 1024 * 1024
JOB_BYTES_PER_PIXEL = 250


def job_memory_bytes(pixels: int) -> int:
    """Estimated peak of one render job (worker and ffmpeg) for pictures of this many pixels."""
    return JOB_BASE_BYTES + JOB_BYTES_PER_PIXEL * pixels


def tree_rss_bytes(root: psutil.Process | None = None) -> int:
    root = root or psutil.Process()
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return total


def available_bytes() -> int:
    return psutil.virtual_memory().available


def workers_for_memory(wanted: int, job_bytes: int) -> int:
    """Lower ``wanted`` so that every worker's job fits in the memory available now."""
    affordable = max(1, int((available_bytes() - DEFAULT_FLOOR_BYTES) // job_bytes))
    return max(1, min(wanted, affordable))


class MemoryMonitor:
    def __init__(self, *, limit_bytes: int | None = None, floor_bytes: int = DEFAULT_FLOOR_BYTES):
        self.limit_bytes = limit_bytes
        self.floor_bytes = floor_bytes
        self.peak_rss_bytes = 0
        self.current_rss_bytes = 0
        self.held_back = 0  # samples during which new jobs were held
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="megacut-memory", daemon=True)
        self._process = psutil.Process()

    def __enter__(self) -> "MemoryMonitor":
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> int:
        self.current_rss_bytes = tree_rss_bytes(self._process)
        self.peak_rss_bytes = max(self.peak_rss_bytes, self.current_rss_bytes)
        return self.current_rss_bytes

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self.sample()

    def admit(self) -> bool:
        """May a new job start now? (False while memory is short; the scheduler waits.)"""
        over_limit = self.limit_bytes is not None and self.current_rss_bytes > self.limit_bytes
        short = available_bytes() < self.floor_bytes
        if over_limit or short:
            self.held_back += 1
            return False
        return True
