"""DVD VobSub subtitles (megacut.subtitles.vobsub): a track ffmpeg's dvdsub encoder makes from pictures we know
reads back as those pictures, at their times, forced where they were, drawn as ffmpeg burns them; times are
content time in a file whose streams start late; a hand-built SPU decodes to the pixels it codes."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from megacut.errors import SourceError
from megacut.ffmpeg import read_from_ffmpeg, run_ffmpeg
from megacut.subtitles.pgs import UNUSED_ENTRY, ImageCue, PgsObject, write_sup
from megacut.subtitles.vobsub import VobSubError, parse_spu, read_vobsub

WIDTH, HEIGHT = 720, 480
FPS = 25
FRAME_S = 1 / FPS

# (Y, Cr, Cb, alpha), BT.601 limited range: red, green, blue and white, colours of the dvdsub encoder's
# default palette, which it therefore keeps as they are.
RED, GREEN, BLUE, WHITE = 1, 2, 3, 4
COLOURS = {RED: (81, 240, 90, 255), GREEN: (145, 34, 54, 255), BLUE: (41, 110, 240, 255),
           WHITE: (235, 128, 128, 255)}
PALETTE = tuple(COLOURS.get(index, UNUSED_ENTRY) for index in range(256))
BOX_W, BOX_H = 100, 60


def box(x: int, y: int, top: int, bottom: int, forced: bool) -> PgsObject:
    """A box whose top half is ``top`` but for its first column, and whose bottom half and first column are
    ``bottom``: a top line codes as one pixel and a run to its end, an odd count of nibbles, so the next
    line is read right only when the decoder moves on to a byte boundary."""
    top_line = bytes([bottom]) + bytes([top]) * (BOX_W - 1)
    return PgsObject(x, y, BOX_W, BOX_H, top_line * (BOX_H // 2) + bytes([bottom]) * (BOX_W * BOX_H // 2), forced)


# A (forced) 1-2 s, B (not forced) 3-4 s, C (forced) 5-6 s, each a box of two colours at its own place.
THREE_CUES = [
    ImageCue(1.0, 2.0, (WIDTH, HEIGHT), PALETTE, (box(100, 80, RED, WHITE, True),)),
    ImageCue(3.0, 4.0, (WIDTH, HEIGHT), PALETTE, (box(300, 200, GREEN, WHITE, False),)),
    ImageCue(5.0, 6.0, (WIDTH, HEIGHT), PALETTE, (box(500, 360, BLUE, RED, True),)),
]
SAMPLES_S = [0.4, 1.4, 2.4, 3.4, 4.4, 5.4, 6.4]  # the burned frames looked at: before, in and between cues


def mux_dvdsub(sup: Path, out: Path, *options: str, video: str = "libx264", size: str = f"{WIDTH}x{HEIGHT}",
               duration_s: float = 7, ends: bool = True) -> None:
    """``sup`` encoded by ffmpeg's dvdsub encoder beside black video. With ``ends``, -fix_sub_duration gives
    each PGS picture its end (the next display set), which the encoder writes as the SPU's stop command
    (rounded down to its 1024/90000 s unit): without it ffmpeg drops the clearing display sets and every SPU
    stops 0xFFFF units (745.8 s) after it starts. -copyts keeps the pictures' times (ffmpeg otherwise moves
    a lone .sup input's first picture to 0)."""
    encoder = ["-c:v", video, *(["-preset", "ultrafast"] if video == "libx264" else [])]
    run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", f"color=black:s={size}:r={FPS}:d={duration_s}",
                *(["-fix_sub_duration"] if ends else []), "-i", str(sup), "-map", "0:v", "-map", "1:s", *encoder,
                "-c:s", "dvdsub", "-copyts", *options, "-y", str(out)])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The three cues as a PGS, turned into a VobSub track of an MKV: starting at 0, with every stream 1.5 s
    later, and with no ends given to the encoder."""
    root = tmp_path_factory.mktemp("vobsub")
    sup = root / "three.sup"
    sup.write_bytes(write_sup(THREE_CUES))
    made = {"mkv": root / "three.mkv", "late_mkv": root / "late.mkv", "unended_mkv": root / "unended.mkv"}
    mux_dvdsub(sup, made["mkv"])
    mux_dvdsub(sup, made["late_mkv"], "-output_ts_offset", "1.5")
    mux_dvdsub(sup, made["unended_mkv"], ends=False)
    return made


def burned(path: Path, seconds: list[float], size: tuple[int, int], *decoder_options: str) -> np.ndarray:
    """The frames of ``path`` at ``seconds`` (content time) with ffmpeg's burn of its subtitle stream, as RGB."""
    chosen = "+".join(f"eq(n\\,{round(s * FPS)})" for s in seconds)
    raw = b"".join(read_from_ffmpeg([
        "-loglevel", "error", *decoder_options, "-i", str(path), "-filter_complex",
        f"[0:v][0:s]overlay,select={chosen}", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]))
    return np.frombuffer(raw, np.uint8).reshape(-1, size[1], size[0], 3)


