import os
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import media  # tests/media.py: tests/ is on sys.path (no __init__.py), as in conftest.py
import pytest

import megacut.plan.probe as probe
from megacut.errors import SourceError, SourceLookupError
from megacut.plan.probe import (
    AudioTrack,
    SourceInfo,
    layout_channels,
    probe_source,
    probe_sources,
)
from megacut.plan.sources import (
    MovieIndex,
    choose_audio_track,
    movie_title,
    normalize_language,
)
from megacut.plan.timecodes import snap_fps

SHARED_MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
needs_shared_media = pytest.mark.skipif(
    not SHARED_MEDIA.is_dir(),
    reason=f"real-world sample media not present at {SHARED_MEDIA} (only in the project workspace)",
)

THREE_TRACKS = [
    {"freq": 440, "language": "eng", "title": "Main", "channels": 1, "default": True},
    {"freq": 660, "language": "fre", "title": "Version française: VF", "channels": 6, "default": False},
    {"freq": 880, "language": "eng", "title": "Commentary", "channels": 2, "default": False},
]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Generated sources, each made once per module on first use."""
    folder = tmp_path_factory.mktemp("media")
    cache: dict[str, Path] = {}

    def get(name: str, **options) -> Path:
        if name not in cache:
            cache[name] = media.make_video(folder / name, **options)
        return cache[name]

    return get


# ------------------------------------------------------------ probing generated media


def test_probe_mkv_with_three_tagged_audio_tracks(made):
    info = probe_source(made("three.mkv", size="160x90", audio_tracks=THREE_TRACKS))
    assert info.container == "matroska,webm"
    assert (info.video_index, info.video_codec, info.pix_fmt) == (0, "h264", "yuv420p")
    assert (info.width, info.height, info.rotation, info.fps) == (160, 90, 0, Fraction(25))
    assert info.duration_s == pytest.approx(2.0, abs=0.05) and not info.duration_measured
    assert info.path.is_absolute() and info.size_bytes == info.path.stat().st_size
    got = [(t.index, t.order, t.codec, t.language, t.title, t.channels, t.sample_rate, t.default)
           for t in info.audio_tracks]
    assert got == [
        (1, 0, "aac", "eng", "Main", 1, 48000, True),
        (2, 1, "aac", "fre", "Version française: VF", 6, 48000, False),
        (3, 2, "aac", "eng", "Commentary", 2, 48000, False),
    ]
    assert info.default_audio is info.audio_tracks[0]


@pytest.mark.parametrize("ext", [".mkv", ".ts", ".mp4", ".webm"])
def test_start_offset_gives_start_and_content_duration(made, ext):
    path = made(f"offset{ext}", size="160x90", duration_s=3, start_offset_s=1.5)
    info = probe_source(path)
    frame_s = 1 / 25
    video_first, video_end = media.packet_span_s(path, "v:0")
    # the file starts with the video or up to one AAC/Opus priming frame (~21 ms) earlier, with the audio
    assert video_first - 0.03 <= info.start_s <= video_first + 0.001
    assert info.start_s >= 1.4  # the offset is there (MPEG-TS adds its 1.4 s mux delay on top)
    assert info.duration_s == pytest.approx(3.0, abs=frame_s)
    assert info.duration_s == pytest.approx(video_end - info.start_s, abs=frame_s)
    assert not info.duration_measured


def test_source_without_audio(made):
    info = probe_source(made("silent.mp4", size="160x90", audio_tracks=()))
    assert info.audio_tracks == ()
    assert info.default_audio is None


@pytest.mark.parametrize("name, rate, expected", [
    ("ntsc.mp4", "30000/1001", Fraction(30000, 1001)),
    ("film.mkv", "24000/1001", Fraction(24000, 1001)),
])
def test_ntsc_frame_rates_are_exact(made, name, rate, expected):
    assert probe_source(made(name, size="160x90", fps=rate, audio_tracks=())).fps == expected


@pytest.mark.parametrize("name, rotation", [("rot90.mp4", 90), ("rot270.mkv", 270), ("rot180.mp4", 180)])
def test_rotation_swaps_display_size(made, name, rotation):
    info = probe_source(made(name, size="160x90", rotation=rotation, audio_tracks=()))
    assert info.rotation == rotation
    expected = (90, 160) if rotation in (90, 270) else (160, 90)
    assert (info.width, info.height) == expected


def test_anamorphic_width_is_the_display_width(made):
    info = probe_source(made("anamorphic.mkv", size="160x90", sar="2", audio_tracks=()))
    assert (info.width, info.height) == (320, 90)


def test_cover_art_stream_is_not_the_video(made, tmp_path):
    cover = media.make_image(tmp_path / "cover.png", size="64x64")
    path = tmp_path / "with_cover.mp4"
    media.ffmpeg(["-i", str(made("plain.mp4", size="160x90")), "-i", str(cover), "-map", "1", "-map", "0",
                  "-c", "copy", "-disposition:v:0", "attached_pic", str(path)])
    info = probe_source(path)  # the MP4 muxer moves the cover to the end; ODD_DUMP below has it first
    assert (info.video_index, info.video_codec, info.width, info.height) == (0, "h264", 160, 90)
    assert [t.index for t in info.audio_tracks] == [1]


# ------------------------------------------------------------------ probe errors


def test_text_file_named_mkv_is_not_a_video(tmp_path):
    path = media.make_text_file(tmp_path / "notes.mkv")
    with pytest.raises(SourceError) as caught:
        probe_source(path)
    assert caught.value.path == str(path.resolve())
    assert "not a video file ffmpeg can read" in caught.value.message
    assert "Invalid data found" in caught.value.message


def test_missing_file(tmp_path):
    with pytest.raises(SourceError, match="file not found"):
        probe_source(tmp_path / "nope.mkv")


def test_truncated_file(made, tmp_path):
    source = made("whole.mp4", size="160x90")
    path = media.make_truncated(source, tmp_path / "half.mp4")
    with pytest.raises(SourceError) as caught:
        probe_source(path)
    assert "not a video file ffmpeg can read" in caught.value.message
    assert "incomplete" in caught.value.message and "moov atom not found" in caught.value.message


def test_folder_audio_only_and_image_are_refused(tmp_path):
    with pytest.raises(SourceError, match="is a folder"):
        probe_source(tmp_path)
    with pytest.raises(SourceError, match="no video stream"):
        probe_source(media.make_audio(tmp_path / "voice.m4a", duration_s=1))
    with pytest.raises(SourceError, match="still image"):
        probe_source(media.make_image(tmp_path / "slide.png"))


# --------------------------------------------------- parsing of ffmpeg's description

ODD_DUMP = """\
[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55] stream 0, timescale not set
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/x/Odd, file.mp4':
  Metadata:
    title           : Container title: not a track
  Duration: 00:01:02.50, start: 0.000000, bitrate: 900 kb/s
  Chapters:
    Chapter #0:0: start 0.000000, end 30.000000
      Metadata:
        title           : Chapter One
  Stream #0:0[0x1]: Video: mjpeg (Baseline) (jpeg / 0x6765706A), yuvj420p(pc, bt470bg/unknown/unknown), \
