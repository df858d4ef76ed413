"""DVD image subtitles (VobSub, ffmpeg's ``dvd_subtitle``): read into the pictures megacut uses for PGS.

What VobSub is. A DVD's subtitles are pictures, one SPU (subpicture unit) per packet: a two-bit bitmap (four
colours) coded in two interlaced fields, and control sequences that say when the picture shows and hides
(in delay units of 1024/90000 s after the packet's time stamp), which four of the track's sixteen colours
it uses and how opaque each is (a contrast of 0 to 15), where on the frame it goes, and whether it is
forced (shown even with subtitles off). The track's sixteen colours and its frame size are in the ``.idx``
text ("size: 720x480", "palette: 000000, ffffff, ..."), which Matroska and MP4 keep as the stream's
extradata; a DVD's own files (VOB, MPEG-PS) have neither, their palette being in the disc's IFO.

How megacut reads it. ffmpeg copies the stream's packets without decoding them, with three outputs, in
the run that reads the source's other subtitle tracks (subtitles/cues.py): their time stamps (``framecrc``), their bytes one after another (``data``), and the stream alone
in a small Matroska file whose CodecPrivate is the ``.idx`` text. megacut splits the bytes by the sizes and
parses each SPU itself (:func:`parse_spu`). Times are content time, the file's start time subtracted,
which megacut does itself (``-copyts``, less the start time ffmpeg prints for the file): ffmpeg's own
shift is that in Matroska, but not when the subtitle stream alone is read from an MPEG-PS file (a VOB),
where ffmpeg moves the start to that of the streams it reads, putting the first picture at 0.

What it yields. The same :class:`~megacut.subtitles.pgs.ImageCue` values PGS gives, so the rest of megacut
handles both alike: a scene's render burns in the forced pictures, a part's join writes whole tracks into
its Matroska file as PGS. Each cue has one object whose pixels are the SPU's two-bit values, coloured by
the first four palette entries: the track's colours converted to limited-range YCrCb with the matrix
:meth:`ImageCue.rgba` converts back with (BT.601 up to 576 lines), so it draws the track's RGB within
rounding, as ffmpeg draws it.
"""

from __future__ import annotations

import re
import struct
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from megacut.errors import FFmpegError, MegacutError, SourceError
from megacut.ffmpeg import input_file, output_file, run_ffmpeg
from megacut.subtitles.pgs import UNUSED_ENTRY, ImageCue, PgsObject

DELAY_S = 1024 / 90_000  # the unit of a control sequence's delay
NTSC_CANVAS, PAL_CANVAS = (720, 480), (720, 576)
READ_TIMEOUT_S = 3600.0

# The control commands megacut reads (forced start display, start display, stop display, set colours, set
# contrast, set display area, set the two fields' pixel data offsets) and the parameter bytes each takes; any
# other command, 0xFF (end of sequence) among them, ends its sequence, as in ffmpeg's decoder.
FORCED_START, START, STOP, SET_COLOURS, SET_CONTRAST, SET_AREA, SET_FIELDS = range(7)
_PARAMETER_BYTES = {FORCED_START: 0, START: 0, STOP: 0, SET_COLOURS: 2, SET_CONTRAST: 2, SET_AREA: 6,
                    SET_FIELDS: 4}

_TB_RE = re.compile(r"^#tb 0: (\d+)/(\d+)$", re.MULTILINE)
_CODEC_RE = re.compile(r"^#codec_id 0: (\S+)$", re.MULTILINE)
_START_RE = re.compile(r"^\s*Duration: .*?, start: (-?\d+(?:\.\d+)?)", re.MULTILINE)
_SIZE_RE = re.compile(rb"size:\s*(\d+)\s*x\s*(\d+)")
_PALETTE_RE = re.compile(rb"palette:([0-9a-fA-F, \t]*)")
_NO_PTS = -(1 << 63)  # how framecrc writes a missing time stamp
_RUNS = [bytes((colour,)) * 4096 for colour in range(4)]  # a line's run of each colour is cut from these
# ffmpeg's grey levels for one to four opaque colours, when a track has no palette
_GREY_LEVELS = ((0xFF,), (0x00, 0xFF), (0x00, 0x80, 0xFF), (0x00, 0x55, 0xAA, 0xFF))


