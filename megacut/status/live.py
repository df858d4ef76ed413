"""The run's live state, kept from the engine's events and written to ``OUTPUT/megacut-status.json``.

Only the process that renders writes it (pool, inline and Dask runs alike: job
outcomes reach this process in every case). A thread of this process, four
times a second, applies the controls waiting in the output folder
(run/controls.py) and looks at the jobs in flight; at most once a second, and
only when something changed, it rewrites the file whole (a temporary name, then
a rename), and at least every HEARTBEAT_S so that readers can tell it is alive.
The schema is in docs/status.md.

Cost: an item's row is serialised again only when the item changed; a write
joins the rows (a 10,000-row plan's file is a few hundred kB; docs/status.md
gives the measured size and time).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

import psutil

from megacut.errors import ExitCode
from megacut.files import host_name, writing
from megacut.run import controls
from megacut.status.parts import (
    ITEM_COLUMNS,
    KINDS,
    Guarded,
    ItemRow,
    RateMeter,
    cluster_address,
    dashboard_of,
    disk_space,
    error_head,
    file_size,
    item_label,
    rounded,
)
from megacut.status.file import HEARTBEAT_S, SCHEMA, STATUS_NAME, machine_id
from megacut.run.watch import RunWatch
from megacut.run.worker import running_here

log = logging.getLogger(__name__)

TICK_S = 0.25  # controls and jobs in flight are looked at this often
WRITE_EVERY_S = 1.0  # the file is rewritten at most this often
MAX_ERROR_CHARS = 8000  # of a failure's full text
MAX_IDS_PER_FAILURE = 200
ENDED = ("ok", "cached", "failed", "cancelled", "skipped")  # an item's statuses once it ended
OUTCOMES = {ExitCode.OK: "done", ExitCode.FAILED: "failed", ExitCode.INTERRUPTED: "interrupted"}


class RunStatus(RunWatch):
    """The state of one run (a RunWatch the engine calls), and the thread that writes it."""

    def __init__(self, output_dir: Path, *, command: str, executor: str, stop, title: str = "",
                 log_line: Callable[[str], None] | None = None):
        self.output_dir = Path(os.path.abspath(output_dir))
        self.path = self.output_dir / STATUS_NAME
        self.command, self.executor, self.stop, self.title = command, executor, stop, title
        self.log_line = log_line or (lambda message: None)
        self.run_id = uuid.uuid4().hex[:12]
        self.lock = threading.RLock()
        self.version = 0  # bumped by every change; the file is written when it moved
        self.written_version, self.written_at = -1, 0.0
        self.started_at = time.time()
        process = psutil.Process()
        self.writer = {"pid": os.getpid(), "host": host_name(), "machine": machine_id(),
                       "process_started": process.create_time()}
        self.parts: dict[int, dict] = {}
        self.items: dict[str, ItemRow] = {}
        self.order: list[ItemRow] = []
        self.part_done: dict[int, set[int]] = {}  # part -> positions of its items that ended
        self.failed_rows: dict[str, set[int]] = {}  # failure -> positions of its items
        self.sources: list[str] = []
        self.hosts: list[str] = []
        self.failures: dict[str, dict] = {}
        self.served: dict[str, list[ItemRow]] = {}  # job key -> the items one render of it serves
        self.job_item: dict[str, tuple[ItemRow, int]] = {}  # job id -> (its item, its index in the item)
        self.job_seconds: dict[str, float] = {}
        self.totals = {"output_s": 0.0, "cached_s": 0.0, "rendered_s": 0.0, "failed_s": 0.0}
        self.jobs = {"total": 0, "done": 0, "failed": 0, "cancelled": 0}
        self.controls = {"paused": False, "stop": None, "workers_asked": None, "last": None}
        self.rate = RateMeter()
        self.scheduler = self.memory = self.cluster = None
        self.dashboard: str | None = None
        self.page: str | None = None  # the status page's address, when this process serves one
        self.flight: dict[int, dict] = {}  # id(future) -> the job in flight, as first seen
        self.tries: dict[str, int] = {}  # job id -> times seen running
        self.order_seen = 0
        self.running_ids: tuple = ()
        self.ended_state: dict | None = None
        self.is_planned = False
        self.write_s, self.writes, self.cpu_s = 0.0, 0, 0.0  # CPU seconds: of the writes, of all status work
        self.trouble = ""  # the last error the status thread met, logged once
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="megacut-status", daemon=True)

    # ---- the engine's events (RunWatch) ------------------------------------------------------------------

    def planned(self, groups, jobs, items, parts) -> None:
        with self._guard():
            controls.clear(self.output_dir)  # controls sent to an earlier run are not this run's
            rendered = {job.key for job in jobs}
            self.jobs["total"] = len(jobs)
            labels: dict[str, int] = {}
            for group in groups:
                known = parts.get(group.number)
                status = str(known.status) if known is not None else "waiting"
                self.parts[group.number] = {
                    "n": group.number, "name": group.output.name, "path": os.path.abspath(group.output),
                    "status": status,
                    "items": len(group.items), "items_done": 0, "duration_s": round(group.duration_s, 3),
                    "size_bytes": file_size(group.output) if status == "current" else None, "error": None}
                for item in group.items:
                    label = item_label(item)
                    source = labels.setdefault(label, len(labels))
                    entry = self.items[item.id] = ItemRow(item, len(self.order), source, group.number)
                    self.order.append(entry)
                    for index, job in enumerate(item.jobs):
                        self.job_item[job.id] = (entry, index)
                        seconds = job.format.seconds_for(job.frames)
                        self.job_seconds[job.id] = seconds
                        if job.key in rendered:
                            self.served.setdefault(job.key, []).append(entry)
                        elif group.selected and known is None or status == "current":
                            entry.done += 1
                            self.totals["cached_s"] += seconds
                    if item.id in items:
                        entry.status = str(items[item.id].status)
                    elif entry.done == entry.segments:
                        entry.status = "cached"
                if group.selected:
                    self.totals["output_s"] += group.duration_s
            self.sources = list(labels)
            for entry in self.order:
                self._settle(entry, busy=False)
            self.is_planned = True
            self._changed()

    def scheduling(self, scheduler, memory, cluster) -> None:
        with self._guard():
            self.scheduler, self.memory, self.cluster = scheduler, memory, cluster
            self._changed()

    def job_ended(self, outcome) -> None:
        with self._guard():
            job, status = outcome.job, str(outcome.status)
            seconds = self.job_seconds.get(job.id, 0.0)
            result = outcome.result
            kind = {"ok": "done", "failed": "failed"}.get(status, "cancelled")
            self.jobs[kind] += 1
            if status == "ok":
                self.totals["rendered_s"] += seconds
            elif status == "failed":
                self.totals["failed_s"] += seconds
            failure = self._failure(outcome.error or "failed", job.name) if status == "failed" else -1
            for entry in self.served.get(job.key, []):
                entry.attempts = max(entry.attempts, outcome.attempts)
                if status == "ok":
                    entry.done = min(entry.done + 1, entry.segments)
                    entry.render_s += getattr(result, "render_s", 0.0) or 0.0
                    entry.host = self._host(getattr(result, "host", "") or "")
                    if entry.done == entry.segments and entry.status not in ("failed", "cancelled"):
                        entry.status = "ok"
                elif status == "failed":
                    entry.status, entry.error = "failed", failure
                    self._add_failed(failure, entry)
                elif entry.status != "failed":
                    entry.status = "cancelled"
                entry.row = None
                self._settle(entry)
            self._changed()

    def part_joining(self, group) -> None:
        with self._guard():
            self.parts[group.number]["status"] = "joining"
            self._changed()

    def part_ended(self, part) -> None:
        if part is None:
            return
        with self._guard():
            self._set_part(part)
            self._changed()

    # ---- the end, from the command that ran the engine ---------------------------------------------------

    def ended(self, result=None, error: BaseException | None = None, exit_code: int | None = None) -> None:
        """The run ended (``result``: its RunResult; ``error``: what stopped it instead): the last write."""
        if self.ended_state is not None:
            return
        self._quit.set()
        if self._thread.is_alive():
            self._thread.join()
        if not self.is_planned:
            return  # refused before it began (another run holds the output): the file is that run's
        with self._guard():
            if result is not None:
                for item_id, item_result in result.items.items():
                    entry = self.items.get(item_id)
                    if entry is None:
                        continue
                    entry.status = str(item_result.status)
                    entry.done = sum(1 for s in item_result.segments if str(s.status) in ("ok", "cached"))
                    entry.attempts = max(entry.attempts, item_result.attempts)
                    entry.row = None
                    self._settle(entry)
                for part in result.parts:
                    self._set_part(part)
                exit_code = result.exit_code if exit_code is None else exit_code
            code = exit_code if exit_code is not None else getattr(error, "exit_code", ExitCode.FAILED)
            self.ended_state = {"exit_code": int(code), "outcome": OUTCOMES.get(code, "error"),
                                "error": f"{error}" if error is not None else None, "at": time.time()}
            self.running_ids, self.flight = (), {}
            self._changed()
        self.write()

    # ---- the thread ---------------------------------------------------------------------------------------

    def start(self) -> "RunStatus":
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._quit.wait(TICK_S):
            started = time.thread_time()
            try:
                self.tick()
            except Exception as exc:  # the status must never stop a render; said once per kind of trouble
                if repr(exc) != self.trouble:
                    self.trouble = repr(exc)
                    log.warning("status: could not update %s (%s: %s)", self.path, type(exc).__name__, exc,
                                exc_info=log.isEnabledFor(logging.DEBUG))
            self.cpu_s += time.thread_time() - started

    def tick(self, now: float | None = None) -> None:
        if not self.is_planned:
            return
        now = time.time() if now is None else now
        for control in controls.take(self.output_dir):
            self._apply(control)
        with self.lock:
            self._sample_running(now)
            done = self.totals["rendered_s"] + self.totals["failed_s"]
            self.rate.update(now, done, counting=self.scheduler is not None and not self.stop.pause.is_set())
            if self.cluster is not None and self.dashboard is None:
                self.dashboard = dashboard_of(self.cluster)
            due = self.version != self.written_version and now - self.written_at >= WRITE_EVERY_S
        if due or now - self.written_at >= HEARTBEAT_S:
            self.write(now)

    def _apply(self, control) -> None:
        message = controls.apply(control, self.stop, self.executor)
        with self.lock:
            self.controls["last"] = {"control": control.describe(), "by": control.by, "result": message,
                                     "at": time.time()}
            if control.action == "workers" and not message.endswith("not changed"):
                self.controls["workers_asked"] = control.workers
            self._changed()
        self.log_line(f"{control.describe()} ({control.by or 'control file'}): {message}")

    def _sample_running(self, now: float) -> None:
        """The jobs in flight, from the scheduler: those running, and when each was first seen running."""
        if self.scheduler is None or self.ended_state is not None:
            return
        kind = self.scheduler.kind
        try:  # (a key for each start of a job, the job, whether it runs)
            if kind == "inline":  # it runs inside the scheduler's submit, in this process
                flight = [(("inline", start), job, True) for start, job in running_here()]
            else:
                flight = [(id(future), job, future.running() if kind == "dask" else True)
                          for future, (job, _) in list(self.scheduler.running.items())]
        except RuntimeError:  # changed while read: next tick
            return
        seen = {}
        for key, job, running in flight:
            entry = self.flight.get(key)
            if entry is None:
                self.order_seen += 1
                entry = {"job": job, "since": None, "attempt": None, "order": self.order_seen}
            seen[key] = entry
            entry["running"] = running
        self.flight = seen
        if kind in ("process", "thread"):  # a pool runs its oldest jobs; the others wait in its queue
            slots = getattr(self.scheduler, "pool_size", self.scheduler.workers)
            for n, entry in enumerate(sorted(seen.values(), key=lambda e: e["order"])):
                entry["running"] = n < slots
        for entry in seen.values():
            if entry["running"] and entry["since"] is None:  # an attempt: a job queued, then withdrawn, is none
                entry["since"] = now
                entry["attempt"] = self.tries[entry["job"].id] = self.tries.get(entry["job"].id, 0) + 1
        running = tuple(sorted(e["job"].id for e in seen.values() if e["running"]))
        if running == self.running_ids:
            return
        before = {self.job_item[j][0].id for j in self.running_ids if j in self.job_item}
        after = {self.job_item[j][0].id for j in running if j in self.job_item}
        for item_id in before - after:
            entry = self.items[item_id]
            if entry.status == "running":
                entry.status, entry.row = "waiting", None
        for item_id in after:
            entry = self.items[item_id]
            if entry.status == "waiting":
                entry.status, entry.row = "running", None
                if self.parts[entry.part]["status"] == "waiting":
                    self.parts[entry.part]["status"] = "rendering"
        self.running_ids = running
        self._changed()

    # ---- writing -----------------------------------------------------------------------------------------

    def write(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        started = time.thread_time()
        with self.lock:
            version = self.version
            head = self.state_head(now)
            rows = ",".join(entry.json() for entry in self.order)
        text = (json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
                + ',"items":{"columns":' + json.dumps(ITEM_COLUMNS) + ',"rows":[' + rows + "]}}")
        with writing(self.path) as temporary:
            temporary.write_text(text, encoding="utf-8")
        spent = time.thread_time() - started
        self.write_s += spent
        self.cpu_s += spent if threading.current_thread() is not self._thread else 0.0  # else counted by _loop
        self.writes += 1
        self.written_version, self.written_at = version, now

    def state_head(self, now: float) -> dict:
        """Everything but the items' rows (under the lock)."""
        totals = dict(self.totals)
        totals["done_s"] = totals["cached_s"] + totals["rendered_s"] + totals["failed_s"]
        totals = {k: round(v, 3) for k, v in totals.items()}
        running = sorted((e for e in self.flight.values() if e["running"]), key=lambda e: e["order"])
        in_flight = len(self.flight)
        ended = self.jobs["done"] + self.jobs["failed"] + self.jobs["cancelled"]
        jobs = {**self.jobs, "running": len(running), "queued": max(self.jobs["total"] - ended - len(running), 0)}
        workers = self.scheduler.workers if self.scheduler is not None else None
        eta = (None if self.ended_state or self.stop.pause.is_set() else
               self.rate.eta(totals["output_s"] - totals["done_s"], self.jobs["done"] + self.jobs["failed"], now))
        if eta is not None:
            eta["at"] = round(now + eta["s"], 1)
            eta["tail"] = bool(workers and jobs["queued"] == 0 and len(running) < workers)
        counts: dict[str, int] = {}
        for entry in self.order:
            counts[entry.status] = counts.get(entry.status, 0) + 1
        self.controls["paused"] = self.stop.pause.is_set()
        self.controls["stop"] = ("now" if self.stop.cancel.is_set() else
                                 "after running jobs" if self.stop.drain.is_set() else None)
        return {
            "schema": SCHEMA, "run_id": self.run_id, "command": self.command, "title": self.title,
            "output": str(self.output_dir), "state": self._state_word(jobs, in_flight),
            "ended": self.ended_state is not None, **(self.ended_state and
                                                     {k: self.ended_state[k] for k in ("outcome", "exit_code",
                                                                                       "error")} or {}),
            "started_at": round(self.started_at, 3), "updated_at": round(now, 3),
            "writer": {**self.writer, "heartbeat_at": round(now, 3), "writes": self.writes,
                       "write_cpu_s": round(self.write_s, 4), "cpu_s": round(self.cpu_s, 4)},
            "executor": {"kind": self.executor, "workers": workers, "cluster": cluster_address(self.cluster),
                         "dashboard": self.dashboard or None},
            "page": self.page, "controls": self.controls,
            "totals": {**totals, "items": len(self.order), "item_status": counts, "jobs": jobs},
            "rate": {"speed": rounded(self.rate.current(now), 4), "speed_run": rounded(
                totals["rendered_s"] + totals["failed_s"], 4, over=self.rate.active_s),
                "jobs_per_min": rounded(60.0 * (self.jobs["done"] + self.jobs["failed"]), 2,
                                       over=self.rate.active_s)},
            "eta": eta, "memory": self._memory(), "disk": disk_space(self.output_dir),
            "parts": [self.parts[n] for n in sorted(self.parts)],
            "running": [self._running_entry(e) for e in running],
            "failures": list(self.failures.values()), "kinds": KINDS, "sources": self.sources, "hosts": self.hosts,
        }

    def _state_word(self, jobs: dict, in_flight: int) -> str:
        if self.ended_state is not None:
            return "ended"
        if self.stop.stopping:
            return "stopping"
        if self.scheduler is None:
            return "starting"
        if self.stop.pause.is_set():
            return "paused"
        if jobs["queued"] == 0 and not in_flight and any(p["status"] == "joining" for p in self.parts.values()):
            return "joining"
        return "rendering"

    def _running_entry(self, entry: dict) -> dict:
        job = entry["job"]
        item, index = self.job_item.get(job.id, (None, 0))
        scene = getattr(job, "scene", None)
        start = float(scene.start_s + job.offset_s) if scene is not None else None
        return {"job": job.id, "item": item.position if item else None, "name": job.name,
                "part": item.part if item else None, "segment": index + 1, "segments": item.segments if item else 1,
                "source": self.sources[item.source] if item else None,
                "in_s": round(start, 3) if start is not None else None,
                "out_s": round(start + self.job_seconds.get(job.id, 0.0), 3) if start is not None else None,
                "since": round(entry["since"], 3) if entry["since"] else None, "attempt": entry["attempt"],
                "host": self.writer["host"] if self.scheduler.kind != "dask" else None}

    def _memory(self) -> dict:
        memory = psutil.virtual_memory()
        monitor = self.memory
        return {"rss_bytes": getattr(monitor, "current_rss_bytes", None),
                "peak_rss_bytes": getattr(monitor, "peak_rss_bytes", None),
                "available_bytes": memory.available, "total_bytes": memory.total}

    # ---- helpers -----------------------------------------------------------------------------------------

    def _guard(self):
        return Guarded(self.lock)

    def _changed(self) -> None:
        self.version += 1

    def _host(self, host: str) -> int:
        if not host:
            return -1
        if host not in self.hosts:
            self.hosts.append(host)
        return self.hosts.index(host)

    def _failure(self, text: str, name: str) -> int:
        """The failure group of an error: by its first line, less the item's name (the same error of two
        scenes is one group)."""
        head = error_head(text)
        head = head[len(name) + 2:] if head.startswith(f"{name}: ") else head
        if head not in self.failures:
            self.failures[head] = {"error": head, "count": 0, "names": [], "rows": [], "detail": text[:MAX_ERROR_CHARS]}
        return list(self.failures).index(head)

    def _add_failed(self, index: int, entry: ItemRow) -> None:
        group = list(self.failures.values())[index]
        rows = self.failed_rows.setdefault(group["error"], set())
        if entry.position not in rows:
            rows.add(entry.position)
            group["count"] += 1
            if len(group["rows"]) < MAX_IDS_PER_FAILURE:
                group["rows"].append(entry.position)
                group["names"].append(entry.name)

    def _settle(self, entry: ItemRow, busy: bool = True) -> None:
        """Count the item in its part's items done, or not, after its status changed (``busy``: by a job; its
        part is then rendering)."""
        done = self.part_done.setdefault(entry.part, set())
        if entry.status in ENDED:
            done.add(entry.position)
        else:
            done.discard(entry.position)
        part = self.parts.get(entry.part)
        if part is not None:
            part["items_done"] = len(done)
            if busy and part["status"] == "waiting" and len(done) < part["items"]:
                part["status"] = "rendering"

    def _set_part(self, part) -> None:
        entry = self.parts.get(part.part.number)
        if entry is None:
            return
        entry["status"] = str(part.status)
        entry["error"] = part.error
        if part.path is not None:
            entry["path"] = os.path.abspath(part.path)
            entry["size_bytes"] = file_size(part.path)
