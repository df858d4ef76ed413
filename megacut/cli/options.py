"""Command-line options: the parser of every command, paths from options, the environment or
.env, and the Settings the render options give. Values are checked by megacut's own parsers."""

from __future__ import annotations

import argparse
import hashlib
import inspect
import os
from dataclasses import fields
from pathlib import Path

from megacut.errors import UsageError
from megacut.plan.settings import (
    BACKENDS,
    CONTAINERS,
    FIT_MODES,
    HDR_VIDEO_CODEC,
    OUTPUT_PIX_FMTS,
    OVERLAY_MODES,
    OVERLAY_SECOND_LINES,
    Settings,
    parse_channels,
    parse_chunk_duration,
    parse_chunks,
    parse_fps,
    parse_loudness,
    parse_non_negative_int,
    parse_overlay_second_line,
    parse_positive_int,
    parse_positive_seconds,
    parse_resolution,
    parse_segment_duration,
    parse_size,
    parse_subtitles,
    parse_switch,
    parse_transition,
    parse_video_codec,
)
from megacut.run.scheduler import SCHEDULER_ENV, parse_scheduler
from megacut.version import __version__

OUTPUT_HELP = "folder for the parts and the report"
DEFAULTS = Settings()
ENV_PATHS = {"csv": "MEGA_CUT_CSV", "movies": "MEGA_CUT_MOVIE_FOLDER", "output": "MEGA_CUT_OUTPUT"}


EXAMPLES = {
    "main": """examples:
  megacut demo                                   render sample scenes, generated on the spot
  megacut plan --csv scenes.csv --movies ~/Movies
  megacut process --csv scenes.csv --movies ~/Movies --output out
  megacut probe ~/Movies/Thor.mkv
  megacut cache --output out --csv scenes.csv --movies ~/Movies --prune""",
    "plan": """example:
  megacut plan --csv scenes.csv --movies ~/Movies --chunk-duration 90m --chunks 1,3-5

Reads the CSV, finds and probes every source, and prints one line per part,
every problem with file:line (--rows: also the file, times, frames, audio track
and part of every row), and about how much disk the run needs (with --output:
only for what is not rendered there yet). Renders nothing, writes nothing.
Exit 0 when clean, 2 when a row or option needs fixing.""",
    "process": """example:
  megacut process --csv scenes.csv --movies ~/Movies --output out

Checks everything first (like `megacut plan`): if a row is wrong nothing is
written and the exit code is 2, unless --skip-invalid. Ctrl+C once: running
scenes finish and complete parts are joined; twice: stop at once. Rerun the same
command to resume: finished scenes are reused. Exit 0 done, 1 some scenes or
parts failed, 2 invalid input, 130 interrupted.""",
    "demo": """example:
  megacut demo --output megacut-demo

Generates five small sample movies (nothing is downloaded) and renders the
example scenes CSV from them into megacut-demo/parts, about a minute on two cores.""",
    "sections": """example:
  megacut sections intro.json chapter2.json --output videos

Each spec makes one video (its "output", inside --output) from sections of an
image and/or text with narration audio. Every section of every spec is a job
in one shared pool; each video is joined in section order. Specs are checked
first: errors name the spec file and the section.""",
    "cache": """examples:
  megacut cache --output out
  megacut cache --output out --csv scenes.csv --movies ~/Movies --prune

Shows the segment cache of an output folder: its segments and their size,
and the parts joined from them. With --csv and --movies (and the format
options the render used, so the scenes' keys match) also what that plan uses.
--prune deletes the segments that plan does not use and no part still on disk
was joined from, and what killed runs left; it waits for no render: while one
runs on the cache it refuses. Exit 0 done, 2 usage error.""",
    "status": """examples:
  megacut status out                  summary, parts, running jobs, failures
  megacut status out --watch          redraw until the run ends
  megacut status out --serve 8765     a live page for a run started without --status-port
  megacut status out --pause          (then --resume, --stop, --stop-now, --workers 4)

Exit 0 done, 1 ended with failures, 130 interrupted, 3 still running (or
paused), 4 stale: the process that ran it is gone without ending it; 2 when
there is no run status in OUTPUT.""",
    "probe": """example:
  megacut probe ~/Movies/Thor.mkv ~/Movies/Shows

Prints duration, resolution, frame rate, codecs and every audio track (index,
language, title, channels) of each file; folders are searched recursively.""",
}


