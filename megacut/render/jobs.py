"""Job values sent to workers, and what workers send back. Small, frozen and picklable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from megacut.plan.build import OutputFormat, Scene
from megacut.plan.settings import Settings

SEGMENT_SUFFIX = ".mov"


@dataclass(frozen=True, slots=True)
class SceneJob:
    """Render one scene into ``segment_path``.

    The job writes a temporary name in the same folder and renames it when the
    segment is complete, so ``segment_path`` is never partial. ``work_dir`` is a
    private scratch folder (overlay image and such) the job creates and removes.
    """

    scene: Scene
    format: OutputFormat
    settings: Settings
    segment_path: Path
    work_dir: Path

    @property
    def name(self) -> str:
        return self.scene.name

    @property
    def key(self) -> str:
        return self.scene.key

    @property
    def cost(self) -> float:
        """Relative amount of work, for longest-first scheduling."""
        return self.scene.frames


@dataclass(frozen=True, slots=True)
class JobResult:
    """What a worker reports for a finished job (failures are raised, not returned)."""

    key: str
    segment_path: Path
    render_s: float
    cpu_s: float
