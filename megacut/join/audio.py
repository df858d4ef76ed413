"""A part's audio, encoded to AAC while its segments are still rendering.

A part's audio is encoded once, from its segments' PCM in order (per-segment
AAC would drift at every join). Encoding two hours of audio takes minutes
(measured: 192 s for a 2-hour part on this machine's cores), so waiting for
the last segment to start it would add those minutes to the end of every run.
Instead, as soon as every item before a segment has ended, the segment's PCM
(decoded from its lossless track) is streamed, in part order, into the
part's encoders (its layout's track, and a 5.1 part's stereo downmix), which
cut it into chunks of minutes encoded on every core (join/aac_chunks.py); the
join then copies the finished AAC tracks next to the copied video.

In a part's last rounds of jobs the engine also hands over segments that are not
rendered yet, with the ffmpeg command that renders their sound alone (the same
samples, without the picture: about 40 ms for 2 s): the encoder then reaches
the part's end with its last segments, instead of starting on their sound only
once they have all ended in order. A segment rendered by then is read, not
rendered again.
"""

from __future__ import annotations

import itertools
import os
import queue
import shutil
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitedTooLong
from fractions import Fraction
from pathlib import Path
from typing import Callable

from megacut.errors import Cancelled
from megacut.ffmpeg import EitherEvent, input_file, output_file, read_from_ffmpeg, run_ffmpeg
from megacut.join.aac_chunks import (
    CHUNK_S,
    POSTROLL_FRAMES,
    PREROLL_FRAMES,
    ChunkedAacEncoder,
    aac_args,
    available_cpus,
)
from megacut.mov import read_tracks
from megacut.plan.build import OutputFormat
from megacut.plan.channels import STEREO, SURROUND, stereo_downmix_filter
from megacut.render.loudness import Gain

# AAC by channels: 192 kb/s for a stereo track, 64 kb/s for each channel of 5.1 (at 32 kb/s a channel the
# coding noise of 5.1 hides a click: tests/test_aac_chunks.py)
BITRATES = {2: "192k", 6: "384k"}
TRACK_NAMES = {2: "Stereo", 6: "5.1"}
READ_BYTES = 1 << 20
ALONE_THREADS = 2  # sounds rendered alone at once (each mostly ffmpeg's start-up and demuxing)
ALONE_AHEAD = 3  # sounds rendered alone and not encoded yet, at most (raw PCM in the part's scratch folder)


def tracks(channels: int, stereo_track: bool) -> list[tuple[int, str | None]]:
    """The part's AAC tracks, in order: (channels, the filter that makes it from the part's PCM, or None).
    A 5.1 part with ``stereo_track`` has a second track, its stereo downmix (plan/channels.py)."""
    made = [(channels, None)]
    if channels == SURROUND and stereo_track:
        made.append((STEREO, stereo_downmix_filter()))
    return made


def sound_signature(channels: int, stereo_track: bool) -> list:
    """What decides the bytes of a part's AAC tracks besides its samples: part of its audio key."""
    return [[aac_args(BITRATES[out]), graph] for out, graph in tracks(channels, stereo_track)] + [
        CHUNK_S, PREROLL_FRAMES, POSTROLL_FRAMES]


def track_names(audio: Path, matroska: bool = False) -> list[str]:
    """Output options naming each AAC track of ``audio`` ("5.1", "Stereo", as its handler name: where MP4
    players look for a track's name; a title would be written in a box ffmpeg warns about when it reads the
    part; a title in Matroska) and making the first the default and the others not."""
    args = []
    sound = [t for t in read_tracks(audio) if t.handler == "soun"]
    for number, track in enumerate(sound):
        name = TRACK_NAMES.get(track.channels, f"{track.channels} channels")
        args += [f"-metadata:s:a:{number}", f"{'title' if matroska else 'handler_name'}={name}",
                 f"-disposition:a:{number}", "default" if number == 0 else "0"]
    return args