def option_type(parse):
    """Adapt one of megacut's value parsers to argparse (its message is kept as is)."""

    def convert(text: str):
        try:
            return parse(text)
        except UsageError as exc:
            message = str(exc)
            raise argparse.ArgumentTypeError(message.split(": ", 1)[1] if ": " in message else message)

    convert.__name__ = parse.__name__
    return convert


def _add_paths(parser: argparse.ArgumentParser, *, output: str | None = None):
    group = parser.add_argument_group("inputs (also from MEGA_CUT_* variables or a .env file)")
    group.add_argument("--csv", help="the scenes CSV [MEGA_CUT_CSV]")
    group.add_argument("--movies", help="folder with the movies and episodes, searched recursively "
                                        "[MEGA_CUT_MOVIE_FOLDER]")
    if output:
        group.add_argument("--output", help=f"{output} [MEGA_CUT_OUTPUT]")
    return group


def _add_cache_dir(group) -> None:
    group.add_argument("--cache-dir", help="where rendered segments are kept (default: OUTPUT/.megacut-cache)")


def _add_render_options(parser: argparse.ArgumentParser, *, scenes: bool = True):
    """The output format options (with ``scenes``, also those only the scenes CSV uses: fit,
    overlay, transition, effect, title cards, parts); returns the execution group."""
    planned = "what covers most of the planned duration" if scenes else "the spec's, else {}"
    fmt = parser.add_argument_group("output format")
    fmt.add_argument("--resolution", type=option_type(parse_resolution),
                     help=f"WxH or 720p/1080p (default: {planned.format('1920x1080')})")
    fmt.add_argument("--fps", type=option_type(parse_fps),
                     help=f"frame rate, e.g. 25, 29.97, 24000/1001 (default: {planned.format(30)})")
    fmt.add_argument("--crf", type=option_type(lambda t: parse_positive_int("--crf", t, upper=51)), default=20,
                     help="x264 quality, lower is better (default: 20)")
    fmt.add_argument("--preset", default="medium", help="x264 preset (default: medium)")
    fmt.add_argument("--video-codec", type=option_type(parse_video_codec),
                     help="ffmpeg H.264/HEVC encoder: libx264 (default), libx265, h264_nvenc... "
                          "(libx265 with --dynamic-range hdr)")
    fmt.add_argument("--dynamic-range", choices=tuple(OUTPUT_PIX_FMTS), default="sdr",
                     help="sdr (default: 8-bit, BT.709; HDR sources tone-mapped) or hdr (10-bit HEVC, PQ, BT.2020, "
                          "for HDR collections; SDR sources at 203 cd/m²)")
    fmt.add_argument("--encoder-threads", type=option_type(lambda t: parse_positive_int("--encoder-threads", t,
                     upper=64)), default=DEFAULTS.encoder_threads, help="encoder threads per job; fixed so output "
                     f"is the same with any worker count (default: {DEFAULTS.encoder_threads})")
    text = "overlays" if scenes else "captions and title cards"
    fmt.add_argument("--font", help=f"font file or name for {text} (default: Pillow's/OS default)")
    fmt.add_argument("--font-size", type=option_type(lambda t: parse_positive_int("--font-size", t, upper=500)),
                     help=f"font size of {text} in pixels (default: scaled to the output height)")
    fmt.add_argument("--loudness", type=option_type(parse_loudness), default=DEFAULTS.loudness, metavar="LUFS|off",
                     help="bring every source" + ("" if scenes else "'s narration") + " to this integrated loudness "
                          "(EBU R128), one gain per source, its true peak kept at or under -1 dBTP; off: keep "
                          f"each source's level (default: {DEFAULTS.loudness:g})")
    fmt.add_argument("--backend", choices=BACKENDS, default="ffmpeg",
                     help="renderer: ffmpeg (default, fastest) or moviepy (the reference"
                          + (", runs --effect)" if scenes else ")"))
    if scenes:
        _add_scene_options(parser, fmt)
    run = parser.add_argument_group("execution")
    run.add_argument("--max-workers", type=option_type(lambda t: parse_positive_int("--max-workers", t, upper=256)),
                     help="parallel render jobs (default: CPUs / --encoder-threads, fewer when memory is short)")
    return run


