"""What megacut tells the user: the plan table, probed sources, the run report (JSON) and the summary."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from megacut.plan.build import RenderPlan
from megacut.plan.channels import LAYOUT_NAMES, SURROUND
from megacut.plan.probe import SourceInfo
from megacut.plan.scenes import line_ranges
from megacut.plan.timecodes import format_seconds, format_timestamp
from megacut.render.colour import source_matrix
from megacut.render.jobs import ItemKind

MAX_SOURCES_SHOWN = 3
MAX_MATCH_WIDTH = 72  # "movie → file" in the per-row table; longer ones lose their middle


def plan_table(plan: RenderPlan, rows_in: Path | None = None, cache: Path | None = None) -> str:
    """One line per part, with ``rows_in`` (the movies folder) one line per row (with the loudness of their
    sources measured in the ``cache`` folder), the headings, and every problem, as `megacut plan` prints them."""
    s = plan.settings
    lines = [
        f"Output: {plan.format}, {s.video_codec} crf {s.crf} preset {s.preset}, fit {s.fit} "
        f"({plan.format_note})" if plan.format_note else f"Output: {plan.format}",
        "",
        f"{'part':>4}  {'scenes':>6}  {'duration':>8}  sources",
    ]
    for part in plan.parts:
        names = part.sources
        shown = ", ".join(names[:MAX_SOURCES_SHOWN])
        if len(names) > MAX_SOURCES_SHOWN:
            shown += f" (+{len(names) - MAX_SOURCES_SHOWN} more)"
        mark = "" if part.selected else "  (not selected by --chunks)"
        lines.append(f"{part.number:>4}  {len(part.scenes):>6}  {format_seconds(part.duration_s):>8}  {shown}{mark}")
    total_s = sum(p.duration_s for p in plan.parts)
    lines.append(f"{'all':>4}  {len(plan.scenes):>6}  {format_seconds(total_s):>8}  "
                 f"{len({sc.source.path for sc in plan.scenes})} sources")
    if rows_in is not None:
        lines += ["", *rows_table(plan, rows_in, cache)]
    lines += pictures_table(plan)
    lines += subtitles_table(plan)
    if plan.headings:
        lines += ["", "Headings:"]
        lines += [f"  line {h.line}: {h.text}" for h in plan.headings]
    if plan.problems:
        lines += ["", "Problems:"]
        lines += [f"  {p}" for p in plan.problems]
    return "\n".join(lines)


def rows_table(plan: RenderPlan, movies: Path, cache: Path | None = None) -> list[str]:
    """One line per scene row in CSV order: the file it matched (relative to ``movies``), its times in
    the source, frames, audio track, its source's loudness and gain (as measured in the ``cache`` folder by
    an earlier run, else measured by the run), part and the lookup rule that found the file when it was not
    the exact name; a rejected row points to the problems."""
    cells = [(str(s.line), f"{s.row.movie} → {_relative(s.source.path, movies)}", format_timestamp(s.start_s),
              format_timestamp(s.end_s), str(s.frames), s.audio.label() if s.audio else "silence",
              _loudness_cell(plan, s, cache), str(s.part), plan.found_by.get(s.line, ""), _subtitles_cell(s))
             for s in plan.scenes]
    cells += [(str(r.line), f"{r.movie} → not planned (see the problems)", *[""] * 8)
              for r in plan.rejected]
    cells.sort(key=lambda row: int(row[0]))
    header = ("line", "movie → file", "start", "end", "frames", "audio", "loudness", "part", "found by", "subtitles")
    rows = [header] + [(line, _shorten(match, MAX_MATCH_WIDTH), *rest) for line, match, *rest in cells]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    left = (False, True, False, False, False, True, True, False, True, True)
    return ["  ".join(cell.ljust(w) if pad_right else cell.rjust(w)
                      for cell, w, pad_right in zip(row, widths, left)).rstrip() for row in rows]


def _loudness_cell(plan: RenderPlan, scene, cache: Path | None) -> str:
    """``-27.0 LUFS, +0.0 dB``: a scene's source loudness and its gain, if measured; what will happen if not."""
    from megacut.render.loudness import read_measurement
    from megacut.run.groups import level_key

    key = level_key(scene, plan.format, plan.settings)
    if not key:
        return "kept" if scene.audio else ""
    measured = read_measurement(cache / "loudness", key) if cache else None
    if measured is None:
        return "measured in the run"
    if measured.silent:
        return "silent"
    return f"{measured.integrated_lufs:.1f} LUFS, {measured.gain_db(plan.settings.loudness):+.1f} dB"