def over_black(cue: ImageCue) -> np.ndarray:
    """Our drawing of ``cue`` laid over black, as floats."""
    rgba = np.asarray(cue.rgba()).astype(float)
    return rgba[..., :3] * rgba[..., 3:] / 255


def on_screen(cues: list[ImageCue], seconds: float) -> ImageCue | None:
    return next((cue for cue in cues if cue.start_s <= seconds < cue.end_s), None)


def assert_burned_like_ours(frame: np.ndarray, cue: ImageCue | None) -> None:
    """``frame`` (ffmpeg's burn over black) is all black when ``cue`` is None, else our drawing of it laid
    over black, within a few levels, everywhere but within 2 pixels of where our colour changes (ffmpeg
    blends in 4:2:0, which blurs colour across such edges)."""
    if cue is None:
        assert frame.max() <= 8
        return
    ours = over_black(cue)
    near_edge = np.zeros(ours.shape[:2], bool)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            near_edge |= (np.roll(ours, (dy, dx), axis=(0, 1)) != ours).any(axis=2)
    assert (~near_edge).sum() > 0.9 * near_edge.size
    assert np.abs(frame.astype(float) - ours)[~near_edge].max() <= 5


# 1-2. A track made by ffmpeg's dvdsub encoder reads back as what it was made from

def test_read_vobsub_gives_the_pictures_at_their_times_forced_where_they_were(files):
    cues = read_vobsub(files["mkv"], 1)
    assert [cue.start_s for cue in cues] == pytest.approx([1, 3, 5], abs=FRAME_S)
    assert [cue.end_s for cue in cues] == pytest.approx([2, 4, 6], abs=FRAME_S)  # stops on the 1024/90000 s grid
    assert [cue.forced for cue in cues] == [True, False, True]  # the encoder writes forced PGS objects with 0x00
    assert all(cue.canvas == (WIDTH, HEIGHT) for cue in cues)  # the track's "size:"
    for cue, made in zip(cues, THREE_CUES):
        [obj], [source] = cue.objects, made.objects
        assert (obj.x, obj.y, obj.width, obj.height) == (source.x, source.y, source.width, source.height)
        drawn, original = np.asarray(cue.rgba()).astype(int), np.asarray(made.rgba()).astype(int)
        assert np.abs(drawn - original).max() <= 2  # the palette's RGB through YCrCb and back


def test_ffmpeg_burns_the_track_as_we_draw_it_and_only_our_forced_pictures_when_asked(files):
    cues = read_vobsub(files["mkv"], 1)
    for seconds, frame in zip(SAMPLES_S, burned(files["mkv"], SAMPLES_S, (WIDTH, HEIGHT)), strict=True):
        assert_burned_like_ours(frame, on_screen(cues, seconds))
    forced = [cue for cue in cues if cue.forced]
    assert len(forced) == 2
    frames = burned(files["mkv"], SAMPLES_S, (WIDTH, HEIGHT), "-forced_subs_only", "1")
    for seconds, frame in zip(SAMPLES_S, frames, strict=True):
        assert_burned_like_ours(frame, on_screen(forced, seconds))


