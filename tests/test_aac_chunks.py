"""A part's AAC track encoded in chunks on several cores (join/aac_chunks.py): exactly the samples written,
no click at a seam, chunk 0 as a single encode writes it, nothing left behind when cancelled."""

import threading
import time

import numpy as np
import psutil
import pytest
from framecode import decode_audio
from test_engine import FAST, NTSC, assert_beeps_in_sync, beep_rows, movies, write_csv  # noqa: F401

from megacut import prepare_plan
from megacut.errors import Cancelled, FFmpegError
from megacut.ffmpeg import input_file, output_file, run_ffmpeg
from megacut.join import aac_chunks
from megacut.join.aac_chunks import FRAME, ChunkedAacEncoder, aac_args, adts_packets
from megacut.join.audio import PartAudio, segment_pcm
from megacut.plan.build import OutputFormat
from megacut.plan.settings import Settings
from megacut.run.engine import RunOptions, render_plan

RATE = 48000
CHUNK_S = 6.0  # 4 chunks of about 6 s in SECONDS: three seams


def mixed_signal(seconds: float, channels: int, seed: int = 7) -> np.ndarray:
    """Tones, a sweep, clicks of a 2.5 kHz burst every 0.37 s and noise, different in every channel (in 5.1,
    low tones in the LFE), at an odd number of samples (the last AAC frame partial): (n, channels) int16."""
    n = int(seconds * RATE) + 333
    t = np.arange(n) / RATE
    rng = np.random.default_rng(seed)
    columns = []
    for c in range(channels):
        if channels == 6 and c == 3:  # the LFE channel: AAC codes it up to 120 Hz only
            columns.append(0.3 * np.sin(2 * np.pi * 45 * t) + 0.2 * np.sin(2 * np.pi * 70 * t + c))
            continue
        burst = np.where(np.mod(t + 0.05 * c, 0.37) < 0.02, np.exp(-np.mod(t + 0.05 * c, 0.37) * 200), 0.0)
        noise = np.cumsum(rng.normal(0, 1, n))  # brown, then high-passed a little: a noise with a tilt
        noise = (noise - np.convolve(noise, np.ones(64) / 64, mode="same")) * 0.01
        columns.append(0.2 * np.sin(2 * np.pi * (330 + 110 * c) * t) + 0.1 * np.sin(2 * np.pi * (200 + 30 * t) * t)
                       + 0.5 * burst * np.sin(2 * np.pi * 2500 * t) + noise)
    return (np.clip(np.stack(columns, axis=1), -1, 1) * 32000).astype(np.int16)


def encode(folder, signal: np.ndarray, block: int = 99_991, **options):
    """The signal through a ChunkedAacEncoder in blocks of ``block`` bytes (cut through samples); the
    encoder, finished."""
    encoder = ChunkedAacEncoder(folder, RATE, signal.shape[1], chunk_s=CHUNK_S, parallel=2, **options)
    data = signal.tobytes()
    for offset in range(0, len(data), block):
        encoder.write(data[offset:offset + block])
    encoder.finish()
    return encoder


def decode_bytes(path, channels: int, tmp_path) -> np.ndarray:
    raw = tmp_path / "decoded.pcm"
    completed = run_ffmpeg(["-v", "warning", *input_file(path), "-f", "s16le", "-y", str(raw)])
    assert completed.stderr.strip() == "", completed.stderr  # ffmpeg -v warning decodes it saying nothing
    data = np.fromfile(raw, dtype=np.int16).reshape(-1, channels)
    raw.unlink()
    return data


