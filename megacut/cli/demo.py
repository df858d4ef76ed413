"""``megacut demo``: sample sources, generated with ffmpeg's test sources (nothing is downloaded).

The samples have the quirks real movie folders have: different resolutions and
frame rates, a 4:3 picture without audio, a Matroska file with three tagged
audio tracks, episodes found by their S01E02 code, a year tag in a file name.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from megacut.cli.options import build_parser, output_folder
from megacut.cli.process import run_process
from megacut.ffmpeg import output_file, run_ffmpeg
from megacut.files import writing


@dataclass(frozen=True, slots=True)
class SampleMovie:
    relative_path: str
    size: str
    fps: str
    duration_s: int
    hue: int  # tints the test pattern so each movie looks different
    tracks: tuple[tuple[str, str, int, str], ...]  # (language, title, tone Hz, channel layout)


SAMPLES = (
    SampleMovie("The Quiet Planet.mp4", "640x480", "30", 25, 0, ()),
    SampleMovie("Star Voyage.mkv", "1280x720", "25", 30, 90,
                (("eng", "English", 440, "stereo"), ("fra", "Français", 660, "stereo"),
                 ("deu", "Deutsch", 880, "mono"))),
    SampleMovie("Galaxy Patrol/Season 1/Galaxy Patrol - S01E02.mkv", "854x480", "30000/1001", 12, 180,
                (("eng", "", 520, "stereo"),)),
    SampleMovie("Galaxy Patrol/Season 1/Galaxy Patrol - S01E03.mkv", "854x480", "30000/1001", 12, 220,
                (("eng", "", 580, "stereo"),)),
    SampleMovie("Captain Tomorrow (2012).mp4", "1280x720", "24000/1001", 30, 300,
                (("eng", "Main", 330, "5.1"),)),
)


def example_csv_text() -> str:
    return resources.files("megacut").joinpath("data/scenes.example.csv").read_text(encoding="utf-8")


def make_sample_movie(sample: SampleMovie, folder: Path) -> Path:
    """Write one sample (under a temporary name, renamed when complete) and return its path."""
    path = folder / sample.relative_path
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    args = ["-f", "lavfi", "-i", f"testsrc2=size={sample.size}:rate={sample.fps}:duration={sample.duration_s}"]
    for _, _, tone, layout in sample.tracks:
        args += ["-f", "lavfi", "-i",
                 f"sine=frequency={tone}:sample_rate=48000:duration={sample.duration_s},"
                 f"aformat=channel_layouts={layout}"]
    args += ["-map", "0:v"]
    for i, (language, title, _, _) in enumerate(sample.tracks):
        args += ["-map", f"{i + 1}:a", f"-metadata:s:a:{i}", f"language={language}"]
        if title:
            args += [f"-metadata:s:a:{i}", f"title={title}"]
    args += ["-vf", f"hue=h={sample.hue}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
             "-g", "48", "-c:a", "aac", "-b:a", "96k"]
    with writing(path) as temporary:
        run_ffmpeg([*args, *output_file(temporary)])
    return path


def make_demo_movies(folder: Path) -> Path:
    """Create every sample in ``folder`` (kept between runs) and return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for sample in SAMPLES:
        make_sample_movie(sample, folder)
    return folder


def cmd_demo(args: argparse.Namespace) -> int:
    output = output_folder(args.output)
    movies = output / "movies"
    print(f"megacut demo: generating sample movies in {movies} ...", flush=True)
    make_demo_movies(movies)
    csv_path = output / "scenes.example.csv"
    output.mkdir(parents=True, exist_ok=True)
    csv_path.write_text(example_csv_text(), encoding="utf-8")
    demo_args = build_parser().parse_args(["process", "--chunk-duration", "40s", "--preset", "veryfast"])
    for name in ("max_workers", "no_threading", "quiet"):
        setattr(demo_args, name, getattr(args, name))
    print(f"megacut demo: rendering {csv_path} (the same as: megacut process --csv {csv_path} --movies {movies} "
          f"--output {output / 'parts'} --chunk-duration 40s --preset veryfast)", flush=True)
    return run_process(csv_path, movies, output / "parts", demo_args)
