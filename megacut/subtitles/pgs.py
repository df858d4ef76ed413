"""Blu-ray image subtitles (PGS, ``.sup``): read, decoded, drawn and written, in pure Python with numpy.

What megacut does with them: a scene's render burns the *forced* objects (the lines a film shows even with
subtitles off, such as a sign or an alien language) into the picture, drawn with :meth:`ImageCue.rgba`; a
part's join writes whole image tracks into its Matroska file, re-timed to the part with
:meth:`ImageCue.shifted` and :func:`write_sup`. Cues are clipped at the scene's boundaries, so a cue already
on screen at the cut-in is shown from the scene's first frame, and one still on screen at the cut-out ends
with the scene.

The format, briefly. A ``.sup`` stream is a run of segments, each ``"PG"``, a presentation time stamp (u32,
90 kHz ticks), a decoding time stamp (u32), a type (u8), a payload size (u16, big-endian) and the payload:

- PCS (0x16), presentation composition: the canvas size, a composition number, the composition state (epoch
  start, acquisition point or normal), the palette to use, and the objects to show: object id, window id,
  flags (0x80 cropped, 0x40 forced), position, and a crop rectangle when cropped;
- WDS (0x17), the windows objects are shown in (megacut, like ffmpeg, does not clip objects to them);
- PDS (0x14), palette entries: index, Y, Cr, Cb, alpha;
- ODS (0x15), an object's bitmap, run-length coded, split over several segments when longer than one holds;
- END (0x80), the end of a display set.

A display set runs from a PCS to its END and replaces what is on screen at the PCS's time; one showing no
objects clears the screen. Palettes and objects persist within an epoch (from an epoch-start display set to
the next), so a later display set may show an object defined earlier without sending it again.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import Iterable, Iterator

import numpy as np
from PIL import Image

from megacut.errors import MegacutError

TICKS_PER_S = 90_000
UNUSED_ENTRY = (16, 128, 128, 0)  # (Y, Cr, Cb, alpha) of a palette entry no PDS sets: transparent black
MAX_OBJECTS = 2  # objects one composition shows, in the Blu-ray specification and in ffmpeg's decoder

PCS, WDS, PDS, ODS, END = 0x16, 0x17, 0x14, 0x15, 0x80
EPOCH_START, NORMAL = 0x80, 0x00  # composition states (0x40, an acquisition point, keeps the epoch)
CROPPED, FORCED = 0x80, 0x40
FIRST_FRAGMENT, LAST_FRAGMENT = 0x80, 0x40

_HEADER = struct.Struct(">2sIIBH")  # "PG", PTS, DTS, type, payload size
# width, height, frame rate, composition number, state, palette update flag, palette id, object count
_COMPOSITION = struct.Struct(">HHBHBBBB")
_COMPOSED_OBJECT = struct.Struct(">HBBHH")  # object id, window id, flags, x, y
_CROP = struct.Struct(">HHHH")
_WINDOW = struct.Struct(">BHHHH")  # window id, x, y, width, height
_MAX_PAYLOAD = 0xFFFF
_FIRST_ODS_HEAD = 11  # object id, version, sequence flag, data length (u24), width, height
_NEXT_ODS_HEAD = 4  # object id, version, sequence flag
_MAX_RUN = 0x3FFF  # a 14-bit run
_FRAME_RATE = 0x10  # the value Blu-ray authoring writes; decoders ignore it
_RUN_BYTES = [bytes((colour,)) for colour in range(256)]

# ffmpeg's palette conversion (libavutil/colorspace.h): limited-range YCrCb to RGB in 10-bit fixed point,
# BT.709 for a canvas taller than 576 lines and BT.601 otherwise. The same integers give the same colours.
_SCALE_BITS = 10


def _fixed(value: float) -> int:
    return int(value * (1 << _SCALE_BITS) + 0.5)


_CHROMA_GAIN = 255.0 / 224.0
_BT601 = tuple(_fixed(k * _CHROMA_GAIN) for k in (1.40200, 0.34414, 0.71414, 1.77200))  # R/Cr, G/Cb, G/Cr, B/Cb
_BT709 = tuple(_fixed(k * _CHROMA_GAIN) for k in (1.5747, 0.1873, 0.4682, 1.8556))
_LUMA_GAIN = _fixed(255.0 / 219.0)


class PgsError(MegacutError, ValueError):
    """A PGS stream that cannot be read; the message says at which byte offset, for whoever looks at the file."""


@dataclass(frozen=True)
class PgsObject:
    """One bitmap on screen: its top-left corner on the canvas, its size, ``width * height`` palette indices
    row by row, and whether it is forced (shown even when subtitles are off)."""

    x: int
    y: int
    width: int
    height: int
    pixels: bytes
    forced: bool

    def __post_init__(self) -> None:
        if len(self.pixels) != self.width * self.height:
            raise ValueError(f"a {self.width}x{self.height} object needs {self.width * self.height} pixels, "
                             f"not {len(self.pixels)}")


@dataclass(frozen=True)
class ImageCue:
    """What is on screen from ``start_s`` to ``end_s`` (None: still on screen where the stream ends): the
    objects on a canvas of the PCS's size, coloured by a 256-entry palette of (Y, Cr, Cb, alpha)."""

    start_s: float
    end_s: float | None
    canvas: tuple[int, int]
    palette: tuple[tuple[int, int, int, int], ...]
    objects: tuple[PgsObject, ...]

    def __post_init__(self) -> None:
        if len(self.palette) != 256:
            raise ValueError(f"a palette has 256 entries, not {len(self.palette)}")

    @property
    def forced(self) -> bool:
        """Whether every object shown is forced: what a player shows with subtitles off."""
        return bool(self.objects) and all(obj.forced for obj in self.objects)

    def rgba(self) -> Image.Image:
        """The canvas as an RGBA picture with the objects drawn as ffmpeg draws them (its palette conversion;
        each object's rectangle copied over, a later object on top), to be laid over a frame of the canvas's
        size. Transparent where no object is."""
        width, height = self.canvas
        picture = np.zeros((height, width, 4), np.uint8)
        colours = _palette_rgba(self.palette, height)
        for obj in self.objects:
            indices = np.frombuffer(obj.pixels, np.uint8).reshape(obj.height, obj.width)
            visible = indices[: max(0, height - obj.y), : max(0, width - obj.x)]
            rows, columns = visible.shape
            picture[obj.y: obj.y + rows, obj.x: obj.x + columns] = colours[visible]
        return Image.fromarray(picture)

    def only_forced(self) -> ImageCue | None:
        """This cue with its non-forced objects left out, what a render burns in; None when none is forced."""
        kept = tuple(obj for obj in self.objects if obj.forced)
        return replace(self, objects=kept) if kept else None

    def shifted(self, by_s: float, start_s: float, end_s: float) -> ImageCue | None:
        """This cue clipped to ``[start_s, end_s)`` of its own time line (a scene in the source), then moved by
        ``by_s`` (to the part's or the scene's time); None when it is not on screen in that span. A cue already
        on screen at ``start_s`` starts there, one still on screen at ``end_s`` (or to the stream's end) ends
        there."""
        start = max(self.start_s, start_s)
        end = end_s if self.end_s is None else min(self.end_s, end_s)
        if end <= start:
            return None
        return replace(self, start_s=start + by_s, end_s=end + by_s)