class VobSubError(MegacutError, ValueError):
    """An SPU that cannot be read: the message says what is wrong with it."""


def read_vobsub(path: Path, stream_index: int, cancel=None, *,
                video_size: tuple[int, int] | None = None) -> list[ImageCue]:
    """The pictures of the ``dvd_subtitle`` stream ``stream_index`` (absolute, as in ``-map 0:<index>``) of
    ``path``, in content time, in stream order, read in an ffmpeg run of their own (a source's other tracks
    are read in the same run with :func:`copy_outputs` and :func:`pictures_in`).

    ``cancel`` (an Event) stops ffmpeg and raises Cancelled; the rest is :func:`pictures_in`'s."""
    with tempfile.TemporaryDirectory(prefix="megacut-vobsub-") as scratch:
        folder = Path(scratch)
        try:
            run = run_ffmpeg([*input_file(path, "-copyts"), *copy_outputs(stream_index, folder)], cancel=cancel,
                             timeout_s=READ_TIMEOUT_S)
        except FFmpegError as error:
            raise SourceError(path, f"ffmpeg cannot copy stream {stream_index}: {error}") from None
        start = _START_RE.search(run.stderr)
        return pictures_in(folder, path, stream_index, float(start[1]) if start else 0.0, video_size=video_size)


def copy_outputs(stream_index: int, folder: Path) -> list[str]:
    """The outputs that copy stream ``stream_index``, for an ffmpeg run that reads its file in its own times
    (``-copyts``): its time stamps and sizes (framecrc), its bytes one after another (data), and the stream
    alone in a small Matroska file whose CodecPrivate is the ``.idx`` text (found by the patterns above: it is
    ASCII). :func:`pictures_in` reads them."""
    stream = ["-map", f"0:{stream_index}", "-c", "copy"]
    base = folder / f"vobsub-{stream_index}"
    return [*output_file(base.with_suffix(".crc"), *stream, "-f", "framecrc"),
            *output_file(base.with_suffix(".bin"), *stream, "-f", "data"),
            *output_file(base.with_suffix(".mkv"), *stream, "-frames:0", "1", "-f", "matroska")]


def pictures_in(folder: Path, path: Path, stream_index: int, start_s: float, *,
                video_size: tuple[int, int] | None = None) -> list[ImageCue]:
    """The pictures of stream ``stream_index`` of ``path`` from what :func:`copy_outputs` wrote in ``folder``,
    in content time (``start_s``, the file's start time, subtracted).

    A picture without a stop command ends when the next one starts (on a DVD a new picture replaces the
    one on screen), and one whose stop comes after the next one's start ends there; the last, with no
    stop, stays on screen to the end (``end_s`` None). The canvas is the track's ``size:``, else
    ``video_size`` (the frame the pictures are laid over), else the DVD frame the pictures fit in:
    720x576 when one reaches below line 480, else 720x480. Without a ``palette:`` the colours are the
    grey levels ffmpeg's decoder guesses (see :func:`_guessed_colours`).

    SPUs that cannot be parsed are left out; when every one fails, or the stream is not a DVD subtitle
    stream, raises :class:`SourceError` naming the file."""
    packets, extradata = _packets(folder, path, stream_index, start_s)
    size = _SIZE_RE.search(extradata)
    canvas = (int(size[1]), int(size[2])) if size else video_size or PAL_CANVAS
    palette = _palette(extradata)
    cues: list[ImageCue] = []
    failures: list[str] = []
    for number, (pts_s, packet) in enumerate(packets, 1):
        try:
            if pts_s is None:
                raise VobSubError("its packet has no time stamp")
            cue = parse_spu(packet, pts_s, palette, canvas)
        except VobSubError as error:
            failures.append(f"{number}: {error}")
            continue
        if cue is not None:
            cues.append(cue)
    if failures and not cues:
        raise SourceError(path, f"none of the {len(failures)} pictures of subtitle stream {stream_index} can be "
                                f"read (picture {failures[0]})")
    cues = _ended(cues)
    if not size and not video_size and all(obj.y + obj.height <= NTSC_CANVAS[1]
                                           for cue in cues for obj in cue.objects):
        cues = [replace(cue, canvas=NTSC_CANVAS) for cue in cues]
    return cues


