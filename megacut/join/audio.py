"""A part's audio, encoded to AAC while its segments are still rendering.

A part's audio is encoded once, from its segments' PCM in order (per-segment
AAC would drift at every join). Encoding two hours of audio takes minutes
(measured: 192 s for a 2-hour part on this machine's cores), so waiting for
the last segment to start it would add those minutes to the end of every run.
Instead, as soon as every item before a segment has ended, the segment's PCM
(read straight from its MOV chunks) is streamed, in part order, through a
named pipe into one encoder per part; the join then copies the finished AAC
track next to the copied video.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
from pathlib import Path

from megacut.errors import Cancelled
from megacut.ffmpeg import EitherEvent, input_file, output_file, stream_to_ffmpeg
from megacut.mov import sound_chunks
from megacut.plan.build import OutputFormat

AUDIO_BITRATE = "192k"
READ_BYTES = 1 << 20


def aac_args(bitrate: str = AUDIO_BITRATE) -> list[str]:
    """The part's audio encoder: AAC, once per part (here, or in the join when there is no early encode)."""
    return ["-c:a", "aac", "-b:a", bitrate]


class PartAudio:
    """One part's AAC track, fed segment by segment in part order (:meth:`add`), finished by :meth:`finish`."""

    def __init__(self, folder: Path, fmt: OutputFormat, cancel=None):
        """``folder``: a scratch folder of its own (in the cache's work folder, which the next run clears
        if this one is killed)."""
        self.folder = folder
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.path = self.folder / "audio.m4a"
        self.segments: queue.Queue = queue.Queue()
        self.abort = threading.Event()
        self.error: BaseException | None = None
        fifo = self.folder / "pcm.fifo"
        os.mkfifo(fifo)
        args = ["-loglevel", "error",
                *input_file(fifo, "-f", "s16le", "-ar", str(fmt.sample_rate), "-ac", str(fmt.channels)),
                *aac_args(), *output_file(self.path, "-f", "mp4")]
        stop = EitherEvent(cancel, self.abort)
        self.thread = threading.Thread(target=self._run, args=(args, fifo, stop), name=f"megacut-audio-{folder.name}",
                                       daemon=True)
        self.thread.start()

    def _run(self, args: list[str], fifo: Path, stop) -> None:
        try:
            # the encoder waits for segments while they render: it is idle, not stalled
            stream_to_ffmpeg(args, fifo, self._pcm(), stop, stall_timeout_s=None)
        except BaseException as exc:  # handed to finish()
            self.error = exc

    def _pcm(self):
        while True:
            segment = self.segments.get()
            if segment is None or self.abort.is_set():
                return
            with open(segment, "rb") as handle:
                for offset, size in sound_chunks(segment):
                    handle.seek(offset)
                    while size > 0:
                        data = handle.read(min(size, READ_BYTES))
                        if not data:
                            raise OSError(f"{segment.name}: shorter than its sound track says")
                        size -= len(data)
                        yield data

    def add(self, segment: Path) -> None:
        """The next segment of the part, in order: its PCM goes to the encoder."""
        self.segments.put(segment)

    def finish(self) -> Path:
        """Wait for the encoder to finish the track; its path (raises what went wrong)."""
        self.segments.put(None)
        self.thread.join()
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
        shutil.rmtree(self.folder, ignore_errors=True)
