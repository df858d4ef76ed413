"""Content-addressed store of rendered segments and of what each written part contains.

A segment's file name is its scene key (see :func:`megacut.plan.scene_key`),
so a rerun finds every scene whose inputs did not change. A cached segment is
checked before reuse (it decodes with the expected streams and length), never
trusted on its name alone. Each written part records the keys it was joined
from, so a part whose scenes did not change is not joined again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .plan import OutputFormat, Part, Scene
from .render.jobs import SEGMENT_SUFFIX
from .render.scene_ffmpeg import segment_problem


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

    def segment_path(self, scene: Scene) -> Path:
        return self.segments / f"{scene.key}{SEGMENT_SUFFIX}"

    def work_dir(self, scene: Scene) -> Path:
        return self.work / scene.key

    def is_valid(self, scene: Scene, fmt: OutputFormat) -> bool:
        """The cached segment exists, is complete, and has the plan's picture, audio and length.

        Its name (the key) already encodes every setting it was rendered with;
        reading its track table catches a truncated, damaged or foreign file.
        """
        path = self.segment_path(scene)
        return path.is_file() and segment_problem(path, scene.frames, fmt) is None

    def valid_scenes(self, scenes: list[Scene], fmt: OutputFormat) -> set[str]:
        """Keys of the scenes whose cached segment can be reused."""
        return {scene.key for scene in scenes if self.is_valid(scene, fmt)}

    def _manifest_path(self, part: Part) -> Path:
        return self.parts / f"{Path(part.filename).stem}.json"

    def part_is_current(self, part: Part, output: Path) -> bool:
        """The part file exists and was joined from exactly this part's scenes."""
        try:
            manifest = json.loads(self._manifest_path(part).read_text(encoding="utf-8"))
            stat = output.stat()
        except (OSError, ValueError):
            return False
        return (manifest.get("keys") == [s.key for s in part.scenes]
                and manifest.get("size_bytes") == stat.st_size and manifest.get("mtime_ns") == stat.st_mtime_ns)

    def record_part(self, part: Part, output: Path, keys: list[str]) -> None:
        stat = output.stat()
        write_json_atomic(self._manifest_path(part),
                          {"keys": keys, "size_bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns})

    def forget_part(self, part: Part) -> None:
        self._manifest_path(part).unlink(missing_ok=True)
