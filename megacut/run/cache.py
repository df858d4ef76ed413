"""Content-addressed store of rendered segments and of what each written part contains.

A segment's file name is its key (:func:`megacut.plan.scene_key`, or a
section's), so a rerun finds every segment whose inputs did not change. A cached segment is
checked before reuse (it has the expected streams and length), never trusted
on its name alone. Each written part records the keys it was joined from, so a
part whose segments did not change is not joined again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path

import psutil

try:
    import fcntl
except ImportError:  # Windows: runs are not locked against each other
    fcntl = None

from megacut.errors import UsageError
from megacut.plan.build import OutputFormat
from megacut.render.jobs import SEGMENT_SUFFIX
from megacut.render.segment import segment_problem


def write_json_atomic(path: Path, data) -> None:
    """Write JSON under a temporary name in the same folder, then rename: never a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    try:
        temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class SegmentCache:
    def __init__(self, root: Path):
        self.root = root
        self.segments = root / "segments"
        self.parts = root / "parts"
        self.work = root / "work"

    def prepare(self) -> None:
        for folder in (self.segments, self.parts, self.work):
            folder.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def lock(self):
        """Hold the cache for this run; a second run on the same cache is refused.

        The lock is an flock, which the system releases when its holder dies, so
        anything left in the cache when the lock is free is a killed run's:
        its ffmpeg processes are stopped and its partial files removed.
        """
        self.prepare()
        handle = open(self.root / "lock", "a+", encoding="utf-8")
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise UsageError(f"another megacut run (pid {holder}) is using {self.root}; wait for it to "
                                     "finish, or give this run another --output or --cache-dir") from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            self.clean_stale()
            yield self
        finally:
            handle.close()

    def clean_stale(self) -> None:
        """Stop ffmpeg processes a killed run left writing into this cache, and remove partial files."""
        marker = str(self.root)
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if proc.pid != os.getpid() and any(marker in arg and ".partial" in arg for arg in cmdline):
                with contextlib.suppress(psutil.Error):
                    proc.kill()
        for partial in self.segments.glob(".*.partial*"):
            partial.unlink(missing_ok=True)
        for leftover in self.work.iterdir():
            shutil.rmtree(leftover, ignore_errors=True)

    def segment_path(self, key: str) -> Path:
        return self.segments / f"{key}{SEGMENT_SUFFIX}"

    def work_dir(self, key: str) -> Path:
        return self.work / key

    def is_valid(self, key: str, frames: int, fmt: OutputFormat) -> bool:
        """The cached segment exists, is complete, and has the expected picture, audio and length.

        Its name (the key) already encodes every setting it was rendered with;
        reading its track table catches a truncated, damaged or foreign file.
        """
        return segment_problem(self.segment_path(key), frames, fmt) is None

    def _manifest_path(self, output: Path) -> Path:
        digest = hashlib.sha256(str(output.resolve()).encode("utf-8")).hexdigest()[:12]
        return self.parts / f"{output.stem}-{digest}.json"

    def part_is_current(self, output: Path, keys: list[str]) -> bool:
        """``output`` exists and was joined from exactly these segments."""
        try:
            manifest = json.loads(self._manifest_path(output).read_text(encoding="utf-8"))
            stat = output.stat()
        except (OSError, ValueError):
            return False
        return (manifest.get("keys") == keys
                and manifest.get("size_bytes") == stat.st_size and manifest.get("mtime_ns") == stat.st_mtime_ns)

    def record_part(self, output: Path, keys: list[str]) -> None:
        stat = output.stat()
        write_json_atomic(self._manifest_path(output),
                          {"keys": keys, "size_bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns})

    def forget_part(self, output: Path) -> None:
        self._manifest_path(output).unlink(missing_ok=True)
