"""One part (or a sections video) while it renders: which of its jobs are still out, its sound streamed to
its audio encoder as its items end in order, its segments joined ahead, then its join.

The engine (run/engine.py) owns the run: the items' results, the cache, the joining thread and the job
slots. It moves between the parts: as a job ends it tells the parts whose segment it rendered, and each
part takes it from there.
"""

from __future__ import annotations

import logging
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Protocol

from megacut.errors import Cancelled, FFmpegError, MegacutError
from megacut.join.assemble import AssemblyError, PartInput, assemble_part
from megacut.join.audio import PartAudio, encode_audio
from megacut.join.chunks import PartChunks
from megacut.render.renderers import sound_alone
from megacut.run.groups import Group, Item, segment_keys
from megacut.run.cache import SegmentCache
from megacut.run.levels import SourceLevels
from megacut.run.options import RunOptions
from megacut.run.results import ItemResult, ItemStatus, PartResult, PartStatus
from megacut.run.scheduler import StopControl
from megacut.run.watch import RunWatch

log = logging.getLogger(__name__)

# A part's last rounds of jobs (this many per job slot): the segments of its scenes not rendered yet have
# their sound rendered alone for its audio encoder (join/audio.py), which then finishes with its jobs
# instead of starting on the sound of the last ones only once they have all ended in order. Earlier in
# the part the encoder keeps up with the jobs ending in order, and nothing is rendered twice.
AHEAD_ROUNDS = 4
USED = (ItemStatus.OK, ItemStatus.CACHED)  # the items a part is joined from


class Run(Protocol):
    """What a part uses of the run it belongs to (run/engine.py)."""

    items: dict[str, ItemResult]  # the results of the items that ended, by id
    options: RunOptions
    cache: SegmentCache
    stop: StopControl
    joiner: ThreadPoolExecutor  # the thread that joins parts and their runs of segments
    slots: Callable[[], int]  # jobs that run at once
    started_s: float
    on_event: Callable[[str], None]
    watch: RunWatch  # hears the run's events (run/watch.py)
    levels: SourceLevels  # its sources' loudness gains (run/levels.py)


