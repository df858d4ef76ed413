"""A long part's audio: one AAC encoder against the chunked encoder (join/aac_chunks.py) on 1 and 2 cores.

    python benchmarks/audio_benchmark.py                     # 20 minutes of sound, each way once
    python benchmarks/audio_benchmark.py --minutes 5 --repeat 3
    python benchmarks/audio_benchmark.py --mode chunked --parallel 2   # one way only (for an outside timer)

The sound is generated once (tones, a sweep, bursts and pink noise, 48 kHz stereo s16le, kept in
``--out``) and handed over all at once, as at the end of a part whose sound is all rendered: this is the
encode's wall time with nothing left to overlap it with, which is what the run's tail waits for when a part's
segments render faster than one encoder keeps up (many cores). Timed:

  single       one ffmpeg encodes it all (megacut before chunks; still what a part shorter than one chunk
               gets)
  chunked xN   ChunkedAacEncoder with N encodes at once: chunks of CHUNK_S, 64 frames of pre-roll, 4 of
               post-roll, spliced and muxed once

Every track written is decoded and must hold exactly the samples handed over. Wall and CPU seconds (this
process and its ffmpeg children) are printed, scaled to a 2-hour part by rate, with the scaling model's
figures for a 2-hour part on 1, 2 and 16 cores (benchmarks/scaling_model.py: ``part_audio_s``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scaling_model import part_audio_s  # noqa: E402

from megacut.ffmpeg import ffmpeg_exe, input_file, output_file, process_cpu_s, run_ffmpeg  # noqa: E402
from megacut.join.aac_chunks import CHUNK_S, ChunkedAacEncoder, aac_args  # noqa: E402

RATE, CHANNELS = 48000, 2
PART_S = 7200.0
BLOCK = 1 << 20  # bytes handed to the encoder at a time, as PartAudio reads a segment
def make_sound(path: Path, seconds: float) -> None:
    """Generated sound: tones, a sweep, a burst every 0.37 s, pink noise (seeded), stereo s16le."""
    if path.exists() and path.stat().st_size == int(seconds * RATE) * CHANNELS * 2:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tones = ("aevalsrc=exprs='0.25*sin(2*PI*440*t)+0.1*sin(2*PI*(200+300*mod(t,7))*t)"
             "+if(lt(mod(t,0.37),0.02),0.5*sin(2*PI*2500*t)*exp(-mod(t,0.37)*200),0)"
             f"|0.3*sin(2*PI*660*t)*(0.5+0.5*sin(2*PI*3*t))':s={RATE}:d={seconds}")
    run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", tones, "-f", "lavfi", "-i",
                f"anoisesrc=d={seconds}:c=pink:a=0.08:r={RATE}:seed=7", "-filter_complex",
                "[1]aformat=channel_layouts=stereo[n];[0][n]amix=inputs=2:normalize=0", "-t", str(seconds),
                *output_file(path, "-f", "s16le", "-ac", str(CHANNELS))], timeout_s=600)


def samples_in(track: Path) -> int:
    """The track decoded by ffmpeg (its edit list applied): how many samples."""
    decode = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", f"file:{track}", "-f", "s16le", "-ac",
                             str(CHANNELS), "-"], capture_output=True, check=True)
    return len(decode.stdout) // (2 * CHANNELS)


def encode_single(pcm: Path, out: Path) -> Path:
    track = out / "single.m4a"
    run_ffmpeg(["-loglevel", "error",
                *input_file(pcm, "-f", "s16le", "-ar", str(RATE), "-ch_layout", "stereo"),
                *aac_args(), *output_file(track, "-f", "mp4")], timeout_s=3600)
    return track


def encode_chunked(pcm: Path, out: Path, parallel: int, chunk_s: float | None) -> tuple[Path, ChunkedAacEncoder]:
    encoder = ChunkedAacEncoder(out / f"chunked-x{parallel}", RATE, CHANNELS, parallel=parallel, chunk_s=chunk_s)
    try:
        with open(pcm, "rb") as handle:
            while data := handle.read(BLOCK):
                encoder.write(data)
        return encoder.finish(), encoder
    except BaseException:
        encoder.close()
        raise


def timed(name: str, run, samples: int) -> dict:
    cpu, started = process_cpu_s(), time.monotonic()
    track, encoder = run()
    wall, cpu = time.monotonic() - started, process_cpu_s() - cpu
    got = samples_in(track)
    if got != samples:
        raise SystemExit(f"{name}: {got} samples in the track, {samples} handed over")
    chunks = len(encoder.chunks) if encoder is not None else 1
    if encoder is not None:
        encoder.close()
    else:
        track.unlink()
    return {"name": name, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "chunks": chunks}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="sound to encode (default 20)")
    parser.add_argument("--mode", choices=("all", "single", "chunked"), default="all")
    parser.add_argument("--parallel", default="1,2", help="encodes at once for the chunked encoder (default 1,2)")
    parser.add_argument("--chunk-s", type=float, default=None, help=f"seconds per chunk (default {CHUNK_S:g})")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the fastest of each is kept")
    parser.add_argument("--out", type=Path, default=Path("bench-out/audio"))
    args = parser.parse_args(argv)
    seconds = args.minutes * 60
    pcm = args.out / f"sound-{args.minutes:g}min.pcm"
    make_sound(pcm, seconds)
    samples = pcm.stat().st_size // (2 * CHANNELS)
    work = args.out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ways = []
    if args.mode in ("all", "single"):
        ways.append(("single", lambda: (encode_single(pcm, work), None)))
    if args.mode in ("all", "chunked"):
        for n in (int(v) for v in args.parallel.split(",")):
            ways.append((f"chunked x{n}", lambda n=n: encode_chunked(pcm, work, n, args.chunk_s)))
    best: dict[str, dict] = {}
    for _ in range(args.repeat):
        for name, run in ways:
            row = timed(name, run, samples)
            if name not in best or row["wall_s"] < best[name]["wall_s"]:
                best[name] = row
    scale = PART_S / seconds
    print(f"{args.minutes:g} min of 48 kHz stereo, handed over at once; chunks of {args.chunk_s or CHUNK_S:g} s")
    print(f"{'encode':<12} {'chunks':>6} {'wall s':>8} {'CPU s':>8} {'2-hour part: wall s':>20}")
    for row in best.values():
        row["part_wall_s"] = round(row["wall_s"] * scale, 1)
        print(f"{row['name']:<12} {row['chunks']:>6} {row['wall_s']:>8.2f} {row['cpu_s']:>8.2f} "
              f"{row['part_wall_s']:>20.1f}")
    model = {cores: round(part_audio_s(PART_S, cores, args.chunk_s), 1) for cores in (0, 1, 2, 16)}
    print("the scaling model, a 2-hour part: one encoder " + f"{model.pop(0)} s; in chunks "
          + ", ".join(f"{c} cores {s} s" for c, s in model.items()))
    result = {"minutes": args.minutes, "samples": samples, "chunk_s": args.chunk_s or CHUNK_S,
              "rows": list(best.values()), "model_part_s": model}
    (args.out / "audio.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