def _add_scene_options(parser: argparse.ArgumentParser, fmt) -> None:
    fmt.add_argument("--segment-duration", type=option_type(parse_segment_duration), default=DEFAULTS.segment_s,
                     metavar="SECONDS", help="render a longer scene as consecutive segments of about this length, "
                     "so every core has work; 0: every scene whole (default: "
                     f"{DEFAULTS.segment_s:g}; the output is the same frames and sound either way)")
    fmt.add_argument("--copy", choices=("off", "auto", "strict"), default=DEFAULTS.copy,
                     help="smart copy: where a scene's source already is what the output is (H.264, size, "
                          "frame rate, BT.709), encode only the frames megacut changes (overlay, fades, to the "
                          "next IDR picture) and stream-copy the rest, bit for bit; auto: scenes that do not "
                          "qualify are rendered (`megacut plan` says why); strict: such a scene is an error; "
                          f"off: render everything (default: {DEFAULTS.copy})")
    fmt.add_argument("--channels", type=option_type(parse_channels), default=DEFAULTS.channels,
                     metavar="auto|stereo|5.1", help="the parts' sound: 5.1 or stereo; auto: 5.1 when the audio "
                     "tracks of most of the planned time have 5.1 or more channels (default: auto)")
    fmt.add_argument("--stereo-track", type=option_type(lambda t: parse_switch("--stereo-track", t)),
                     default=DEFAULTS.stereo_track, metavar="on|off",
                     help="a 5.1 part also carries its stereo downmix (dialogue kept at -3 dB), a second "
                          "track for phones and laptops (default: on)")
    fmt.add_argument("--fit", choices=FIT_MODES, default="pad", help="pad (letterbox) or crop (default: pad)")
    fmt.add_argument("--overlay-duration", type=option_type(lambda t: parse_positive_seconds("--overlay-duration", t)),
                     default=3.0, metavar="SECONDS",
                     help="how long the date overlay shows (default: 3)")
    fmt.add_argument("--overlay-second-line", type=option_type(parse_overlay_second_line),
                     default=OVERLAY_SECOND_LINES[0], metavar="|".join(OVERLAY_SECOND_LINES),
                     help="the overlay's line under the date. title: the movie's title without "
                          "extension, year or release tags, then episode code and title (default); movie: "
                          "the CSV's movie cell as written, then episode code and title; none: no such line")
    fmt.add_argument("--overlay", choices=OVERLAY_MODES, default=DEFAULTS.overlay,
                     help="the date overlay: burn (drawn into the picture, default), soft (a subtitle track named "
                          "Dates that players show on request; the picture untouched) or both")
    fmt.add_argument("--subtitles", type=option_type(parse_subtitles), default=DEFAULTS.subtitles,
                     metavar="LANGUAGE|TITLE|off", help="also carry every scene's full subtitle track in this "
                     "language (eng, French) or with this title; the subtitles column decides per row. Forced "
                     "subtitles (foreign dialogue) are always carried (default: off)")
    fmt.add_argument("--transition", type=option_type(parse_transition), default=parse_transition("none"),
                     help="none or fade[:SECONDS], a fade through black at scene joins (default: none)")
    fmt.add_argument("--effect", metavar="MODULE:FUNCTION",
                     help="apply your function (frame, t) -> frame to every frame (needs --backend moviepy)")
    fmt.add_argument("--section-cards", action="store_true",
                     help="show each heading row (1940s, Phase One) as a 3-second title card before its scenes")
    parts = parser.add_argument_group("parts")
    parts.add_argument("--chunk-duration", type=option_type(parse_chunk_duration), default=7200.0,
                       help="longest part: 2h, 90m, 45s, 5400 or 1:30:00 (default: 2h)")
    parts.add_argument("--chunks", type=option_type(parse_chunks), help="render only these parts, e.g. 1,3-5,7")
    parts.add_argument("--container", choices=CONTAINERS, default=DEFAULTS.container,
                       help="the parts' container: mp4 (default; text subtitles as mov_text) or mkv (Matroska: "
                            "SRT and ASS subtitles with their styles, full PGS tracks)")
    parts.add_argument("--rows", action="store_true", help="also show one line per CSV row: the file it matched, "
                       "its start and end in it, frames, audio track and part")