class PartState:
    """A part that renders in this run, and everything about it that changes as its jobs end."""

    def __init__(self, group: Group, run: Run, kept_audio: Path | None):
        self.group, self.run = group, run
        self.waiting: set[str] = set()  # ids of its jobs not ended yet
        self.kept_audio = kept_audio  # its audio track kept from a run with the same sound
        self.audio: PartAudio | None = None  # its audio encoder, fed as its items end in order
        self.early_audio = True  # False: its audio is encoded at the join
        self.fed = 0  # how many of its items went to its audio encoder
        self.heard_ahead: set[str] = set()  # its items whose sound was fed before they ended
        self.sounds_alone = 0  # segments whose sound its encoder rendered alone
        self.in_order = 0  # how many of its items ended in order (joined ahead)
        self.chunks: PartChunks | None = None  # its runs of segments joined ahead, as they end in order
        self.first_segments: list[int] = []  # the index in the part of each item's first segment
        count = 0
        for item in group.items:
            self.first_segments.append(count)
            count += len(item.jobs)
        self.join: Future | None = None
        self.join_audio: Path | None = None  # the folder its sound is encoded in at its join, if it is
        self.result: PartResult | None = None
        # some of its segments are copied runs of sources (smart copy): its joins carry their headers
        self.copied = any(job.renderer == "scene/copy" for item in group.items for job in item.jobs)

    def status_of(self, item: Item) -> ItemStatus | None:
        result = self.run.items.get(item.id)
        return result.status if result else None

    # ------------------------------------------------------------------ as its jobs end

    def item_ended(self, item: Item) -> None:
        if item.id in self.heard_ahead and self.status_of(item) == ItemStatus.FAILED:
            # its sound is in the part's audio, which it will not be in: encoded at the join instead
            log.info("%s: %s failed after its sound went to the part's audio; the audio is encoded at the join",
                     self.group.output.name, item.name)
            self.stop_early_audio()

    def advance(self) -> None:
        """Go as far as the part's ended items let it: its sound to its encoder, its segments joined ahead,
        and the join itself once every job has ended."""
        self.feed_audio()
        self.join_in_order()
        self.join_if_ready()

    def feed_audio(self) -> None:
        """Stream the part's sound to its encoder in part order (join/audio.py), up to the first item not ended
        yet; in the part's last rounds of jobs (``AHEAD_ROUNDS``), past the scenes not ended yet, whose
        segments' sound is rendered alone."""
        ahead = len(self.waiting) <= AHEAD_ROUNDS * self.run.slots()
        while self.fed < len(self.group.items) and self.early_audio:
            item = self.group.items[self.fed]
            status = self.status_of(item)
            alone = [sound_alone(job) for job in item.jobs] if status is None and ahead else []
            if status is None and not (alone and all(alone)):
                break
            if status == ItemStatus.CANCELLED or (status == ItemStatus.FAILED and self.run.options.strict):
                self.stop_early_audio()  # the part will not be joined, or not from these segments
                break
            if (status is None or status in USED) and self.kept_audio is None:
                if self.audio is None:
                    folder = self.run.cache.work / f"audio-{self.group.number}-{self.group.output.stem}"
                    self.audio = PartAudio(folder, self.group.format, self.run.stop.cancel, self.group.stereo_track)
                gain = self.run.levels.gain(item.level)
                for n, job in enumerate(item.jobs):
                    self.audio.add(self.run.cache.segment_path(job.key), alone[n] if alone else None, gain)
            if status is None:
                self.heard_ahead.add(item.id)
            self.fed += 1
        if self.fed == len(self.group.items) and self.audio is not None:
            self.audio.end()  # all its sound is in: the last chunk is encoded now, not at the join

    def stop_early_audio(self) -> None:
        self.early_audio = False
        self.close_audio()

    def join_in_order(self) -> None:
        """Join ahead the segments of the items that ended after every item before them (join/chunks.py),
        with the part's other finished segments, while the rest of the part renders."""
        items = self.group.items
        while self.in_order < len(items) and items[self.in_order].id in self.run.items:
            if self.status_of(items[self.in_order]) in USED:
                if self.chunks is None:
                    folder = self.run.cache.work / f"chunks-{self.group.number}-{self.group.output.stem}"
                    self.chunks = PartChunks(folder, self.group.format.fps, self.run.joiner.submit,
                                             self.run.stop.cancel, copied=self.copied)
                first = self.first_segments[self.in_order]
                for n, job in enumerate(items[self.in_order].jobs):
                    self.chunks.add(first + n, self.run.cache.segment_path(job.key), job.frames,
                                    more_to_come=bool(self.waiting))
            self.in_order += 1

    def joined_ahead(self, included: list[Item]) -> list[tuple[int, int, Path]]:
        """The part's runs of segments joined ahead, as (first, end, file) over the included items' segments."""
        if self.chunks is None:
            return []
        wanted, index = {item.id for item in included}, {}
        for item, first in zip(self.group.items, self.first_segments):
            if item.id in wanted:
                for n in range(len(item.jobs)):
                    index[first + n] = len(index)
        return [(index[j.first], index[j.end - 1] + 1, j.path) for j in self.chunks.joined
                if all(k in index for k in range(j.first, j.end))]

    def close_audio(self) -> None:
        audio, self.audio = self.audio, None
        if audio is not None:
            audio.close()

    def close_chunks(self) -> None:
        chunks, self.chunks = self.chunks, None
        if chunks is not None:
            chunks.close()

    # ------------------------------------------------------------------ the join

    def join_if_ready(self) -> None:
        if self.waiting or self.join is not None or self.result is not None:
            return
        if any(self.status_of(i) == ItemStatus.CANCELLED for i in self.group.items):
            self.close_audio()
            self.result = PartResult(self.group, PartStatus.CANCELLED, error="interrupted before all its items ended")
            return
        self.join = self.run.joiner.submit(self._join)

    def _join(self) -> None:
        try:
            self.result = self._joined()
        finally:
            self.close_audio()
            self.close_chunks()
            if self.join_audio is not None:
                shutil.rmtree(self.join_audio, ignore_errors=True)
            self.run.watch.part_ended(self.result)

    def part_audio(self, included: list[Item]) -> Path:
        """The part's AAC tracks, kept from an earlier run with the same sound, encoded while it rendered, or
        else encoded now from the ``included`` items' segments (each with its source's gain)."""
        whole = len(included) == len(self.group.items)
        early = self.fed == len(self.group.items) and self.early_audio
        if early and self.kept_audio is not None and whole:  # it holds every item's sound
            return self.kept_audio
        if early and self.audio is not None:
            try:
                encoded = self.audio.finish()
                self.sounds_alone = self.audio.rendered_alone
                return self.keep_audio(encoded, whole)
            except Cancelled:
                raise
            except Exception as exc:  # the join encodes the audio itself: slower, never wrong
                log.warning("%s: encoding its audio early failed (%s: %s); encoding it now", self.group.output.name,
                            type(exc).__name__, exc)
        segments, gains = [], []
        for item in included:
            gain = self.run.levels.gain(item.level)
            segments += [self.run.cache.segment_path(job.key) for job in item.jobs]
            gains += [gain] * len(item.jobs)
        folder = self.join_audio = self.run.cache.work / f"audio-{self.group.number}-{self.group.output.stem}-join"
        try:
            return self.keep_audio(encode_audio(segments, folder, self.run.stop.cancel, gains,
                                                self.group.stereo_track), whole)
        except FFmpegError as exc:
            raise AssemblyError(f"{self.group.output.name}: its sound could not be encoded ({exc})") from None

    def keep_audio(self, encoded: Path, whole: bool) -> Path:
        """``encoded``, kept in the cache for later runs when it holds every item's sound."""
        key = self.group.audio_key
        return self.run.cache.keep_part_audio(self.group.output, key, encoded) if whole and key else encoded

    def _joined(self) -> PartResult:
        group, cache = self.group, self.run.cache
        included = [i for i in group.items if self.status_of(i) in USED]
        failed = [i for i in group.items if self.status_of(i) == ItemStatus.FAILED]
        if failed and self.run.options.strict:
            return PartResult(group, PartStatus.FAILED, error=f"--strict: {len(failed)} item(s) failed")
        if not included:
            return PartResult(group, PartStatus.FAILED, error="every item of it failed")
        # A chapter per item: a split scene's later segments continue its chapter.
        inputs = [PartInput(cache.segment_path(job.key), job.frames, item.chapter if n == 0 else None)
                  for item in included for n, job in enumerate(item.jobs)]
        started_s = time.monotonic()
        self.run.watch.part_joining(group)
        try:
            audio = self.part_audio(included)
            audio_wait_s = time.monotonic() - started_s
            cache.forget_part(group.output)
            assemble_part(inputs, group.output, group.format.fps, title=group.title, cancel=self.run.stop.cancel,
                          audio=audio, joined=self.joined_ahead(included), copied=self.copied,
                          subtitles=group.subtitle_tracks(included))
        except Cancelled:
            return PartResult(group, PartStatus.CANCELLED, error="interrupted while joining")
        except MegacutError as exc:
            return PartResult(group, PartStatus.FAILED, error=str(exc))
        cache.record_part(group.output, segment_keys(included), group.join_key if len(included) == len(group.items)
                          else None)
        status = PartStatus.INCOMPLETE if failed else PartStatus.WRITTEN
        self.run.on_event(f"{group.output.name}: {status}, {len(included)} item(s)")
        return PartResult(group, status, group.output, [i.id for i in included], sum(i.duration_s for i in included),
                          f"{len(failed)} failed item(s) left out" if failed else None,
                          time.monotonic() - started_s, audio_wait_s, time.monotonic() - self.run.started_s,
                          self.sounds_alone)
