"""Content-addressed store of rendered segments and of what each written part contains.

A segment's file name is its key (:func:`megacut.render.jobs.segment_key`, or a
section's), so a rerun finds every segment whose inputs did not change. A cached segment is
checked before reuse (it has the expected streams and length), never trusted
on its name alone. Each written part records the keys it was joined from, so a
part whose segments did not change is not joined again.

Each part's encoded audio track is kept too (one per output file, replaced when
its sound changes): an edit that changes no sound re-encodes no audio.

Nothing is deleted during a render, so the cache grows with every edit;
:meth:`SegmentCache.prune` deletes, under the run lock, the segments that a
given plan does not use and that no part still on disk was joined from.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import psutil

try:
    import fcntl
except ImportError:  # Windows: runs are not locked against each other
    fcntl = None

from megacut.errors import UsageError
from megacut.files import PARTIAL_GLOB, PARTIAL_MARK, write_json_atomic
from megacut.plan.build import OutputFormat
from megacut.render.jobs import SEGMENT_SUFFIX
from megacut.render.segment import segment_problem


@dataclass(frozen=True)
class PartRecord:
    """What a written part was joined from, as the cache recorded it."""

    path: Path  # the record (parts/<name>.json)
    output: Path | None  # the part file; None in a record older than this field, or unreadable
    keys: tuple[str, ...]
    current: bool  # the part file is still as written; a record with no output is taken as current


@dataclass(frozen=True)
class CacheUsage:
    """The stored segments (key -> bytes) by who needs them."""

    used: dict[str, int]  # by the given plan
    in_parts: dict[str, int]  # not by the plan, but by a part still as written (another output's, say)
    unused: dict[str, int]  # by neither: what prune deletes
    missing: int  # keys of the plan not stored: to render


@dataclass(frozen=True)
class Pruned:
    segments: dict[str, int]  # deleted segments: key -> bytes
    records: int  # deleted records of parts gone or changed
    leftover_bytes: int  # partial files and work folders of killed runs
    audio: dict[str, int] = field(default_factory=dict)  # deleted audio tracks of parts gone: name -> bytes

    @property
    def freed_bytes(self) -> int:
        return sum(self.segments.values()) + self.leftover_bytes + sum(self.audio.values())


def tree_bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a folder; 0 for nothing there."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


class SegmentCache:
    def __init__(self, root: Path):
        self.root = root
        self.segments = root / "segments"
        self.parts = root / "parts"
        self.work = root / "work"
        self.audio = root / "audio"
        self.leftover_bytes = 0  # what the last lock() cleared of a killed run's files

    def prepare(self) -> None:
        for folder in (self.segments, self.parts, self.work, self.audio):
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
            self.leftover_bytes = self.clean_stale()
            yield self
        finally:
            handle.close()

    def clean_stale(self) -> int:
        """Stop ffmpeg processes a killed run left writing into this cache, and remove partial files;
        return the bytes removed."""
        removed = self.clear_partials(lambda name: True)
        for leftover in self.work.iterdir():
            removed += tree_bytes(leftover)
            shutil.rmtree(leftover, ignore_errors=True)
        return removed

    def clear_partials(self, stale: Callable[[str], bool]) -> int:
        """Stop the ffmpeg processes of this machine writing a partial segment of this cache whose name
        ``stale`` accepts, and remove such partial files; return the bytes removed."""
        marker = str(self.root)
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if proc.pid != os.getpid() and any(marker in arg and PARTIAL_MARK in arg and stale(arg)
                                               for arg in cmdline):
                with contextlib.suppress(psutil.Error):
                    proc.kill()
        removed = 0
        for partial in self.segments.glob(PARTIAL_GLOB):
            if stale(partial.name):
                removed += tree_bytes(partial)
                partial.unlink(missing_ok=True)
        return removed

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

    def part_is_current(self, output: Path, keys: list[str], sound: str | None = None) -> bool:
        """``output`` exists and was joined from exactly these segments, its sound encoded as ``sound`` says
        (a group's audio key: its segments' sound, the loudness target and gains, the tracks)."""
        try:
            manifest = json.loads(self._manifest_path(output).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return manifest.get("keys") == keys and manifest.get("sound") == sound and _as_written(output, manifest)

    def record_part(self, output: Path, keys: list[str], sound: str | None = None) -> None:
        stat = output.stat()
        write_json_atomic(self._manifest_path(output), {"keys": keys, "sound": sound, "size_bytes": stat.st_size,
                                                        "mtime_ns": stat.st_mtime_ns, "output": str(output.resolve())})

    def stored(self) -> dict[str, int]:
        """Every complete segment in the cache: key -> bytes."""
        sizes = {}
        for path in self.segments.glob(f"*{SEGMENT_SUFFIX}"):
            if not path.name.startswith("."):  # a partial file
                with contextlib.suppress(FileNotFoundError):
                    sizes[path.name.removesuffix(SEGMENT_SUFFIX)] = path.stat().st_size
        return sizes

    def part_records(self) -> list[PartRecord]:
        """The record of every part joined from this cache, in name order."""
        records = []
        for path in sorted(self.parts.glob("*.json")):
            try:
                manifest = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # unreadable: no part can be found current by it
                records.append(PartRecord(path, None, (), current=False))
                continue
            output = Path(manifest["output"]) if manifest.get("output") else None
            records.append(PartRecord(path, output, tuple(manifest.get("keys", ())),
                                      current=output is None or _as_written(output, manifest)))
        return records

    def usage(self, keys: Iterable[str]) -> CacheUsage:
        """Which stored segments the plan with these keys uses, which a written part still needs, which nothing."""
        wanted = set(keys)
        in_parts = {k for record in self.part_records() if record.current for k in record.keys}
        stored = self.stored()
        return CacheUsage(used={k: n for k, n in stored.items() if k in wanted},
                          in_parts={k: n for k, n in stored.items() if k in in_parts and k not in wanted},
                          unused={k: n for k, n in stored.items() if k not in wanted and k not in in_parts},
                          missing=len(wanted - stored.keys()))

    def prune(self, keep: Iterable[str]) -> Pruned:
        """Delete the segments neither in ``keep`` nor in a part still as written, the records of parts
        gone or changed, and what killed runs left. Holds the run lock: never under a running render."""
        with self.lock():
            unused = self.usage(keep).unused
            for key in unused:
                self.segment_path(key).unlink(missing_ok=True)
            stale = [record for record in self.part_records() if not record.current]
            for record in stale:
                record.path.unlink(missing_ok=True)
            return Pruned(unused, len(stale), self.leftover_bytes, self._prune_audio())

    def _prune_audio(self) -> dict[str, int]:
        """Delete the kept audio tracks of parts no longer on disk; return what was deleted (name -> bytes)."""
        deleted = {}
        for record in self.audio.glob("*.json"):
            try:
                output = json.loads(record.read_text(encoding="utf-8")).get("output")
            except (OSError, ValueError):
                output = None
            if output and Path(output).exists():
                continue
            track = record.with_suffix(".m4a")
            deleted[track.name] = tree_bytes(track)
            track.unlink(missing_ok=True)
            record.unlink(missing_ok=True)
        return deleted

    def _audio_paths(self, output: Path) -> tuple[Path, Path]:
        """The part's kept audio track and its record."""
        stem = self._manifest_path(output).stem
        return self.audio / f"{stem}.m4a", self.audio / f"{stem}.json"

    def part_audio(self, output: Path, key: str | None) -> Path | None:
        """The audio track kept for ``output`` if it was encoded from sound with this key and is as written."""
        path, record = self._audio_paths(output)
        try:
            kept = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return path if key and kept.get("key") == key and _as_written(path, kept) else None

    def keep_part_audio(self, output: Path, key: str, encoded: Path) -> Path:
        """Move ``encoded`` (the part's audio track, sound ``key``) into the cache; return its new path."""
        path, record = self._audio_paths(output)
        record.unlink(missing_ok=True)
        os.replace(encoded, path)
        stat = path.stat()
        write_json_atomic(record, {"key": key, "size_bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                                   "output": str(output.resolve())})
        return path

    def forget_part(self, output: Path) -> None:
        self._manifest_path(output).unlink(missing_ok=True)


def _as_written(output: Path, manifest: dict) -> bool:
    """``output`` is the very file the record was made for (same size and modification time)."""
    try:
        stat = output.stat()
    except OSError:
        return False
    return manifest.get("size_bytes") == stat.st_size and manifest.get("mtime_ns") == stat.st_mtime_ns
