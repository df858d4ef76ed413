"""The ffmpeg scene renderer and the overlay image: frame accuracy, audio, overlay, fades, determinism, failures."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from framecode import (
    decode_audio,
    decode_frames,
    dominant_frequency,
    first_loud_sample,
    locate_picture,
    picture_region,
    read_indices,
    rms,
    source_maker,
)
from media import make_truncated, make_video, packet_span_s
from scene_jobs import (
    FAST,
    assert_nothing_left,
    ffmpeg_children,
    make_job,
    make_scene,
    seconds_until_cancelled,
)

from megacut.errors import FFmpegError, UsageError
from megacut.mov import read_tracks
from megacut.plan import fonts
from megacut.plan.build import OutputFormat, Scene
from megacut.plan.probe import probe_source
from megacut.plan.settings import Settings
from megacut.render import overlay as overlay_mod
from megacut.render.scene_ffmpeg import (
    build_scene_args,
    render_scene_ffmpeg,
    video_timescale,
)

NTSC30 = Fraction(30000, 1001)
NTSC24 = Fraction(24000, 1001)
LONG_GOP = ("-preset", "veryfast", "-bf", "3", "-g", "250")
TONES = ({"freq": 330, "channels": 2}, {"freq": 550, "channels": 2}, {"freq": 880, "channels": 2})

# name -> keyword arguments of make_framecode_video (file name = name)
SOURCES = {
    "gop.mp4": dict(frames=100, fps=25, video_args=LONG_GOP, audio_tracks=TONES),
    "offset.mkv": dict(frames=90, fps=NTSC30, video_args=LONG_GOP, ts_offset_s=1.5, beep_frames=(45, 75),
                       audio_tracks=({"freq": 1000, "channels": 2},)),
    "gop.ts": dict(frames=100, fps=25, video_args=LONG_GOP),
    "ntsc24.mp4": dict(frames=72, fps=NTSC24, video_args=LONG_GOP),
    "vfr.mkv": dict(frames=75, fps=25, rates=((25, 25), (25, 50))),
    "hevc10.mkv": dict(frames=50, fps=25, vcodec="libx265", pix_fmt="yuv420p10le",
                       video_args=("-preset", "ultrafast", "-x265-params", "log-level=error")),
    "vp9.webm": dict(frames=50, fps=25, vcodec="libvpx-vp9", acodec="libopus", ts_offset_s=2.0,
                     video_args=("-deadline", "realtime", "-cpu-used", "8", "-g", "100")),
    "vp8.webm": dict(frames=50, fps=25, vcodec="libvpx", acodec="libvorbis",
                     video_args=("-deadline", "realtime", "-cpu-used", "8", "-g", "100")),
    "portrait.mp4": dict(frames=30, fps=25, size=(90, 160)),
    "channels.mkv": dict(frames=50, fps=25, audio_tracks=({"freq": 440, "channels": 1},
                                                          {"freq": 660, "channels": 6})),
    "silent.mp4": dict(frames=50, fps=25, audio_tracks=()),
}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """source(name) -> (FramecodeSource, SourceInfo), made once per module on first use."""
    return source_maker(tmp_path_factory.mktemp("sources"), SOURCES)


def content_start_of_video(info) -> float:
    """Content time of the first video frame (the container start may be an audio packet)."""
    return packet_span_s(info.path, f"{info.video_index}")[0] - info.start_s


def render(folder: Path, scene: Scene, fmt: OutputFormat, settings: Settings = FAST, name: str = "seg"):
    job = make_job(folder, scene, fmt, settings, name)
    result = render_scene_ffmpeg(job)
    frames = decode_frames(result.segment_path, fmt.width, fmt.height, folder)
    return job, result, frames


# ------------------------------------------------------------ frame accuracy

FMT_169 = OutputFormat(width=320, height=180, fps=Fraction(25))

ACCURACY_CASES = [
    # source, output fps, first source frame, frames, tolerance in source frames
    ("gop.mp4", Fraction(25), 37, 20, 0),
    ("offset.mkv", NTSC30, 31, 20, 0),
    ("offset.mkv", Fraction(25), 40, 20, 1),
    ("gop.ts", Fraction(25), 63, 20, 0),
    ("ntsc24.mp4", Fraction(25), 29, 20, 1),
    ("vfr.mkv", Fraction(25), 15, 40, 1),
    ("hevc10.mkv", Fraction(25), 21, 15, 0),
    ("vp9.webm", Fraction(25), 33, 12, 0),
    ("vp8.webm", Fraction(25), 27, 12, 0),
]


@pytest.mark.parametrize("name, fps, first, count, tolerance", ACCURACY_CASES,
                         ids=[f"{c[0]}@{float(c[1]):.5g}" for c in ACCURACY_CASES])
def test_segment_starts_on_the_requested_frame(tmp_path, source, name, fps, first, count, tolerance):
    coded, info = source(name)
    fmt = OutputFormat(width=320, height=180, fps=fps)
    video_start_s = content_start_of_video(info)
    start_s = video_start_s + coded.frame_times_s[first]
    job, result, frames = render(tmp_path, make_scene(info, start_s, count, fmt), fmt)

    assert len(frames) == count
    region = picture_region(coded.width, coded.height, fmt.width, fmt.height)
    got = read_indices(frames, region)
    expected = [coded.displayed_at(start_s + k / float(fps), video_start_s) for k in range(count)]
    assert got[0] == first
    if tolerance == 0:
        assert got == expected
    else:
        assert all(abs(g - e) <= tolerance for g, e in zip(got, expected)), (got, expected)
    assert result.segment_path == job.segment_path and result.key == job.key
    assert result.render_s > 0 and result.cpu_s > 0


def test_scene_running_past_the_source_end_repeats_the_last_frame(tmp_path, source):
    coded, info = source("portrait.mp4")
    scene = make_scene(info, coded.frame_times_s[25], 12, FMT_169)  # 5 frames left in the source
    _, _, frames = render(tmp_path, scene, FMT_169)
    got = read_indices(frames, picture_region(coded.width, coded.height, 320, 180))
    assert got == [25, 26, 27, 28, 29] + [29] * 7


@pytest.mark.parametrize("name", ["gop.mp4", "portrait.mp4"])
def test_pad_centres_the_picture_between_black_bars(tmp_path, source, name):
    coded, info = source(name)
    _, _, frames = render(tmp_path, make_scene(info, coded.frame_times_s[3], 5, FMT_169), FMT_169)
    expected = picture_region(coded.width, coded.height, 320, 180)
    found = locate_picture(frames[0])
    assert found is not None
    assert all(abs(a - b) <= 3 for a, b in zip(found, expected)), (found, expected)
    bar = int(expected[0]) - 2
    assert bar > 10
    assert frames[:, :, :bar].mean() < 20 and frames[:, :, -bar:].mean() < 20
    assert read_indices(frames, expected) == [3, 4, 5, 6, 7]


def test_crop_fills_the_frame(tmp_path, source):
    coded, info = source("gop.mp4")  # 4:3 into 16:9: top and bottom are cut
    settings = replace(FAST, fit="crop")
    _, _, frames = render(tmp_path, make_scene(info, coded.frame_times_s[10], 8, FMT_169), FMT_169, settings)
    assert len(frames) == 8
    assert frames[:, :, :10].mean() > 60 and frames[:, :, -10:].mean() > 60  # no bars: magenta border
    region = picture_region(coded.width, coded.height, 320, 180, fit="crop")
    assert region[1] < -20  # the picture extends beyond the frame
    assert read_indices(frames, region) == list(range(10, 18))


# -------------------------------------------------------------------- audio


def segment_audio(result, folder):
    return decode_audio(result.segment_path, folder)


def test_audio_has_exactly_the_planned_samples_of_48k_stereo_kept_lossless(tmp_path, source):
    coded, info = source("offset.mkv")
    fmt = OutputFormat(width=160, height=120, fps=NTSC30)
    scene = make_scene(info, coded.frame_times_s[10], 37, fmt)
    job, result, _ = render(tmp_path, scene, fmt)
    samples = fmt.samples_for(37)
    assert samples == round(37 * 48000 * 1001 / 30000)
    audio = segment_audio(result, tmp_path)
    assert len(audio) == samples
    described = probe_source(result.segment_path)
    track = described.audio_tracks[0]
    assert (track.codec, track.sample_rate, track.channels) == ("alac", 48000, 2)
    tracks = {t.handler: t for t in read_tracks(result.segment_path)}
    assert tracks["vide"].samples == 37 and (tracks["vide"].width, tracks["vide"].height) == (160, 120)
    assert tracks["vide"].duration == 37 * 3003 and tracks["vide"].timescale == video_timescale(NTSC30) == 90000
    soun = tracks["soun"]
    # ALAC packets of 4096 samples, the last one shorter: exactly the planned samples in all
    assert (soun.codec, soun.timescale, soun.samples, soun.duration) == ("alac", 48000, -(-samples // 4096), samples)
    assert (soun.channels, soun.sample_rate) == (2, 48000)


def test_audio_stays_in_sync_with_video_after_a_start_offset(tmp_path, source):
    coded, info = source("offset.mkv")  # beeps start at source frames 45 and 75
    fmt = OutputFormat(width=160, height=120, fps=NTSC30)
    scene = make_scene(info, coded.frame_times_s[30], 40, fmt)
    _, result, frames = render(tmp_path, scene, fmt)
    assert read_indices(frames, picture_region(160, 120, 160, 120))[15] == 45
    onset = first_loud_sample(segment_audio(result, tmp_path))
    expected = round(15 * 48000 / float(NTSC30))
    assert onset is not None and abs(onset - expected) < 48000 * 0.005, (onset, expected)


@pytest.mark.parametrize("order, freq", [(0, 330), (1, 550), (2, 880)])
def test_the_chosen_track_is_the_one_heard(tmp_path, source, order, freq):
    coded, info = source("gop.mp4")
    track = info.audio_tracks[order]
    assert track.index == order + 1
    scene = make_scene(info, 0.4, 25, FMT_169, audio=track)
    _, result, _ = render(tmp_path, scene, FMT_169)
    audio = segment_audio(result, tmp_path)
    assert len(audio) == 48000
    assert abs(dominant_frequency(audio) - freq) < 5


@pytest.mark.parametrize("order, freq", [(0, 440), (1, 660)], ids=["mono", "5.1"])
def test_mono_and_surround_become_stereo(tmp_path, source, order, freq):
    coded, info = source("channels.mkv")
    track = info.audio_tracks[order]
    assert track.channels == (1, 6)[order]
    _, result, _ = render(tmp_path, make_scene(info, 0.2, 25, FMT_169, audio=track), FMT_169)
    assert probe_source(result.segment_path).audio_tracks[0].channels == 2
    audio = segment_audio(result, tmp_path)
    assert len(audio) == 48000
    assert rms(audio[:, 0]) > 300 and rms(audio[:, 1]) > 300
    assert abs(dominant_frequency(audio) - freq) < 5


def test_a_source_without_audio_gives_silence_of_the_right_length(tmp_path, source):
    coded, info = source("silent.mp4")
    assert info.audio_tracks == ()
    scene = make_scene(info, 0.2, 23, FMT_169, audio=None)
    _, result, frames = render(tmp_path, scene, FMT_169)
    audio = segment_audio(result, tmp_path)
    assert len(frames) == 23 and len(audio) == FMT_169.samples_for(23) == 44160
    assert not audio.any()


# ------------------------------------------------------------------ overlay

SPECIAL_LINES = ('Earth-616: "1943" \\ 100% 終わり', "Мир · Ωμέγα · it's S01E02: «fin»")


def top_right(frames: np.ndarray) -> np.ndarray:
    return frames[:, :60, -150:].astype(np.int16)


def test_overlay_shows_top_right_then_goes(tmp_path, source):
    coded, info = source("gop.mp4")
    settings = replace(FAST, overlay_duration_s=1.0)
    plain = make_scene(info, 0.0, 50, FMT_169)
    _, _, without = render(tmp_path, plain, FMT_169, settings, name="plain")
    # the overlay image is read inside the filter graph: a folder named with its special characters works
    _, _, with_text = render(tmp_path, replace(plain, overlay_lines=SPECIAL_LINES), FMT_169, settings,
                             name="text: it's [1], a;b\\c")
    diff = np.abs(top_right(with_text) - top_right(without)).mean(axis=(1, 2, 3))
    assert diff[0] < 2  # faded in from nothing
    assert (diff[8:18] > 15).all()  # shown
    assert (diff[30:] < 2).all()  # gone after 1 s (+ the encoder's noise)
    bottom_left = np.abs(with_text[:, -60:, :150].astype(np.int16) - without[:, -60:, :150])
    assert bottom_left.mean() < 2


def test_overlay_png_is_transparent_except_the_top_right_box(tmp_path):
    path = overlay_mod.render_overlay_png(SPECIAL_LINES, 640, 360, Settings(), tmp_path / "o.png")
    alpha = np.asarray(overlay_mod.Image.open(path))[..., 3]
    assert alpha.shape == (360, 640)
    ys, xs = np.nonzero(alpha)
    assert ys.min() > 0 and ys.max() < 180 and xs.max() < 640 and xs.min() > 100
    assert alpha[:, :100].max() == 0 and alpha[200:].max() == 0
    assert overlay_mod.render_overlay_image((), 64, 36, Settings()).getbbox() is None


def test_overlay_text_is_white_on_a_dark_box(tmp_path):
    image = np.asarray(overlay_mod.render_overlay_image(("HHHH", "hh"), 640, 360, Settings()))
    opaque = image[image[..., 3] > 0]
    assert (opaque[:, :3].max(axis=1) > 240).any()  # text
    assert (opaque[:, :3].max(axis=1) < 10).sum() > opaque.shape[0] / 2  # box


def test_long_overlay_text_shrinks_to_fit(tmp_path):
    image = overlay_mod.render_overlay_image(("W" * 200, "w" * 300), 320, 180, Settings())
    left, top, right, bottom = image.getbbox()
    assert left >= 0 and right <= 320 and bottom < 180


def test_overlay_font_size_scales_with_height_and_obeys_settings():
    assert overlay_mod.line_sizes(1080, Settings())[0] > overlay_mod.line_sizes(720, Settings())[0]
    assert overlay_mod.line_sizes(720, Settings(font_size=40)) == (40, 28)


def test_an_unloadable_font_is_a_usage_error(tmp_path):
    bogus = tmp_path / "bogus.ttf"
    bogus.write_text("not a font")
    for font in (str(bogus), "No Such Font Family 123"):
        with pytest.raises(UsageError, match="--font"):
            overlay_mod.render_overlay_image(("x",), 64, 36, Settings(font=font))


def test_font_by_path_and_by_name():
    primary = fonts.primary_font(Settings())
    if primary == fonts.BUILTIN:
        pytest.skip("no scalable OS font on this machine: the overlay uses Pillow's built-in font")
    assert fonts.overlay_font_name(Settings(font=primary)) == Path(primary).name
    assert fonts.overlay_font_name(Settings(font=Path(primary).stem)) == Path(primary).name


@pytest.mark.parametrize("char", ["終", "Ж", "Ω"])
def test_non_latin_text_is_not_drawn_as_boxes_when_a_font_has_it(char):
    settings = Settings()
    spec = fonts.font_for_char(fonts.primary_font(settings), char)
    if spec is None:
        pytest.skip(f"no font on this machine covers {char!r} (e.g. install fonts-noto-cjk / fonts-dejavu-core)")
    assert fonts.uncovered_chars(char, settings) == ""
    font = fonts.load_font(spec, 32)
    assert bytes(font.getmask(char)) != bytes(font.getmask(fonts.MISSING_PROBE))


@pytest.fixture
def no_os_fonts(monkeypatch):
    """Pretend the machine has no font folders (the font caches are cleared before and after)."""
    caches = [fonts.system_fonts, fonts._default_primary, fonts._fallback_order,
              fonts.font_for_char, fonts._user_font]
    for cache in caches:
        cache.cache_clear()
    monkeypatch.setattr(fonts, "font_dirs", lambda: [])
    yield
    monkeypatch.undo()
    for cache in caches:
        cache.cache_clear()


def test_without_os_fonts_pillows_builtin_font_is_used(no_os_fonts):
    settings = Settings()
    assert fonts.overlay_font_name(settings) == fonts.BUILTIN
    image = overlay_mod.render_overlay_image(SPECIAL_LINES, 320, 180, settings)
    assert image.getbbox() is not None
    assert "終" in fonts.uncovered_chars(SPECIAL_LINES[0], settings)


def test_missing_glyphs_are_detected_and_builtin_font_works():
    assert fonts.has_glyph(fonts.BUILTIN, "A")
    assert not fonts.has_glyph(fonts.BUILTIN, "\U0010FFFD")
    assert fonts.has_glyph(fonts.BUILTIN, " ")
    image = overlay_mod.render_overlay_image(SPECIAL_LINES, 320, 180, Settings())
    assert image.getbbox() is not None


# -------------------------------------------------------------------- fades


def test_fades_go_through_black_and_silence(tmp_path, source):
    coded, info = source("gop.mp4")
    scene = make_scene(info, 0.4, 30, FMT_169, fade_in_s=0.4, fade_out_s=0.4)
    _, result, frames = render(tmp_path, scene, FMT_169)
    luma = frames.astype(np.float32).mean(axis=(1, 2, 3))
    assert luma[0] < 8 and luma[-1] < 8
    assert luma[15] > 50 and luma[3] < luma[6] < luma[10]
    audio = segment_audio(result, tmp_path)
    assert rms(audio[:200]) < 0.05 * rms(audio[20000:25000])
    assert rms(audio[-200:]) < 0.05 * rms(audio[20000:25000])


# -------------------------------------------------------------- determinism


def test_same_job_twice_gives_identical_frames(tmp_path, source):
    coded, info = source("offset.mkv")
    scene = make_scene(info, 0.5, 20, FMT_169, overlay_lines=("A", "B"), fade_in_s=0.2)
    hashes = []
    for name in ("first", "second"):
        _, _, frames = render(tmp_path, scene, FMT_169, Settings(), name=name)
        hashes.append(hashlib.sha256(frames.tobytes()).hexdigest())
    assert hashes[0] == hashes[1]


# ----------------------------------------------------------------- failures


def test_corrupt_source_raises_with_ffmpeg_lines_and_leaves_nothing(tmp_path):
    good = make_video(tmp_path / "good.mp4", duration_s=1, size="160x120")
    info = probe_source(good)
    make_truncated(good, good, keep_fraction=0.3)  # the moov atom (at the end) is gone
    scene = make_scene(info, 0.0, 10, FMT_169, overlay_lines=("x", "y"))
    job = make_job(tmp_path, scene, FMT_169)
    with pytest.raises(FFmpegError) as caught:
        render_scene_ffmpeg(job)
    assert "moov atom not found" in str(caught.value) or "Invalid data" in str(caught.value)
    assert caught.value.stderr_tail
    assert_nothing_left(job)
    assert ffmpeg_children() == []


def test_cancel_stops_ffmpeg_and_leaves_nothing(tmp_path):
    long = make_video(tmp_path / "long.mp4", duration_s=30, size="320x240", audio_tracks=())
    info = probe_source(long)
    fmt = OutputFormat(width=640, height=480, fps=Fraction(25))
    job = make_job(tmp_path, make_scene(info, 1.0, 700, fmt, audio=None), fmt, Settings(preset="slow"))
    assert seconds_until_cancelled(lambda cancel: render_scene_ffmpeg(job, cancel=cancel), 0.5) < 5
    assert_nothing_left(job)
    assert ffmpeg_children() == []


# --------------------------------------------------------- argument builder


def arg_after(args: list[str], flag: str, nth: int = 0) -> str:
    positions = [i for i, a in enumerate(args) if a == flag]
    return args[positions[nth] + 1]


def test_build_scene_args_is_pure_and_has_the_whole_pipeline(tmp_path, source):
    coded, info = source("gop.mp4")
    track = info.audio_tracks[1]
    scene = make_scene(info, 1.5, 50, FMT_169, audio=track, overlay_lines=("a", "b"), fade_in_s=0.5,
                       fade_out_s=0.25)
    job = make_job(tmp_path, scene, FMT_169, Settings(crf=23, preset="fast", encoder_threads=3))
    before = sorted(tmp_path.rglob("*"))
    args = build_scene_args(job, tmp_path / "ov.png", tmp_path / "out.mov")
    assert args == build_scene_args(job, tmp_path / "ov.png", tmp_path / "out.mov")
    assert sorted(tmp_path.rglob("*")) == before  # no files written
    assert arg_after(args, "-loglevel") == "error"
    # timestamps stay the source's; the seek starts half a second early; the graph moves the scene's start
    # (plus the 3 ms slack for the picture) to 0
    assert args.index("-copyts") < args.index("-i") and "-start_at_zero" in args
    assert args.index("-ss") < args.index("-i") and arg_after(args, "-ss") == "1"
    assert float(arg_after(args, "-t")) >= 2.0
    assert arg_after(args, "-i") == f"file:{info.path}"
    # the sound is a second input of the same file, the picture not read, from the same seek (see test_segments)
    sound = args.index("-vn")
    assert args[sound - 4:sound] == ["-ss", "1", "-t", arg_after(args, "-t")]
    assert args[sound + 1:sound + 5] == ["-sn", "-dn", "-i", f"file:{info.path}"]
    assert args.count("-i") == 2 and "-loop" not in args  # the image is read in the graph, one frame looped
    graph = arg_after(args, "-filter_complex")
    samples = FMT_169.samples_for(50)
    for piece in (f"[0:{info.video_index}]settb=AVTB,setpts=PTS-1.503/TB,fps=25:start_time=0:round=up", "dar", "pad=320:180:(ow-iw)/2:(oh-ih)/2",
                  "setsar=1", "tpad=stop_mode=clone", "trim=end_frame=50", "fade=t=in:st=0:d=0.5,", "fade=t=out:st=",
                  # overlay shown for min(overlay duration 3 s, scene 2 s) = 50 frames
                  f"movie=filename=file\\\\:{tmp_path}/ov.png,format=rgba,loop=loop=49:size=1:start=0,setpts=N/(25)/TB,"
                  "fade=t=in:st=0:d=0.5:alpha=1,fade=t=out:st=1.5:d=0.5:alpha=1",
                  "overlay=x=0:y=0:eof_action=pass", "format=yuv420p,setparams=colorspace=bt709:",
                  # a small untagged source is taken for BT.601 and converted to BT.709
                  "in_color_matrix=bt601:out_color_matrix=bt709:out_range=tv,pad=",
                  f"[1:{track.index}]asetpts=PTS-floor(1.5/TB+0.5),aresample=48000,"
                  "aresample=48000:async=1:min_comp=1e-05:first_pts=0",
                  "aformat=sample_fmts=s16:sample_rates=48000:channel_layouts=stereo", "afade=t=in:st=0:d=0.5",
                  "afade=t=out:st=1.75:d=0.25", f"apad=whole_len={samples},atrim=start_sample=0:end_sample={samples}[a]"):
        assert piece in graph, piece
    assert graph.index("fps=") < graph.index("scale=") < graph.index("tpad=") < graph.index("overlay=")
    tail = " ".join(args[args.index("-filter_complex") + 2:])
    assert tail.startswith("-map [v] -map [a] -c:v libx264 -preset fast -crf 23 -profile:v high "
                           "-pix_fmt yuv420p -x264-params cpu-independent=1 -threads 3 "
                           "-video_track_timescale 90000 -c:a alac -map_metadata -1 -map_chapters -1 -f mov -y file:")


def test_build_scene_args_variants(tmp_path, source):
    coded, info = source("gop.mp4")
    plain = make_scene(info, 0.0, 10, FMT_169, audio=None)
    args = build_scene_args(make_job(tmp_path, plain, FMT_169), None, tmp_path / "o.mov")
    graph = arg_after(args, "-filter_complex")
    assert "anullsrc=r=48000:cl=stereo" in graph and "atrim=end_sample=19200[a]" in graph
    assert "overlay" not in graph and "fade" not in graph and args.count("-i") == 1
    crop = build_scene_args(make_job(tmp_path, plain, FMT_169, Settings(fit="crop")), None, tmp_path / "o.mov")
    assert "crop=320:180" in arg_after(crop, "-filter_complex")
    hevc = build_scene_args(make_job(tmp_path, plain, FMT_169, Settings(video_codec="libx265")), None,
                            tmp_path / "o.mov")
    assert arg_after(hevc, "-tag:v") == "hvc1" and arg_after(hevc, "-crf") == "20"
    other = build_scene_args(make_job(tmp_path, plain, FMT_169, Settings(video_codec="mpeg4")), None,
                             tmp_path / "o.mov")
    assert "-crf" not in other and "-preset" not in other and arg_after(other, "-threads") == "1"
    ts = replace(info, container="mpegts")
    late = build_scene_args(make_job(tmp_path, replace(plain, source=ts, start_s=30.0), FMT_169), None,
                            tmp_path / "o.mov")
    assert float(arg_after(late, "-ss")) < 30 and "setpts=PTS-" in arg_after(late, "-filter_complex")


def combing(frames: np.ndarray) -> float:
    """How much each line differs from the mean of its neighbours, against lines two apart: about 0.4-0.5
    for progressive pictures, near 0.9 when the two fields of a frame are from different instants."""
    luma = frames.astype(np.float64).mean(axis=-1)
    between = np.abs(luma[:, 1:-1] - (luma[:, :-2] + luma[:, 2:]) / 2).mean()
    return float(between / np.abs(luma[:, 2:] - luma[:, :-2]).mean())


def test_an_interlaced_source_is_deinterlaced(tmp_path):
    path = make_video(tmp_path / "dvd.mp4", duration_s=2, size="320x240", fps=50, audio_tracks=(),
                      extra_args=("-vf", "tinterlace=4,setfield=tff", "-flags", "+ilme+ildct", "-r", "25"))
    info = probe_source(path)
    assert info.interlaced and not probe_source(make_video(tmp_path / "p.mp4", duration_s=0.2)).interlaced
    fmt = OutputFormat(width=320, height=240, fps=Fraction(25))
    assert combing(decode_frames(path, 320, 240, tmp_path)) > 0.75  # the source is combed
    segment = render_scene_ffmpeg(make_job(tmp_path, make_scene(info, 0.4, 20, fmt), fmt)).segment_path
    frames = decode_frames(segment, 320, 240, tmp_path)
    assert len(frames) == 20 and combing(frames) < 0.6