def _subtitles_cell(scene) -> str:
    """``forced #2 eng SRT (forced flag): 1 cue; full #1 eng SRT: 14 cues`` for a row; "" without subtitles."""
    subtitles, parts = scene.subtitles, []
    choice = subtitles.choice
    if choice.forced is not None:
        shown = len(subtitles.forced) if choice.forced.text else len(subtitles.burned)
        parts.append(f"forced {choice.forced.label()}: {_cues(shown)}" + ("" if choice.forced.text else " burned"))
    if choice.full is not None:
        shown = len(subtitles.full) if choice.full.text else subtitles.full_picture_count
        parts.append(f"full {choice.full.label()}: {_cues(shown)}")
    return "; ".join(parts)


def _cues(count: int) -> str:
    return f"{count} cue{'' if count == 1 else 's'}"


def subtitles_table(plan: RenderPlan) -> list[str]:
    """What each source with subtitle tracks gives the scenes from it, and why; nothing when no source has any."""
    lines, seen = [], set()
    for scene in plan.scenes:
        source, choice = scene.source, scene.subtitles.choice
        if not source.subtitle_tracks or (source.path, choice) in seen:
            continue
        seen.add((source.path, choice))
        what = choice.describe() or "no forced subtitles in the audio's language" + (
            f" ({scene.audio.language})" if scene.audio is not None and scene.audio.language else "")
        lines.append(f"  {source.path.name}: {what}")
    if not lines:
        return []
    container = plan.settings.container
    soft = "mov_text" if container == "mp4" else "SRT or ASS"
    return ["", f"Subtitles ({container.upper()} parts: text tracks soft as {soft}, forced ones flagged forced; "
                "forced pictures burned in):", *lines]


def pictures_table(plan: RenderPlan) -> list[str]:
    """What is done with each source that is not SDR (tone-mapped, with its peak), and with SDR sources in an
    HDR output; nothing when the sources and the output are all SDR."""
    output = plan.settings.dynamic_range
    sources = {s.source.path: s.source for s in plan.scenes
               if s.source.dynamic_range.kind != "SDR" or output == "hdr"}
    if not sources:
        return []
    return ["", f"Dynamic range ({output.upper()} output):"] + [
        f"  {path.name}: {info.dynamic_range}: {info.dynamic_range.treatment(output)}"
        for path, info in sources.items()]


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(os.path.realpath(folder)).as_posix()  # sources are found under the real path
    except ValueError:
        return str(path)


def _shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters by replacing its middle with "…" (the ends say the most)."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def plan_verdict(plan: RenderPlan, skip_invalid: bool = False) -> str:
    """The plan's last line; ``skip_invalid``: what `process --skip-invalid` would render and skip."""
    errors, warnings = len(plan.errors), len(plan.warnings)
    will_render = f"{len(plan.parts)} part(s), {len(plan.scenes)} scene(s), {warnings} warning(s)"
    if errors and skip_invalid and plan.selected_parts:
        skipped = plan.invalid_lines
        rows = f"the row(s) on line(s) {line_ranges(skipped)}" if skipped else "no row"
        return f"OK with --skip-invalid: {will_render}; {rows} skipped ({errors} error(s) above)."
    if errors:
        return (f"{errors} error(s), {warnings} warning(s): fix the lines above and plan again "
                "(or render the valid rows only with `megacut process --skip-invalid`).")
    return f"OK: {will_render}."


MATRIX_NAMES = {"bt709": "BT.709", "bt601": "BT.601", "bt470": "BT.601", "smpte170m": "BT.601",
                "bt2020": "BT.2020", "smpte240m": "SMPTE 240M", "fcc": "FCC"}


