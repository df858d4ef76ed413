"""The run's tail for a long part: joining it at the end, with and without its segments joined ahead.

    python benchmarks/join_benchmark.py                  # a 2-hour part: 3,600 segments of 2 s at 720p
    python benchmarks/join_benchmark.py --segments 300   # a 10-minute part

megacut renders one 2-second 720p segment of a generated source and links it N times (a part of N
identical segments joins like any other: every segment is opened, probed and copied the same way).
Then, timed one after the other:

  all segments    the part joined from its N segments at the end (megacut before joining ahead)
  ahead           the segments joined ahead as megacut does while the part renders (join/chunks.py:
                  runs of CHUNK_SEGMENTS, and of those), all at once here: in a run, this work is
                  spread over the render, on the join thread
  with ahead      the part joined at the end from the files joined ahead and the segments after them

The run's tail, from the last segment finished to the part written, is the final join (its audio was
encoded while the segments rendered; here it is encoded beforehand and copied, as in a run). Every
part written is checked: its frame count and duration.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import performance_demo as demo  # noqa: E402  (generated sources)

from megacut.ffmpeg import ffmpeg_exe, run_ffmpeg  # noqa: E402
from megacut.join import chunks  # noqa: E402
from megacut.join.assemble import PartInput, assemble_part  # noqa: E402
from megacut.join.aac_chunks import aac_args  # noqa: E402
from megacut.join.audio import segment_pcm  # noqa: E402

FPS = Fraction(25)
SOURCE = demo.SourceSpec("Join Source", "1280x720", "25", 8,
                         "testsrc2=size={size}:rate={fps},hue=H=t/2,noise=alls=5:allf=t", (440, 550))


def one_segment(work: Path) -> tuple[Path, int]:
    """A 2-second 720p25 segment rendered by megacut (x264 medium, crf 20)."""
    movies = work / "movies"
    movies.mkdir(parents=True, exist_ok=True)
    demo.make_source(SOURCE, movies)
    csv = work / "one.csv"
    csv.write_text(f"movie,start,end\n{SOURCE.name},00:00:01.000,00:00:03.000\n", encoding="utf-8")
    output = work / "render"
    subprocess.run([sys.executable, "-m", "megacut", "process", "--csv", str(csv), "--movies", str(movies),
                    "--output", str(output), "-q", "--resolution", "1280x720", "--fps", "25"],
                   check=True, stdout=subprocess.DEVNULL)
    report = json.loads((output / "megacut-report.json").read_text(encoding="utf-8"))
    segment = report["scenes"][0]["segments"][0]
    return output / ".megacut-cache" / "segments" / f"{segment['key']}.mov", segment["frames"]


def part_audio(segment: Path, count: int, work: Path) -> Path:
    """The part's AAC track, encoded beforehand (in a run, while its segments render)."""
    pcm = work / "part.pcm"
    data = b"".join(segment_pcm(segment))
    with open(pcm, "wb") as out:
        for _ in range(count):
            out.write(data)
    audio = work / "part.m4a"
    run_ffmpeg(["-loglevel", "error", "-f", "s16le", "-ar", "48000", "-ac", "2", "-i", str(pcm), *aac_args(),
                "-y", str(audio)])
    pcm.unlink()
    return audio


def check(path: Path, frames: int) -> None:
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path), "-map", "0:v", "-c", "copy", "-f", "null",
                            "-"], capture_output=True, text=True)
    counted = [line for line in probe.stderr.splitlines() if line.startswith("frame=")]
    got = int(counted[-1].split("frame=")[1].split()[0]) if counted else -1
    if got != frames:
        raise SystemExit(f"{path.name}: {got} frames, expected {frames}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=3600, help="segments of 2 s in the part (3600: 2 hours)")
    parser.add_argument("--out", type=Path, default=Path("bench-out/join"))
    args = parser.parse_args(argv)
    work = args.out
    shutil.rmtree(work / "segments", ignore_errors=True)
    (work / "segments").mkdir(parents=True)
    segment, frames = one_segment(work)
    inputs = []
    for n in range(args.segments):
        link = work / "segments" / f"{n:05d}.mov"
        os.link(segment, link)
        inputs.append(PartInput(link, frames, f"Scene {n}" if n % 10 == 0 else None))
    audio = part_audio(segment, args.segments, work)
    total = frames * args.segments
    print(f"part: {args.segments} segments of {frames} frames ({float(total / FPS) / 60:.0f} min of 720p25), "
          f"{segment.stat().st_size * args.segments / 1e9:.1f} GB")

    started = time.monotonic()
    assemble_part(inputs, work / "all-segments.mp4", FPS, title="join benchmark", audio=audio)
    all_s = time.monotonic() - started
    check(work / "all-segments.mp4", total)
    (work / "all-segments.mp4").unlink()
    print(f"  joined from every segment at the end: {all_s:.1f} s")

    ahead = chunks.PartChunks(work / "ahead", FPS, lambda fn, *a: fn(*a))  # the join thread's work, run here
    started = time.monotonic()
    for n, item in enumerate(inputs):
        ahead.add(n, item.path, item.frames, more_to_come=n < len(inputs) - 1)
    ahead_s = time.monotonic() - started
    joined = [(j.first, j.end, j.path) for j in ahead.joined]
    levels = sorted({j.level for j in ahead.joined})
    print(f"  joining ahead, spread over the render in a run: {ahead_s:.1f} s in all "
          f"({len(joined)} files of levels {levels}, {sum(j.end - j.first for j in ahead.joined)} segments)")

    started = time.monotonic()
    assemble_part(inputs, work / "with-ahead.mp4", FPS, title="join benchmark", audio=audio, joined=joined)
    with_s = time.monotonic() - started
    check(work / "with-ahead.mp4", total)
    files = len(joined) + len(inputs) - sum(j.end - j.first for j in ahead.joined)
    print(f"  joined at the end from what was joined ahead: {with_s:.1f} s ({files} files opened); "
          f"the tail is {with_s / all_s:.0%} of joining every segment")
    ahead.close()
    (work / "with-ahead.mp4").unlink()
    shutil.rmtree(work / "segments")
    result = {"segments": args.segments, "frames": total, "all_segments_s": round(all_s, 2),
              "ahead_work_s": round(ahead_s, 2), "with_ahead_s": round(with_s, 2), "files_opened": files}
    (work / "join.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