def read_sup(data: bytes) -> list[ImageCue]:
    """The cues of a PGS stream: one per span between consecutive display sets where at least one object is
    on screen, ending at the next display set (None for the last). Palettes and objects defined earlier in
    an epoch are kept for the display sets that show them again. Raises :class:`PgsError` (a ValueError)
    saying the byte offset when the data is not a well-formed stream."""
    cues: list[ImageCue] = []
    shown: ImageCue | None = None
    shown_tick = -1
    for offset, tick, cue in _Decoder().display_sets(bytes(data)):
        if tick < shown_tick:
            raise PgsError(f"the display set at byte {offset} starts at {tick / TICKS_PER_S:.3f} s, before "
                           f"the one ahead of it ({shown_tick / TICKS_PER_S:.3f} s)")
        if shown is not None and tick > shown_tick:
            cues.append(replace(shown, end_s=tick / TICKS_PER_S))
        shown, shown_tick = cue, tick
    if shown is not None:
        cues.append(shown)
    return cues


def composition_counts(data: bytes) -> tuple[int, int]:
    """(display sets that show something, those that show a forced object) of a PGS stream, from its
    compositions alone: nothing is drawn (a disc's many tracks are counted in a plan). Raises
    :class:`PgsError` where :func:`read_sup` would."""
    shown = forced = 0
    for offset, tick, kind, payload in _segments(data):
        if kind == PCS:
            objects = _read_composition(payload, offset, tick).objects
            shown += bool(objects)
            forced += any(flags & FORCED for _, flags, *_ in objects)
    return shown, forced