def colour_description(info: SourceInfo) -> str:
    """How megacut reads the source's picture: its colour matrix, HDR, interlacing."""
    matrix = MATRIX_NAMES[source_matrix(info)]
    tag = f"tagged {info.color_matrix}" if info.color_matrix else "untagged: guessed from the picture size"
    text = f"colour: {matrix} ({tag})"
    if info.dynamic_range.kind != "SDR":
        text += f"\n  dynamic range: {info.dynamic_range}; into an SDR part: {info.dynamic_range.treatment()}"
    if info.interlaced:
        text += ", interlaced (deinterlaced)"
    return text


def source_description(info: SourceInfo, cues: dict | None = None) -> str:
    """A few lines describing one probed source, for `megacut probe` (``cues``: its subtitle tracks' cues
    by stream index, for their counts)."""
    measured = " (measured: the container has no duration)" if info.duration_measured else ""
    head = (f"{info.path}\n  {format_timestamp(info.duration_s)}{measured}, {info.width}x{info.height}, "
            f"{float(info.fps):.3f} fps, {info.video_codec} {info.pix_fmt}")
    extras = []
    if info.start_s:
        extras.append(f"starts at {info.start_s:.3f} s")
    if info.rotation:
        extras.append(f"rotated {info.rotation}°")
    if extras:
        head += " (" + ", ".join(extras) + ")"
    lines = [head, f"  {colour_description(info)}"]
    if not info.audio_tracks:
        lines.append("  no audio (scenes from it get silence)")
    for track in info.audio_tracks:
        title = f' "{track.title}"' if track.title else ""
        default = ", default" if track.default else ""
        lines.append(f"  audio #{track.order + 1} (stream {track.index}): {track.language or 'und'}{title}, "
                     f"{track.codec}, {track.channels} ch, {track.sample_rate} Hz{default}")
    for track in info.subtitle_tracks:
        title = f' "{track.title}"' if track.title else ""
        flags = "".join(f", {flag}" for flag, on in (("forced", track.forced), ("default", track.default),
                                                     ("hearing impaired", track.hearing_impaired)) if on)
        read = (cues or {}).get(track.index)
        count = "" if read is None else f", {_cues(read.count)}" + (
            f" ({read.forced_count} forced)" if read.style == "pgs" else "")
        lines.append(f"  subtitles #{track.order + 1} (stream {track.index}): {track.language or 'und'}{title}, "
                     f"{track.format_name}{count}{flags}")
    return "\n".join(lines)


def report_data(result) -> dict:
    """The run report (SPEC §7) as plain data; ``result`` is an engine.RunResult."""
    plan = result.plan
    rejected = [{"index": r.index, "line": r.line, "movie": r.movie, "source": None, "status": "skipped",
                 "error": "; ".join(r.reasons), "warnings": [], "part": None} for r in plan.rejected]
    offsets = offsets_by_id(result)
    of_kind = {kind: [r for r in result.items.values() if r.item.kind == kind] for kind in ItemKind}
    scenes = [_scene_data(r, offsets, result.levels, plan.settings.dynamic_range) for r in of_kind[ItemKind.SCENE]]
    cards = [{"line": r.item.origin.line, "text": r.item.chapter, "status": r.status, "error": r.error,
              "offset_s": round(offsets[r.item.id], 6) if r.item.id in offsets else None,
              "duration_s": round(r.item.duration_s, 6)}
             for r in of_kind[ItemKind.TITLE_CARD]]
    return {
        "megacut_version": _version(),
        "csv": str(plan.csv_path),
        "output": str(result.options.output_dir),
        "exit_code": result.exit_code,
        "interrupted": result.interrupted,
        "format": {"width": plan.format.width, "height": plan.format.height, "fps": str(plan.format.fps),
                   "pix_fmt": plan.format.pix_fmt, "audio": _audio_format(plan)},
        "parts": [
            {"n": p.part.number, "path": str(p.path) if p.path else None, "status": p.status,
             "duration_s": round(p.duration_s, 6), "scenes": _indices(result, p, ItemKind.SCENE),
             "error": p.error, "join_s": round(p.join_s, 3), "audio_wait_s": round(p.audio_wait_s, 3),
             "written_at_s": round(p.joined_at_s, 3), "sounds_alone": p.sounds_alone}
            for p in result.parts
        ],
        "scenes": sorted(scenes + rejected, key=lambda s: s["index"]),
        "headings": [{"line": h.line, "text": h.text, "before_scene": h.before_scene} for h in plan.headings],
        "cards": cards,
        **_run_totals(result),
        "settings": _settings_data(result),
    }