def _ended(cues: list[ImageCue]) -> list[ImageCue]:
    """The cues with each one that has no stop, or stops after the next one starts, ending where the next
    starts: on a DVD a new picture replaces the one on screen. One the next replaces at once is left out."""
    ended = []
    for cue, following in zip(cues, [*cues[1:], None]):
        if following is not None and (cue.end_s is None or cue.end_s > following.start_s):
            if following.start_s <= cue.start_s:
                continue
            cue = replace(cue, end_s=following.start_s)
        ended.append(cue)
    return ended


def parse_spu(packet: bytes, pts_s: float, palette: Sequence[tuple[int, int, int]] | None,
              canvas: tuple[int, int]) -> ImageCue | None:
    """The picture one SPU shows from ``pts_s`` (its packet's time) on a ``canvas`` (width, height), coloured
    from the track's ``palette`` (sixteen RGB colours; None: ffmpeg's guessed grey levels).

    The control sequences are read as ffmpeg's decoder reads them: a later setting replaces an earlier
    one, an unknown command ends its sequence. The picture starts at the delay of the first start command
    (0x00, a forced start, makes its object forced) and ends at the delay of the first stop command after
    that (``end_s`` None when there is none). Its object is the display area less its transparent borders,
    cut to the canvas. None when the SPU shows nothing: no start command, or no pixel that is not fully
    transparent. Raises :class:`VobSubError` for an SPU that cannot be read."""
    control = _read_control(packet)
    if control.start is None:
        return None
    if control.area is None or control.fields is None:
        raise VobSubError("it starts a picture but sets no display area or no pixel data")
    x1, x2, y1, y2 = control.area
    width, height = x2 - x1 + 1, y2 - y1 + 1
    if width < 1 or height < 1:
        raise VobSubError(f"its display area runs from ({x1}, {y1}) to ({x2}, {y2})")
    if x1 >= canvas[0] or y1 >= canvas[1]:
        raise VobSubError(f"its display area at ({x1}, {y1}) is outside the {canvas[0]}x{canvas[1]} canvas")
    data = np.frombuffer(control.data, np.uint8)
    nibbles = np.stack((data >> 4, data & 15), axis=1).ravel().tolist()
    pixels = np.empty((height, width), np.uint8)
    pixels[0::2] = _decode_field(nibbles, control.fields[0], width, (height + 1) // 2, "top")
    pixels[1::2] = _decode_field(nibbles, control.fields[1], width, height // 2, "bottom")
    alphas = np.array([contrast * 17 for contrast in control.contrasts], np.uint8)
    shown = pixels[: canvas[1] - y1, : canvas[0] - x1]
    opaque = alphas[shown] > 0
    rows, columns = np.flatnonzero(opaque.any(axis=1)), np.flatnonzero(opaque.any(axis=0))
    if not rows.size:
        return None
    top, left = int(rows[0]), int(columns[0])
    shown = shown[top: int(rows[-1]) + 1, left: int(columns[-1]) + 1]
    colours = ([palette[index] for index in control.colours] if palette is not None
               else _guessed_colours(control.colours, control.contrasts))
    entries = [(*_ycrcb(colour, canvas[1]), int(alpha)) for colour, alpha in zip(colours, alphas)]
    start_s = pts_s + control.start * DELAY_S
    end_s = pts_s + control.stop * DELAY_S if control.stop is not None else None
    obj = PgsObject(x1 + left, y1 + top, shown.shape[1], shown.shape[0], shown.tobytes(), control.forced)
    return ImageCue(start_s, end_s, canvas, tuple(entries) + (UNUSED_ENTRY,) * (256 - len(entries)), (obj,))


def _guessed_colours(colours: Sequence[int], contrasts: Sequence[int]) -> list[tuple[int, int, int]]:
    """The four colours ffmpeg's DVD decoder draws when the track has no palette: the distinct palette
    indices of the entries that are not transparent get grey levels from dark to white in the order they
    come (one: white; two: black, white; three: black, grey, white; four: four steps), an index used
    twice keeps its first grey, and transparent entries are black. The usual outline-and-text SPU then
    reads as white text with a dark outline. Called for SPUs with at least one opaque colour."""
    distinct = list(dict.fromkeys(index for index, contrast in zip(colours, contrasts) if contrast))
    grey = {index: (255 * level) >> 8 for index, level in zip(distinct, _GREY_LEVELS[len(distinct) - 1])}
    return [(grey[index],) * 3 if contrast else (0, 0, 0) for index, contrast in zip(colours, contrasts)]


class _Control:
    """What an SPU's control sequences set: delays (in 1024/90000 s) of its start and stop, forced or not,
    palette indices and contrasts of its four colours, display area (x1, x2, y1, y2, inclusive), byte
    offsets of its two fields, and the packet's bytes up to its stated size."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.start: int | None = None
        self.stop: int | None = None
        self.forced = False
        self.colours = (0, 0, 0, 0)
        self.contrasts = (0, 0, 0, 0)
        self.area: tuple[int, int, int, int] | None = None
        self.fields: tuple[int, int] | None = None


def _read_control(packet: bytes) -> _Control:
    """Walk the SPU's control sequences: each a delay (u16), the offset of the next sequence (u16, its own
    for the last) and commands up to one it does not know (0xFF ends a sequence). The four colours and
    contrasts are stored last-first, a nibble each."""
    if len(packet) < 4:
        raise VobSubError(f"it has {len(packet)} bytes, too few for its header")
    size, position = int.from_bytes(packet[0:2], "big"), int.from_bytes(packet[2:4], "big")
    if size == 0:
        raise VobSubError("it has four-byte offsets (an HD DVD subpicture), which megacut does not read")
    if size > len(packet):
        raise VobSubError(f"it states {size} bytes but its packet has {len(packet)}")
    control = _Control(packet[:size])
    data = control.data
    if not 4 <= position <= size - 4:
        raise VobSubError(f"its control sequences start at byte {position}, outside its {size} bytes")
    while position <= size - 4:
        delay, following = struct.unpack_from(">HH", data, position)
        at = position + 4
        while at < size and (command := data[at]) in _PARAMETER_BYTES:
            value = data[at + 1: at + 1 + _PARAMETER_BYTES[command]]
            if len(value) < _PARAMETER_BYTES[command]:
                raise VobSubError(f"command 0x{command:02X} at byte {at} runs past its {size} bytes")
            at += 1 + len(value)
            if command in (FORCED_START, START) and control.start is None:
                control.start = delay
            if command == FORCED_START:
                control.forced = True
            elif command == STOP and control.stop is None and control.start is not None \
                    and delay > control.start:
                control.stop = delay
            elif command == SET_COLOURS:
                control.colours = (value[1] & 15, value[1] >> 4, value[0] & 15, value[0] >> 4)
            elif command == SET_CONTRAST:
                control.contrasts = (value[1] & 15, value[1] >> 4, value[0] & 15, value[0] >> 4)
            elif command == SET_AREA:
                control.area = (value[0] << 4 | value[1] >> 4, (value[1] & 15) << 8 | value[2],
                                value[3] << 4 | value[4] >> 4, (value[4] & 15) << 8 | value[5])
            elif command == SET_FIELDS:
                control.fields = struct.unpack(">HH", value)
        if following <= position:  # the last sequence points at itself
            break
        position = following
    return control


def _decode_field(nibbles: list[int], offset: int, width: int, lines: int, name: str) -> np.ndarray:
    """``lines`` lines of ``width`` two-bit values from the field whose RLE data starts at byte ``offset``.
    A run is coded in 1 to 4 nibbles, its length in all but the last two bits, its colour in those two:
    1-3 pixels in one nibble, 4-15 in two, 16-63 in three, 64-255 in four, and a length of 0 fills the
    rest of the line. Each line starts on a byte."""
    at = offset * 2
    field = bytearray()
    try:
        for line in range(lines):
            end = (line + 1) * width
            while len(field) < end:
                code = nibbles[at]
                at += 1
                if code < 0x4:
                    code = code << 4 | nibbles[at]
                    at += 1
                    if code < 0x10:
                        code = code << 4 | nibbles[at]
                        at += 1
                        if code < 0x40:
                            code = code << 4 | nibbles[at]
                            at += 1
                length = code >> 2 or end - len(field)
                if length > end - len(field):
                    raise VobSubError(f"line {line} of its {name} field has a run past its {width} pixels")
                field += _RUNS[code & 3][:length]
            at += at & 1
    except IndexError:
        raise VobSubError(f"its {name} field ends inside line {len(field) // width} of {lines}") from None
    return np.frombuffer(bytes(field), np.uint8).reshape(lines, width)


def _ycrcb(rgb: tuple[int, int, int], canvas_height: int) -> tuple[int, int, int]:
    """``rgb`` as limited-range (Y, Cr, Cb), with the matrix ImageCue.rgba() converts back with: BT.709 for
    a canvas taller than 576 lines, BT.601 otherwise."""
    red_weight, blue_weight = (0.2126, 0.0722) if canvas_height > 576 else (0.299, 0.114)
    red, green, blue = rgb
    luma = red_weight * red + (1 - red_weight - blue_weight) * green + blue_weight * blue
    y = round(16 + 219 * luma / 255)
    cr = round(128 + 224 * (red - luma) / (255 * 2 * (1 - red_weight)))
    cb = round(128 + 224 * (blue - luma) / (255 * 2 * (1 - blue_weight)))
    return y, cr, cb


def _palette(extradata: bytes) -> list[tuple[int, int, int]] | None:
    """The sixteen RGB colours of the ``.idx`` text's ``palette:`` line, None when it has none. Missing
    entries are black, as ffmpeg reads them."""
    found = _PALETTE_RE.search(extradata)
    if found is None:
        return None
    values = [int(value, 16) for value in re.findall(rb"[0-9a-fA-F]+", found[1])[:16]]
    values += [0] * (16 - len(values))
    return [(value >> 16 & 255, value >> 8 & 255, value & 255) for value in values]


def _packets(folder: Path, path: Path, stream_index: int, start_s: float
             ) -> tuple[list[tuple[float | None, bytes]], bytes]:
    """The stream's packets as (content time in seconds, None when it has no time stamp; bytes), and its
    extradata (the ``.idx`` text, or nothing), from what :func:`copy_outputs` wrote."""
    base = folder / f"vobsub-{stream_index}"
    try:
        listing = base.with_suffix(".crc").read_text(encoding="utf-8")
        data = base.with_suffix(".bin").read_bytes()
        extradata = base.with_suffix(".mkv").read_bytes()
    except OSError as error:
        raise SourceError(path, f"ffmpeg copied nothing of stream {stream_index} ({error})") from None
    codec, time_base = _CODEC_RE.search(listing), _TB_RE.search(listing)
    if codec is None or codec[1] != "dvd_subtitle" or time_base is None:
        raise SourceError(path, f"stream {stream_index} is {codec[1] if codec else 'no stream ffmpeg copies'}, "
                                "not a DVD subtitle track (dvd_subtitle)")
    tick_s = int(time_base[1]) / int(time_base[2])
    packets: list[tuple[float | None, bytes]] = []
    offset = 0
    for line in listing.splitlines():
        if line.startswith("#"):
            continue
        fields = line.split(",")
        dts, pts, size = int(fields[1]), int(fields[2]), int(fields[4])
        stamp = pts if pts != _NO_PTS else dts
        packets.append((None if stamp == _NO_PTS else stamp * tick_s - start_s, data[offset: offset + size]))
        offset += size
    if offset != len(data):
        raise SourceError(path, f"the packets of stream {stream_index} add up to {offset} bytes but ffmpeg "
                                f"copied {len(data)}")
    return packets, extradata
