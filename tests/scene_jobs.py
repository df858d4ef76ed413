"""Scene jobs for renderer tests: a scene cut from a probed source, its job, and checks that a cancelled or
failed job leaves nothing behind."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Callable

import psutil
import pytest

from megacut.errors import Cancelled
from megacut.plan.build import OutputFormat, Scene
from megacut.plan.scenes import SceneRow
from megacut.plan.settings import Settings
from megacut.plan.timecodes import Timecode
from megacut.render.jobs import ItemKind, SceneJob, Still, StillJob, scene_job, still_job

FAST = Settings(preset="veryfast")
FMT = OutputFormat(width=320, height=180, fps=Fraction(25))


def make_scene(info, start_s: float, frames: int, fmt: OutputFormat = FMT, **changes) -> Scene:
    row = SceneRow(index=0, line=2, movie=info.path.name, start=Timecode(text="0", seconds=Fraction(0)),
                   end=Timecode(text="1", seconds=Fraction(1)))
    duration_s = frames / float(fmt.fps)
    scene = Scene(index=0, line=2, row=row, source=info, start_s=start_s, end_s=start_s + duration_s, frames=frames,
                  duration_s=duration_s, audio=info.default_audio, overlay_lines=(), part=1, offset_s=0.0,
                  fade_in_s=0.0, fade_out_s=0.0, warnings=())
    return replace(scene, **changes)


def make_job(folder: Path, scene: Scene, fmt: OutputFormat = FMT, settings: Settings = FAST,
             name: str = "seg") -> SceneJob:
    return scene_job(scene, fmt, settings).at(folder / "segments" / f"{name}.mov", folder / "work" / name)


def make_still_job(folder: Path, section, fmt: OutputFormat = FMT, settings: Settings = FAST,
                   name: str = "s") -> StillJob:
    """The job that renders a spec's section (as `megacut sections` makes it), written under ``folder``."""
    still = Still(section.image, section.text, section.audio, section.duration_s)
    job = still_job(f"slide-{name}", ItemKind.SLIDE, section.name, still, fmt, settings)
    return job.at(folder / "segments" / f"{name}.mov", folder / "work" / name)


def seconds_until_cancelled(render: Callable[[threading.Event], object], cancel_after_s: float) -> float:
    """Run ``render(cancel)`` with ``cancel`` set after ``cancel_after_s``; it must raise Cancelled.
    Returns how long it ran."""
    cancel = threading.Event()
    timer = threading.Timer(cancel_after_s, cancel.set)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(Cancelled):
            render(cancel)
    finally:
        timer.cancel()
    return time.monotonic() - started


def ffmpeg_children(include_zombies: bool = True) -> list[psutil.Process]:
    """This process's ffmpeg descendants (``include_zombies=False``: only those not yet exited)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "ffmpeg" in child.name().lower() and (include_zombies or child.status() != psutil.STATUS_ZOMBIE):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def assert_nothing_left(job: SceneJob) -> None:
    """No segment, no scratch folder and no partial file of ``job``."""
    assert not job.segment_path.exists()
    assert not job.work_dir.exists()
    assert list(job.segment_path.parent.glob(".*partial*")) == []
