"""Blu-ray PGS subtitles (megacut.subtitles.pgs): what we write reads back the same, ffmpeg shows it where and
when we say (forced lines alone when asked) in the colours we draw, what ffmpeg extracts from a Matroska file
we read with the right times, and source-like streams that lean on their epoch are drawn right."""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from megacut.errors import MegacutError
from megacut.ffmpeg import read_from_ffmpeg, run_ffmpeg
from megacut.subtitles.pgs import UNUSED_ENTRY, ImageCue, PgsError, PgsObject, read_sup, write_sup

WIDTH, HEIGHT = 640, 360
SAMPLE_EVERY_S = 0.2  # the burned frames looked at: every fifth of 25 fps

# (Y, Cr, Cb, alpha): a red, a green and a half-transparent blue, then eight greys for a noisy bitmap
COLOURS = {1: (81, 240, 90, 255), 2: (145, 34, 54, 255), 3: (41, 110, 240, 128),
           **{4 + i: (16 + 30 * i, 128, 128, 255) for i in range(8)}}


def make_palette(entries: dict[int, tuple[int, int, int, int]]) -> tuple[tuple[int, int, int, int], ...]:
    """A 256-entry palette: ``entries`` set, every other entry unused."""
    return tuple(entries.get(index, UNUSED_ENTRY) for index in range(256))


def solid(x: int, y: int, width: int, height: int, colour: int, forced: bool) -> PgsObject:
    """A rectangle of one palette colour."""
    return PgsObject(x, y, width, height, bytes([colour]) * (width * height), forced)


def segment_types(data: bytes) -> list[int]:
    """The type of each segment of a PGS stream, walked by its headers alone."""
    types, pos = [], 0
    while pos < len(data):
        kind, size = struct.unpack_from(">BH", data, pos + 10)
        types.append(kind)
        pos += 13 + size
    return types


def segment(seconds: float, kind: int, payload: bytes) -> bytes:
    """One segment as an authoring tool writes it (a non-zero DTS included)."""
    tick = round(seconds * 90000)
    return b"PG" + struct.pack(">IIBH", tick, max(0, tick - 900), kind, len(payload)) + payload


def to_tick(seconds: float | None) -> float | None:
    """A time as a PGS stream carries it: on the 90 kHz tick."""
    return None if seconds is None else round(seconds * 90000) / 90000


# The three cues ffmpeg shows: A (forced, red), B (not forced, green), C (forced: a noisy strip, long enough
# that its ODS is fragmented, above a half-transparent blue band).
NOISE_ROWS, BAND_ROWS = 120, 40
_noise = np.random.default_rng(7).integers(4, 12, (NOISE_ROWS, WIDTH), dtype=np.uint8)
STRIP = PgsObject(0, 200, WIDTH, NOISE_ROWS + BAND_ROWS,
                  _noise.tobytes() + bytes([3]) * (WIDTH * BAND_ROWS), True)
