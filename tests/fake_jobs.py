"""Jobs for scheduler tests: they sleep, raise, hang or kill their worker, on purpose."""

import os
import time
from dataclasses import dataclass
from pathlib import Path

from megacut.errors import Cancelled, FFmpegError
from megacut.run import worker


@dataclass(frozen=True)
class FakeJob:
    name: str
    cost: float = 1.0
    cost_class: str | None = None  # jobs alike in CPU time per unit of cost (a scene's source)
    sleep_s: float = 0.0
    fail_times: int = 0  # raise on the first N attempts (counted in files under state_dir)
    die_times: int = 0  # os._exit on the first N attempts
    hang: bool = False  # wait for the cancel event
    state_dir: str = ""

    @property
    def id(self) -> str:
        return self.name


def _attempt(job: FakeJob) -> int:
    marker = Path(job.state_dir) / f"{job.name}.attempts"
    count = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(count))
    return count


def run_fake(job: FakeJob) -> str:
    attempt = _attempt(job) if job.state_dir else 1
    Path(job.state_dir, f"{job.name}.pid").write_text(str(os.getpid())) if job.state_dir else None
    if attempt <= job.die_times:
        os._exit(3)
    if attempt <= job.fail_times:
        raise FFmpegError(f"{job.name} failed on attempt {attempt}", stderr_tail="last line of ffmpeg")
    if job.hang:
        while not worker.cancel_event().is_set():
            time.sleep(0.05)
        raise Cancelled("cancelled")
    time.sleep(job.sleep_s)
    return f"{job.name} done"