def retimed(data: bytes, by_s: float) -> bytes:
    """A PGS stream with every segment's time stamps moved by ``by_s`` (none before 0): its headers rewritten,
    its pictures untouched."""
    out, ticks = bytearray(data), round(by_s * TICKS_PER_S)
    for offset, tick, _kind, _payload in _segments(data):
        _magic, _pts, dts, kind, size = _HEADER.unpack_from(data, offset)
        _HEADER.pack_into(out, offset, b"PG", max(0, tick + ticks), max(0, dts + ticks) if dts else 0, kind, size)
    return bytes(out)


def write_sup(cues: Iterable[ImageCue]) -> bytes:
    """A PGS stream showing ``cues``: each one an epoch-start display set at its start (its windows, palette
    and objects, forced flags kept), and a display set clearing the screen at its end unless the next cue
    starts right then (a cue ending None stays on screen). Times are rounded to the 90 kHz tick. Raises
    ValueError for what a stream cannot carry: cues out of order or overlapping, more than two objects, an
    object off its canvas."""
    out = bytearray()
    ordered = list(cues)
    number = 0
    free_from = 0  # the first tick the next cue may start at
    for index, cue in enumerate(ordered):
        start, end = _ticks(cue, index)
        if start < free_from:
            raise ValueError(f"cue {index} starts at {cue.start_s} s, before the cue ahead of it ends")
        _check_objects(cue, index)
        windows = b"".join(_WINDOW.pack(i, obj.x, obj.y, obj.width, obj.height)
                           for i, obj in enumerate(cue.objects))
        window_segment = bytes([len(cue.objects)]) + windows
        out += _display_set(start, number, cue, window_segment)
        number = (number + 1) & 0xFFFF
        if end is None:
            if index + 1 < len(ordered):
                raise ValueError(f"cue {index} has no end but cue {index + 1} follows it")
            break
        free_from = end
        if index + 1 == len(ordered) or round(ordered[index + 1].start_s * TICKS_PER_S) != end:
            clear = _COMPOSITION.pack(*cue.canvas, _FRAME_RATE, number, NORMAL, 0, 0, 0)
            out += _segment(end, PCS, clear) + _segment(end, WDS, window_segment) + _segment(end, END, b"")
            number = (number + 1) & 0xFFFF
    return bytes(out)


def _ticks(cue: ImageCue, index: int) -> tuple[int, int | None]:
    """The cue's start and end in 90 kHz ticks, checked to fit the stream's 32-bit time stamps."""
    start = round(cue.start_s * TICKS_PER_S)
    end = None if cue.end_s is None else round(cue.end_s * TICKS_PER_S)
    for tick in (start, end):
        if tick is not None and not 0 <= tick < 1 << 32:
            raise ValueError(f"cue {index}: {tick / TICKS_PER_S} s is outside a PGS stream's 0 to 47721 s")
    if end is not None and end <= start:
        raise ValueError(f"cue {index} ends at {cue.end_s} s, not after its start at {cue.start_s} s")
    return start, end


def _check_objects(cue: ImageCue, index: int) -> None:
    """Refuse what players and ffmpeg would not show: no objects or more than two, an object off the canvas."""
    width, height = cue.canvas
    if not 0 < width <= 0xFFFF or not 0 < height <= 0xFFFF:
        raise ValueError(f"cue {index}: a {width}x{height} canvas does not fit a PGS stream")
    if not 0 < len(cue.objects) <= MAX_OBJECTS:
        raise ValueError(f"cue {index} shows {len(cue.objects)} objects: a PGS display set shows 1 or 2")
    for obj in cue.objects:
        if obj.width < 1 or obj.height < 1 or obj.x < 0 or obj.y < 0 or obj.x + obj.width > width \
                or obj.y + obj.height > height:
            raise ValueError(f"cue {index}: a {obj.width}x{obj.height} object at ({obj.x}, {obj.y}) is not "
                             f"inside its {width}x{height} canvas")


def _display_set(tick: int, number: int, cue: ImageCue, window_segment: bytes) -> bytes:
    """An epoch-start display set showing ``cue`` at ``tick``: PCS, WDS, PDS, the objects' ODS, END."""
    composition = bytearray(_COMPOSITION.pack(*cue.canvas, _FRAME_RATE, number, EPOCH_START, 0, 0,
                                              len(cue.objects)))
    for object_id, obj in enumerate(cue.objects):
        composition += _COMPOSED_OBJECT.pack(object_id, object_id, FORCED if obj.forced else 0, obj.x, obj.y)
    palette = bytearray(b"\x00\x00")  # palette id 0, version 0
    for index, entry in enumerate(cue.palette):
        if entry != UNUSED_ENTRY:
            palette += bytes((index, *entry))
    out = bytearray(_segment(tick, PCS, bytes(composition)) + _segment(tick, WDS, window_segment)
                    + _segment(tick, PDS, bytes(palette)))
    for object_id, obj in enumerate(cue.objects):
        out += _object_segments(tick, object_id, obj)
    return bytes(out + _segment(tick, END, b""))


