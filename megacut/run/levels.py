"""The loudness of a run's sources, measured beside its renders: one gain per source (render/loudness.py).

At the start of a run every source that a selected part plays is looked up in the cache's measurements;
those not measured yet are measured on threads of their own while the pool renders (each measurement is
one ffmpeg reading the source's sound, nothing else), the sources of the first parts first. Rendering
never waits for them: only a part's audio encoder does, when it reaches a scene whose source is still
being measured (join/audio.py takes each gain as a Future).

A source that cannot be measured keeps its level (gain 0), with a warning in the log and the report.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from megacut.errors import Cancelled, MegacutError
from megacut.plan.build import Scene
from megacut.render.loudness import Loudness, keep_measurement, measure_track, read_measurement

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Level:
    """What became of one source's measurement: its loudness (None: not measured) and the gain applied."""

    loudness: Loudness | None
    gain_db: float
    measured_now: bool = False
    error: str | None = None


class SourceLevels:
    """The run's measurements by key (render/loudness.py's ``measurement_key``), as Futures of a Level."""

    def __init__(self, folder: Path, target_lufs: float | None, threads: int = 1, cancel=None):
        self.folder, self.target, self.cancel = folder, target_lufs, cancel
        self.levels: dict[str, Future] = {}
        self._threads = max(1, threads)
        self._pool: ThreadPoolExecutor | None = None

    def want(self, key: str, scene: Scene, channels: int, measure: bool = True) -> None:
        """Measure the source of ``scene`` (its chosen track, in ``channels``) unless it is kept or asked for
        (``measure`` False: only a kept measurement, for the report of a part whose sound is kept)."""
        if key in self.levels or self.target is None or scene.audio is None:
            return
        kept = read_measurement(self.folder, key)
        if kept is not None:
            self.levels[key] = _done(Level(kept, kept.gain_db(self.target)))
            return
        if not measure:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="megacut-loudness")
        self.levels[key] = self._pool.submit(self._measure, key, scene, channels)

    def _measure(self, key: str, scene: Scene, channels: int) -> Level:
        try:
            loudness = measure_track(scene.source, scene.audio, channels, cancel=self.cancel)
        except Cancelled:
            raise
        except (MegacutError, OSError, ValueError) as exc:
            message = f"the loudness of {scene.source.path.name} could not be measured ({exc}); its level is kept"
            log.warning(message)
            return Level(None, 0.0, error=message)
        keep_measurement(self.folder, key, loudness)
        log.info("%s: %s", scene.source.path.name, loudness.describe(self.target))
        return Level(loudness, loudness.gain_db(self.target), measured_now=True)

    def gain(self, key: str) -> float | Future:
        """The gain in dB for sources measured under ``key`` (0 for none), or a Future of it."""
        level = self.levels.get(key)
        if level is None:
            return 0.0
        if level.done() and not level.cancelled() and level.exception() is None:
            return level.result().gain_db
        gain: Future = Future()
        level.add_done_callback(lambda done: _chain(done, gain))
        return gain

    def level(self, key: str) -> Level | None:
        """The measurement under ``key`` if it has ended."""
        level = self.levels.get(key)
        if level is None or not level.done() or level.cancelled() or level.exception() is not None:
            return None
        return level.result()

    def close(self) -> None:
        """Stop the measurements not started; wait for the others (a stop ends them at once)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _done(level: Level) -> Future:
    future: Future = Future()
    future.set_result(level)
    return future


def _chain(done: Future, gain: Future) -> None:
    if done.cancelled():
        gain.set_exception(Cancelled("cancelled"))
    elif done.exception() is not None:
        gain.set_exception(done.exception())
    else:
        gain.set_result(done.result().gain_db)
