"""Plans as groups: each output file (a part of scenes, a sections video) and its items in order.

A group is one output file; an item is one segment of it, rendered by a job
or reused from the cache by its key. Scenes plans give one group per part
(with heading title cards under ``--section-cards``); sections specs give one
group per spec. The engine renders groups without knowing which kind they are.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from megacut.join.audio import sound_signature
from megacut.join.subtitles import PartTrack, part_tracks
from megacut.plan.build import OutputFormat, RenderPlan, Scene
from megacut.plan.sections import TITLE_CARD_S, SectionSpec, spec_format
from megacut.plan.settings import Settings
from megacut.render.loudness import measurement_key
from megacut.render.jobs import ItemKind, Job, Still, scene_jobs, still_job


@dataclass(frozen=True)
class Item:
    """One scene, slide or title card of a group: rendered by its jobs (a long scene's segments, in order),
    or reused from the cache by their keys. The report and the chapters have one entry per item."""

    id: str  # unique in the run
    index: int  # the report's index: a scene's or section's position; a title card's CSV line
    name: str  # for messages: "scene 3 (line 5)"
    jobs: tuple[Job, ...]  # ids, keys, kind and lengths fixed when the plan became jobs
    chapter: str
    origin: Any  # what it was made from: the Scene, the Section, or the Heading of a title card
    level: str = ""  # the key of its source's loudness measurement (render/loudness.py); "": no gain

    kind = property(lambda self: self.jobs[0].kind)
    keys = property(lambda self: [job.key for job in self.jobs])
    frames = property(lambda self: sum(job.frames for job in self.jobs))
    duration_s = property(lambda self: self.jobs[0].format.seconds_for(self.frames))


@dataclass(frozen=True)
class Group:
    """One output file: a part of a scenes plan, or the video of a sections spec."""

    number: int
    output: Path
    items: tuple[Item, ...]
    format: OutputFormat
    title: str
    selected: bool = True
    loudness: float | None = None  # the target its sources' gains bring them to (LUFS); None: no gains
    stereo_track: bool = False  # a 5.1 part also carries its stereo downmix
    settings: Settings | None = None  # a scenes plan's, which decide its subtitle tracks (None: it has none)

    frames = property(lambda self: sum(i.frames for i in self.items))
    duration_s = property(lambda self: sum(i.duration_s for i in self.items))
    keys = property(lambda self: segment_keys(self.items))  # what it is joined from, in order

    @property
    def audio_key(self) -> str | None:
        """A digest of the sound of all its items in order and of the audio encoder: its encoded audio track
        is reused while this stays the same. None when a job's sound is not known by a key."""
        keys = [job.audio_key for item in self.items for job in item.jobs]
        if not all(keys):
            return None
        sound = [sound_signature(self.format.channels, self.stereo_track), self.loudness,
                 [item.level for item in self.items]]
        return hashlib.sha256(json.dumps([sound, keys]).encode("utf-8")).hexdigest()[:32]

    @functools.cached_property
    def subtitles(self) -> tuple[PartTrack, ...]:
        """Its subtitle tracks with every item in it (join/subtitles.py)."""
        return part_tracks(placed_scenes(self.items), self.format, self.settings) if self.settings else ()

    @property
    def join_key(self) -> str | None:
        """What its join adds to its segments: its sound (the audio key) and its subtitle tracks. A part
        recorded with another is joined again, its segments reused."""
        audio = self.audio_key
        if audio is None or not self.subtitles:
            return audio
        tracks = [track.digest for track in self.subtitles]
        return hashlib.sha256(json.dumps([audio, tracks]).encode("utf-8")).hexdigest()[:32]

    def subtitle_tracks(self, included) -> tuple[PartTrack, ...]:
        """Its subtitle tracks when only the ``included`` items are joined (the others failed)."""
        if len(included) == len(self.items) or self.settings is None:
            return self.subtitles
        return part_tracks(placed_scenes(included), self.format, self.settings)


def placed_scenes(items) -> list[tuple[Scene, float]]:
    """(scene, where it starts in the part, seconds) for the scene items of ``items`` joined in order."""
    placed, frames = [], 0
    for item in items:
        if isinstance(item.origin, Scene):
            placed.append((item.origin, item.jobs[0].format.seconds_for(frames)))
        frames += item.frames
    return placed


def chapter_title(scene: Scene) -> str:
    return scene.overlay_lines[0] if scene.overlay_lines else (scene.row.movie or scene.source.path.stem)


def scene_groups(plan: RenderPlan, output_dir: Path) -> list[Group]:
    """The parts of a scenes plan as groups (with heading title cards under --section-cards)."""
    cards = heading_cards(plan) if plan.settings.section_cards else {}
    groups = []
    for part in plan.parts:
        items = []
        for scene in part.scenes:
            items += cards.pop(scene.index, [])
            items.append(Item(f"scene-{scene.index}", scene.index, scene.name,
                              scene_jobs(scene, plan.format, plan.settings), chapter_title(scene), scene,
                              level_key(scene, plan.format, plan.settings)))
        groups.append(Group(part.number, output_dir / part.filename, tuple(items), plan.format,
                            f"{plan.csv_path.stem} — part {part.number}", part.selected, plan.settings.loudness,
                            plan.settings.stereo_track, plan.settings))
    return groups


def level_key(scene: Scene, fmt: OutputFormat, settings: Settings) -> str:
    """The key of the measurement that gives ``scene``'s gain ("" with no target, or no sound to level)."""
    if settings.loudness is None or scene.audio is None:
        return ""
    return measurement_key(scene.source, scene.audio, fmt.channels)


def heading_cards(plan: RenderPlan) -> dict[int, list[Item]]:
    """Title-card items per scene index: each heading goes before the first valid scene after it."""
    valid = sorted(s.index for s in plan.scenes)
    cards: dict[int, list[Item]] = {}
    for heading in plan.headings:
        following = next((i for i in valid if i >= heading.before_scene), None)
        if following is None or not heading.text:
            continue
        job = still_job(f"card-{heading.line}", ItemKind.TITLE_CARD, f"title card (line {heading.line})",
                        Still(None, heading.text, None, TITLE_CARD_S), plan.format, plan.settings)
        cards.setdefault(following, []).append(Item(job.id, heading.line, job.name, (job,), heading.text, heading))
    return cards


def section_groups(specs: list[SectionSpec], output_dir: Path, settings: Settings) -> list[Group]:
    """Every section of every spec as items, one group (video) per spec, in section order."""
    groups, index = [], 0
    for number, spec in enumerate(specs, start=1):
        fmt = spec_format(spec, settings)
        items = []
        for section in spec.sections:
            kind = ItemKind.TITLE_CARD if section.index == 0 else ItemKind.SLIDE
            still = Still(section.image, section.text, section.audio, section.duration_s)
            job = still_job(f"slide-{number}-{section.index}", kind, section.name, still, fmt, settings)
            chapter = section.text or (section.image.stem if section.image else section.name)
            items.append(Item(job.id, index, job.name, (job,), chapter.splitlines()[0], section))
            index += 1
        groups.append(Group(number, output_dir / spec.output, tuple(items), fmt, spec.title or spec.path.stem))
    return groups


def segment_keys(items) -> list[str]:
    """The segment keys of ``items``, in order: what a part is joined from."""
    return [key for item in items for key in item.keys]