def _object_segments(tick: int, object_id: int, obj: PgsObject) -> bytes:
    """An object's ODS: the RLE data split over as many segments as the 65535-byte payload limit needs."""
    rle = _encode_rle(obj.pixels, obj.width, obj.height)
    if len(rle) + 4 > 0xFFFFFF:
        raise ValueError(f"a {obj.width}x{obj.height} object codes to {len(rle)} bytes, more than PGS holds")
    first_size = _MAX_PAYLOAD - _FIRST_ODS_HEAD
    pieces = [rle[:first_size]] + [rle[i: i + _MAX_PAYLOAD - _NEXT_ODS_HEAD]
                                   for i in range(first_size, len(rle), _MAX_PAYLOAD - _NEXT_ODS_HEAD)]
    out = bytearray()
    for number, piece in enumerate(pieces):
        flags = (FIRST_FRAGMENT if number == 0 else 0) | (LAST_FRAGMENT if number == len(pieces) - 1 else 0)
        head = struct.pack(">HBB", object_id, 0, flags)
        if number == 0:
            head += (len(rle) + 4).to_bytes(3, "big") + struct.pack(">HH", obj.width, obj.height)
        out += _segment(tick, ODS, head + piece)
    return bytes(out)


def _segment(tick: int, kind: int, payload: bytes) -> bytes:
    """One segment; the decoding time stamp is left 0, which decoders and ffmpeg's demuxer read as unset."""
    return _HEADER.pack(b"PG", tick, 0, kind, len(payload)) + payload


def _encode_rle(pixels: bytes, width: int, height: int) -> bytes:
    """PGS run-length coding, line by line: numpy finds the runs, each is written in its shortest form."""
    flat = np.frombuffer(pixels, np.uint8)
    starts_run = np.empty(flat.size, bool)
    starts_run[0] = True
    np.not_equal(flat[1:], flat[:-1], out=starts_run[1:])
    starts_run[::width] = True
    starts = np.flatnonzero(starts_run)
    lengths = np.diff(starts, append=flat.size)
    ends_line = (starts + lengths) % width == 0
    out = bytearray()
    for colour, length, line_end in zip(flat[starts].tolist(), lengths.tolist(), ends_line.tolist()):
        while length:
            run = min(length, _MAX_RUN)
            out += _run(colour, run)
            length -= run
        if line_end:
            out += b"\x00\x00"
    return bytes(out)


def _run(colour: int, length: int) -> bytes:
    """One run of at most 16383 pixels: one or two pixels of a colour other than 0 as themselves, else
    ``00`` and a flag byte (0x40: 14-bit length, 0x80: a colour byte follows)."""
    if colour and length <= 2:
        return _RUN_BYTES[colour] * length
    long_run = 0x40 if length > 0x3F else 0
    code = (0x80 if colour else 0) | long_run | (length >> 8 if long_run else length)
    return bytes((0, code, length & 0xFF) if long_run else (0, code)) + (_RUN_BYTES[colour] if colour else b"")


def _decode_rle(rle: bytes, width: int, height: int, offset: int) -> bytes:
    """The ``width * height`` palette indices that ``rle`` codes; pixels taken as they come between escapes
    (bytes slices, so a line of literal colours costs one copy). ``offset`` names the object in errors."""
    out = bytearray()
    size, limit = len(rle), width * height
    pos = lines = 0
    try:
        while pos < size:
            escape = rle.find(b"\x00", pos)
            if escape < 0:
                escape = size
            out += rle[pos:escape]
            if escape == size:
                break
            flags = rle[escape + 1]
            pos = escape + 2
            if flags == 0:
                lines += 1
                if len(out) != lines * width:
                    raise PgsError(f"line {lines} of the object at byte {offset} has "
                                   f"{len(out) - (lines - 1) * width} pixels, not {width}")
                continue
            length = flags & 0x3F
            if flags & 0x40:
                length = length << 8 | rle[pos]
                pos += 1
            colour = 0
            if flags & 0x80:
                colour = rle[pos]
                pos += 1
            out += _RUN_BYTES[colour] * length
            if len(out) > limit:
                break
    except IndexError:
        raise PgsError(f"the RLE data of the object at byte {offset} ends inside a run") from None
    if len(out) != limit or lines < height - 1:  # the last line's end mark may be left out
        raise PgsError(f"the object at byte {offset} codes {len(out)} pixels in {lines} lines, not "
                       f"{width}x{height}")
    return bytes(out)


