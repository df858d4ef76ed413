"""A part's audio, encoded to AAC while its segments are still rendering.

A part's audio is encoded once, from its segments' PCM in order (per-segment
AAC would drift at every join). Encoding two hours of audio takes minutes
(measured: 192 s for a 2-hour part on this machine's cores), so waiting for
the last segment to start it would add those minutes to the end of every run.
Instead, as soon as every item before a segment has ended, the segment's PCM
(read straight from its MOV chunks) is streamed, in part order, into the
part's encoder, which cuts it into chunks of minutes encoded on every core
(join/aac_chunks.py); the join then copies the finished AAC track next to the
copied video.

In a part's last rounds of jobs the engine also hands over segments that are not
rendered yet, with the ffmpeg command that renders their sound alone (the same
samples, without the picture: about 40 ms for 2 s): the encoder then reaches
the part's end with its last segments, instead of starting on their sound only
once they have all ended in order. A segment rendered by then is read, not
rendered again.
"""

from __future__ import annotations

import itertools
import queue
import shutil
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from megacut.errors import Cancelled
from megacut.ffmpeg import EitherEvent, run_ffmpeg
from megacut.join.aac_chunks import AUDIO_BITRATE, ChunkedAacEncoder, aac_args, available_cpus  # noqa: F401
from megacut.mov import sound_chunks
from megacut.plan.build import OutputFormat

READ_BYTES = 1 << 20
ALONE_THREADS = 2  # sounds rendered alone at once (each mostly ffmpeg's start-up and demuxing)
ALONE_AHEAD = 3  # sounds rendered alone and not encoded yet, at most (raw PCM in the part's scratch folder)


class PartAudio:
    """One part's AAC track, fed segment by segment in part order (:meth:`add`), finished by :meth:`finish`."""

    def __init__(self, folder: Path, fmt: OutputFormat, cancel=None):
        """``folder``: a scratch folder of its own (in the cache's work folder, which the next run clears
        if this one is killed)."""
        self.folder = folder
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.segments: queue.Queue = queue.Queue()  # (segment, its sound rendered alone or None), None: the end
        self.ended = False  # the end is in the queue
        self.abort = threading.Event()
        self.stop = EitherEvent(cancel, self.abort)
        self.error: BaseException | None = None
        self.rendered_alone = 0  # segments whose sound was rendered alone and encoded from that
        self._alone: ThreadPoolExecutor | None = None
        self._tickets = itertools.count()  # the order in which sounds to render alone were added
        self._consumed = 0  # of those, how many the encoder has had (read, or the segment read instead)
        self._turn = threading.Condition()
        # the sound cut into chunks encoded on every core (join/aac_chunks.py) as it arrives
        self.encoder = ChunkedAacEncoder(self.folder / "aac", fmt.sample_rate, fmt.channels,
                                         parallel=available_cpus(), cancel=self.stop)
        self.path = self.encoder.path
        self.thread = threading.Thread(target=self._run, name=f"megacut-audio-{folder.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for pcm in self._pcm():
                self.encoder.write(pcm)
            if not self.abort.is_set():
                self.encoder.finish()
        except BaseException as exc:  # handed to finish()
            self.error = exc

    def _pcm(self):
        while True:
            entry = self.segments.get()
            if entry is None or self.abort.is_set():
                return
            segment, alone = entry
            if alone is None:
                yield from segment_pcm(segment)
                continue
            try:
                # rendered meanwhile: read it (its sound is the same), unless rendering it alone has begun
                if segment.exists() and alone.cancel():
                    yield from segment_pcm(segment)
                    continue
                pcm = alone.result()
                try:
                    yield from _file_chunks(pcm)
                    self.rendered_alone += 1
                finally:
                    pcm.unlink(missing_ok=True)
            finally:
                with self._turn:
                    self._consumed += 1
                    self._turn.notify_all()

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

    def add(self, segment: Path, sound_args: Callable[[Path], list[str]] | None = None) -> None:
        """The next segment of the part, in order: its PCM goes to the encoder. ``sound_args``: for a segment
        that may not be rendered yet, the ffmpeg arguments that write its sound alone to a given path."""
        alone: Future | None = None
        if sound_args is not None and not segment.exists():
            if self._alone is None:
                self._alone = ThreadPoolExecutor(ALONE_THREADS, thread_name_prefix=f"megacut-sound-{self.folder.name}")
            alone = self._alone.submit(self._render_alone, sound_args, next(self._tickets))
        self.segments.put((segment, alone))

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
        self.encoder.close()
        self._stop_alone()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _stop_alone(self) -> None:
        if self._alone is not None:
            self._alone.shutdown(wait=True, cancel_futures=True)


def segment_pcm(segment: Path):
    """A segment's PCM, read straight from its MOV chunks."""
    with open(segment, "rb") as handle:
        for offset, size in sound_chunks(segment):
            handle.seek(offset)
            while size > 0:
                data = handle.read(min(size, READ_BYTES))
                if not data:
                    raise OSError(f"{segment.name}: shorter than its sound track says")
                size -= len(data)
                yield data


def _file_chunks(path: Path):
    with open(path, "rb") as handle:
        while data := handle.read(READ_BYTES):
            yield data
