"""What subtitles cost: reading a source's subtitle tracks, and a scene whose forced pictures are burned in.

    python benchmarks/subtitles_benchmark.py                 # a 60 s 1080p scene, 2 presets
    python benchmarks/subtitles_benchmark.py --seconds 120 --presets veryfast,medium

Made here: a 1080p source with a full SRT track (a cue every 2 s) and a full PGS track whose every other
picture is forced (a 900x70 text-like box, as Blu-ray pictures are), and the same source without its
subtitle tracks. Timed one after the other (CPU seconds of the render's processes, user + system, read
from the finished children; wall seconds):

  read     megacut reading every subtitle track of the source in one ffmpeg pass (subtitles/cues.py),
           no cache: the first plan's cost for a source
  render   the whole source as one scene (segments of 30 s), without subtitles and with its forced
           pictures burned in, each at every preset: the ratio is what burning in costs
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from megacut import RunOptions, Settings, prepare_plan, render_plan
from megacut.ffmpeg import run_ffmpeg
from megacut.plan.probe import probe_source
from megacut.subtitles.cues import read_subtitle_tracks
from megacut.subtitles.pgs import ImageCue, PgsObject, write_sup


def child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pictures(seconds: float) -> list[ImageCue]:
    """A picture every 2 s for 1.5 s, every other one forced: a white 900x70 box with a dark outline."""
    palette = [(16, 128, 128, 0)] * 256
    palette[1], palette[2] = (235, 128, 128, 255), (16, 128, 128, 255)
    width, height = 900, 70
    rows = [bytes([2]) * width] + [bytes([2, 2] + [1] * (width - 4) + [2, 2])] * (height - 2) + [bytes([2]) * width]
    pixels = b"".join(rows)
    return [ImageCue(k * 2.0, k * 2.0 + 1.5, (1920, 1080), tuple(palette),
                     (PgsObject(510, 940, width, height, pixels, k % 2 == 0),)) for k in range(int(seconds // 2))]


def make_sources(folder: Path, seconds: float) -> tuple[Path, Path]:
    srt = folder / "full.srt"
    srt.write_text("".join(f"{k + 1}\n00:{k * 2 // 60:02d}:{k * 2 % 60:02d},000 --> 00:{k * 2 // 60:02d}:"
                           f"{k * 2 % 60:02d},900\nline {k}\n\n" for k in range(int(seconds // 2))), encoding="utf-8")
    sup = folder / "full.sup"
    sup.write_bytes(write_sup(pictures(seconds)))
    plain, subtitled = folder / "plain" / "Film.mkv", folder / "subtitled" / "Film.mkv"
    for path in (plain, subtitled):
        path.parent.mkdir()
    video = ["-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=24:d={seconds}",
             "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    encode = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-c:a", "aac", "-metadata:s:a:0", "language=eng"]
    run_ffmpeg(["-y", "-loglevel", "error", *video, "-map", "0", "-map", "1", *encode, str(plain)])
    run_ffmpeg(["-y", "-loglevel", "error", "-copyts", "-i", str(plain), "-i", str(srt), "-i", str(sup),
                "-map", "0", "-map", "1", "-map", "2", "-c", "copy", "-metadata:s:s:0", "language=eng",
                "-metadata:s:s:1", "language=eng", str(subtitled)])
    return plain, subtitled


def render_cost(source: Path, output: Path, preset: str) -> dict:
    csv = output.parent / f"{output.name}.csv"
    csv.write_text("movie,start,end\nFilm,0,end\n", encoding="utf-8")
    plan = prepare_plan(csv, source.parent, Settings(preset=preset))
    cpu, own, started = child_cpu_s(), self_cpu_s(), time.monotonic()
    result = render_plan(plan, RunOptions(output_dir=output, quiet=True, max_workers=2))
    assert result.exit_code == 0, result.exit_code
    burned = sum(len(s.subtitles.burned) for s in plan.scenes)
    return {"cpu_s": round(child_cpu_s() - cpu + self_cpu_s() - own, 2),
            "wall_s": round(time.monotonic() - started, 2), "burned_pictures": burned}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--presets", default="veryfast,medium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="megacut-subtitles-bench-") as scratch:
        folder = Path(scratch)
        plain, subtitled = make_sources(folder, args.seconds)
        info = probe_source(subtitled)
        started = time.monotonic()
        read = read_subtitle_tracks(info)
        read_s = time.monotonic() - started
        figures = {"source": {"seconds": args.seconds, "bytes": info.size_bytes,
                              "tracks": {str(k): v.count for k, v in read.items()}},
                   "read_s": round(read_s, 3), "render": {}}
        for preset in args.presets.split(","):
            bare = render_cost(plain, folder / f"out-plain-{preset}", preset)
            burned = render_cost(subtitled, folder / f"out-burned-{preset}", preset)
            figures["render"][preset] = {"without": bare, "burned": burned,
                                         "cpu_ratio": round(burned["cpu_s"] / bare["cpu_s"], 3)}
            print(f"{preset}: {bare['cpu_s']} CPU-s without subtitles, {burned['cpu_s']} with "
                  f"{burned['burned_pictures']} forced pictures burned in: x{figures['render'][preset]['cpu_ratio']}",
                  flush=True)
        print(f"read every subtitle track of a {info.size_bytes / 1e6:.0f} MB, {args.seconds:g} s source in "
              f"{read_s:.2f} s")
        print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