class PartAudio:
    """One part's AAC track, fed segment by segment in part order (:meth:`add`), finished by :meth:`finish`."""

    def __init__(self, folder: Path, fmt: OutputFormat, cancel=None, stereo_track: bool = False):
        """``folder``: a scratch folder of its own (in the cache's work folder, which the next run clears
        if this one is killed); ``stereo_track``: a 5.1 part gets its stereo downmix as a second track."""
        self.folder = folder
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        # (segment, its sound rendered alone or None, its gain in dB or a Future of it), None: the end
        self.segments: queue.Queue = queue.Queue()
        self.ended = False  # the end is in the queue
        self.abort = threading.Event()
        self.stop = EitherEvent(cancel, self.abort)
        self.error: BaseException | None = None
        self.rendered_alone = 0  # segments whose sound was rendered alone and encoded from that
        self._alone: ThreadPoolExecutor | None = None
        self._tickets = itertools.count()  # the order in which sounds to render alone were added
        self._consumed = 0  # of those, how many the encoder has had (read, or the segment read instead)
        self._turn = threading.Condition()
        # the sound cut into chunks encoded on every core (join/aac_chunks.py) as it arrives, one encoder a track
        self.encoders = [ChunkedAacEncoder(self.folder / f"aac-{number}", fmt.sample_rate, fmt.channels,
                                           bitrate=BITRATES[out], parallel=available_cpus(), cancel=self.stop,
                                           audio_filter=graph)
                         for number, (out, graph) in enumerate(tracks(fmt.channels, stereo_track))]
        self.path = self.encoders[0].path if len(self.encoders) == 1 else self.folder / "audio.m4a"
        self.thread = threading.Thread(target=self._run, name=f"megacut-audio-{folder.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for pcm in self._pcm():
                for encoder in self.encoders:
                    encoder.write(pcm)
            if not self.abort.is_set():
                made = [encoder.finish() for encoder in self.encoders]
                if len(made) > 1:  # the tracks in one file, as the join and the cache take them
                    muxing = self.folder / f"muxing-{self.path.name}"
                    run_ffmpeg(["-loglevel", "error", *[a for path in made for a in input_file(path)],
                                *[a for n in range(len(made)) for a in ("-map", f"{n}:a")], "-c", "copy",
                                *output_file(muxing, "-f", "mp4")], cancel=self.stop)
                    os.replace(muxing, self.path)
        except BaseException as exc:  # handed to finish()
            self.error = exc

    def _pcm(self):
        while True:
            entry = self.segments.get()
            if entry is None or self.abort.is_set():
                return
            segment, alone, gain = entry
            gain = Gain(self._wait(gain) if isinstance(gain, Future) else gain)
            if alone is None:
                yield from map(gain, segment_pcm(segment, self.stop))
                continue
            try:
                # rendered meanwhile: read it (its sound is the same), unless rendering it alone has begun
                if segment.exists() and alone.cancel():
                    yield from map(gain, segment_pcm(segment, self.stop))
                    continue
                pcm = alone.result()
                try:
                    yield from map(gain, _file_chunks(pcm))
                    self.rendered_alone += 1
                finally:
                    pcm.unlink(missing_ok=True)
            finally:
                with self._turn:
                    self._consumed += 1
                    self._turn.notify_all()

    def _wait(self, gain: Future) -> float:
        """A gain whose measurement may still run: wait for it (stopped by a stop)."""
        while True:
            try:
                return gain.result(timeout=0.1)
            except WaitedTooLong:
                if self.stop.is_set():
                    raise Cancelled("cancelled") from None

    def _render_alone(self, sound_args: Callable[[Path], list[str]], ticket: int) -> Path:
        """Render one segment's sound alone into the scratch folder, once fewer than ``ALONE_AHEAD`` sounds
        added before it wait there (in the order they were added: the next one the encoder needs is never
        held up by later ones)."""
        with self._turn:
            while ticket >= self._consumed + ALONE_AHEAD:
                if self.stop.is_set():
                    raise Cancelled("cancelled")
                self._turn.wait(0.1)
        path = self.folder / f"sound-{ticket}.pcm"
        run_ffmpeg(sound_args(path), cancel=self.stop)
        return path

    def add(self, segment: Path, sound_args: Callable[[Path], list[str]] | None = None,
            gain_db: float | Future = 0.0) -> None:
        """The next segment of the part, in order: its PCM goes to the encoder. ``sound_args``: for a segment
        that may not be rendered yet, the ffmpeg arguments that write its sound alone to a given path.
        ``gain_db``: its source's loudness gain (render/loudness.py), or a Future of it (a measurement
        under way: the encoder waits for it when it reaches the segment)."""
        alone: Future | None = None
        if sound_args is not None and not segment.exists():
            if self._alone is None:
                self._alone = ThreadPoolExecutor(ALONE_THREADS, thread_name_prefix=f"megacut-sound-{self.folder.name}")
            alone = self._alone.submit(self._render_alone, sound_args, next(self._tickets))
        self.segments.put((segment, alone, gain_db))

    def end(self) -> None:
        """Every segment has been added: the encoder encodes the last chunk and writes the track now, while
        the part's last jobs may still run (:meth:`finish` then waits for it)."""
        if not self.ended:
            self.ended = True
            self.segments.put(None)

    def finish(self) -> Path:
        """Wait for the encoder to finish the track; its path (raises what went wrong)."""
        self.end()
        self.thread.join()
        if self.error is not None:
            self.abort.set()  # sounds still being rendered alone stop
        self._stop_alone()
        if self.error is not None:
            raise self.error
        if self.abort.is_set():
            raise Cancelled("cancelled")
        return self.path

    def close(self) -> None:
        """Stop the encoder if it is still running and remove its files."""
        self.abort.set()
        self.segments.put(None)
        self.thread.join()
        for encoder in self.encoders:
            encoder.close()
        self._stop_alone()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _stop_alone(self) -> None:
        if self._alone is not None:
            self._alone.shutdown(wait=True, cancel_futures=True)


def encode_audio(segments: list[Path], folder: Path, cancel=None, gains: list[float | Future] | None = None,
                 stereo_track: bool = False) -> Path:
    """The AAC tracks of ``segments`` joined in order (each multiplied by its gain, in dB): a part's audio
    encoded at its join, when it was not encoded while its segments rendered."""
    if not segments:
        raise ValueError("no segment to encode the sound of")
    sound = next((t for t in read_tracks(segments[0]) if t.handler == "soun"), None)
    if sound is None:
        raise OSError(f"{segments[0].name} has no sound track")
    fmt = OutputFormat(0, 0, Fraction(1), sample_rate=sound.sample_rate, channels=sound.channels)
    audio = PartAudio(folder, fmt, cancel, stereo_track)
    try:
        for segment, gain in zip(segments, gains or [0.0] * len(segments)):
            audio.add(segment, gain_db=gain)
        return audio.finish()
    except BaseException:
        audio.close()
        raise


def segment_pcm(segment: Path, cancel=None):
    """A segment's sound as s16le PCM (it is stored losslessly compressed: these are its samples)."""
    yield from read_from_ffmpeg(["-loglevel", "error", *input_file(segment), "-map", "0:a:0", "-c:a", "pcm_s16le",
                                 "-f", "s16le", "-"], cancel, READ_BYTES)


def _file_chunks(path: Path):
    with open(path, "rb") as handle:
        while data := handle.read(READ_BYTES):
            yield data
