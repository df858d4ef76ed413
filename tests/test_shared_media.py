"""Real files with real quirks (../shared/media): VP8/Vorbis WebM, variable frame rate and rotation,
MP3 in MP4, no audio, no container duration. Skipped when the folder is absent (a fresh clone)."""

from pathlib import Path

import numpy as np
import pytest
from framecode import decode_audio, decode_frames

from megacut import prepare_plan
from megacut.ffmpeg import run_ffmpeg
from megacut.plan.settings import Settings
from megacut.run.engine import RunOptions, render_plan

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
pytestmark = pytest.mark.skipif(not MEDIA.is_dir(), reason=f"sample media folder {MEDIA} is not present")

ROWS = [  # movie, start, end
    ("big_buck_bunny_0_30", "10.3", "12.1"),
    ("fire2", "0.5", "1.9"),
    ("chaplin", "00:00:03.250", "00:00:04.500"),
    ("example_4x3_noaudio", "5", "6.5"),
    ("no_duration", "1.2", "2.6"),
    ("smpte-2997", "2", "3"),
]


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def reference_frame(source, start_s, tmp_path):
    """The source frame on screen at ``start_s``, fitted to 320x180 by ffmpeg on its own."""
    out = tmp_path / f"ref-{source.stem}.rgb"
    run_ffmpeg(["-y", "-loglevel", "error", "-i", str(source), "-vf",
                f"select='lte(t\\,{start_s})',scale=320:180:force_original_aspect_ratio=decrease,"
                "pad=320:180:(ow-iw)/2:(oh-ih)/2,setsar=1", "-fps_mode", "passthrough",
                "-pix_fmt", "rgb24", "-f", "rawvideo", str(out)])
    frames = np.fromfile(out, dtype=np.uint8).reshape(-1, 180, 320, 3)
    return frames[-1]


def test_real_files_render_frame_accurate_and_in_sync(tmp_path):
    csv = tmp_path / "scenes.csv"
    csv.write_text("movie,start,end\n" + "\n".join(",".join(r) for r in ROWS) + "\n", encoding="utf-8")
    plan = prepare_plan(csv, MEDIA, Settings(resolution=(320, 180), fps=25, preset="ultrafast",
                                             encoder_threads=1))
    assert not plan.errors, plan.errors
    result = render_plan(plan, RunOptions(output_dir=tmp_path / "out", quiet=True, max_workers=2))
    assert result.exit_code == 0, [(r.item.name, r.error) for r in result.items.values()]
    part = result.parts[0].path
    frames = decode_frames(part, 320, 180, tmp_path)
    assert len(frames) == sum(s.frames for s in plan.scenes)
    audio = decode_audio(part, tmp_path)
    assert abs(len(audio) / 48000 - len(frames) / 25) < 1024 / 48000 + 0.001
    position = 0
    for scene in plan.scenes:
        frame_s = 1 / float(scene.source.fps)
        # the first frame is the source frame on screen at the start: closer to it than to its neighbours
        scores = [psnr(frames[position], reference_frame(scene.source.path, scene.start_s + d * frame_s, tmp_path))
                  for d in (-1, 0, 1)]
        assert scores[1] > 28 and scores[1] + 1 >= max(scores), (scene.source.path.name, scores)
        position += scene.frames
    # the source without audio is silent in its place; the others are not
    silent = plan.scenes[3]
    start = round(silent.offset_s * 48000)
    assert np.abs(audio[start + 2400:start + round(silent.duration_s * 48000) - 2400]).max() == 0