def _palette_rgba(palette: tuple[tuple[int, int, int, int], ...], canvas_height: int) -> np.ndarray:
    """The palette as 256 RGBA colours (straight alpha), converted with ffmpeg's integers."""
    entries = np.array(palette, np.int64)
    red_cr, green_cb, green_cr, blue_cb = _BT709 if canvas_height > 576 else _BT601
    luma = (entries[:, 0] - 16) * _LUMA_GAIN + (1 << (_SCALE_BITS - 1))
    cr, cb = entries[:, 1] - 128, entries[:, 2] - 128
    rgb = np.stack([luma + red_cr * cr, luma - green_cb * cb - green_cr * cr, luma + blue_cb * cb], axis=1)
    colours = np.empty((256, 4), np.uint8)
    colours[:, :3] = np.clip(rgb >> _SCALE_BITS, 0, 255)
    colours[:, 3] = entries[:, 3]
    return colours


@dataclass
class _Fragments:
    """An object whose ODS segments are still arriving."""

    offset: int
    width: int
    height: int
    length: int  # RLE bytes the first fragment announces
    rle: bytearray


@dataclass
class _Composition:
    """The PCS of the display set being read."""

    offset: int
    tick: int
    canvas: tuple[int, int]
    epoch_start: bool
    palette_id: int
    objects: list[tuple[int, int, int, int, tuple[int, int, int, int] | None]]  # id, flags, x, y, crop


class _Decoder:
    """The state a PGS decoder keeps: the epoch's palettes and objects, and the display set being read."""

    def __init__(self) -> None:
        self.palettes: dict[int, list[tuple[int, int, int, int]]] = {}
        self.objects: dict[int, tuple[int, int, bytes]] = {}  # id -> width, height, pixels
        self.fragments: dict[int, _Fragments] = {}
        self.composition: _Composition | None = None

    def display_sets(self, data: bytes) -> Iterator[tuple[int, int, ImageCue | None]]:
        """(byte offset, PTS tick, what is on screen from then) for each display set, in stream order."""
        for offset, tick, kind, payload in _segments(data):
            if kind == PCS:
                if self.composition is not None:
                    raise PgsError(f"the display set at byte {self.composition.offset} has no END before the "
                                   f"next one at byte {offset}")
                self.composition = _read_composition(payload, offset, tick)
                if self.composition.epoch_start:
                    self.palettes.clear()
                    self.objects.clear()
                    self.fragments.clear()
                continue
            if self.composition is None:
                raise PgsError(f"segment type 0x{kind:02X} at byte {offset} is outside a display set (no PCS "
                               "before it)")
            try:
                if kind == PDS:
                    self._palette(payload, offset)
                elif kind == ODS:
                    self._object(payload, offset)
                elif kind == END:
                    composition, self.composition = self.composition, None
                    yield composition.offset, composition.tick, self._screen(composition)
                elif kind != WDS:
                    raise PgsError(f"unknown segment type 0x{kind:02X} at byte {offset}")
            except (struct.error, IndexError):
                raise PgsError(f"the segment of type 0x{kind:02X} at byte {offset} is too short") from None
        if self.composition is not None:
            raise PgsError(f"the stream ends inside the display set at byte {self.composition.offset}")

    def _palette(self, payload: bytes, offset: int) -> None:
        """Set the entries a PDS lists; the others keep their values from earlier in the epoch."""
        if (len(payload) - 2) % 5:
            raise PgsError(f"the palette at byte {offset} has {len(payload) - 2} bytes of entries, not a "
                           "multiple of 5")
        palette = self.palettes.setdefault(payload[0], [UNUSED_ENTRY] * 256)
        for at in range(2, len(payload), 5):
            index, y, cr, cb, alpha = payload[at: at + 5]
            palette[index] = (y, cr, cb, alpha)

    def _object(self, payload: bytes, offset: int) -> None:
        """Take one ODS fragment; decode the object when its last fragment arrives."""
        object_id, _version, sequence = struct.unpack_from(">HBB", payload)
        if sequence & FIRST_FRAGMENT:
            length = int.from_bytes(payload[4:7], "big") - 4
            width, height = struct.unpack_from(">HH", payload, 7)
            if width < 1 or height < 1 or length < 0:
                raise PgsError(f"the object at byte {offset} is {width}x{height} with {length} bytes of data")
            part = _Fragments(offset, width, height, length, bytearray(payload[_FIRST_ODS_HEAD:]))
            self.fragments[object_id] = part
        elif object_id in self.fragments:
            part = self.fragments[object_id]
            part.rle += payload[_NEXT_ODS_HEAD:]
        else:
            raise PgsError(f"the ODS at byte {offset} continues object {object_id}, which has no first fragment")
        if len(part.rle) > part.length:
            raise PgsError(f"the object at byte {part.offset} has more than the {part.length} bytes of data its "
                           f"first fragment announces (at byte {offset})")
        if sequence & LAST_FRAGMENT:
            del self.fragments[object_id]
            if len(part.rle) != part.length:
                raise PgsError(f"the object at byte {part.offset} has {len(part.rle)} bytes of data, not the "
                               f"{part.length} its first fragment announces")
            pixels = _decode_rle(bytes(part.rle), part.width, part.height, part.offset)
            self.objects[object_id] = (part.width, part.height, pixels)

    def _screen(self, composition: _Composition) -> ImageCue | None:
        """What a complete display set puts on screen, None when it clears it."""
        if not composition.objects:
            return None
        palette = self.palettes.get(composition.palette_id)
        if palette is None:
            raise PgsError(f"the display set at byte {composition.offset} uses palette "
                           f"{composition.palette_id}, which its epoch does not define")
        shown = []
        for object_id, flags, x, y, crop in composition.objects:
            if object_id not in self.objects:
                raise PgsError(f"the display set at byte {composition.offset} shows object {object_id}, which "
                               "its epoch does not define")
            width, height, pixels = self.objects[object_id]
            if crop is not None:
                width, height, pixels = _crop(width, height, pixels, crop, composition.offset)
            shown.append(PgsObject(x, y, width, height, pixels, bool(flags & FORCED)))
        return ImageCue(composition.tick / TICKS_PER_S, None, composition.canvas, tuple(palette), tuple(shown))


