"""What tone mapping costs: CPU per output frame at 1080p from a 2160p HEVC 10-bit source.

    python benchmarks/hdr_benchmark.py                    # 24 frames, megacut's default encoder settings
    python benchmarks/hdr_benchmark.py --frames 48 --preset ultrafast

Three 2160p HEVC Main 10 sources are generated (x265, the same moving picture, 24 fps): SDR (BT.709),
HDR10 (PQ, BT.2020, mastering display and MaxCLL) and HLG. One scene of ``--frames`` frames is rendered from
each into a 1920x1080 segment by megacut's scene renderer (one ffmpeg: decode, scale, colour, x264), and
its CPU time (ffmpeg's, user + system) is divided by the frames; so is that of the same decode and picture
filters without the encoder (what the tone map itself costs: the encoder's share changes with the picture,
a washed-out one being cheaper to encode):

  sdr          the SDR source (a scale with BT.709 matrices)
  hdr, no map  the HDR source read as if it were SDR (megacut before tone mapping: washed out)
  hdr          the HDR source tone-mapped (scaled to 1080p, then zscale to linear light, tonemap, zscale)
  hlg          an HLG source (same picture) tone-mapped: its linear light computed exactly (agamma=0)

Also timed: the probe of the HDR source (``ffmpeg -i``, plus the one-frame decode that reads its SEI light
levels), against the SDR source's (``ffmpeg -i`` only). Each render runs ``--repeat`` times; the least CPU
is kept (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from megacut.ffmpeg import process_cpu_s, run_ffmpeg
from megacut.plan.build import OutputFormat, Scene
from megacut.plan.dynamic_range import SDR
from megacut.plan.probe import probe_source
from megacut.plan.scenes import SceneRow
from megacut.plan.settings import Settings
from megacut.plan.timecodes import Timecode
from megacut.render.jobs import scene_job
from megacut.render.scene_ffmpeg import TIMESTAMPS, picture_input, render_scene_ffmpeg, video_graph

FPS = Fraction(24)
SOURCE_SIZE = "3840x2160"
OUTPUT = OutputFormat(1920, 1080, FPS)
PICTURE = "testsrc2=size={size}:rate=24,hue=H=t/2,noise=alls=6:allf=t,format=gbrp"
X265 = "log-level=error:keyint=24"
HDR10 = (":colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:master-display=G(13250,34500)"
         "B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):max-cll=1000,400")
HLG = ":colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc"
SDR_TAGS = ":colorprim=bt709:transfer=bt709:colormatrix=bt709"
COLOUR = {"sdr": "zscale=pin=bt709:tin=bt709:m=bt709:t=bt709:p=bt709:r=tv",
          "hdr": "zscale=pin=bt709:tin=bt709:p=bt2020:t=smpte2084:m=bt2020nc:r=tv:npl=203",
          "hlg": "zscale=pin=bt709:tin=bt709:p=bt2020:t=arib-std-b67:m=bt2020nc:r=tv:npl=203"}


def make_source(folder: Path, kind: str, seconds: float) -> Path:
    path = folder / f"{kind}-2160p-hevc10.mkv"
    if not path.exists():
        params = X265 + {"hdr": HDR10, "hlg": HLG}.get(kind, SDR_TAGS)
        run_ffmpeg(["-y", "-loglevel", "error", "-f", "lavfi", "-i", PICTURE.format(size=SOURCE_SIZE),
                    "-vf", f"{COLOUR[kind]},format=yuv420p10le", "-t", f"{seconds:g}", "-c:v", "libx265",
                    "-preset", "ultrafast", "-x265-params", params, "-an", str(path.with_suffix(".partial.mkv"))])
        path.with_suffix(".partial.mkv").replace(path)
    return path


def scene(info, frames: int) -> Scene:
    row = SceneRow(index=0, line=2, movie=info.path.name, start=Timecode(text="0", seconds=Fraction(0)),
                   end=Timecode(text="1", seconds=Fraction(1)))
    duration_s = frames / float(FPS)
    return Scene(index=0, line=2, row=row, source=info, start_s=0.5, end_s=0.5 + duration_s, frames=frames,
                 duration_s=duration_s, audio=None, overlay_lines=(), part=1, offset_s=0.0, fade_in_s=0.0,
                 fade_out_s=0.0, warnings=())


def render_cpu_s(info, frames: int, settings: Settings, folder: Path, name: str, repeat: int) -> tuple[float, float]:
    """(CPU seconds of the job, of its decoding and picture filters alone), the least of ``repeat`` runs. The
    encoder's share depends on the picture (a washed-out one is cheaper to encode): the filters alone say
    what the tone map itself costs."""
    best, filters = float("inf"), float("inf")
    for attempt in range(repeat):
        job = scene_job(scene(info, frames), OUTPUT, settings).at(folder / f"{name}-{attempt}.mov",
                                                                 folder / f"work-{name}-{attempt}")
        best = min(best, render_scene_ffmpeg(job).cpu_s)
        job.segment_path.unlink()
        before = process_cpu_s()
        run_ffmpeg(["-loglevel", "error", *TIMESTAMPS, *picture_input(job), "-filter_complex", video_graph(job, None),
                    "-map", "[v]", "-f", "null", "-"])
        filters = min(filters, process_cpu_s() - before)
    return best, filters


def probe_s(path: Path, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.monotonic()
        probe_source(path)
        best = min(best, time.monotonic() - started)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out/hdr"))
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--preset", default=Settings().preset)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    seconds = 0.5 + args.frames / float(FPS) + 1.5
    sources = {kind: probe_source(make_source(args.out, kind, seconds)) for kind in ("sdr", "hdr", "hlg")}
    assert sources["hdr"].dynamic_range.kind == "HDR10" and sources["hlg"].dynamic_range.kind == "HLG"
    assert not sources["sdr"].hdr
    settings = Settings(preset=args.preset)
    cases = {"sdr": sources["sdr"], "hdr, no map": replace(sources["hdr"], dynamic_range=SDR),
             "hdr": sources["hdr"], "hlg": sources["hlg"]}
    results = {"frames": args.frames, "preset": args.preset, "encoder_threads": settings.encoder_threads}
    for name, info in cases.items():
        cpu_s, filters_s = render_cpu_s(info, args.frames, settings, args.out, name.replace(", ", "-"), args.repeat)
        results[name] = {"cpu_s": round(cpu_s, 3), "cpu_ms_per_frame": round(1000 * cpu_s / args.frames, 1),
                         "filters_ms_per_frame": round(1000 * filters_s / args.frames, 1)}
    for kind, info in list(sources.items())[:2]:
        results[f"probe {kind} s"] = round(probe_s(info.path, args.repeat + 1), 3)
    sdr, sdr_filters = results["sdr"]["cpu_ms_per_frame"], results["sdr"]["filters_ms_per_frame"]
    print(f"2160p HEVC 10-bit -> 1080p x264 {args.preset}, {args.frames} frames, CPU ms per output frame:")
    print(f"  {'':<12} {'job':>8}  {'':<8}  {'decode+filters':>14}")
    for name in cases:
        ms, filters = results[name]["cpu_ms_per_frame"], results[name]["filters_ms_per_frame"]
        print(f"  {name:<12} {ms:8.1f}  x{ms / sdr:<6.2f}  {filters:14.1f}  {filters - sdr_filters:+.1f} vs SDR")
    print(f"probe: SDR {results['probe sdr s'] * 1000:.0f} ms, HDR {results['probe hdr s'] * 1000:.0f} ms "
          "(with its one-frame decode)")
    (args.out / "hdr.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
