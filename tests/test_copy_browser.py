"""A part that mixes copied and rendered scenes from three differently encoded sources plays frame-exact in
a real browser (Chromium): every frame through `<video>` seeking, and through Media Source Extensions
from a fragmented copy, as a streaming player feeds it. The seams are where players go wrong (repeated,
frozen or displaced frames after a change of decoder headers or of B-frame delay)."""

from __future__ import annotations

import pytest
from browser_frames import browser_missing, mse_frame_codes, open_browser, seek_frame_codes
from framecode import decode_frames, make_framecode_video, read_indices
from test_copy import FPS, GOP, SIZE, at, copied_ranges, encode, render

from megacut.ffmpeg import input_file, run_ffmpeg

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "")]

# three encodings (B-pyramid with a 24-frame GOP in MP4; no B-frames at CRF 17 in Matroska; 8 B-frames,
# strict pyramid, 16 references and a 30-frame GOP in MPEG-TS), and a smaller source that is rendered
SOURCES = {"a.mp4": (GOP, "mp4"), "b.mkv": (f"{GOP}:bframes=0:crf=17", "mkv"),
           "c.ts": ("keyint=30:min-keyint=30:scenecut=0:bframes=8:b-pyramid=strict:ref=16", "ts")}
CUTS = [("a.mp4", 13, 90), ("b.mkv", 30, 84), ("small.mp4", 5, 20), ("c.ts", 47, 100), ("a.mp4", 100, 90)]


def test_a_part_of_copied_and_rendered_scenes_plays_every_frame_right_in_chromium(tmp_path):
    movies = tmp_path / "movies"
    movies.mkdir()
    for name, (params, container) in SOURCES.items():
        encode(movies, name, params, container, (), frames=200)
    make_framecode_video(movies / "big.mp4", frames=60, fps=FPS, size=(320, 240))
    run_ffmpeg(["-loglevel", "error", *input_file(movies / "big.mp4"), "-vf", "scale=128:96", "-c:v", "libx264",
                "-preset", "ultrafast", "-y", str(movies / "small.mp4")])
    (movies / "big.mp4").unlink()
    csv = tmp_path / "scenes.csv"
    csv.write_text("movie,start,end,overlay\n" + "".join(f"{name},{at(first)},{at(first + frames)},\n"
                                                          for name, first, frames in CUTS), encoding="utf-8")
    plan, part = render(tmp_path, csv, movies, "part", copy="auto", resolution=SIZE, fps=FPS)
    copied = copied_ranges(plan)
    assert len(copied) == 4, f"expected a copied run in every scene but the small one's: {copied}"
    total = plan.parts[0].frames
    expected = read_indices(decode_frames(part, *SIZE, tmp_path))  # ffmpeg's, checked against the plan
    first_two = sum(frames for _, _, frames in CUTS[:2])
    assert expected[:first_two] == [first + k for _, first, frames in CUTS[:2] for k in range(frames)]
    with open_browser() as driver:
        seen = seek_frame_codes(part, FPS, total, driver=driver)
        streamed = mse_frame_codes(part, FPS, total, driver=driver, align=True)
    wrong = [(i, s, e) for i, (s, e) in enumerate(zip(seen, expected)) if s != e]
    assert not wrong, f"<video> seeking shows other frames (frame, shown, expected): {wrong[:10]}"
    wrong = [(i, s, e) for i, (s, e) in enumerate(zip(streamed, expected)) if s != e]
    assert not wrong, f"MSE shows other frames (frame, shown, expected): {wrong[:10]}"
