"""What the engine tells whoever watches a run: a small set of events, each one call at its place in the engine.

The engine calls these in its own process (the main thread, or the thread that
joins parts); a watcher must return at once and never raise. The default does
nothing. ``megacut.status`` builds the run's live state from them.
"""

from __future__ import annotations


class RunWatch:
    """Events of one render (every method optional; all take engine values as they are)."""

    def planned(self, groups, jobs, items, parts) -> None:
        """The run's groups are classified: ``jobs`` will run; ``items`` and ``parts`` (dicts by item id and
        group number) hold what is already known (skipped, reused, current), and are the engine's own:
        read them now, do not keep them."""

    def scheduling(self, scheduler, memory, cluster) -> None:
        """Jobs are about to start on ``scheduler`` (its ``running`` futures and ``workers`` may be read from
        another thread); ``memory`` is the run's MemoryMonitor; ``cluster`` the Dask cluster, or None."""

    def job_ended(self, outcome) -> None:
        """A job ended: the scheduler's Outcome (ok, failed after its retries, cancelled or not started)."""

    def part_joining(self, group) -> None:
        """Every item of ``group`` has ended: its file is being joined."""

    def part_ended(self, part) -> None:
        """A join ended with this PartResult (written, incomplete, failed or cancelled; None: not recorded)."""


NO_WATCH = RunWatch()