def seam_excess(decoded: np.ndarray, source: np.ndarray, seams: list[int]) -> list[float]:
    """For each seam, the largest error against the source within 1024 samples of it, divided by the
    largest error of any other 2048-sample window (the first two and the last two left out: the signal
    starts and stops abruptly there). Above 1: the seam is worse than anywhere else in the file."""
    error = np.abs(decoded.astype(np.float64) - source.astype(np.float64)).max(axis=1)
    windows = error[:len(error) // 2048 * 2048].reshape(-1, 2048).max(axis=1)
    near = {(s + d) // 2048 for s in seams for d in (-1024, 1023)}
    elsewhere = max(w for k, w in enumerate(windows[2:-2], 2) if k not in near)
    return [error[s - 1024:s + 1024].max() / elsewhere for s in seams]


def seams(encoder: ChunkedAacEncoder) -> list[int]:
    return [c.index * encoder.chunk_frames * FRAME for c in encoder.chunks[1:]]


# 5.1 at 192k is 32 kb/s a channel: its coding noise is as loud as a seam's click would be; at 512k the
# check sees the clicks of the negative control as clearly as in stereo
LAYOUTS = pytest.mark.parametrize("channels, bitrate", [(2, "192k"), (6, "512k")], ids=["stereo", "5.1"])


@LAYOUTS
def test_a_chunked_track_holds_exactly_the_samples_written_and_no_seam_clicks(tmp_path, channels, bitrate):
    source = mixed_signal(4 * CHUNK_S - 1, channels)
    encoder = encode(tmp_path / "aac", source, bitrate=bitrate)
    try:
        assert len(encoder.chunks) == 4
        info = run_ffmpeg(input_file(encoder.path), check=False).stderr
        assert {2: "stereo", 6: "5.1"}[channels] in info and "aac (LC)" in info  # 5.1 keeps its 6 channels
        decoded = decode_bytes(encoder.path, channels, tmp_path)
        assert decoded.shape == source.shape  # every sample, no priming, nothing padded
        excess = seam_excess(decoded, source, seams(encoder))
        assert max(excess) <= 1.0, excess
        assert [p.name for p in encoder.folder.iterdir()] == [encoder.path.name]  # the chunks' files are gone
    finally:
        encoder.close()
    assert not encoder.folder.exists()


@LAYOUTS
def test_without_pre_roll_every_seam_clicks_and_the_check_sees_it(tmp_path, channels, bitrate):
    source = mixed_signal(4 * CHUNK_S - 1, channels)
    encoder = encode(tmp_path / "aac", source, bitrate=bitrate, preroll_frames=0, postroll_frames=0)
    try:
        decoded = decode_bytes(encoder.path, channels, tmp_path)
        assert decoded.shape == source.shape  # the splice still counts right: it is the sound that is wrong
        excess = seam_excess(decoded, source, seams(encoder))
        assert min(excess) > 1.0, excess  # every seam fails the check above (measured 3.6-5.7x)
    finally:
        encoder.close()


def test_chunk_0_is_byte_for_byte_a_single_encode(tmp_path):
    source = mixed_signal(2 * CHUNK_S + 1, 2)
    pcm = tmp_path / "source.pcm"
    pcm.write_bytes(source.tobytes())
    single = tmp_path / "single.aac"
    run_ffmpeg(["-loglevel", "error", *input_file(pcm, "-f", "s16le", "-ar", str(RATE), "-ch_layout", "stereo"),
                *aac_args(), "-f", "adts", str(single)])
    encoder = encode(tmp_path / "aac", source)
    try:
        assert len(encoder.chunks) == 3
        chunked = tmp_path / "chunked.aac"
        run_ffmpeg(["-loglevel", "error", *input_file(encoder.path), "-c", "copy", "-f", "adts", str(chunked)])
        ours, theirs = chunked.read_bytes(), single.read_bytes()
        ours_packets, their_packets = adts_packets(ours), adts_packets(theirs)
        assert len(ours_packets) == len(their_packets) == 1 + -(-len(source) // FRAME)
        same = [ours[a:b] == theirs[c:d] for (a, b), (c, d) in zip(ours_packets, their_packets)]
        first = encoder.chunk_frames + 1  # chunk 0: the priming packet and its frames
        assert all(same[:first])
        assert not all(same[first:])  # later chunks are encodes of their own (the same sound, other bits)
    finally:
        encoder.close()


def test_a_short_stream_is_one_plain_encode(tmp_path):
    source = mixed_signal(CHUNK_S * 0.8, 1)  # mono, shorter than a chunk
    encoder = encode(tmp_path / "aac", source, block=4096)
    try:
        assert len(encoder.chunks) == 1
        assert decode_bytes(encoder.path, 1, tmp_path).shape == source.shape
    finally:
        encoder.close()


def test_a_filter_in_every_chunk_makes_a_stereo_track_from_5_1(tmp_path):
    source = mixed_signal(2 * CHUNK_S + 2, 6)
    downmix = "pan=stereo|FL=FL+0.707*FC+0.707*BL|FR=FR+0.707*FC+0.707*BR,volume=0.5"
    encoder = encode(tmp_path / "aac", source, audio_filter=downmix)
    try:
        assert len(encoder.chunks) == 3
        assert "stereo" in run_ffmpeg(input_file(encoder.path), check=False).stderr
        decoded = decode_bytes(encoder.path, 2, tmp_path)
        assert len(decoded) == len(source)  # the filter's output, as long as the input
        s = source.astype(np.float64)
        expected = 0.5 * np.stack([s[:, 0] + 0.707 * (s[:, 2] + s[:, 4]), s[:, 1] + 0.707 * (s[:, 2] + s[:, 5])], 1)
        assert max(seam_excess(decoded, expected, seams(encoder))) <= 1.0
    finally:
        encoder.close()


def test_a_failing_chunk_encode_raises_and_leaves_nothing(tmp_path):
    encoder = ChunkedAacEncoder(tmp_path / "aac", RATE, 2, chunk_s=CHUNK_S, audio_filter="no_such_filter")
    try:
        with pytest.raises(FFmpegError):
            encoder.write(mixed_signal(3 * CHUNK_S, 2).tobytes())
            encoder.finish()
    finally:
        encoder.close()
    assert not (tmp_path / "aac").exists()


def ffmpeg_children() -> list:
    return [p for p in psutil.Process().children(recursive=True) if "ffmpeg" in p.name()]


def test_cancelling_mid_way_stops_every_encode_and_removes_every_file(tmp_path):
    cancel = threading.Event()
    # arealtime: each chunk's encode takes as long as its sound, so they are all still running when cancelled
    encoder = ChunkedAacEncoder(tmp_path / "aac", RATE, 2, chunk_s=CHUNK_S, parallel=2, cancel=cancel,
                                audio_filter="arealtime")
    try:
        encoder.write(mixed_signal(3 * CHUNK_S, 2).tobytes())
        time.sleep(0.3)
        assert len(ffmpeg_children()) == 2
        cancel.set()
        with pytest.raises(Cancelled):
            encoder.write(b"\0" * 4)
        started = time.monotonic()
    finally:
        encoder.close()
    assert time.monotonic() - started < 5
    assert not ffmpeg_children()
    assert not (tmp_path / "aac").exists()


def test_a_rendered_parts_sound_in_chunks_is_exactly_as_long_as_its_video(tmp_path, movies, monkeypatch):
    monkeypatch.setattr(aac_chunks, "CHUNK_S", 1.5)  # 70 frames: a 9 s part has 6 chunks
    finish, chunks = ChunkedAacEncoder.finish, []

    def counted(self):
        chunks.append(len(self.chunks))
        return finish(self)

    monkeypatch.setattr(ChunkedAacEncoder, "finish", counted)
    csv = write_csv(tmp_path, beep_rows(11, 9, range(25, 35)))
    plan = prepare_plan(csv, movies, Settings(segment_s=1.0, **FAST))
    result = render_plan(plan, RunOptions(output_dir=tmp_path / "out", quiet=True, max_workers=2))
    assert result.exit_code == 0
    path = result.parts[0].path
    assert_beeps_in_sync(path, plan, tmp_path, 9)
    cache = tmp_path / "out" / ".megacut-cache" / "segments"
    pcm = b"".join(data for item in result.items.values() for segment in item.segments
                   for data in segment_pcm(cache / f"{segment.key}.mov"))
    assert len(decode_audio(path, tmp_path)) * 4 == len(pcm)  # every sample of the segments, exactly
    assert chunks[0] >= 5  # the part's audio was encoded in chunks and copied into the part


def test_a_parts_track_is_written_as_soon_as_all_its_sound_is_in(tmp_path):
    def tone(output):  # a segment's sound rendered alone: 1 s
        return ["-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
                "-ac", "2", "-c:a", "pcm_s16le", *output_file(output, "-f", "s16le")]

    audio = PartAudio(tmp_path / "audio", OutputFormat(160, 120, NTSC))
    try:
        for k in range(3):
            audio.add(tmp_path / f"segment-{k}.mov", tone)
        audio.end()  # the part's last segment is added: its jobs may still be running
        audio.thread.join(timeout=60)
        assert audio.path.exists()  # encoded and written before the join asks for it
        assert audio.finish() == audio.path
        assert len(decode_audio(audio.path, tmp_path)) == 3 * RATE
    finally:
        audio.close()
    assert not (tmp_path / "audio").exists()


def seam_figures(folder) -> None:
    """The seam check's figures for several pre-rolls (docs/performance.md): python tests/test_aac_chunks.py"""
    print("layout  bitrate  pre-roll  post-roll  each seam's largest error / the largest elsewhere")
    for channels, bitrate in ((2, "192k"), (6, "192k"), (6, "512k")):
        source = mixed_signal(4 * CHUNK_S - 1, channels)
        for preroll, postroll in ((0, 0), (2, 2), (16, 4), (64, 4), (128, 4)):
            encoder = encode(folder / "aac", source, bitrate=bitrate, preroll_frames=preroll, postroll_frames=postroll)
            try:
                decoded = decode_bytes(encoder.path, channels, folder)
                excess = ", ".join(f"{x:.2f}" for x in seam_excess(decoded, source, seams(encoder)))
                print(f"{channels:>6}  {bitrate:>7}  {preroll:>8}  {postroll:>9}  {excess}")
            finally:
                encoder.close()


if __name__ == "__main__":
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as scratch:
        seam_figures(Path(scratch))