def _add_execution_options(run, *, scenes: bool = True) -> None:
    item, result = ("scene", "part") if scenes else ("section", "video")
    run.add_argument("--no-threading", action="store_true",
                     help="run every job in this process, one at a time (for debugging; same output)")
    run.add_argument("--executor", choices=("process", "thread", "dask"), default="process",
                     help="worker processes (default), threads, or a Dask cluster (needs megacut[cluster])")
    run.add_argument("--scheduler", type=option_type(parse_scheduler), metavar="tcp://HOST:8786|local:N",
                     help="with --executor dask: a running `dask scheduler`, or local:N to start N worker "
                          f"processes here [{SCHEDULER_ENV}]")
    run.add_argument("--retries", type=option_type(lambda t: parse_non_negative_int("--retries", t)), default=2,
                     help=f"retries of a failed {item} (default: 2)")
    run.add_argument("--strict", action="store_true", help=f"do not write a {result} if any of its {item}s failed")
    if scenes:
        run.add_argument("--clip-cache", type=option_type(lambda t: parse_positive_int("--clip-cache", t, upper=64)),
                         default=4, help="opened sources kept per worker (default: 4)")
        run.add_argument("--skip-invalid", action="store_true", help="render the valid rows, report the others")
        run.add_argument("--dry-run", action="store_true", help="plan and check only, like `megacut plan`")
    run.add_argument("--force", action="store_true", help="render everything again, ignoring the cache")
    _add_cache_dir(run)
    run.add_argument("--memory-limit", type=option_type(lambda t: parse_size("--memory-limit", t)),
                     help="hold new jobs while megacut's processes use more than this, e.g. 8G")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress, only problems and the summary")
    _add_status_page(run, "--status-port")


