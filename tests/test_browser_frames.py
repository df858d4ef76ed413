"""Every frame of an MP4 file as a real browser shows it (tests/browser_frames.py): a framecode source with
B-frames and several GOPs reads back frame for frame, both seeked as it is and through Media Source
Extensions, and a copy with frozen frames is caught exactly where they are."""

from __future__ import annotations

import time

import pytest
from browser_frames import (browser_missing, first_frame_time_s, fragment, late_by, mse_frame_codes,
                            open_browser, seek_frame_codes)
from framecode import make_framecode_video

from megacut.ffmpeg import run_ffmpeg

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))]

FRAMES, FPS = 60, 25
VIDEO_ARGS = ("-preset", "veryfast", "-g", "12", "-bf", "3")  # B-frames, 5 GOPs
FROZEN = range(10, 15)  # the defective copy shows frame 9 in their place
MSE_LATE = 2  # frames: libx264's -bf 3 delay, kept in the fragmented copy's times (see browser_frames.py)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with open_browser(tmp_path_factory.mktemp("profile")) as driver:
        yield driver


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return make_framecode_video(tmp_path_factory.mktemp("frames") / "source.mp4", frames=FRAMES, fps=FPS,
                                video_args=VIDEO_ARGS)


@pytest.fixture(scope="module")
def frozen(source):
    """The source re-encoded (same settings) with frames 10-14 replaced by repeats of frame 9."""
    path = source.path.with_name("frozen.mp4")
    run_ffmpeg(["-y", "-loglevel", "error", "-i", str(source.path), "-filter_complex",
                f"[0:v]split[a][b];[a][b]freezeframes=first={FROZEN[0]}:last={FROZEN[-1]}:replace={FROZEN[0] - 1}[v]",
                "-map", "[v]", "-map", "0:a", "-c:v", "libx264", *VIDEO_ARGS, "-pix_fmt", "yuv420p", "-c:a", "copy",
                str(path)])
    return path


def expected_frozen(codes: list[int]) -> list[int]:
    return [FROZEN[0] - 1 if code in FROZEN else code for code in codes]


def test_seeking_shows_every_frame(browser, source):
    started = time.monotonic()
    assert seek_frame_codes(source.path, FPS, FRAMES, driver=browser) == list(range(FRAMES))
    print(f"\n{FRAMES} frames seeked and read in {time.monotonic() - started:.1f} s")


def test_mse_shows_every_frame_a_constant_offset_late(browser, source, tmp_path):
    codes = mse_frame_codes(source.path, FPS, FRAMES, driver=browser)
    print(f"\nMSE: {late_by(codes)} frames late: {codes[:6]}...")
    assert late_by(codes) == MSE_LATE
    assert codes == [0] * MSE_LATE + list(range(FRAMES - MSE_LATE))  # no frame wrong, none missing or repeated
    # Counted from the first frame's presentation time, MSE shows every frame where it belongs.
    assert mse_frame_codes(source.path, FPS, FRAMES, driver=browser, align=True) == list(range(FRAMES))
    # The offset is the fragmented copy's own: ffmpeg too reads its first frame MSE_LATE frames late.
    assert first_frame_time_s(source.path) == 0
    assert first_frame_time_s(fragment(source.path, tmp_path / "fragmented.mp4")) == pytest.approx(MSE_LATE / FPS)


def test_frozen_frames_are_found_where_they_are(browser, source, frozen):
    seeked = seek_frame_codes(frozen, FPS, FRAMES, driver=browser)
    assert seeked == expected_frozen(list(range(FRAMES)))
    assert [i for i, code in enumerate(seeked) if code != i] == list(FROZEN)

    # Through MSE, against the untouched source read the same way: the same offset, the freeze as above.
    untouched = mse_frame_codes(source.path, FPS, FRAMES, driver=browser)
    shown = mse_frame_codes(frozen, FPS, FRAMES, driver=browser)
    assert shown == expected_frozen(untouched)
    assert [i for i, (a, b) in enumerate(zip(shown, untouched)) if a != b] == [i + MSE_LATE for i in FROZEN]
    assert mse_frame_codes(frozen, FPS, FRAMES, driver=browser, align=True) == seeked
