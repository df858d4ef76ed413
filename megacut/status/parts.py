"""Pieces of the run's live state (status/live.py): the smoothed rate and its ETA range, an item's row, and
small readings of the machine, each safe to call from the status thread."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

RATE_TAU_S = 300.0  # the smoothed rate forgets with this time constant (5 minutes)
# An item's row: the first nine always, the last four only once it ran (else host -1, attempts 0, render_s 0,
# error -1). kind, source, host and error are indices into the state's kinds, sources, hosts and failures;
# number is the one in the item's name (scene 3: 3; a spec's section 2: 2; a title card: its CSV line, or 0).
ITEM_COLUMNS = ("kind", "number", "line", "source", "part", "duration_s", "status", "segments_done", "segments",
                "host", "attempts", "render_s", "error")
KINDS = ("scene", "slide", "title card")


class RateMeter:
    """Output seconds rendered per wall second, smoothed, for an ETA that does not swing.

    Each time output is finished (a job ends), the rate over the interval since the last time is folded
    into an exponentially weighted mean (time constant RATE_TAU_S; a plain mean over the first RATE_TAU_S),
    with the spread of those rates for the ETA's range. Between job ends nothing changes, so the predicted
    end stays put and the ETA counts down; only a wait longer than twice the usual gap between job ends
    starts to count as a slower rate. Time spent paused does not count.
    """

    def __init__(self, tau_s: float = RATE_TAU_S):
        self.tau_s = tau_s
        self.last: tuple[float, float] | None = None  # (time, seconds done) when output was last finished
        self.active_s = 0.0
        self.rate: float | None = None
        self.var = 0.0
        self.weight = 1.0
        self.gap_s: float | None = None  # the usual time between job ends, smoothed alike

    def update(self, now: float, done_s: float, counting: bool = True) -> None:
        """``done_s``: the output finished so far; ``counting``: False while paused (the time is skipped)."""
        if self.last is None or not counting:
            self.last = (now, done_s)
            return
        dt = now - self.last[0]
        if dt <= 0 or done_s <= self.last[1]:
            return  # nothing finished since: the interval goes on
        x = (done_s - self.last[1]) / dt
        self.last = (now, done_s)
        self.active_s += dt
        self.weight = max(1.0 - math.exp(-dt / self.tau_s), dt / self.active_s)
        self.gap_s = dt if self.gap_s is None else self.gap_s + self.weight * (dt - self.gap_s)
        if self.rate is None:
            self.rate = x
            return
        diff = x - self.rate
        self.rate += self.weight * diff
        self.var = (1.0 - self.weight) * (self.var + self.weight * diff * diff)

    def current(self, now: float) -> float | None:
        """The smoothed rate; lowered by the wait since the last job end once that is longer than twice the
        usual gap (continuously: by nothing at twice the gap)."""
        if self.rate is None or self.last is None or self.gap_s is None:
            return self.rate
        over = now - self.last[0] - 2 * self.gap_s
        if over <= 0:
            return self.rate
        return self.rate * (1.0 - max(1.0 - math.exp(-over / self.tau_s), over / (self.active_s + over)))

    def eta(self, remaining_s: float, events: int, now: float) -> dict | None:
        """{"s", "low_s", "high_s"} from ``now``: the remaining output at the smoothed rate from the last job
        end (so that between job ends the predicted end stays put and the ETA counts down; 0: any moment;
        in a wait longer than twice the usual gap, from two gaps after the last job end, at the lowered rate),
        and at that rate plus and minus one standard error of it, never less than 1/sqrt(``events``) of it
        (the jobs ended so far: a count's own noise, so the range is wide while few have ended). None before
        anything was rendered."""
        rate = self.current(now)
        if not rate or rate <= 0 or remaining_s <= 0:
            return None
        error = math.sqrt(max(self.var, 0.0) * self.weight / (2.0 - self.weight))
        error = max(error, rate / math.sqrt(max(events, 1)))
        fast, slow = rate + error, max(rate - error, rate * 0.1)
        since = now - self.last[0]  # spent on the jobs in flight; in a wait longer than usual, two gaps' worth
        since = min(since, 2 * self.gap_s) if self.gap_s is not None else since
        return {name: round(max(remaining_s / r - since, 0.0), 1)
                for name, r in (("s", rate), ("low_s", fast), ("high_s", slow))}


class ItemRow:
    """One item (scene, slide, title card) of the state, and its row serialised once per change."""

    __slots__ = ("id", "name", "position", "kind", "number", "line", "source", "part", "duration_s", "status", "done",
                 "segments", "host", "attempts", "render_s", "error", "row")

    def __init__(self, item, position: int, source: int, part: int):
        self.id, self.name, self.position = item.id, item.name, position
        self.kind = KINDS.index(str(item.kind)) if str(item.kind) in KINDS else -1
        origin = item.origin
        self.line = getattr(origin, "line", None)
        if str(item.kind) == "scene":
            self.number = item.index + 1
        else:  # a section's index in its spec, or a heading's line
            self.number = origin.index if hasattr(origin, "spec_path") else (self.line or 0)
        self.part, self.source = part, source
        self.duration_s = round(item.duration_s, 1)
        self.status, self.done, self.segments = "waiting", 0, len(item.jobs)
        self.host, self.attempts, self.render_s, self.error = -1, 0, 0.0, -1
        self.row: str | None = None

    def json(self) -> str:
        if self.row is None:
            values = [self.kind, self.number, self.line, self.source, self.part, self.duration_s, self.status,
                      self.done, self.segments]
            if self.attempts or self.host >= 0 or self.error >= 0:
                values += [self.host, self.attempts, round(self.render_s, 1), self.error]
            self.row = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
        return self.row


def error_head(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "unknown error")[:300]



class Guarded:
    """The lock, and any error inside logged rather than raised: a status problem never stops a render."""

    def __init__(self, lock):
        self.lock = lock

    def __enter__(self):
        self.lock.acquire()

    def __exit__(self, kind, error, trace) -> bool:
        self.lock.release()
        if error is not None and isinstance(error, Exception):
            log.warning("megacut status: %s: %s", kind.__name__, error, exc_info=(kind, error, trace))
            return True
        return False


def item_label(item) -> str:
    row = getattr(item.origin, "row", None)
    movie = getattr(row, "movie", None) if row is not None else None  # a scene's movie; else its chapter
    return movie or item.chapter or item.name


def file_size(path) -> int | None:
    try:
        return Path(path).stat().st_size
    except OSError:
        return None


def disk_space(folder: Path) -> dict:
    try:
        usage = psutil.disk_usage(str(folder))
    except OSError:
        return {"free_bytes": None, "total_bytes": None}
    return {"free_bytes": usage.free, "total_bytes": usage.total}


def rounded(value, digits: int, over: float | None = None):
    if value is None:
        return None
    if over is not None:
        if over <= 0:
            return None
        value = value / over
    return round(value, digits)


def cluster_address(cluster) -> str | None:
    return None if cluster is None else getattr(cluster, "address", None)


def dashboard_of(cluster) -> str:
    try:
        return cluster.dashboard or ""
    except Exception:  # the scheduler is busy or gone: no link
        return ""
