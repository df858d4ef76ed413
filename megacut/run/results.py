"""What a render ended with: per job (segment), item, part and run, as the engine records them and the
report (cli/report.py) writes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from megacut.errors import ExitCode
from megacut.plan.build import RenderPlan
from megacut.render.jobs import Text
from megacut.run.groups import Group, Item
from megacut.run.options import RunOptions
from megacut.run.scheduler import JobStatus


class ItemStatus(Text):
    """How an item of a part ended."""

    OK = "ok"  # rendered in this run
    CACHED = "cached"  # its segment was reused
    FAILED = "failed"
    CANCELLED = "cancelled"  # the run stopped before it ended
    SKIPPED = "skipped"  # its part was not selected (--chunks)


class PartStatus(Text):
    """How a part (or a sections video) ended."""

    WRITTEN = "written"
    INCOMPLETE = "incomplete"  # written without its failed items
    CURRENT = "current"  # already written from the same segments: not joined again
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


JOB_STATUS = {JobStatus.OK: ItemStatus.OK, JobStatus.FAILED: ItemStatus.FAILED}  # else cancelled


@dataclass
class SegmentResult:
    """How one job of an item ended: a scene's segment, or the whole item."""

    job_id: str
    key: str
    frames: int
    status: ItemStatus
    error: str | None = None
    render_s: float = 0.0
    cpu_s: float = 0.0
    attempts: int = 0
    retried_after: list = field(default_factory=list)  # why earlier attempts failed
    ended_at_s: float = 0.0  # when it ended, from the start of the run (0: it did not run)
    host: str = ""  # the machine that rendered it (empty: it did not run)


@dataclass
class ItemResult:
    item: Item
    status: ItemStatus
    segments: list[SegmentResult] = field(default_factory=list)  # in order, one per job of the item

    @property
    def error(self) -> str | None:
        return next((s.error for s in self.segments if s.error), None)

    @property
    def render_s(self) -> float:
        return sum(s.render_s for s in self.segments)

    @property
    def attempts(self) -> int:
        return max((s.attempts for s in self.segments), default=0)

    @property
    def retried_after(self) -> list:
        return [reason for s in self.segments for reason in s.retried_after]


def item_status(segments: list[SegmentResult]) -> ItemStatus:
    """An item failed if a segment failed, was cancelled if one was, is ok if one was rendered, else cached."""
    statuses = {s.status for s in segments}
    for status in (ItemStatus.FAILED, ItemStatus.CANCELLED, ItemStatus.OK):
        if status in statuses:
            return status
    return ItemStatus.CACHED


@dataclass
class PartResult:
    part: Group
    status: PartStatus
    path: Path | None = None
    item_ids: list[str] = field(default_factory=list)  # the items it was joined from, in order
    duration_s: float = 0.0
    error: str | None = None
    join_s: float = 0.0  # how long joining it took
    audio_wait_s: float = 0.0  # of which, waiting for its audio encoded while it rendered
    joined_at_s: float = 0.0  # when it was written, from the start of the run
    sounds_alone: int = 0  # segments whose sound its audio encoder had rendered alone, ahead of them


@dataclass
class RunResult:
    plan: RenderPlan | None  # None for sections
    options: RunOptions
    items: dict[str, ItemResult]  # by item id: scenes, slides and title cards
    parts: list[PartResult]
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_bytes: int = 0
    workers: int = 1
    interrupted: bool = False
    last_job_ended_s: float = 0.0  # from the start: the run's tail is from here to the last part written
    cluster: str | None = None  # the Dask cluster the jobs ran on, described
    started_at: float = 0.0  # when the run started (time.time()): the "_s" times above count from here
    levels: dict = field(default_factory=dict)  # measurement key -> run/levels.py's Level (None: not ended)

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        failed_item = any(r.status == ItemStatus.FAILED for r in self.items.values())
        failed_part = any(p.status in (PartStatus.FAILED, PartStatus.INCOMPLETE) for p in self.parts)
        return ExitCode.FAILED if failed_item or failed_part else ExitCode.OK


def cached_segments(item: Item) -> list[SegmentResult]:
    return [SegmentResult(job.id, job.key, job.frames, ItemStatus.CACHED) for job in item.jobs]