THREE_CUES = [
    ImageCue(1.0, 2.0, (WIDTH, HEIGHT), make_palette(COLOURS), (solid(40, 40, 100, 60, 1, True),)),
    ImageCue(3.0, 4.0, (WIDTH, HEIGHT), make_palette(COLOURS), (solid(240, 100, 100, 60, 2, False),)),
    ImageCue(5.0, 6.0, (WIDTH, HEIGHT), make_palette(COLOURS), (STRIP,)),
]
# Where each cue is looked at: a point inside its solid part.
PROBES = [(90, 70), (290, 130), (320, 200 + NOISE_ROWS + BAND_ROWS // 2)]


@pytest.fixture(scope="module")
def three_cue_files(tmp_path_factory) -> dict[str, Path]:
    """The three cues as a .sup, muxed with seven seconds of black video into an MKV, once starting at 0 and
    once with every stream moved 1.5 s later (a source whose time stamps do not start at 0)."""
    root = tmp_path_factory.mktemp("pgs")
    sup = root / "three.sup"
    sup.write_bytes(write_sup(THREE_CUES))
    files = {"sup": sup}
    for name, offset in (("mkv", []), ("offset_mkv", ["-output_ts_offset", "1.5"])):
        files[name] = root / f"{name}.mkv"
        # -copyts: ffmpeg otherwise starts each input at 0, which would move the first cue from 1 s to 0
        run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", f"color=black:s={WIDTH}x{HEIGHT}:r=25:d=7",
                    "-i", str(sup), "-map", "0:v", "-map", "1:s", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:s", "copy", "-copyts", *offset, "-y", str(files[name])])
    return files


def burned_frames(mkv: Path, *decoder_options: str) -> np.ndarray:
    """Frames 0, 0.2, 0.4 ... 6.8 s of ``mkv`` with its subtitles burned in by ffmpeg, as RGB arrays."""
    raw = b"".join(read_from_ffmpeg([
        "-loglevel", "error", *decoder_options, "-i", str(mkv),
        "-filter_complex", "[0:v][0:s]overlay,select=not(mod(n\\,5))", "-fps_mode", "passthrough",
        "-frames:v", "35", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]))
    return np.frombuffer(raw, np.uint8).reshape(-1, HEIGHT, WIDTH, 3)


def over_black(cue: ImageCue, x: int, y: int) -> np.ndarray:
    """The colour our drawing of ``cue`` gives at (x, y) laid over black."""
    red, green, blue, alpha = np.asarray(cue.rgba())[y, x].astype(float)
    return np.array([red, green, blue]) * alpha / 255


def shown_at(frames: np.ndarray, seconds: float) -> list[bool]:
    """Which of the three cues ffmpeg shows at ``seconds``: its probe is our drawn colour (within a few
    levels: ffmpeg blends in YUV 4:2:0), or black."""
    frame = frames[round(seconds / SAMPLE_EVERY_S)]
    shown = []
    for cue, (x, y) in zip(THREE_CUES, PROBES):
        burned = frame[y, x].astype(float)
        if np.abs(burned).max() <= 8:
            shown.append(False)
        else:
            assert np.abs(burned - over_black(cue, x, y)).max() <= 5, (seconds, burned, over_black(cue, x, y))
            shown.append(True)
    return shown


# 1. Round trip

def test_written_cues_read_back_equal_to_the_tick():
    rng = np.random.default_rng(1)
    palette = tuple((0, 0, 0, 0) if i == 0 else tuple(int(v) for v in rng.integers(0, 256, 4)) for i in range(256))
    wide = 20000  # runs longer than 16383 pixels: a line of one colour, and a line of nothing
    line = bytes(100) + bytes([5]) * 70 + bytes([6]) * 2 + bytes([7]) + bytes([8]) * 3
    long_runs = PgsObject(0, 0, wide, 3, line + bytes([9]) * (wide - len(line)) + bytes(wide)
                          + bytes(64) + bytes([3]) * 40 + bytes(wide - 104), True)
    noisy = PgsObject(500, 50, 300, 300, rng.integers(0, 256, 90000, dtype=np.uint8).tobytes(), False)
    cues = [
        ImageCue(1.0, 2.5, (wide, 400), palette, (long_runs, noisy)),
        ImageCue(2.5, 3.0, (1920, 1080), palette, (solid(10, 20, 30, 40, 200, False),)),  # no clearing between
        ImageCue(10.123456, None, (1920, 1080), palette, (solid(0, 0, 1, 1, 1, True),)),  # open at the end
    ]
    data = write_sup(cues)
    assert read_sup(data) == [replace(cue, start_s=to_tick(cue.start_s), end_s=to_tick(cue.end_s)) for cue in cues]
    assert write_sup(read_sup(data)) == data
    types = segment_types(data)
    assert types.count(0x16) == 4  # three cues and one clearing display set, at 3.0 s
    assert types.count(0x15) > 4  # the noisy object's RLE data does not fit one segment


# 2. ffmpeg shows what we write

def test_ffmpeg_burns_each_cue_while_it_lasts_in_our_colours(three_cue_files):
    frames = burned_frames(three_cue_files["mkv"])
    assert segment_types(three_cue_files["sup"].read_bytes()).count(0x15) == 4  # cue C's strip: two fragments
    assert shown_at(frames, 0.4) == [False, False, False]
    assert shown_at(frames, 1.0) == [True, False, False]
    assert shown_at(frames, 1.8) == [True, False, False]
    assert shown_at(frames, 2.4) == [False, False, False]
    assert shown_at(frames, 3.4) == [False, True, False]
    assert shown_at(frames, 4.4) == [False, False, False]
    assert shown_at(frames, 5.4) == [False, False, True]
    assert shown_at(frames, 6.4) == [False, False, False]


@pytest.mark.parametrize("decoder_options", [
    ("-forced_subs_only", "1"),
    ("-forced_subs_only:s", "1"),
    ("-c:s", "pgssub", "-forced_subs_only", "1"),
])
def test_ffmpeg_shows_only_the_forced_cues_when_asked(three_cue_files, decoder_options):
    frames = burned_frames(three_cue_files["mkv"], *decoder_options)
    assert [shown_at(frames, seconds) for seconds in (1.4, 3.4, 5.4)] == [
        [True, False, False], [False, False, False], [False, False, True]]


@pytest.mark.parametrize("height", [1080, 576])
def test_our_colours_match_ffmpeg_on_either_side_of_its_bt709_switch(tmp_path, height):
    """ffmpeg converts a palette with BT.709 on a canvas taller than 576 lines, BT.601 otherwise: saturated
    colours differ by some 20 levels between the two, so drawing with the wrong one fails."""
    width = height * 16 // 9
    cue = ImageCue(0.0, 1.0, (width, height), make_palette({1: (63, 240, 102, 255), 2: (173, 42, 26, 255)}),
                   (solid(100, 100, 64, 32, 1, False), solid(100, 132, 64, 32, 2, True)))
    sup = tmp_path / "hd.sup"
    sup.write_bytes(write_sup([cue]))
    raw = b"".join(read_from_ffmpeg([
        "-loglevel", "error", "-f", "lavfi", "-i", f"color=black:s={width}x{height}:r=25:d=0.2", "-i", str(sup),
        "-filter_complex", "[0:v][1:s]overlay,crop=64:64:100:100", "-frames:v", "3",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]))
    burned = np.frombuffer(raw, np.uint8).reshape(3, 64, 64, 3)[2].astype(int)  # sub2video misses frame 0
    drawn = np.asarray(cue.rgba())[100:164, 100:164, :3].astype(int)
    assert np.abs(burned[8:24, 8:56] - drawn[8:24, 8:56]).max() <= 5  # away from the edge chroma blurs
    assert np.abs(burned[40:56, 8:56] - drawn[40:56, 8:56]).max() <= 5


# 3. Extraction from Matroska

def extract_sup(mkv: Path, *input_options: str) -> bytes:
    """The first subtitle track of ``mkv`` as ffmpeg extracts it to a .sup, stream-copied."""
    return b"".join(read_from_ffmpeg(["-loglevel", "error", *input_options, "-i", str(mkv), "-map", "0:s:0",
                                      "-c:s", "copy", "-f", "sup", "-"]))


def test_a_sup_extracted_from_matroska_reads_back_the_same_cues(three_cue_files):
    cues = read_sup(extract_sup(three_cue_files["mkv"]))
    assert [time for cue in cues for time in (cue.start_s, cue.end_s)] == pytest.approx(
        [1, 2, 3, 4, 5, 6], abs=0.001)
    assert [cue.forced for cue in cues] == [True, False, True]
    assert [cue.objects for cue in cues] == [cue.objects for cue in THREE_CUES]


def test_a_sup_extracted_from_a_file_starting_late_carries_content_times(three_cue_files):
    """The finding for callers: from a file whose streams start at 1.5 s (video at 1.5, the first cue at
    2.5), ffmpeg's plain extraction writes times from the file's start (1.0 s for the first cue: the same
    time line as the video's content time, pts - start); with -copyts it writes the absolute 2.5 s."""
    content = read_sup(extract_sup(three_cue_files["offset_mkv"]))
    absolute = read_sup(extract_sup(three_cue_files["offset_mkv"], "-copyts"))
    assert [time for cue in content for time in (cue.start_s, cue.end_s)] == pytest.approx(
        [1, 2, 3, 4, 5, 6], abs=0.001)
    assert [time for cue in absolute for time in (cue.start_s, cue.end_s)] == pytest.approx(
        [2.5, 3.5, 4.5, 5.5, 6.5, 7.5], abs=0.001)


# 4. Epoch state, as source streams use it

def source_like_display_sets(second_state: int = 0x00) -> list[bytes]:
    """An epoch start at 1 s defining palette 0 and objects 0 and 1 (RLE written by hand) but showing object 0
    only; at 2 s a display set (normal: ``second_state``) shows both, object 0 forced and moved, sending
    neither again; at 2.5 s a palette update turns colour 1 blue; at 3 s one clears the screen."""
    palette = bytes([0, 0]) + bytes([1, *COLOURS[1], 2, *COLOURS[2]])
    # object 0, 4x2: line 1 = 1 1 2 2 (two literals, a coloured run), line 2 = four of colour 0
    object_0 = bytes([0, 0, 0, 0xC0]) + (4 + 11).to_bytes(3, "big") + struct.pack(">HH", 4, 2) \
        + bytes([1, 1, 0, 0x82, 2, 0, 0, 0, 4, 0, 0])
    # object 1, 70x1, in two fragments: a 14-bit run of 70 of colour 2
    object_1_first = bytes([0, 1, 0, 0x80]) + (4 + 6).to_bytes(3, "big") + struct.pack(">HH", 70, 1) \
        + bytes([0, 0xC0])
    object_1_last = bytes([0, 1, 0, 0x40, 70, 2, 0, 0])
    window = bytes([1, 0]) + struct.pack(">HHHH", 0, 0, WIDTH, HEIGHT)

    def composition(number: int, state: int, shown: list[tuple[int, int, int, int]], update: int = 0) -> bytes:
        head = struct.pack(">HHBHBBBB", WIDTH, HEIGHT, 0x10, number, state, update, 0, len(shown))
        return head + b"".join(struct.pack(">HBBHH", object_id, 0, flags, x, y)
                               for object_id, flags, x, y in shown)

    return [
        b"".join([segment(1.0, 0x16, composition(0, 0x80, [(0, 0, 10, 10)])), segment(1.0, 0x17, window),
                  segment(1.0, 0x14, palette), segment(1.0, 0x15, object_0), segment(1.0, 0x15, object_1_first),
                  segment(1.0, 0x15, object_1_last), segment(1.0, 0x80, b"")]),
        b"".join([segment(2.0, 0x16, composition(1, second_state, [(0, 0x40, 20, 5), (1, 0, 0, 100)])),
                  segment(2.0, 0x17, window), segment(2.0, 0x80, b"")]),
        b"".join([segment(2.5, 0x16, composition(2, 0x00, [(0, 0x40, 20, 5), (1, 0, 0, 100)], update=0x80)),
                  segment(2.5, 0x14, bytes([0, 1, 1, *COLOURS[3]])), segment(2.5, 0x80, b"")]),
        b"".join([segment(3.0, 0x16, composition(3, 0x00, [])), segment(3.0, 0x17, window),
                  segment(3.0, 0x80, b"")]),
    ]


def source_like_stream() -> bytes:
    """The display sets of :func:`source_like_display_sets` as one stream, the second a normal one."""
    return b"".join(source_like_display_sets())


def test_a_display_set_showing_objects_defined_earlier_in_its_epoch_is_drawn():
    first, second, third = read_sup(source_like_stream())
    assert [(cue.start_s, cue.end_s) for cue in (first, second, third)] == [(1.0, 2.0), (2.0, 2.5), (2.5, 3.0)]
    assert first.objects == (PgsObject(10, 10, 4, 2, bytes([1, 1, 2, 2, 0, 0, 0, 0]), False),)
    assert second.objects == (PgsObject(20, 5, 4, 2, bytes([1, 1, 2, 2, 0, 0, 0, 0]), True),
                              PgsObject(0, 100, 70, 1, bytes([2]) * 70, False))
    picture = np.asarray(second.rgba())
    red, green = over_black(second, 20, 5), over_black(second, 69, 100)
    assert red[0] > 200 > red[1] and green[1] > 200 > green[0]  # the red of palette 0 where object 0 moved
    assert picture[10, 10, 3] == 0 and picture[6, 20, 3] == 0  # its old place and its colour-0 line: clear
    assert third.objects == second.objects  # the palette update: entry 1 changed, entry 2 kept from the epoch
    assert (third.palette[1], third.palette[2]) == (COLOURS[3], COLOURS[2])


def test_only_forced_keeps_the_forced_object_of_a_display_set():
    second = read_sup(source_like_stream())[1]
    assert not second.forced
    kept = second.only_forced()
    assert kept is not None and kept.forced
    assert kept.objects == (second.objects[0],) and (kept.start_s, kept.end_s) == (2.0, 2.5)
    assert np.asarray(kept.rgba())[100, 0, 3] == 0  # the unforced object is no longer drawn
    assert read_sup(source_like_stream())[0].only_forced() is None


def test_a_new_epoch_forgets_what_the_last_defined():
    display_sets = source_like_display_sets(second_state=0x80)  # the display set at 2 s starts an epoch
    with pytest.raises(PgsError, match=f"byte {len(display_sets[0])} uses palette 0, which its epoch"):
        read_sup(b"".join(display_sets))


# Malformed streams and refused cues

def test_malformed_streams_raise_saying_where():
    stream = source_like_stream()
    with pytest.raises(PgsError, match=f"byte {len(stream)}") as caught:
        read_sup(stream + b"XX" + bytes(20))
    assert isinstance(caught.value, MegacutError) and isinstance(caught.value, ValueError)
    last_segment = stream.rindex(b"PG")
    with pytest.raises(PgsError, match=f"unknown segment type 0x05 at byte {last_segment}"):
        read_sup(stream[:-3] + b"\x05\x00\x00")  # the last END segment's type turned into an unknown one
    with pytest.raises(PgsError, match="ends inside"):
        read_sup(stream[:last_segment])


@pytest.mark.parametrize("cues, problem", [
    ([ImageCue(1.0, 3.0, (64, 64), make_palette(COLOURS), (solid(0, 0, 8, 8, 1, False),)),
      ImageCue(2.0, 4.0, (64, 64), make_palette(COLOURS), (solid(0, 0, 8, 8, 1, False),))], "before the cue"),
    ([ImageCue(1.0, 2.0, (64, 64), make_palette(COLOURS), (solid(60, 0, 8, 8, 1, False),))], "not inside"),
    ([ImageCue(1.0, 2.0, (64, 64), make_palette(COLOURS), (solid(0, 0, 8, 8, 1, False),) * 3)], "3 objects"),
    ([ImageCue(1.0, 1.0, (64, 64), make_palette(COLOURS), (solid(0, 0, 8, 8, 1, False),))], "not after"),
])
def test_cues_a_stream_cannot_carry_are_refused(cues, problem):
    with pytest.raises(ValueError, match=problem):
        write_sup(cues)


# 5. Cues cut with a scene

def test_a_cue_is_clipped_to_its_scene_and_moved_to_part_time():
    cue = ImageCue(10.0, 14.0, (WIDTH, HEIGHT), make_palette(COLOURS), (solid(0, 0, 4, 4, 1, True),))
    moved = cue.shifted(88.0, 12.0, 20.0)  # the scene 12-20 s of the source starts the part at 100 s
    assert moved is not None and (moved.start_s, moved.end_s) == (100.0, 102.0)
    assert moved.objects == cue.objects and moved.palette == cue.palette
    open_cue = replace(cue, start_s=15.0, end_s=None)
    clipped = open_cue.shifted(88.0, 12.0, 20.0)
    assert clipped is not None and (clipped.start_s, clipped.end_s) == (103.0, 108.0)
    assert cue.shifted(88.0, 14.0, 20.0) is None  # ends as the scene starts
    assert open_cue.shifted(0.0, 5.0, 15.0) is None  # starts as the scene ends