def _add_status_page(group, port_option: str) -> None:
    """The live status page's options (``port_option``: --status-port, or --serve for `megacut status`)."""
    group.add_argument(port_option, type=option_type(lambda t: parse_non_negative_int(port_option, t, upper=65535)),
                       metavar="PORT", dest="status_port", help="serve a live status page with controls on this "
                       "port (0: any free port); its address and the controls' token are printed")
    group.add_argument("--status-host", default="127.0.0.1", metavar="ADDRESS",
                       help="the address the status page listens on (default: 127.0.0.1, this machine only)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="megacut",
        description="Turn a list of scenes into finished video, rendered in parallel.",
        epilog=EXAMPLES["main"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"megacut {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every ffmpeg command")
    parser.add_argument("--log-file", help="also write a detailed log (every ffmpeg command, every scene) here")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    plan = commands.add_parser("plan", help="check a scenes CSV and show the parts; renders nothing",
                               epilog=EXAMPLES["plan"], formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_cache_dir(_add_paths(plan, output="the folder a run would render into: the disk needed counts only "
                                           "what is not rendered there yet"))
    _add_render_options(plan)

    process = commands.add_parser("process", help="render the scenes CSV into parts",
                                  epilog=EXAMPLES["process"], formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_paths(process, output=OUTPUT_HELP)
    _add_execution_options(_add_render_options(process))

    demo = commands.add_parser("demo", help="generate sample movies and render the example scenes",
                               epilog=EXAMPLES["demo"], formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--output", default="megacut-demo", help="folder for everything (default: megacut-demo)")
    demo.add_argument("--max-workers", type=option_type(lambda t: parse_positive_int("--max-workers", t, upper=256)))
    demo.add_argument("--no-threading", action="store_true", help="render in this process, one job at a time")
    demo.add_argument("-q", "--quiet", action="store_true")

    sections = commands.add_parser("sections", help="render narrated slides from JSON specs",
                                   epilog=EXAMPLES["sections"], formatter_class=argparse.RawDescriptionHelpFormatter)
    sections.add_argument("specs", nargs="+", metavar="SPEC.json")
    sections.add_argument("--output", help="folder for the videos and the report [MEGA_CUT_OUTPUT]")

    cache = commands.add_parser("cache", help="show the segment cache, what a plan uses, and prune the rest",
                                epilog=EXAMPLES["cache"], formatter_class=argparse.RawDescriptionHelpFormatter)
    paths = _add_paths(cache, output=OUTPUT_HELP)
    _add_cache_dir(paths)
    cache.add_argument("--prune", action="store_true", help="delete the segments the plan of --csv/--movies does "
                       "not use and no part on disk was joined from, and a killed run's leftovers")
    _add_render_options(cache)
    _add_execution_options(_add_render_options(sections, scenes=False), scenes=False)

    _add_status_command(commands)

    probe = commands.add_parser("probe", help="show duration, format and audio tracks of sources",
                                epilog=EXAMPLES["probe"], formatter_class=argparse.RawDescriptionHelpFormatter)
    probe.add_argument("paths", nargs="+", metavar="DIR_OR_FILE")
    probe.add_argument("--json", action="store_true", help="print JSON instead of text")
    probe.add_argument("--measure-loudness", action="store_true",
                       help="also measure each audio track's integrated loudness and true peak (EBU R128) over "
                            "the whole file, as a stereo part (5.1 for 5.1 and more) would carry it, and the "
                            f"gain megacut gives it at --loudness {DEFAULTS.loudness:g}; reads every track")
    return parser


def _add_status_command(commands) -> None:
    status = commands.add_parser("status", help="show a run's progress, parts, running jobs and failures; "
                                 "pause, resume or stop it", epilog=EXAMPLES["status"],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    status.add_argument("output", nargs="?", metavar="OUTPUT", help="the run's --output folder (or its "
                        "megacut-status.json) [MEGA_CUT_OUTPUT]")
    view = status.add_argument_group("view")
    view.add_argument("--watch", action="store_true", help="redraw every 2 seconds until the run ends")
    view.add_argument("--json", action="store_true", help="print the state as JSON (with the verdict)")
    view.add_argument("--all", action="store_true", help="also list every item")
    _add_status_page(view, "--serve")
    control = status.add_argument_group("controls (applied by the run within a second)")
    actions = control.add_mutually_exclusive_group()
    for action, text in (("pause", "no new job starts until --resume; running jobs finish"),
                         ("resume", "start jobs again"),
                         ("stop", "stop after the running jobs (as a first Ctrl+C)"),
                         ("stop-now", "stop running jobs at once (as a second Ctrl+C)")):
        actions.add_argument(f"--{action}", dest="control", action="store_const", const=action, help=text)
    actions.add_argument("--workers", type=option_type(lambda t: parse_positive_int("--workers", t, upper=256)),
                         metavar="N", help="run at most N jobs at once from now (the output is the same)")


def load_dotenv(path: Path = Path(".env")) -> dict[str, str]:
    """``KEY=VALUE`` lines of a .env file (comments, ``export`` and quotes allowed)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def resolve_paths(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Path]:
    """Command-line paths, else environment variables, else the .env file; all required. An output
    folder is checked to be one (or not to exist yet) before anything is written."""
    paths = {}
    for name in names:
        paths[name] = optional_path(args, name)
        if paths[name] is None:
            raise UsageError(f"--{name} is required (or set {ENV_PATHS[name]} in the environment or .env)")
    if "output" in paths:
        output_folder(paths["output"], "--output" if getattr(args, "output", None) else ENV_PATHS["output"])
    return paths


def optional_path(args: argparse.Namespace, name: str) -> Path | None:
    """A command-line path, else its environment variable, else the .env file's; None when none is set."""
    value = getattr(args, name, None) or os.environ.get(ENV_PATHS[name]) or load_dotenv().get(ENV_PATHS[name])
    return Path(value).expanduser() if value else None


def cache_folder(args: argparse.Namespace, output: Path) -> Path:
    """--cache-dir, else the output folder's own cache."""
    return Path(args.cache_dir).expanduser() if args.cache_dir else output / ".megacut-cache"


def output_folder(value: str | Path, option: str = "--output") -> Path:
    """The folder ``value`` names; UsageError when it, or a folder it would be made in, is a file."""
    path = Path(value).expanduser()
    existing = next((p for p in (path, *path.parents) if p.exists()), path)
    if existing.exists() and not existing.is_dir():
        where = f"{option} {path}" if existing == path else f"{option} {path}: {existing}"
        raise UsageError(f"{where} is a file, not a folder; give a folder path")
    return path


def effect_digest(spec: str | None, backend: str) -> str | None:
    """Check ``--effect`` now (not in every job) and fingerprint its source, so an edit re-renders."""
    if not spec:
        return None
    if backend != "moviepy":
        raise UsageError("--effect runs inside the moviepy renderer: add --backend moviepy")

    from megacut.render.scene_moviepy import load_effect

    function = load_effect(spec)
    try:
        source = Path(inspect.getsourcefile(function)).read_bytes()
    except (TypeError, OSError):  # a built-in or compiled function: its name is all there is
        source = spec.encode()
    return hashlib.sha256(source).hexdigest()[:16]


OPTION_OF_SETTING = {"overlay_duration_s": "overlay_duration", "chunk_duration_s": "chunk_duration",
                     "segment_s": "segment_duration"}


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The Settings the options give; a setting whose option the command does not have keeps its default
    (`sections` has no --fit, --transition, --chunks...)."""
    defaults = Settings()
    values = {f.name: getattr(args, OPTION_OF_SETTING.get(f.name, f.name), getattr(defaults, f.name))
              for f in fields(Settings) if f.name != "effect_digest"}
    if values["video_codec"] is None:
        values["video_codec"] = HDR_VIDEO_CODEC if values["dynamic_range"] == "hdr" else defaults.video_codec
    return Settings(**values, effect_digest=effect_digest(values["effect"], values["backend"]))