def _indices(result, part, *kinds) -> list[int]:
    """The report indices of the items of ``kinds`` that ``part`` was joined from, in order."""
    return [result.items[i].item.index for i in part.item_ids if result.items[i].item.kind in kinds]


def _run_totals(result) -> dict:
    started = datetime.fromtimestamp(result.started_at, timezone.utc).isoformat(timespec="milliseconds")
    return {"started_at": started, "wall_s": round(result.wall_s, 3), "cpu_s": round(result.cpu_s, 3),
            "peak_rss_bytes": result.peak_rss_bytes, "workers": result.workers,
            "last_job_ended_s": round(result.last_job_ended_s, 3), "cluster": result.cluster}


def sections_report_data(result, specs) -> dict:
    """The run report of `megacut sections`: one entry per video and per section."""
    offsets = offsets_by_id(result)
    spec_of = {item.id: spec for spec, part in zip(specs, result.parts) for item in part.part.items}
    return {
        "megacut_version": _version(),
        "output": str(result.options.output_dir),
        "exit_code": result.exit_code,
        "interrupted": result.interrupted,
        "videos": [
            {"n": p.part.number, "spec": str(spec.path), "path": str(p.path) if p.path else None,
             "status": p.status, "duration_s": round(p.duration_s, 6),
             "sections": _indices(result, p, *ItemKind), "error": p.error}
            for spec, p in zip(specs, result.parts)
        ],
        "sections": [
            {"index": r.item.index, "spec": str(spec_of[r.item.id].path), "section": r.item.origin.index,
             "name": r.item.name, "status": r.status, "error": r.error, "duration_s": round(r.item.duration_s, 6),
             "offset_s": round(offsets[r.item.id], 6) if r.item.id in offsets else None,
             "render_s": round(r.render_s, 3), "attempts": r.attempts, "retried_after": r.retried_after,
             "key": r.item.keys[0], "host": next((s.host for s in r.segments if s.host), None)}
            for r in sorted(result.items.values(), key=lambda r: r.item.index)
        ],
        **_run_totals(result),
    }


def video_reports(data: dict, specs, output: Path) -> list[tuple[Path, dict]]:
    """The sections run report split per video: (the video's path with ``.report.json``, its report:
    the run's fields with only that video and its sections)."""
    return [(output / spec.output.with_suffix(".report.json"),
             {**data, "videos": [video], "sections": [s for s in data["sections"] if s["spec"] == video["spec"]]})
            for spec, video in zip(specs, data["videos"])]


def offsets_by_id(result) -> dict[str, float]:
    """Where each included item starts in the part file actually written."""
    offsets = {}
    for part in result.parts:
        at = 0.0
        for item_id in part.item_ids:
            offsets[item_id] = at
            at += result.items[item_id].item.duration_s
    return offsets


def _audio_format(plan: RenderPlan) -> str:
    """The parts' sound: "aac 48000 Hz 5.1, and a stereo track"."""
    fmt = plan.format
    stereo = ", and a stereo track" if fmt.channels == SURROUND and plan.settings.stereo_track else ""
    return f"aac {fmt.sample_rate} Hz {LAYOUT_NAMES[fmt.channels]}{stereo}"


def _subtitles_data(scene) -> dict:
    """A scene's subtitle tracks, why, and how many cues of each it shows."""
    subtitles, choice = scene.subtitles, scene.subtitles.choice

    def track(t) -> dict | None:
        return None if t is None else {"index": t.index, "language": t.language, "title": t.title,
                                       "format": t.format_name}

    return {"forced": track(choice.forced), "forced_how": choice.forced_how or None,
            "forced_cues": len(subtitles.forced), "burned_cues": len(subtitles.burned),
            "full": track(choice.full), "full_cues": len(subtitles.full) + subtitles.full_picture_count}