# 3. Content time

def test_a_file_whose_streams_start_late_gives_content_times(files):
    cues = read_vobsub(files["late_mkv"], 1)
    assert [cue.start_s for cue in cues] == pytest.approx([1, 3, 5], abs=FRAME_S)
    assert [cue.end_s for cue in cues] == pytest.approx([2, 4, 6], abs=FRAME_S)


def test_a_picture_that_stops_after_the_next_starts_ends_there(files):
    cues = read_vobsub(files["unended_mkv"], 1)
    assert [time for cue in cues for time in (cue.start_s, cue.end_s)] == pytest.approx(
        [1, 3, 3, 5, 5, 5 + 0xFFFF * 1024 / 90000], abs=FRAME_S)


def test_a_dvd_program_stream_without_a_palette_gives_content_times_and_ffmpegs_grey_levels(tmp_path):
    """A VOB (MPEG-PS) has no .idx text: ffmpeg draws guessed grey levels and megacut draws the same; the
    canvas is the video's. Its video starts at 0.54 s (the muxer's delay) and the first picture at 1.54 s:
    ffmpeg's own shift, copying the subtitle stream alone, would put that picture at 0 (it subtracts the
    start of the streams it reads from an MPEG-PS), megacut puts it at 1.0 s, content time."""
    three_greys = PgsObject(200, 500, 90, 30, bytes([RED]) * 900 + bytes([GREEN]) * 900 + bytes([WHITE]) * 900,
                            True)
    sup = tmp_path / "two.sup"
    one_colour = box(300, 100, BLUE, BLUE, False)
    sup.write_bytes(write_sup([ImageCue(1.0, 2.0, (720, 576), PALETTE, (three_greys,)),
                               ImageCue(3.0, 4.0, (720, 576), PALETTE, (one_colour,))]))
    vob = tmp_path / "two.vob"
    mux_dvdsub(sup, vob, "-f", "vob", video="mpeg2video", size="720x576", duration_s=4)
    plain = run_ffmpeg(["-v", "error", "-i", str(vob), "-map", "0:1", "-c", "copy", "-f", "framecrc", "-"]).stdout
    assert [line.split(",")[2].strip() for line in plain.splitlines() if line.startswith("0,")] == ["0", "180000"]
    cues = read_vobsub(vob, 1, video_size=(720, 576))
    assert [time for cue in cues for time in (cue.start_s, cue.end_s)] == pytest.approx([1, 2, 3, 4], abs=FRAME_S)
    assert [cue.forced for cue in cues] == [True, False]
    assert cues[0].canvas == (720, 576)
    assert {tuple(colour[:3]) for colour in np.asarray(cues[0].rgba()).reshape(-1, 4)
            if colour[3]} == {(0, 0, 0), (127, 127, 127), (254, 254, 254)}
    for seconds, frame in zip([1.8, 3.8], burned(vob, [1.8, 3.8], (720, 576)), strict=True):
        assert_burned_like_ours(frame, on_screen(cues, seconds))
    assert read_vobsub(vob, 1)[0].canvas == (720, 576)  # no size given: the DVD frame its pictures fit in


def test_what_is_not_a_readable_dvd_subtitle_stream_raises_source_error(files):
    with pytest.raises(SourceError, match="stream 0 is h264"):
        read_vobsub(files["mkv"], 0)
    with pytest.raises(SourceError, match="cannot copy stream 7"):
        read_vobsub(files["mkv"], 7)


# 4. One SPU, by hand

def area(x1: int, x2: int, y1: int, y2: int) -> bytes:
    return bytes((x1 >> 4, (x1 & 15) << 4 | x2 >> 8, x2 & 255, y1 >> 4, (y1 & 15) << 4 | y2 >> 8, y2 & 255))


