"""``megacut probe``: duration, format, colour and audio tracks of each source."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from megacut.errors import ExitCode, SourceError, UsageError


def cmd_probe(args: argparse.Namespace) -> int:
    from megacut.cli.report import source_description
    from megacut.plan.prepare import read_subtitles
    from megacut.plan.probe import probe_sources
    from megacut.plan.sources import VIDEO_EXTENSIONS

    files: list[Path] = []
    for raw in args.paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
        elif path.exists():
            files.append(path)
        else:
            raise UsageError(f"{path}: no such file or folder")
    if not files:
        raise UsageError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) in {', '.join(args.paths)}")
    results = probe_sources(files)
    cues, unread = read_subtitles([r for r in results.values() if not isinstance(r, SourceError)], None)
    failed = [r for r in results.values() if isinstance(r, SourceError)]
    levels = {path: _loudness(result) for path, result in results.items()
              if args.measure_loudness and not isinstance(result, SourceError)}
    if args.json:
        print(json.dumps([_probe_json(path, results[path], levels.get(path), cues.get(path)) for path in files],
                         indent=2, default=str))
    else:
        for path in files:
            result = results[path]
            print(f"{path}\n  error: {result.message}" if isinstance(result, SourceError)
                  else source_description(result, cues.get(path)))
            if path in unread:
                print(f"  subtitles not read: {unread[path]}")
            for track, loudness in levels.get(path, {}).items():
                print(f"  loudness of audio {track.label()}: {_described(loudness)}")
    return ExitCode.INVALID if failed else ExitCode.OK


def _loudness(info) -> dict:
    """Each audio track's loudness as a part would carry it (5.1 for 5.1 and more, else stereo), or the error."""
    from megacut.errors import MegacutError
    from megacut.render.loudness import measure_track

    measured = {}
    for track in info.audio_tracks:
        try:
            measured[track] = measure_track(info, track, 6 if track.channels >= 6 else 2)
        except (MegacutError, ValueError) as exc:
            measured[track] = str(exc).splitlines()[0]
    return measured


def _described(loudness) -> str:
    from megacut.plan.settings import DEFAULT_LOUDNESS_LUFS

    if isinstance(loudness, str):
        return f"not measured ({loudness})"
    return f"{loudness.describe(DEFAULT_LOUDNESS_LUFS)} at {DEFAULT_LOUDNESS_LUFS:g} LUFS"


def _probe_json(path: Path, result, levels: dict | None = None, cues: dict | None = None) -> dict:
    if isinstance(result, SourceError):
        return {"path": str(path), "error": result.message}
    data = asdict(result)
    data["fps"] = float(result.fps)
    for track, entry in zip(result.audio_tracks, data["audio_tracks"]):
        if levels and track in levels:
            entry["loudness"] = levels[track] if isinstance(levels[track], str) else asdict(levels[track])
    for track, entry in zip(result.subtitle_tracks, data["subtitle_tracks"]):
        read = (cues or {}).get(track.index)
        entry["format"] = track.format_name
        entry["cues"] = read.count if read is not None else None
        if read is not None and read.style == "pgs":
            entry["forced_cues"] = read.forced_count
    return data
