"""One AAC track encoded in chunks, by several ffmpeg processes at once, joined without a seam.

A part's sound is one PCM timeline of N samples. One encoder takes it on one core (about 0.024 CPU-s per
second of sound here: nearly 3 minutes for a 2-hour part). Here the stream is cut, as it is written, into
chunks of ``chunk_s`` whose boundaries are multiples of 1024 samples (one AAC frame); each chunk is written
to the scratch folder with ``preroll_frames`` frames of the sound before it and ``postroll_frames`` after
it, and encoded to ADTS by its own ffmpeg as soon as its post-roll has arrived (up to ``parallel`` at
once), its PCM removed once encoded. The chunks are then spliced by counting packets, never by
timestamps (all integers):

* chunk 0 gives its packets ``0 .. f1`` (with the stream's one priming packet);
* chunk i > 0 starts ``P`` frames early: its first ``P + 1`` packets (its priming and the pre-roll) are
  dropped and exactly ``f(i+1) - f(i)`` packets kept (the last chunk: all the rest).

The AAC transform overlaps 2048 samples every 1024, and ffmpeg's encoder carries state from frame to
frame (its rate control starts low and takes some 20 frames to settle): with the pre-roll each chunk's
first kept packet is coded as a single encode would code it, and with the post-roll the previous
chunk's last one is too, so the decoder's overlap-add at the seam adds two valid codings of the same
sound. Without them every seam clicks (tests/test_aac_chunks.py shows both). The spliced ADTS stream is
muxed once into MP4 with one edit list: 1024 samples of priming skipped, the last packet cut to the
samples left, so the track holds exactly the N samples written. Chunk 0 is a plain encode: its packets
are byte for byte a single encode's, and a stream shorter than one chunk (plus its post-roll) is just
that, one encode. Measured figures: docs/performance.md, "A part's audio".
"""

from __future__ import annotations

import os
import shutil
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from megacut.errors import Cancelled, FFmpegError
from megacut.ffmpeg import EitherEvent, input_file, output_file, run_ffmpeg, stream_to_ffmpeg
from megacut.plan.channels import BY_COUNT

AUDIO_BITRATE = "192k"
FRAME = 1024  # samples per AAC-LC packet; ffmpeg's native encoder primes the stream with one packet
CHUNK_S = 120.0  # sound per chunk: the run's tail is about one chunk's encode (~3 s here), the overhead ~2 %
PREROLL_FRAMES = 64  # 1.4 s: ffmpeg's twoloop coder has settled (the research note measured 16 and 64)
POSTROLL_FRAMES = 4  # 85 ms: the last kept packet's window and look-ahead (0 clicks; 1 and 2 measured clean)
LAYOUTS = {n: BY_COUNT[n] for n in (1, 2, 6)}  # the channel layout ffmpeg is told, by channel count


def aac_args(bitrate: str = AUDIO_BITRATE) -> list[str]:
    """The part's audio encoder: AAC (here, in every chunk, or in the join when there is no early encode)."""
    return ["-c:a", "aac", "-b:a", bitrate]


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(eq=False)
class _Chunk:
    index: int
    first: int  # its first input sample (the pre-roll's)
    pcm: Path
    handle: object  # the open PCM file while the chunk is written
    samples: int = 0  # written to it
    last: bool = False
    adts: Path | None = None
    done: Future | None = field(default=None, repr=False)


