"""Plans as groups: each output file (a part of scenes, a sections video) and its items in order.

A group is one output file; an item is one segment of it, rendered by a job
or reused from the cache by its key. Scenes plans give one group per part
(with heading title cards under ``--section-cards``); sections specs give one
group per spec. The engine renders groups without knowing which kind they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from megacut.plan.build import OutputFormat, RenderPlan, Scene
from megacut.plan.settings import Settings
from megacut.render.jobs import SceneJob


@dataclass(frozen=True)
class Item:
    """One segment of a group: rendered by ``make_job(segment_path, work_dir)`` or reused by key."""

    index: int  # unique in the run: the report's index
    key: str
    frames: int
    duration_s: float
    chapter: str
    name: str
    subject: Any  # the Scene or Section it renders
    make_job: Callable[[Path, Path], Any]


@dataclass(frozen=True)
class Group:
    """One output file: a part of scenes, or a sections video."""

    number: int
    output: Path
    items: tuple[Item, ...]
    format: OutputFormat
    title: str
    selected: bool = True

    @property
    def frames(self) -> int:
        return sum(i.frames for i in self.items)

    @property
    def duration_s(self) -> float:
        return sum(i.duration_s for i in self.items)


def chapter_title(scene: Scene) -> str:
    return scene.overlay_lines[0] if scene.overlay_lines else (scene.row.movie or scene.source.path.stem)


CARD_S = 3.0  # how long a heading's title card shows (--section-cards)


def scene_groups(plan: RenderPlan, output_dir: Path) -> list[Group]:
    """The parts of a scenes plan as groups (with heading title cards under --section-cards)."""
    def item(scene: Scene) -> Item:
        def make_job(segment_path: Path, work_dir: Path) -> SceneJob:
            return SceneJob(scene=scene, format=plan.format, settings=plan.settings, segment_path=segment_path,
                            work_dir=work_dir)
        return Item(scene.index, scene.key, scene.frames, scene.duration_s, chapter_title(scene), scene.name,
                    scene, make_job)

    cards = heading_cards(plan) if plan.settings.section_cards else {}
    groups = []
    for part in plan.parts:
        items = []
        for scene in part.scenes:
            items += cards.pop(scene.index, [])
            items.append(item(scene))
        groups.append(Group(part.number, output_dir / part.filename, tuple(items), plan.format,
                            f"{plan.csv_path.stem} — part {part.number}", part.selected))
    return groups


def heading_cards(plan: RenderPlan) -> dict[int, list[Item]]:
    """Title-card items per scene index: each heading goes before the first valid scene after it."""
    from megacut.plan.sections import Section

    valid = sorted(s.index for s in plan.scenes)
    cards: dict[int, list[Item]] = {}
    for heading in plan.headings:
        following = next((i for i in valid if i >= heading.before_scene), None)
        if following is None or not heading.text:
            continue
        section = Section(plan.csv_path, heading.line, None, heading.text, None, CARD_S, 0.0)
        cards.setdefault(following, []).append(section_item(-heading.line, section, plan.format, plan.settings,
                                                            heading.text, f"heading card (line {heading.line})"))
    return cards


def section_item(index: int, section, fmt: OutputFormat, settings, chapter: str, name: str) -> Item:
    """The item that renders ``section`` (a slide, or a heading's title card)."""
    from megacut.render.section import SectionJob

    def make_job(segment_path: Path, work_dir: Path) -> SectionJob:
        return SectionJob(section, fmt, settings, segment_path, work_dir)

    job = make_job(Path(), Path())  # its key and length do not depend on where it is written
    return Item(index, job.key, job.frames, fmt.seconds_for(job.frames), chapter, name, section, make_job)


def section_groups(specs, output_dir: Path, settings: Settings):
    """Every section of every spec as engine items, one group (video) per spec, in section order."""
    from megacut.render.section import spec_format
    from megacut.run.groups import Group, section_item

    groups, index = [], 0
    for number, spec in enumerate(specs, start=1):
        fmt = spec_format(spec, settings)
        items = []
        for section in spec.sections:
            chapter = section.text or (section.image.stem if section.image else section.name)
            items.append(section_item(index, section, fmt, settings, chapter.splitlines()[0], section.name))
            index += 1
        groups.append(Group(number, output_dir / spec.output, tuple(items), fmt, spec.title or spec.path.stem))
    return groups