def spu(*, start: int = 0x00, contrast: bytes = bytes((0xF8, 0xF0)), stop: bool = True) -> bytes:
    """A 4x2 picture at (10, 20): its top line (the top field) 0 0 1 2 in one-nibble codes, a nibble of
    padding ending it on a byte; its bottom line (the bottom field) colour 3 to the line's end, the
    four-nibble code 0003. Sequence one, at delay 10: ``start`` (0x00 forced, 0x01 not), colours (palette
    indices 7, 3, 1, 0 for values 3..0), ``contrast`` (15, 8, 15, 0 for values 3..0), display area, field
    offsets; sequence two, at delay 200: stop (without ``stop``, nothing)."""
    top, bottom = bytes((0x85, 0x60)), bytes((0x00, 0x03))  # runs (length, value) (2, 0), (1, 1), (1, 2); fill 3
    first = bytes((start, 0x03, 0x73, 0x10, 0x04, *contrast, 0x05, *area(10, 13, 20, 21), 0x06,
                   0x00, 0x04, 0x00, 0x06, 0xFF))
    control_at = 4 + len(top) + len(bottom)
    second_at = control_at + 4 + len(first)
    second = struct.pack(">HH", 200, second_at) + bytes((0x02, 0xFF) if stop else (0xFF,))
    body = top + bottom + struct.pack(">HH", 10, second_at) + first + second
    return struct.pack(">HH", 4 + len(body), control_at) + body


# the track's sixteen colours: black at 0, blue at 1, red at 3, white at 7, dark reds elsewhere
TRACK_PALETTE = [{0: (0, 0, 0), 1: (0, 0, 255), 3: (255, 0, 0), 7: (255, 255, 255)}.get(i, (16 * i, 0, 0))
                 for i in range(16)]


def test_a_hand_built_spu_decodes_to_its_pixels_times_colours_and_forced_flag():
    cue = parse_spu(spu(), 10.0, TRACK_PALETTE, (720, 480))
    assert cue is not None
    assert cue.start_s == pytest.approx(10 + 10 * 1024 / 90000)
    assert cue.end_s == pytest.approx(10 + 200 * 1024 / 90000)
    [obj] = cue.objects
    # the first two columns stay though value 0 is transparent: the bottom line is opaque there
    assert (obj.x, obj.y, obj.width, obj.height, obj.forced) == (10, 20, 4, 2, True)
    assert list(obj.pixels) == [0, 0, 1, 2, 3, 3, 3, 3]
    assert [entry[3] for entry in cue.palette[:4]] == [0, 255, 136, 255]  # contrast * 17
    drawn = np.asarray(cue.rgba()).astype(int)[20:22, 10:14]
    expected = {0: (0, 0, 0, 0), 1: (0, 0, 255, 255), 2: (255, 0, 0, 136), 3: (255, 255, 255, 255)}
    for value, (row, column) in zip(obj.pixels, np.ndindex(2, 4)):
        assert np.abs(drawn[row, column] - expected[value]).max() <= 2

    assert not parse_spu(spu(start=0x01), 10.0, TRACK_PALETTE, (720, 480)).forced
    [top_only] = parse_spu(spu(contrast=bytes((0x08, 0xF0))), 10.0, TRACK_PALETTE, (720, 480)).objects
    assert (top_only.x, top_only.y, top_only.width, top_only.height, list(top_only.pixels)) == (12, 20, 2, 1, [1, 2])
    assert parse_spu(spu(stop=False), 10.0, TRACK_PALETTE, (720, 480)).end_s is None  # the next picture ends it
    assert parse_spu(spu(contrast=bytes(2)), 10.0, TRACK_PALETTE, (720, 480)) is None  # nothing opaque
    assert parse_spu(spu(start=0xFF), 10.0, TRACK_PALETTE, (720, 480)) is None  # never shown
    with pytest.raises(VobSubError, match="states"):
        parse_spu(spu()[:-3], 10.0, TRACK_PALETTE, (720, 480))
    with pytest.raises(VobSubError, match="outside"):
        parse_spu(spu(), 10.0, TRACK_PALETTE, (8, 8))