def _segments(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """(byte offset, PTS tick, type, payload) of each segment."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < _HEADER.size:
            raise PgsError(f"the stream ends inside a segment header at byte {pos}")
        magic, tick, _dts, kind, size = _HEADER.unpack_from(data, pos)
        if magic != b"PG":
            raise PgsError(f"no PGS segment starts at byte {pos} (it begins {magic!r}, not b'PG')")
        end = pos + _HEADER.size + size
        if end > len(data):
            raise PgsError(f"the segment at byte {pos} announces {size} bytes but only "
                           f"{len(data) - pos - _HEADER.size} follow")
        yield pos, tick, kind, data[pos + _HEADER.size: end]
        pos = end


def _read_composition(payload: bytes, offset: int, tick: int) -> _Composition:
    """A PCS: the canvas, the palette and the objects it shows, with their flags, positions and crops."""
    try:
        width, height, _rate, _number, state, _update, palette_id, count = _COMPOSITION.unpack_from(payload)
        objects = []
        pos = _COMPOSITION.size
        for _ in range(count):
            object_id, _window, flags, x, y = _COMPOSED_OBJECT.unpack_from(payload, pos)
            pos += _COMPOSED_OBJECT.size
            crop = None
            if flags & CROPPED:
                crop = _CROP.unpack_from(payload, pos)
                pos += _CROP.size
            objects.append((object_id, flags, x, y, crop))
    except struct.error:
        raise PgsError(f"the PCS at byte {offset} is too short for what it announces") from None
    return _Composition(offset, tick, (width, height), bool(state & EPOCH_START), palette_id, objects)


def _crop(width: int, height: int, pixels: bytes, crop: tuple[int, int, int, int],
          offset: int) -> tuple[int, int, bytes]:
    """The part of an object a composition shows when it crops it."""
    left, top, crop_width, crop_height = crop
    if crop_width < 1 or crop_height < 1 or left + crop_width > width or top + crop_height > height:
        raise PgsError(f"the display set at byte {offset} crops {crop_width}x{crop_height} at ({left}, {top}) "
                       f"from a {width}x{height} object")
    image = np.frombuffer(pixels, np.uint8).reshape(height, width)
    return crop_width, crop_height, image[top: top + crop_height, left: left + crop_width].tobytes()