600x600, 90k tbr, 90k tbn (attached pic)
  Stream #0:1[0x2](und): Video: hevc (Main 10) (hvc1 / 0x31637668), yuv420p10le(tv, bt2020nc/bt2020/smpte2084, \
progressive), 1440x1080 [SAR 4:3 DAR 16:9], 8000 kb/s, 23.98 tbr, 90k tbn, start 0.003000 (default)
    Metadata:
      handler_name    : VideoHandler
    Side data:
      displaymatrix: rotation of 90.00 degrees
  Stream #0:2[0x3](ger): Audio: eac3 (ec-3 / 0x332D6365), 48000 Hz, 5.1(side), fltp, 640 kb/s (default)
    Metadata:
      title           : Deutsch: Kinofassung (5.1) – Ü
                      : second line
[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55] a warning printed in the middle
  Stream #0:3[0x4](und): Audio: opus (Opus / 0x7375704F), 48000 Hz, 3 channels, fltp (dub) (forced)
  Stream #0:4[0x5](eng): Subtitle: mov_text (tx3g / 0x67337874), 0 kb/s (forced)
At least one output file must be specified
"""


def fake_ffmpeg(monkeypatch, stderr: str, stdout: str = ""):
    calls = []

    def run(args, **kwargs):
        calls.append(args)
        return subprocess.CompletedProcess(args, 1, stdout, stderr)

    monkeypatch.setattr(probe, "run_ffmpeg", run)
    return calls


def test_parser_handles_commas_cover_art_side_data_and_odd_layouts(monkeypatch, tmp_path):
    path = tmp_path / "Odd, file.mp4"
    path.write_bytes(b"x")
    calls = fake_ffmpeg(monkeypatch, ODD_DUMP)
    info = probe_source(path)
    # PQ without light levels in the container: its first frame is read once for them (plan/dynamic_range.py)
    assert len(calls) == 2 and calls[1][:2] == ["-threads", "1"]
    assert info.dynamic_range.kind == "HDR10"
    assert info.container == "mov,mp4,m4a,3gp,3g2,mj2"
    assert (info.video_index, info.video_codec, info.pix_fmt) == (1, "hevc", "yuv420p10le")
    # SAR 4:3 widens 1440 to 1920, then the 90 degree (counter-clockwise) matrix means 270 clockwise
    assert (info.rotation, info.width, info.height) == (270, 1080, 1920)
    assert info.fps == Fraction(24000, 1001)  # no "fps" printed: from "23.98 tbr"
    assert info.duration_s == 62.5 and info.start_s == 0.0
    german, third = info.audio_tracks
    assert (german.index, german.order, german.codec, german.language, german.channels, german.default) == (
        2, 0, "eac3", "ger", 6, True)
    assert german.title == "Deutsch: Kinofassung (5.1) – Ü\nsecond line"
    assert (third.language, third.title, third.channels, third.default) == (None, None, 3, False)


@pytest.mark.parametrize("layout, channels", [
    ("mono", 1), ("stereo", 2), ("2.1", 3), ("quad", 4), ("5.0(side)", 5), ("5.1", 6), ("5.1(side)", 6),
    ("6.1", 7), ("7.1", 8), ("7.1(wide)", 8), ("5.1.4", 10), ("22.2", 24), ("3 channels", 3),
    ("2 channels (FL+LFE)", 2), ("hexagonal", 6), ("something new", 0),
])
def test_layout_channels(layout, channels):
    assert layout_channels(layout) == channels


@pytest.mark.parametrize("text, fps", [
    ("25", Fraction(25)), ("29.97", Fraction(30000, 1001)), ("23.98", Fraction(24000, 1001)),
    ("59.94", Fraction(60000, 1001)), ("14.99", Fraction(15000, 1001)), ("10.51", Fraction(1051, 100)),
    ("12.50", Fraction(25, 2)), ("90k", Fraction(90000)), ("1k", Fraction(1000)),
])
def test_snap_fps(text, fps):
    assert snap_fps(text) == fps


def test_missing_fps_with_only_a_timebase_tbr_falls_back(monkeypatch, tmp_path):
    path = tmp_path / "vfr.mp4"
    path.write_bytes(b"x")
    dump = ODD_DUMP.replace("23.98 tbr", "90k tbr")
    fake_ffmpeg(monkeypatch, dump)
    assert probe_source(path).fps == probe.FALLBACK_FPS


# ------------------------------------------------------------------ shared media

SHARED_VIDEOS = ["big_buck_bunny_0_30.webm", "chaplin.mp4", "smpte-2997.mp4", "fire2.mp4",
                 "example_4x3_noaudio.mp4", "no_duration.webm", "video_with_failing_audio.mp4"]


@needs_shared_media
@pytest.mark.parametrize("name", SHARED_VIDEOS)
def test_every_shared_video_probes(name):
    info = probe_source(SHARED_MEDIA / name)
    assert info.duration_s > 1 and info.width > 0 and info.height > 0 and info.fps > 0


@needs_shared_media
def test_shared_media_quirks():
    bunny = probe_source(SHARED_MEDIA / "big_buck_bunny_0_30.webm")
    # the video stream starts at 0.003 s; the file starts at 0 and holds 30 s
    assert (bunny.start_s, bunny.fps, bunny.video_codec) == (0.0, Fraction(24), "vp8")
    assert bunny.duration_s == pytest.approx(30.0, abs=0.01)
    assert [(t.codec, t.channels, t.sample_rate) for t in bunny.audio_tracks] == [("vorbis", 2, 44100)]

    fire = probe_source(SHARED_MEDIA / "fire2.mp4")
    assert (fire.rotation, fire.width, fire.height) == (180, 1280, 720)
    assert [t.channels for t in fire.audio_tracks] == [1]

    assert probe_source(SHARED_MEDIA / "example_4x3_noaudio.mp4").audio_tracks == ()

    chaplin = probe_source(SHARED_MEDIA / "chaplin.mp4")
    assert [t.codec for t in chaplin.audio_tracks] == ["mp3"]
    assert (chaplin.width, chaplin.height, chaplin.fps) == (640, 360, Fraction(25))


@needs_shared_media
def test_container_without_duration_is_measured():
    info = probe_source(SHARED_MEDIA / "no_duration.webm")
    assert info.duration_measured
    # 74 frames; a full decode (imageio_ffmpeg.count_frames_and_secs) says 4.93 s
    assert info.duration_s == pytest.approx(4.93, abs=1 / 15)
    assert info.fps == Fraction(15000, 1001)


@needs_shared_media
@pytest.mark.parametrize("name, reason", [
    ("crunching.mp3", "no video stream"), ("example.wav", "no video stream"),
    ("python_logo.png", "still image"), ("vacation_2017.jpg", "still image"),
    ("README.md", "not a video file"),
])
def test_shared_non_videos_are_refused(name, reason):
    with pytest.raises(SourceError, match=reason):
        probe_source(SHARED_MEDIA / name)


# ------------------------------------------------------------------ probe_sources


def test_probe_sources_probes_each_file_once_and_returns_errors(made, monkeypatch):
    good = made("three.mkv", size="160x90", audio_tracks=THREE_TRACKS)
    missing = good.parent / "missing.mkv"
    calls = []
    real = probe.probe_source

    def counting(path):
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(probe, "probe_source", counting)
    monkeypatch.chdir(good.parent)
    relative = Path(good.name)
    results = probe_sources([good, Path(str(good)), relative, missing, missing], threads=4)
    assert sorted(calls) == sorted([good.resolve(), missing.resolve()])
    assert set(results) == {good, relative, missing}
    assert isinstance(results[good], SourceInfo) and results[relative] is results[good]
    assert isinstance(results[missing], SourceError)
    assert probe_sources([]) == {}


# ------------------------------------------------------------------ languages


@pytest.mark.parametrize("code, expected", [
    ("en", "eng"), ("eng", "eng"), ("EN", "eng"), ("en-US", "eng"), ("en_GB", "eng"), ("English", "eng"),
    ("fr", "fra"), ("fre", "fra"), ("fra", "fra"), ("de", "deu"), ("ger", "deu"), ("zh", "zho"),
    ("chi", "zho"), ("nl", "nld"), ("dut", "nld"), ("cze", "ces"), ("gre", "ell"), ("per", "fas"),
    ("arm", "hye"), ("geo", "kat"), ("ice", "isl"), ("mac", "mkd"), ("may", "msa"), ("rum", "ron"),
    ("slo", "slk"), ("alb", "sqi"), ("tib", "bod"), ("wel", "cym"), ("baq", "eus"), ("bur", "mya"),
    ("mao", "mri"), ("es", "spa"), ("ja", "jpn"), ("pt-BR", "por"), ("sv", "swe"), ("he", "heb"),
    ("iw", "heb"), ("ur", "urd"), ("zh-Hans", "zho"), ("tlh", "tlh"), ("QYA", "qya"),
    ("und", None), ("", None), ("  ", None), ("UND", None),
])
def test_normalize_language(code, expected):
    assert normalize_language(code) == expected


# ------------------------------------------------------------------ audio choice


def track(order, language, title, default=False, channels=2):
    return AudioTrack(index=order + 1, order=order, codec="aac", language=language, title=title,
                      channels=channels, sample_rate=48000, default=default)


def info_with(*tracks, name="Movie.mkv"):
    return SourceInfo(path=Path("/movies") / name, size_bytes=1, mtime_ns=1, container="matroska,webm",
                      duration_s=60.0, start_s=0.0, duration_measured=False, video_index=0, video_codec="h264",
                      pix_fmt="yuv420p", width=1920, height=1080, rotation=0, fps=Fraction(25),
                      audio_tracks=tuple(tracks))


MOVIE = info_with(track(0, "eng", "Main", default=True), track(1, "fre", "Version française"),
                  track(2, "eng", "Commentary"))
TRACK_LIST = '#1 eng "Main", #2 fre "Version française", #3 eng "Commentary"'


def test_title_is_a_case_insensitive_substring_and_wins_over_language():
    assert choose_audio_track(MOVIE, title="comment") == (MOVIE.audio_tracks[2], [])
    assert choose_audio_track(MOVIE, title="FRANÇAISE", language="en") == (MOVIE.audio_tracks[1], [])


@pytest.mark.parametrize("language", ["fr", "fre", "fra", "FR-fr", "French"])
def test_language_two_and_three_letter_codes_are_equal(language):
    assert choose_audio_track(MOVIE, language=language) == (MOVIE.audio_tracks[1], [])


def test_language_prefers_a_default_match_else_the_first():
    assert choose_audio_track(MOVIE, language="en")[0] is MOVIE.audio_tracks[0]
    dubbed = info_with(track(0, "fre", "VF", default=True), track(1, "eng", "Commentary"), track(2, "eng", "VO"))
    assert choose_audio_track(dubbed, language="eng")[0] is dubbed.audio_tracks[1]


def test_missing_title_falls_back_to_default_with_a_warning():
    chosen, warnings = choose_audio_track(MOVIE, title="Director")
    assert chosen is MOVIE.audio_tracks[0]
    assert warnings == [f'no audio track titled "Director" in Movie.mkv (tracks: {TRACK_LIST}); '
                        'using track #1 (eng "Main"), the default track']


def test_missing_title_falls_back_to_language():
    chosen, warnings = choose_audio_track(MOVIE, title="Director", language="fr")
    assert chosen is MOVIE.audio_tracks[1]
    assert len(warnings) == 1 and 'titled "Director"' in warnings[0]
    assert 'using track #2 (fre "Version française"), chosen by language "fr"' in warnings[0]


def test_missing_language_and_title_name_both():
    chosen, warnings = choose_audio_track(MOVIE, title="Director", language="de")
    assert chosen is MOVIE.audio_tracks[0]
    assert 'no audio track titled "Director" or in language "de" in Movie.mkv' in warnings[0]


def test_nothing_requested_gives_the_default_track():
    assert choose_audio_track(MOVIE) == (MOVIE.audio_tracks[0], [])
    no_default = info_with(track(0, None, None), track(1, "eng", None))
    assert choose_audio_track(no_default) == (no_default.audio_tracks[0], [])
    assert choose_audio_track(no_default, language="de")[1][0].endswith(
        "(tracks: #1 (aac, 2 ch), #2 eng); using track #1 (aac, 2 ch), the default track")


def test_source_without_audio_is_silent():
    silent = info_with(name="Silent.mp4")
    assert choose_audio_track(silent) == (None, [])
    chosen, warnings = choose_audio_track(silent, language="fr")
    assert chosen is None
    assert warnings == ['Silent.mp4 has no audio track (asked for language "fr"); the scene will be silent']


# ------------------------------------------------------------------ movie lookup


def make_tree(root: Path, names) -> Path:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return root


@pytest.fixture
def movies(tmp_path):
    root = make_tree(tmp_path / "movies", [
        "Thor.mkv",
        "Thor The Dark World (2013) [1080p].mkv",
        "Avengers/the_avengers_age_of_ultron.mp4",
        "Captain.America.The.First.Avenger.2011.1080p.BluRay.x264.mkv",
        "Iron Man.mkv", "Iron Man.mp4",
        "a/Hulk.mkv", "b/Hulk.mkv",
        "Blade Runner (1982).mkv", "Blade Runner 2049 (2017).mkv",
        "Agents of SHIELD/Season 3/Agents.of.S.H.I.E.L.D.S03E19.720p.mkv",
        "Agents of SHIELD/Season 3/S03E190.mkv",
        "Agents of SHIELD/Season 13/13x19.mkv",
        "Agents of SHIELD/Season 3/aos 3x10.mkv",
        "Agents of SHIELD/Season 3/Episode 3.1.mkv",
        "Agents of SHIELD/Season 1/s1e5.mp4",
        "Loki/Loki S01E01.mkv", "Loki/Loki.S01E01.REPACK.mkv",
        "notes.txt", ".hidden/Thor.mkv", "._Thor.mkv",
    ])
    return MovieIndex(root)


def rel(index, path):
    return path.relative_to(index.root).as_posix()


def test_exact_name_and_name_plus_extension(movies):
    assert movies.find("Thor.mkv") == movies.root / "Thor.mkv"
    assert movies.find("thor.MKV") == movies.root / "Thor.mkv"
    assert movies.find("Thor") == movies.root / "Thor.mkv"
    assert movies.find("the_avengers_age_of_ultron.mp4") == movies.root / "Avengers/the_avengers_age_of_ultron.mp4"
    assert len(movies) == 18  # hidden files, "._" AppleDouble files and non-videos are not indexed


@pytest.mark.parametrize("name, expected", [
    ("Thor: The Dark World", "Thor The Dark World (2013) [1080p].mkv"),
    ("Thor The Dark World (2013)", "Thor The Dark World (2013) [1080p].mkv"),
    ("The Avengers: Age of Ultron", "Avengers/the_avengers_age_of_ultron.mp4"),
    ("Captain America - The First Avenger", "Captain.America.The.First.Avenger.2011.1080p.BluRay.x264.mkv"),
    ("Captain America: The First Avenger (2011)", "Captain.America.The.First.Avenger.2011.1080p.BluRay.x264.mkv"),
    ("blade runner", "Blade Runner (1982).mkv"),
    ("Blade Runner 2049", "Blade Runner 2049 (2017).mkv"),
])
def test_loose_match(movies, name, expected):
    assert rel(movies, movies.find(name)) == expected


def test_loose_match_of_plain_and_underscored_names(tmp_path):
    for name in ("Thor The Dark World.mkv", "thor_the_dark_world.mp4"):
        root = make_tree(tmp_path / name, [name])
        assert MovieIndex(root).find("Thor: The Dark World") == root / name


@pytest.mark.parametrize("show, code, expected", [
    ("Agents of S.H.I.E.L.D.", "3.19", "Season 3/Agents.of.S.H.I.E.L.D.S03E19.720p.mkv"),
    ("Agents of SHIELD", "S03E19", "Season 3/Agents.of.S.H.I.E.L.D.S03E19.720p.mkv"),
    ("agents of shield", "s3e10", "Season 3/aos 3x10.mkv"),  # show name only in the folder
    ("Agents of SHIELD", "03x10", "Season 3/aos 3x10.mkv"),
    ("Agents of SHIELD", "3.10", "Season 3/aos 3x10.mkv"),
    ("Agents of SHIELD", "3.1", "Season 3/Episode 3.1.mkv"),
    ("Agents of SHIELD", "1x5", "Season 1/s1e5.mp4"),
])
def test_episode_lookup(movies, show, code, expected):
    assert rel(movies, movies.find(show, season_episode=code)) == f"Agents of SHIELD/{expected}"


def test_dotted_episode_numbers_are_strings(tmp_path):
    index = MovieIndex(make_tree(tmp_path, ["Show/Show 3.1.mkv", "Show/Show 3.10.mkv", "Show/Show 13.1.mkv",
                                            "Show/Show.3.11.720p.mkv", "Show/Show v1.3.12.mkv"]))
    assert index.find("Show", season_episode="3.1").name == "Show 3.1.mkv"
    assert index.find("Show", season_episode="3.10").name == "Show 3.10.mkv"
    assert index.find("Show", season_episode="3.11").name == "Show.3.11.720p.mkv"
    for missing in ("3.2", "3.12"):  # "v1.3.12" is a version number, not episode 3.12
        with pytest.raises(SourceLookupError, match="none carries S03E"):
            index.find("Show", season_episode=missing)


def test_bad_season_episode_names_the_accepted_forms(movies):
    with pytest.raises(SourceLookupError) as caught:
        movies.find("Agents of SHIELD", season_episode="third")
    assert "S03E19" in str(caught.value) and "3x19" in str(caught.value) and "3.19" in str(caught.value)


@pytest.mark.parametrize("args, listed", [
    (("Hulk.mkv",), "a/Hulk.mkv, b/Hulk.mkv"),
    (("Iron Man",), "Iron Man.mkv, Iron Man.mp4"),
    (("Loki", "1.1"), "Loki/Loki S01E01.mkv, Loki/Loki.S01E01.REPACK.mkv"),
])
def test_ambiguity_lists_the_candidates(movies, args, listed):
    season_episode = args[1] if len(args) > 1 else None
    with pytest.raises(SourceLookupError) as caught:
        movies.find(args[0], season_episode=season_episode)
    assert listed in str(caught.value) and "`file` column" in str(caught.value)


def test_not_found_says_where_and_suggests(movies):
    with pytest.raises(SourceLookupError) as caught:
        movies.find("Thor The Dark Wrld")
    message = str(caught.value)
    assert str(movies.root) in message and "not found" in message
    assert 'did you mean "Thor The Dark World (2013) [1080p].mkv"' in message
    with pytest.raises(SourceLookupError, match="none carries S03E07"):
        movies.find("Agents of SHIELD", season_episode="3.7")


def test_file_column(movies):
    wanted = movies.root / "Agents of SHIELD/Season 3/aos 3x10.mkv"
    assert movies.find("anything", file="Agents of SHIELD/Season 3/aos 3x10.mkv") == wanted
    assert movies.find("anything", file="Agents of SHIELD\\Season 3\\aos 3x10.mkv") == wanted
    assert movies.find("anything", file="a/../Thor.mkv") == movies.root / "Thor.mkv"
    assert movies.find("Avengers/the_avengers_age_of_ultron.mp4").name == "the_avengers_age_of_ultron.mp4"
    with pytest.raises(SourceLookupError, match="not found"):
        movies.find("Thor", file="Thor 4.mkv")
    with pytest.raises(SourceLookupError, match="is a folder"):
        movies.find("Thor", file="Avengers")


@pytest.mark.parametrize("kwargs", [
    {"movie": "x", "file": "../outside.mkv"},
    {"movie": "x", "file": "a/../../outside.mkv"},
    {"movie": "../outside.mkv"},
    {"movie": "a/../../outside.mkv"},
])
def test_paths_leaving_the_movies_folder_are_refused(movies, kwargs):
    (movies.root.parent / "outside.mkv").touch()
    with pytest.raises(SourceLookupError, match="leaves the movies folder; give a path relative to|leaves the "):
        movies.find(kwargs.pop("movie"), **kwargs)


@pytest.mark.parametrize("kwargs", [{"movie": "x", "file": "/etc/hostname"}, {"movie": "/etc/hostname"}])
def test_absolute_paths_are_refused(movies, kwargs):
    with pytest.raises(SourceLookupError, match="absolute path.*relative to"):
        movies.find(kwargs.pop("movie"), **kwargs)


def test_symlinks_escaping_the_root_are_refused(tmp_path):
    outside = make_tree(tmp_path / "elsewhere", ["secret.mkv"])
    root = make_tree(tmp_path / "movies", ["Thor.mkv"])
    (root / "escape.mkv").symlink_to(outside / "secret.mkv")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (root / "inside.mkv").symlink_to(root / "Thor.mkv")
    index = MovieIndex(root)
    for kwargs in ({"file": "escape.mkv"}, {"file": "linked/secret.mkv"}):
        with pytest.raises(SourceLookupError, match="leaves the movies folder"):
            index.find("x", **kwargs)
    with pytest.raises(SourceLookupError, match="leaves the movies folder"):
        index.find("escape")
    assert index.find("inside") == root / "Thor.mkv"


def test_missing_root(tmp_path):
    with pytest.raises(SourceLookupError, match="movies folder not found"):
        MovieIndex(tmp_path / "nope")
    (tmp_path / "file.mkv").touch()
    with pytest.raises(SourceLookupError, match="not a folder"):
        MovieIndex(tmp_path / "file.mkv")


def test_many_lookups_are_fast(tmp_path):
    names = [f"Show {n // 20}/Show {n // 20} S01E{n % 20 + 1:02d}.mkv" for n in range(200)]
    names += [f"Movie Number {n} ({1950 + n % 70}) [1080p].mkv" for n in range(200)]
    root = make_tree(tmp_path / "movies", names)
    started = time.perf_counter()
    index = MovieIndex(root)
    for i in range(10_000):
        n = i % 200
        if i % 3 == 0:
            index.find(f"Show {n // 20}", season_episode=f"1.{n % 20 + 1}")
        elif i % 3 == 1:
            index.find(f"Movie Number {n}")
        else:
            with pytest.raises(SourceLookupError):
                index.find(f"Missing {n % 10}")
    assert time.perf_counter() - started < 0.5


def test_failed_lookups_raise_every_time(movies):
    for _ in range(2):
        with pytest.raises(SourceLookupError, match="not found"):
            movies.find("Nothing Like This")


def test_lookup_needs_no_media_and_returns_absolute_paths(movies):
    found = movies.find("Thor")
    assert found.is_absolute() and os.path.samefile(found, movies.root / "Thor.mkv")


# ------------------------------------------------- titles with a year and release tags


@pytest.mark.parametrize("name, title", [
    ("Silent Planet (1955) 4x3.mp4", "Silent Planet"),
    ("Silent Planet (1955) DVDRip.mp4", "Silent Planet"),
    ("Silent Planet (1955)", "Silent Planet"),
    ("The.Kid.1921.720p.BluRay.x264-GROUP.mp4", "The Kid"),
    ("Thor The Dark World (2013) [1080p].mkv", "Thor The Dark World"),
    ("[Group] Thor [2011] [Extended].mkv", "Thor"),
    ("Blade Runner 2049 (2017).mkv", "Blade Runner 2049"),
    ("Blade.Runner.2049.2017.1080p.mkv", "Blade Runner 2049"),
    ("Blade Runner 2049", "Blade Runner 2049"),  # a year at the end, alone, is part of the title
    ("Space: 1999", "Space: 1999"),
    ("2001 A Space Odyssey", "2001 A Space Odyssey"),  # a year at the start too
    ("2001.A.Space.Odyssey.1968.1080p.mkv", "2001 A Space Odyssey"),
    ("1917 (2019)", "1917"),
    ("Thor: The Dark World", "Thor: The Dark World"),
    ("Mr. Smith Goes to Washington.mkv", "Mr. Smith Goes to Washington"),
    ("Iron Man 1080p.mkv", "Iron Man 1080p"),  # no year: only the extension goes
])
def test_movie_title(name, title):
    assert movie_title(name) == title


@pytest.mark.parametrize("files, name, expected", [
    (["Silent Planet (1955) 4x3.mp4"], "Silent Planet", "Silent Planet (1955) 4x3.mp4"),
    (["Silent Planet (1955) 4x3.mp4"], "Silent Planet (1955)", "Silent Planet (1955) 4x3.mp4"),
    (["old/Silent Planet (1955) DVDRip.mp4"], "silent planet", "old/Silent Planet (1955) DVDRip.mp4"),
    (["The.Kid.1921.720p.BluRay.x264-GROUP.mp4"], "The Kid (1921)", "The.Kid.1921.720p.BluRay.x264-GROUP.mp4"),
    (["2001.A.Space.Odyssey.1968.1080p.mkv", "2010.The.Year.We.Make.Contact.1984.mkv"], "2001: A Space Odyssey",
     "2001.A.Space.Odyssey.1968.1080p.mkv"),
    (["Dune (1984) [DVD].mkv", "Dune.2021.2160p.mkv"], "Dune (2021)", "Dune.2021.2160p.mkv"),  # the year picks
    (["Thor 2011.mkv"], "Thor", "Thor 2011.mkv"),
])
def test_a_title_followed_by_a_year_and_tags_is_that_title(tmp_path, files, name, expected):
    index = MovieIndex(make_tree(tmp_path / "movies", files))
    assert rel(index, index.find(name)) == expected


@pytest.mark.parametrize("files, name", [
    (["Iron Man.mkv", "iron_man.mp4"], "Iron Man"),  # with an extension, and by separators
    (["Thor.mkv", "a/thor.mkv"], "THOR.MKV"),  # by case only
    (["Thor.mkv", "Thor (2011) [1080p].mkv"], "Thor"),  # with an extension, and by title
    (["Thor Ragnarok.mkv", "Thor - Ragnarok (2017).mp4"], "Thor: Ragnarok"),  # by punctuation, and by title
    (["Blade Runner (1982).mkv", "Blade Runner 2049.mkv"], "Blade Runner"),  # "2049" may be a year
    (["Dune.mkv", "Dune (2021).mkv"], "Dune.mp4"),  # a wrong extension counts for nothing
])
def test_a_name_several_files_match_in_any_way_is_ambiguous(tmp_path, files, name):
    root = make_tree(tmp_path / "movies", files)
    with pytest.raises(SourceLookupError) as caught:
        MovieIndex(root).find(name)
    message = str(caught.value)
    assert ", ".join(sorted(files)) in message and "`file` column" in message and f'movie "{name}"' in message


def test_only_a_byte_exact_file_name_wins_over_looser_matches(tmp_path):
    files = ["Thor.mkv", "a/thor.mkv", "Thor.mp4", "thor_.mkv", "Thor (2011).mkv"]
    index = MovieIndex(make_tree(tmp_path / "movies", files))
    assert rel(index, index.find("Thor.mkv")) == "Thor.mkv"
    assert rel(index, index.find("Thor (2011).mkv")) == "Thor (2011).mkv"
    with pytest.raises(SourceLookupError, match="a/thor.mkv"):
        index.find("THOR.mkv")


# ---------------------------------------------- names as libraries write them

LIBRARY = [f"{title}/{title}.mkv" for title in (  # as Plex or Radarr name a film: a folder of its title and year
    "Spider-Man - Homecoming (2017)", "Spider-Man - Far From Home (2019)", "Iron Man (2008)", "Iron Man 2 (2010)",
    "Iron Man 3 (2013)", "Thor (2011)", "Thor - The Dark World (2013)", "Thor - Ragnarok (2017)", "Ant-Man (2015)",
    "Ant-Man and the Wasp (2018)", "The Avengers (2012)", "Guardians of the Galaxy Vol. 2 (2017)",
    "Captain America - The Winter Soldier (2014)", "The Incredible Hulk (2008)", "Rocky (1976)", "Rocky II (1979)",
    "Star Trek II - The Wrath of Khan (1982)", "X-Men (2000)", "Malcolm X (1992)")]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return MovieIndex(make_tree(tmp_path_factory.mktemp("library"), LIBRARY))


@pytest.mark.parametrize("name, expected, rule", [
    ("Spiderman: Homecoming", "Spider-Man - Homecoming (2017)", "words joined or hyphenated alike"),
    ("Spiderman: Far From Home", "Spider-Man - Far From Home (2019)", "words joined or hyphenated alike"),
    ("Antman", "Ant-Man (2015)", "words joined or hyphenated alike"),
    ("Ant-Man & the Wasp", "Ant-Man and the Wasp (2018)", '"&" as "and"'),
    ("Guardians of the Galaxy Volume 2", "Guardians of the Galaxy Vol. 2 (2017)", '"Volume" and "Vol." alike'),
    ("Avengers", "The Avengers (2012)", 'a leading "The" left out'),
    ("Incredible Hulk", "The Incredible Hulk (2008)", 'a leading "The" left out'),
    ("Iron Man II", "Iron Man 2 (2010)", "roman sequel numbers as arabic"),
    ("Iron Man III", "Iron Man 3 (2013)", "roman sequel numbers as arabic"),
    ("Rocky 2", "Rocky II (1979)", "roman sequel numbers as arabic"),
    ("Star Trek 2: The Wrath of Khan", "Star Trek II - The Wrath of Khan (1982)", "roman sequel numbers as arabic"),
    ("Spiderman Homecoming 2017", "Spider-Man - Homecoming (2017)", "words joined or hyphenated alike"),
])
def test_names_that_differ_from_the_library_in_spelling_find_the_film_and_say_how(library, name, expected, rule):
    found = library.match(name)
    assert rel(library, found.path) == f"{expected}/{expected}.mkv"
    assert rule in found.rule


@pytest.mark.parametrize("name, expected", [
    ("Iron Man", "Iron Man (2008)"), ("Iron Man 2", "Iron Man 2 (2010)"), ("Thor", "Thor (2011)"),
    ("Ant Man", "Ant-Man (2015)"), ("Ant Man and the Wasp", "Ant-Man and the Wasp (2018)"), ("Rocky", "Rocky (1976)"),
    ("Captain America : The Winter Soldier", "Captain America - The Winter Soldier (2014)"),
    ("The Avengers", "The Avengers (2012)"), ("X-Men", "X-Men (2000)"), ("Malcolm X", "Malcolm X (1992)"),
])
def test_forgiving_names_never_pick_a_sequel_or_another_film(library, name, expected):
    assert rel(library, library.find(name)) == f"{expected}/{expected}.mkv"


@pytest.mark.parametrize("name", ["Thor 2", "Iron Man 4", "Rocky Two", "Spiderman: Homecoming (2019)", "Men"])
def test_a_name_no_rule_makes_equal_to_a_title_is_not_found(library, name):
    with pytest.raises(SourceLookupError, match="not found"):
        library.find(name)


@pytest.mark.parametrize("files, name", [
    (["Spider-Man (2002).mkv", "Spider Man (2002) [4K].mkv"], "Spiderman"),  # two files alike once joined
    (["Avengers (1998).mkv", "Avengers (2012).mkv"], "The Avengers"),  # without "The", two films
])
def test_a_name_the_forgiving_rules_fit_to_several_files_is_an_error_with_the_candidates(tmp_path, files, name):
    index = MovieIndex(make_tree(tmp_path / "movies", files))
    with pytest.raises(SourceLookupError) as caught:
        index.find(name)
    message = str(caught.value)
    assert ", ".join(sorted(files)) in message and "`file` column" in message


def test_a_name_one_file_matches_by_its_words_wins_over_forgiving_rules(tmp_path):
    index = MovieIndex(make_tree(tmp_path / "movies", ["Rocky II (1979).mkv", "Rocky 2 (1979) [remux].mkv"]))
    assert index.find("Rocky 2").name == "Rocky 2 (1979) [remux].mkv"
    assert index.find("Rocky II").name == "Rocky II (1979).mkv"


def test_an_exact_name_says_no_rule_and_a_loose_one_says_which(library):
    assert library.match("Thor (2011).mkv").rule == ""
    assert library.match("Thor").rule == "title (year and [tags] aside)"
    assert library.match("thor (2011).MKV").rule == "case, punctuation or extension"
