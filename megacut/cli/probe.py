"""``megacut probe``: duration, format, colour and audio tracks of each source."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from megacut.errors import ExitCode, SourceError, UsageError


def cmd_probe(args: argparse.Namespace) -> int:
    from megacut.cli.report import source_description
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
    failed = [r for r in results.values() if isinstance(r, SourceError)]
    if args.json:
        print(json.dumps([_probe_json(path, results[path]) for path in files], indent=2, default=str))
    else:
        for path in files:
            result = results[path]
            print(f"{path}\n  error: {result.message}" if isinstance(result, SourceError)
                  else source_description(result))
    return ExitCode.INVALID if failed else ExitCode.OK


def _probe_json(path: Path, result) -> dict:
    if isinstance(result, SourceError):
        return {"path": str(path), "error": result.message}
    data = asdict(result)
    data["fps"] = float(result.fps)
    return data