class ChunkedAacEncoder:
    """Interleaved s16le PCM in (:meth:`write`, in order, blocks of any size), one AAC track out
    (:meth:`finish`): an .m4a holding exactly the samples written. :meth:`close` stops every ffmpeg and
    removes ``folder`` (the track too: use it first). ``chunk_s``, ``preroll_frames``, ``postroll_frames``:
    None for :data:`CHUNK_S`, :data:`PREROLL_FRAMES`, :data:`POSTROLL_FRAMES`; ``parallel``: encodes at once
    (None: the CPUs available); ``audio_filter``: an ffmpeg ``-af`` graph run in every chunk's encode, which
    must keep the number of samples (its state is rebuilt by the pre-roll)."""

    def __init__(self, folder: Path, sample_rate: int, channels: int, *, bitrate: str = AUDIO_BITRATE,
                 chunk_s: float | None = None, preroll_frames: int | None = None,
                 postroll_frames: int | None = None, parallel: int | None = None, cancel=None,
                 audio_filter: str | None = None, name: str = "audio.m4a"):
        if channels not in LAYOUTS:
            raise ValueError(f"{channels} channels: the AAC track takes {', '.join(map(str, LAYOUTS))}")
        self.folder = folder
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.path = folder / name
        self.sample_rate, self.channels, self.bitrate = sample_rate, channels, bitrate
        self.audio_filter = audio_filter
        self.preroll = PREROLL_FRAMES if preroll_frames is None else preroll_frames
        self.postroll = POSTROLL_FRAMES if postroll_frames is None else postroll_frames
        # a chunk is longer than the pre- and post-roll together: at most two chunks are written at once
        self.chunk_frames = max(round((chunk_s or CHUNK_S) * sample_rate / FRAME), self.preroll + self.postroll + 1)
        self.parallel = parallel or available_cpus()
        self.abort = threading.Event()
        self.stop = EitherEvent(cancel, self.abort)
        self.frame_bytes = 2 * channels
        self.written = 0  # bytes
        self.chunks: list[_Chunk] = []
        self.open: list[_Chunk] = []  # being written (two while the next one's pre-roll is)
        # chunks written and not encoded yet, at most: the PCM waiting on disk stays bounded when the sound
        # comes faster than the encoders take it
        self.room = threading.BoundedSemaphore(2 * self.parallel + 2)
        self.encoders = ThreadPoolExecutor(self.parallel, thread_name_prefix=f"megacut-aac-{folder.name}")

    # ------------------------------------------------------------------ the chunks' bounds

    def _first_sample(self, index: int) -> int:
        return 0 if index == 0 else (index * self.chunk_frames - self.preroll) * FRAME

    def _end_sample(self, index: int) -> int:
        """Where a chunk that is not the last one ends: its post-roll written."""
        return ((index + 1) * self.chunk_frames + self.postroll) * FRAME

    # ------------------------------------------------------------------ writing

    def write(self, pcm: bytes) -> None:
        """The next PCM of the stream (interleaved s16le, any size)."""
        self._check()
        view, offset = memoryview(pcm), 0
        while offset < len(view):
            at = self.written // self.frame_bytes  # samples written (the next chunk starts on a whole one)
            starts = self._first_sample(len(self.chunks))
            if starts == at and self.written % self.frame_bytes == 0:
                self._open_next()
                continue
            ends = [self._end_sample(c.index) for c in self.open]
            stop = min([s for s in (starts, *ends) if s > at] or [at + len(view)]) * self.frame_bytes
            block = view[offset:offset + min(len(view) - offset, stop - self.written)]
            for chunk in self.open:
                chunk.handle.write(block)
            self.written += len(block)
            offset += len(block)
            for chunk in [c for c in self.open if self._end_sample(c.index) * self.frame_bytes == self.written]:
                self._submit(chunk)

    def _open_next(self) -> None:
        while not self.room.acquire(timeout=0.1):  # the encoders are behind: wait for one to finish
            self._check()
        index = len(self.chunks)
        pcm = self.folder / f"chunk-{index:04d}.pcm"
        chunk = _Chunk(index, self._first_sample(index), pcm, open(pcm, "wb"))
        self.chunks.append(chunk)
        self.open.append(chunk)

    def _submit(self, chunk: _Chunk) -> None:
        chunk.handle.close()
        chunk.samples = self.written // self.frame_bytes - chunk.first
        self.open.remove(chunk)
        chunk.adts = chunk.pcm.with_suffix(".aac")
        chunk.done = self.encoders.submit(self._encode, chunk)

    def _encode(self, chunk: _Chunk) -> None:
        try:
            if self.stop.is_set():
                raise Cancelled("cancelled")
            layout = LAYOUTS[self.channels]
            run_ffmpeg(["-loglevel", "error",
                        *input_file(chunk.pcm, "-f", "s16le", "-ar", str(self.sample_rate), "-ch_layout", layout),
                        *(["-af", self.audio_filter] if self.audio_filter else []),
                        *aac_args(self.bitrate), *output_file(chunk.adts, "-f", "adts")], cancel=self.stop)
        finally:
            chunk.pcm.unlink(missing_ok=True)
            self.room.release()

    def _check(self) -> None:
        """Raise what went wrong in an encode so far, or Cancelled."""
        for chunk in self.chunks:
            if chunk.done is not None and chunk.done.done() and chunk.done.exception() is not None:
                raise chunk.done.exception()
        if self.stop.is_set():
            raise Cancelled("cancelled")

    # ------------------------------------------------------------------ the track

    def finish(self) -> Path:
        """Wait for every chunk's encode, splice them and write the track (:attr:`path`); raises what went
        wrong."""
        self._check()
        if self.written % self.frame_bytes:
            raise ValueError(f"{self.written} bytes of PCM: not a whole number of {self.channels}-channel samples")
        total = self.written // self.frame_bytes
        if total == 0:
            raise ValueError("no sound was written")
        # the chunk whose end was not reached is the last; one opened after it holds only pre-roll
        last, *spare = self.open
        for chunk in spare:
            chunk.handle.close()
            chunk.pcm.unlink()
            self.chunks.remove(chunk)
            self.room.release()
        last.last = True
        self._submit(last)
        for chunk in self.chunks:
            chunk.done.result()
        packets = 1 + -(-total // FRAME)  # the priming packet and one per 1024 samples, the last one partial
        left = total - (packets - 2) * FRAME  # samples in the last packet
        fifo = self.folder / "adts.fifo"
        os.mkfifo(fifo)
        setts = (f"setts=time_base=1/{self.sample_rate}:prescale=1:ts=TS-{FRAME}:"
                 f"duration=if(eq(N\\,{packets - 1})\\,{left}\\,DURATION)")
        # muxed under a name of this scratch folder (private to this encoder), renamed when whole
        temporary = self.folder / f"muxing-{self.path.name}"
        stream_to_ffmpeg(["-loglevel", "error", *input_file(fifo, "-f", "aac"), "-c:a", "copy",
                          "-bsf:a", setts, *output_file(temporary, "-f", "mp4")],
                         fifo, self._spliced(packets), self.stop)
        os.replace(temporary, self.path)
        fifo.unlink()
        return self.path

    def _spliced(self, total_packets: int):
        """The chunks' ADTS packets that make the stream, in order (each chunk's file removed once read)."""
        sent = 0
        for chunk in self.chunks:
            data = chunk.adts.read_bytes()
            bounds = adts_packets(data, chunk.adts.name)
            expected = 1 + -(-chunk.samples // FRAME)
            if len(bounds) != expected:  # another priming, or a filter that changed the length
                raise FFmpegError(f"{chunk.adts.name}: {len(bounds)} AAC packets for {chunk.samples} samples, "
                                  f"expected {expected}")
            skip = 0 if chunk.index == 0 else self.preroll + 1
            keep = len(bounds) - skip if chunk.last else (self.chunk_frames + (1 if chunk.index == 0 else 0))
            kept = bounds[skip:skip + keep]
            sent += len(kept)
            yield data[kept[0][0]:kept[-1][1]]
            chunk.adts.unlink()
        if sent != total_packets:
            raise FFmpegError(f"the chunks gave {sent} AAC packets, expected {total_packets}")

    def close(self) -> None:
        """Stop every encode and remove the folder with its files (the track too)."""
        self.abort.set()
        for chunk in self.open:
            chunk.handle.close()
        self.open = []
        self.encoders.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.folder, ignore_errors=True)


def adts_packets(data: bytes, name: str = "ADTS") -> list[tuple[int, int]]:
    """(start, end) of every ADTS frame in ``data`` (one raw data block each, as ffmpeg writes them)."""
    bounds, at = [], 0
    while at < len(data):
        header = data[at:at + 7]
        if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF0 != 0xF0:
            raise FFmpegError(f"{name}: no ADTS frame at byte {at}")
        if header[6] & 0x03:
            raise FFmpegError(f"{name}: an ADTS frame with {1 + (header[6] & 0x03)} raw data blocks at byte {at}")
        length = ((header[3] & 0x03) << 11) | (header[4] << 3) | (header[5] >> 5)
        if length < 7 or at + length > len(data):
            raise FFmpegError(f"{name}: a truncated ADTS frame at byte {at}")
        bounds.append((at, at + length))
        at += length
    return bounds