def _level_data(level, target: float | None) -> dict | None:
    """A scene's source loudness and gain (run/levels.py's Level) for the report."""
    if level is None:
        return None
    loudness = level.loudness
    return {"integrated_lufs": loudness.integrated_lufs if loudness else None,
            "true_peak_dbtp": loudness.true_peak_dbtp if loudness else None, "target_lufs": target,
            "gain_db": level.gain_db, "measured_in_this_run": level.measured_now, "error": level.error}


def _scene_data(scene_result, offsets: dict[str, float], levels: dict, output: str) -> dict:
    item = scene_result.item
    scene = item.origin
    audio = scene.audio
    copied = {job.id for job in item.jobs if job.renderer == "scene/copy"}  # smart copy's runs of packets
    return {
        "index": scene.index, "line": scene.line, "movie": scene.row.movie, "source": str(scene.source.path),
        "start_s": round(scene.start_s, 6), "end_s": round(scene.end_s, 6), "status": scene_result.status,
        "error": scene_result.error, "warnings": list(scene.warnings), "part": scene.part,
        "offset_s": round(offsets[item.id], 6) if item.id in offsets else None,
        "duration_s": round(scene.duration_s, 6), "frames": scene.frames,
        "picture": scene.source.dynamic_range.treatment(output),
        "audio_track": {"index": audio.index, "language": audio.language, "title": audio.title} if audio else None,
        "render_s": round(scene_result.render_s, 3), "attempts": scene_result.attempts,
        "retried_after": scene_result.retried_after, "key": item.keys[0],
        "segments": [{"job": s.job_id, "frames": s.frames, "status": s.status, "render_s": round(s.render_s, 3),
                      "cpu_s": round(s.cpu_s, 3), "attempts": s.attempts, "key": s.key,
                      "ended_at_s": round(s.ended_at_s, 3), "host": s.host or None, "copied": s.job_id in copied}
                     for s in scene_result.segments],
        "overlay": list(scene.overlay_lines),
        "subtitles": _subtitles_data(scene),
        "loudness": _level_data(levels.get(item.level), scene_result.item.jobs[0].settings.loudness),
    }


def _settings_data(result) -> dict:
    from dataclasses import asdict

    settings = asdict(result.plan.settings)
    settings["fps"] = str(result.plan.settings.fps) if result.plan.settings.fps else None
    settings["transition"] = str(result.plan.settings.transition)
    options = asdict(result.options)
    options = {k: str(v) if isinstance(v, Path) else v for k, v in options.items()}
    return {**settings, **options, "workers": result.workers}


def _version() -> str:
    from megacut.version import __version__

    return __version__


def summary_text(result) -> str:
    """The end-of-run summary printed by `megacut process`."""
    counts = {}
    for item in result.items.values():
        counts[item.status] = counts.get(item.status, 0) + 1
    noun, file_noun = ("scenes", "part") if result.plan is not None else ("sections", "video")
    lines = ["", "Summary:"]
    for part in result.parts:
        if part.status == "skipped":
            continue
        where = f" -> {part.path}" if part.path else ""
        note = f" ({part.error})" if part.error else ""
        lines.append(f"  {file_noun} {part.part.number}: {part.status}{where}{note}")
    lines.append(f"  {noun}: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("ok", "cached", "failed", "cancelled")
                                          if counts.get(k) or k in ("ok", "failed")))
    for item in result.items.values():
        if item.status == "failed":
            lines.append(f"  failed: {item.item.name}: {item.error}")
    rendered_s = sum(r.item.duration_s for r in result.items.values() if r.status == "ok")
    speed = f", {rendered_s / result.wall_s:.2f}x real time" if rendered_s and result.wall_s else ""
    lines.append(f"  wall {result.wall_s:.1f} s, CPU {result.cpu_s:.1f} s, peak memory "
                 f"{result.peak_rss_bytes / 1e6:.0f} MB, {result.workers} worker(s); rendered "
                 f"{rendered_s:.0f} s of {noun}{speed}")
    if result.interrupted:
        lines.append("  interrupted: run the same command again to resume; finished scenes are kept")
    return "\n".join(lines)
