"""A part's video joined ahead, while its later segments render.

Joining opens every segment, whatever its length (about 13 ms each here): a 2-hour part of 3,600
two-second segments would spend most of a minute on that after its last segment. So, as a part's
items end in order, each run of ``CHUNK_SEGMENTS`` consecutive segments is joined into one file
like a segment (:func:`megacut.join.assemble.join_segments`: video and PCM stream-copied), and
``CHUNK_SEGMENTS`` consecutive files of one level into one of the next, on the join thread while the
part renders. The part's final join reads these and the few segments after them; its chapters still
come from the segments. A run that cannot be joined ahead is simply read segment by segment.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

from megacut.errors import Cancelled, MegacutError
from megacut.join.assemble import join_segments

log = logging.getLogger(__name__)

CHUNK_SEGMENTS = 16  # segments in a file joined ahead; as many of those make one of the next level


@dataclass(frozen=True)
class Joined:
    """A file holding the part's segments ``first`` to ``end`` (indexes in the part, in order)."""

    first: int
    end: int
    path: Path
    frames: int
    level: int


class PartChunks:
    """One part's runs of segments joined ahead: :meth:`add` (the run's thread) as its segments end in
    order; the joins run through ``submit`` (the part's join thread, which reads :attr:`joined` when it
    joins the part, after every join submitted before)."""

    def __init__(self, folder: Path, fps: Fraction, submit: Callable, cancel=None, copied: bool = False):
        """``folder``: a scratch folder of its own, in the cache's work folder (which the next run clears
        if this one is killed); ``copied``: the part has copied runs of sources (smart copy)."""
        self.folder, self.fps, self.submit, self.cancel, self.copied = folder, fps, submit, cancel, copied
        self.run: list[tuple[int, Path, int]] = []  # (index, path, frames) of consecutive segments not joined
        self.joined: list[Joined] = []  # in order; written by the join thread only

    def add(self, index: int, path: Path, frames: int, more_to_come: bool) -> None:
        """Segment ``index`` of the part ended (rendered or reused) after every segment before it;
        ``more_to_come``: the part still has segments rendering (else its final join comes next)."""
        if self.run and self.run[-1][0] != index - 1:
            self.run = []  # an item left out of the part (it failed): a run holds consecutive segments
        self.run.append((index, path, frames))
        if len(self.run) >= CHUNK_SEGMENTS and more_to_come:
            batch, self.run = self.run[:CHUNK_SEGMENTS], self.run[CHUNK_SEGMENTS:]
            self.submit(self._join_run, batch)

    def _join_run(self, batch: list[tuple[int, Path, int]]) -> None:
        """Join ``batch`` ahead. Nobody waits for this: an unforeseen error is logged with its traceback
        (the part's join then reads these segments one by one), never lost."""
        try:
            self._join_batch(batch)
        except Exception:
            log.exception("joining %d segments ahead failed unexpectedly; the part's join reads them instead",
                          len(batch))

    def _join_batch(self, batch: list[tuple[int, Path, int]]) -> None:
        first, frames = batch[0][0], sum(f for _, _, f in batch)
        joined = self._join([(path, f) for _, path, f in batch], self.folder / f"1-{first}.mov")
        if joined is not None:
            self.joined.append(Joined(first, batch[-1][0] + 1, joined, frames, 1))
            self._merge()

    def _merge(self) -> None:
        """Join the last CHUNK_SEGMENTS files of one level, if they are consecutive, into one of the next."""
        while len(self.joined) >= CHUNK_SEGMENTS:
            last = self.joined[-CHUNK_SEGMENTS:]
            if len({j.level for j in last}) != 1 or any(a.end != b.first for a, b in zip(last, last[1:])):
                return
            level = last[0].level + 1
            merged = self._join([(j.path, j.frames) for j in last], self.folder / f"{level}-{last[0].first}.mov")
            if merged is None:
                return
            self.joined[-CHUNK_SEGMENTS:] = [Joined(last[0].first, last[-1].end, merged,
                                                    sum(j.frames for j in last), level)]
            for j in last:
                j.path.unlink(missing_ok=True)

    def _join(self, files: list[tuple[Path, int]], output: Path) -> Path | None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            return join_segments(files, output, self.fps, cancel=self.cancel, copied=self.copied)
        except Cancelled:
            return None
        except (MegacutError, OSError) as exc:  # the final join reads these segments one by one: slower, never wrong
            log.warning("joining %d segments ahead into %s failed (%s: %s); the part's join reads them instead",
                        len(files), output.name, type(exc).__name__, exc)
            return None

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
