"""What the sound of a real collection costs: measuring a source's loudness, a 5.1 part's stereo track, and
what segments save by keeping their sound losslessly compressed.

    python benchmarks/sound_benchmark.py                  # 5 minutes of each kind of source
    python benchmarks/sound_benchmark.py --minutes 20 --real /path/to/a/film.mkv

Timed one after the other (CPU seconds of ffmpeg, user + system, read from the finished child), each
scaled to one hour of sound:

  loudness     megacut's measurement of a source's whole track (render/loudness.py: decode, place the
               channels in the part's layout, EBU R128 integrated loudness and true peak), for E-AC-3 5.1,
               AC-3 5.1, TrueHD 5.1, AAC stereo and FLAC 7.1 sources made here
  tracks       a 5.1 part's audio encoded as megacut encodes it (join/audio.py) without and with its
               stereo downmix track, from the same 5.1 PCM
  lossless     the sound as segments kept it before (s16 PCM) against ALAC (what they keep now: FLAC does
               not go in MOV) and FLAC at levels 0 and 5: bytes and CPU, on the generated 5.1 sound and,
               with --real, on a real file's first audio track (stereo)

The generated sound is noise shaped like a film mix (speech-band noise in the centre, wide-band noise
on the others at -10 dB, a low rumble in the LFE), so codecs and FLAC meet something like real sound;
--real gives the honest figure for real sound.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from megacut.ffmpeg import run_ffmpeg  # noqa: E402
from megacut.join.aac_chunks import ChunkedAacEncoder  # noqa: E402
from megacut.join.audio import BITRATES, tracks  # noqa: E402
from megacut.plan.probe import probe_source  # noqa: E402
from megacut.render.loudness import measure_track  # noqa: E402

# (name, codec, options, channel layout of the made track)
SOURCES = (("E-AC-3 5.1", "eac3", ("-b:a", "640k"), "5.1(side)"),
           ("AC-3 5.1", "ac3", ("-b:a", "448k"), "5.1(side)"),
           ("TrueHD 5.1", "truehd", ("-strict", "-2"), "5.1(side)"),
           ("AAC stereo", "aac", ("-b:a", "192k"), "stereo"),
           ("FLAC 7.1", "flac", (), "7.1"))
FILM_MIX = {  # per channel of 7.1: the noise that stands for it (colour, amplitude) and its filter
    "FL": ("pink", 0.08, ""), "FR": ("pink", 0.08, ""), "FC": ("pink", 0.2, "bandpass=f=1000:w=1500"),
    "LFE": ("brown", 0.2, "lowpass=f=100"), "BL": ("pink", 0.05, ""), "BR": ("pink", 0.05, ""),
    "SL": ("pink", 0.05, ""), "SR": ("pink", 0.05, "")}
ORDER = {"5.1(side)": ("FL", "FR", "FC", "LFE", "SL", "SR"), "stereo": ("FL", "FR"),
         "7.1": ("FL", "FR", "FC", "LFE", "BL", "BR", "SL", "SR")}


def child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(function, *args):
    """(result, ffmpeg's CPU seconds, wall seconds) of ``function(*args)``."""
    cpu, wall = child_cpu_s(), time.monotonic()
    result = function(*args)
    return result, child_cpu_s() - cpu, time.monotonic() - wall


def film_mix(layout: str, seconds: float, output: Path, codec: list[str]) -> Path:
    """``seconds`` of noise shaped like a film mix in ``layout``, encoded with ``codec``, beside a still
    picture (megacut measures the sound of video files)."""
    channels = ORDER[layout]
    args = []
    for name in channels:
        colour, amplitude, shape = FILM_MIX[name]
        args += ["-f", "lavfi", "-i", f"anoisesrc=c={colour}:a={amplitude}:r=48000:d={seconds}"
                                      + (f",{shape}" if shape else "")]
    labels = "".join(f"[{n + 1}:a]" for n in range(len(channels)))
    order = "|".join(str(n) for n in range(len(channels)))
    run_ffmpeg(["-y", "-v", "error", "-f", "lavfi", "-i", f"color=size=64x36:rate=1:duration={seconds}", *args,
                "-filter_complex",
                f"{labels}amerge=inputs={len(channels)},channelmap=map={order}:channel_layout={layout}[a]",
                "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", *codec, str(output)])
    return output


def loudness_costs(work: Path, seconds: float) -> dict:
    costs = {}
    for name, codec, options, layout in SOURCES:
        path = film_mix(layout, seconds, work / f"{codec}.mkv", ["-c:a", codec, *options])
        info = probe_source(path)
        channels = 6 if info.audio_tracks[0].channels >= 6 else 2
        loudness, cpu, wall = timed(measure_track, info, info.audio_tracks[0], channels)
        costs[name] = {"cpu_s_per_hour": round(cpu * 3600 / seconds, 1), "wall_s": round(wall, 2),
                       "integrated_lufs": loudness.integrated_lufs}
        print(f"loudness  {name:<11} {costs[name]['cpu_s_per_hour']:6.1f} CPU-s per hour of source "
              f"({loudness.integrated_lufs:.1f} LUFS)", flush=True)
    return costs


def encode(pcm: Path, stereo_track: bool, folder: Path) -> None:
    """The 5.1 part's tracks encoded as megacut encodes them (join/audio.py), one chunk at a time (the CPU)."""
    encoders = [ChunkedAacEncoder(folder / f"track-{n}", 48000, 6, bitrate=BITRATES[out], parallel=1,
                                  audio_filter=graph) for n, (out, graph) in enumerate(tracks(6, stereo_track))]
    with open(pcm, "rb") as source:
        while data := source.read(1 << 20):
            for encoder in encoders:
                encoder.write(data)
    for encoder in encoders:
        encoder.finish()
        encoder.close()


def track_costs(work: Path, seconds: float) -> dict:
    pcm = work / "part.s16"
    run_ffmpeg(["-y", "-v", "error", "-i", str(work / "eac3.mkv"), "-map", "0:a", "-ac", "6", "-f", "s16le",
                str(pcm)])
    _, alone, _ = timed(encode, pcm, False, work / "alone")
    _, both, _ = timed(encode, pcm, True, work / "both")
    result = {"5.1_cpu_s_per_hour": round(alone * 3600 / seconds, 1),
              "5.1_and_stereo_cpu_s_per_hour": round(both * 3600 / seconds, 1),
              "stereo_track_share": round(both / alone - 1, 3)}
    print(f"tracks    5.1 alone {result['5.1_cpu_s_per_hour']} CPU-s per hour, with the stereo track "
          f"{result['5.1_and_stereo_cpu_s_per_hour']} (+{result['stereo_track_share']:.0%})", flush=True)
    return result


LOSSLESS = {"ALAC (segments)": (["-c:a", "alac"], "mov"), "FLAC 0": (["-c:a", "flac", "-compression_level", "0"], "mkv"),
            "FLAC 5": (["-c:a", "flac"], "mkv")}


def lossless_costs(pcm: Path, channels: int, label: str) -> dict:
    """Bytes and CPU of ``pcm`` (s16le) stored losslessly each way, against the PCM that segments kept."""
    raw = pcm.stat().st_size
    hours = raw / (48000 * 2 * channels) / 3600
    result = {"pcm_bytes": raw}
    for name, (codec, container) in LOSSLESS.items():
        out = pcm.with_suffix(f".{name.split()[0].lower()}{name.split()[-1]}.{container}")
        _, cpu, _ = timed(run_ffmpeg, ["-y", "-v", "error", "-f", "s16le", "-ar", "48000", "-ac", str(channels),
                                       "-i", str(pcm), *codec, str(out)])
        _, decode_cpu, _ = timed(run_ffmpeg, ["-v", "error", "-i", str(out), "-f", "null", "-"])
        result[name] = {"ratio": round(out.stat().st_size / raw, 3), "encode_cpu_s_per_hour": round(cpu / hours, 1),
                        "decode_cpu_s_per_hour": round(decode_cpu / hours, 1)}
        print(f"lossless  {label:<22} {name:<15} {result[name]['ratio']:.0%} of PCM, "
              f"{result[name]['encode_cpu_s_per_hour']} CPU-s to encode and "
              f"{result[name]['decode_cpu_s_per_hour']} to decode an hour", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="minutes of each generated source (default: 5)")
    parser.add_argument("--real", type=Path, help="a real film or episode: the FLAC figure on its sound")
    parser.add_argument("--out", type=Path, default=Path("bench-out/sound"))
    args = parser.parse_args()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="megacut-sound-") as scratch:
        work = Path(scratch)
        results = {"minutes": args.minutes, "loudness": loudness_costs(work, seconds),
                   "tracks": track_costs(work, seconds), "lossless": {"generated 5.1": lossless_costs(work / "part.s16", 6,
                                                                                                     "generated 5.1")}}
        if args.real:
            pcm = work / "real.s16"
            run_ffmpeg(["-y", "-v", "error", "-i", str(args.real), "-map", "0:a:0", "-ac", "2", "-ar", "48000",
                        "-f", "s16le", str(pcm)])
            results["lossless"][args.real.name] = lossless_costs(pcm, 2, args.real.name[:22])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sound.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written {args.out / 'sound.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
