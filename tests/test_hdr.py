"""HDR sources: what each is (SDR, HDR10, HDR10+, HLG, Dolby Vision and its base layer, light levels), and
their scenes tone-mapped into an SDR part: a ramp and colour patches of known luminance checked pixel by pixel
against a tone map computed here, beside an SDR scene that stays as it was."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hdr_media import (BT709_TO_BT2020, PATCH_BLOCK, PATCHES, RAMP_BLOCK, RAMP_NITS, REFERENCE_WHITE_NITS, SIZE,
                       make_dolby_vision, make_hdr_source, picture_nits, pq_encode)
from media import make_video
from scene_jobs import make_job, make_scene

from megacut.ffmpeg import run_ffmpeg
from megacut.join.assemble import PartInput, assemble_part
from megacut.plan.build import OutputFormat
from megacut.plan.dynamic_range import DynamicRange
from megacut.plan.ffmpeg_dump import parse_input_dump
from megacut.plan.probe import probe_source, stream_dynamic_range
from megacut.plan.settings import Settings
from megacut.render.scene_ffmpeg import render_scene_ffmpeg, video_graph

FMT = OutputFormat(width=SIZE[0], height=SIZE[1], fps=Fraction(25))
FAST = Settings(preset="ultrafast", encoder_threads=1)
FRAMES = 5

# ------------------------------------------------------------------------- what each source is

# `ffmpeg -i` of real files, as ffmpeg 6-9 print them (the stream lines and side data kept). This ffmpeg
# cannot write Dolby Vision (its libx265 needs the RPU of every frame): the files made below carry the
# record and codec tag only, so these dumps cover what they cannot (Matroska, profile 7, levels in the
# container).
DUMPS = {
    # a UHD web release in profile 5: not tagged PQ at all (IPT-PQ-C2 has no tag)
    "dv5-mkv": """Input #0, matroska,webm, from 'Arrival.mkv':
  Duration: 01:56:26.51, start: 0.000000, bitrate: 16955 kb/s
  Stream #0:0: Video: hevc (Main 10), yuv420p10le(tv), 3832x1592 [SAR 1:1 DAR 479:199], 23.98 fps, 23.98 tbr, 1k tbn (default)
    Metadata:
      BPS             : 14434899
    Side data:
      DOVI configuration record: version: 1.0, profile: 5, level: 6, rpu flag: 1, el flag: 0, bl flag: 1, compatibility id: 0, compression: 0
  Stream #0:1(eng): Audio: dts (DTS), 48000 Hz, 5.1(side), s32p (24 bit), 1536 kb/s (default)
""",
    # profile 5 in MP4: the codec tag says Dolby Vision, the record says no base layer
    "dv5-mp4": """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'web.mp4':
  Duration: 00:42:10.00, start: 0.000000, bitrate: 8000 kb/s
  Stream #0:0[0x1](und): Video: hevc (Main 10) (dvh1 / 0x31687664), yuv420p10le(tv), 3840x2160, 7800 kb/s, 23.98 fps, 23.98 tbr, 24k tbn (default)
    Side data:
      DOVI configuration record: version: 1.0, profile: 5, level: 6, rpu flag: 1, el flag: 0, bl flag: 1, compatibility id: 0, compression: 0
""",
    # a UHD Blu-ray remux: dual layer, HDR10 base (compatibility 6), levels in the container
    "dv7": """Input #0, matroska,webm, from 'remux.mkv':
  Duration: 02:01:00.00, start: 0.000000, bitrate: 60000 kb/s
  Stream #0:0: Video: hevc (Main 10), yuv420p10le(tv, bt2020nc/bt2020/smpte2084), 3840x2160 [SAR 1:1 DAR 16:9], 23.98 fps, 23.98 tbr, 1k tbn (default)
    Side data:
      DOVI configuration record: version: 1.0, profile: 7, level: 6, rpu flag: 1, el flag: 1, bl flag: 1, compatibility id: 6, compression: 0
      Content light level metadata: MaxCLL=4000, MaxFALL=650
      Mastering display metadata: has_primaries:1 has_luminance:1 r(0.6800,0.3200) g(0.2650,0.6900) b(0.1500 0.0600) wp(0.3127, 0.3290) min_luminance=0.005000, max_luminance=4000.000000
""",
    "dv8.1": """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'hybrid.mp4':
  Duration: 00:50:00.00, start: 0.000000, bitrate: 9000 kb/s
  Stream #0:0[0x1](und): Video: hevc (Main 10) (dvh1 / 0x31687664), yuv420p10le(tv, bt2020nc/bt2020/smpte2084), 3840x2160, 8800 kb/s, 24 fps, 24 tbr, 24k tbn (default)
    Side data:
      DOVI configuration record: version: 1.0, profile: 8, level: 6, rpu flag: 1, el flag: 0, bl flag: 1, compatibility id: 1, compression: 0
""",
    # an iPhone clip: profile 8.4, HLG base
    "dv8.4": """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'IMG_5001.MOV':
  Duration: 00:00:13.50, start: 0.000000, bitrate: 14004 kb/s
  Stream #0:0[0x1](und): Video: hevc (Main 10) (hvc1 / 0x31637668), yuv420p10le(tv, bt2020nc/bt2020/arib-std-b67), 1920x1080, 13720 kb/s, 29.99 fps, 30 tbr, 600 tbn (default)
    Side data:
      DOVI configuration record: version: 1.0, profile: 8, level: 4, rpu flag: 1, el flag: 0, bl flag: 1, compatibility id: 4, compression: 0
      Display Matrix: rotation of -90.00 degrees
""",
    "hdr10": """Input #0, matroska,webm, from 'hdr10.mkv':
  Duration: 00:00:01.00, start: 0.000000, bitrate: 80 kb/s
  Stream #0:0: Video: hevc (Main 10), yuv420p10le(tv, bt2020nc/bt2020/smpte2084, progressive), 320x180 [SAR 1:1 DAR 16:9], 25 fps, 25 tbr, 1k tbn (default)
    Side data:
      Content light level metadata: MaxCLL=1000, MaxFALL=400
      Mastering display metadata: has_primaries:1 has_luminance:1 r(0.6800,0.3200) g(0.2650,0.6900) b(0.1500 0.0600) wp(0.3127, 0.3290) min_luminance=0.000100, max_luminance=1000.000000
""",
    "sdr": """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'sdr.mp4':
  Duration: 00:00:01.00, start: 0.000000, bitrate: 80 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 1920x1080, 25 fps, 25 tbr, 12800 tbn (default)
""",
}
# showinfo's lines for the first frame of an HDR10+ file (its dynamic metadata is in every frame's SEI)
HDR10_PLUS_FRAME = """[Parsed_showinfo_0 @ 0x1] n:   0 pts:      0 pts_time:0       duration:   1024 fmt:yuv420p10le
[Parsed_showinfo_0 @ 0x1]   side data - HDR Dynamic Metadata SMPTE2094-40 (HDR10+): application version: 1, num_windows: 1
[Parsed_showinfo_0 @ 0x1]   side data - Mastering display metadata: has_primaries:1 has_luminance:1 r(0.6800,0.3200) g(0.2650,0.6900) b(0.1500 0.0600) wp(0.3127, 0.3290) min_luminance=0.005000, max_luminance=1000.000000
"""


def dump_range(name: str, frame_text: str = "") -> DynamicRange:
    video = next(s for s in parse_input_dump(DUMPS[name]).streams if s.kind == "video")
    return stream_dynamic_range(video, frame_text)


@pytest.mark.parametrize("name, described, peak, treatment", [
    ("sdr", "SDR", None, "SDR"),
    ("hdr10", "HDR10 (PQ), mastering display 1000/0.0001 cd/m², MaxCLL 1000, MaxFALL 400", 1000,
     "tone-mapped (HDR10, peak 1000 nits)"),
    ("dv7", "Dolby Vision profile 7 (HDR10 base layer), mastering display 4000/0.005 cd/m², MaxCLL 4000, "
            "MaxFALL 650", 4000, "tone-mapped (HDR10, peak 4000 nits)"),
    ("dv8.1", "Dolby Vision profile 8.1 (HDR10 base layer)", 1000, "tone-mapped (HDR10, peak 1000 nits by default)"),
    ("dv8.4", "Dolby Vision profile 8.4 (HLG base layer)", 1000, "tone-mapped (HLG, peak 1000 nits by default)"),
    ("dv5-mkv", "Dolby Vision profile 5 (no compatible base layer)", None,
     "refused (Dolby Vision without a base layer)"),
    ("dv5-mp4", "Dolby Vision profile 5 (no compatible base layer)", None,
     "refused (Dolby Vision without a base layer)"),
])
def test_each_source_says_what_it_is_and_what_becomes_of_it(name, described, peak, treatment):
    found = dump_range(name)
    assert str(found) == described
    assert found.treatment() == treatment
    assert found.hdr == (name != "sdr")
    if peak is not None:
        assert found.peak[0] == peak


def test_profile_5_is_refused_even_untagged_and_the_others_are_not():
    assert "HDR10 or SDR version" in dump_range("dv5-mkv").unsupported
    assert all(dump_range(name).unsupported is None for name in ("dv7", "dv8.1", "dv8.4", "hdr10", "sdr"))


def test_hdr10_plus_is_found_in_the_first_frame_and_shown_as_hdr10():
    found = dump_range("hdr10", HDR10_PLUS_FRAME)
    assert found.kind == "HDR10+" and found.signal == "HDR10"
    assert found.treatment() == "tone-mapped (HDR10, peak 1000 nits)"


def test_the_peak_is_maxcll_else_the_mastering_peak_else_the_default():
    assert DynamicRange("HDR10", "pq", max_cll=600, mastering_max=1000).peak == (600, "MaxCLL")
    assert DynamicRange("HDR10", "pq", max_cll=0, mastering_max=4000).peak == (4000, "mastering display")
    assert DynamicRange("HDR10", "pq", max_cll=50).peak == (1000, "default")  # implausible: ignored
    assert DynamicRange("HLG", "hlg").peak == (1000, "default")


# ---------------------------------------------------------------------- generated sources, probed


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hdr")
    return {"pq": probe_source(make_hdr_source(folder / "pq.mp4", "pq", max_cll=1000, master_max_nits=1000)),
            "hlg": probe_source(make_hdr_source(folder / "hlg.mkv", "hlg", max_cll=None, master_max_nits=None)),
            "sdr": probe_source(make_video(folder / "sdr.mp4", duration_s=1, audio_tracks=(), extra_args=(
                "-vf", "scale=out_color_matrix=bt709:out_range=tv,"
                       "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv")))}


def test_probe_reads_the_light_levels_of_the_stream_from_its_first_frame(sources):
    # x265 writes the levels in SEI messages only: the MP4 has no mdcv or clli box
    pq, hlg = sources["pq"].dynamic_range, sources["hlg"].dynamic_range
    assert (pq.kind, pq.transfer, pq.max_cll, pq.max_fall, pq.mastering_max) == ("HDR10", "pq", 1000, 250, 1000)
    assert (hlg.kind, hlg.transfer, hlg.max_cll, hlg.mastering_max) == ("HLG", "hlg", 0, 0)
    assert sources["sdr"].dynamic_range.kind == "SDR" and not sources["sdr"].hdr


def test_the_picture_is_scaled_before_it_is_tone_mapped(sources):
    graph = video_graph(make_job(Path("/tmp"), make_scene(sources["pq"], 0.0, FRAMES, FMT), FMT, FAST), None)
    assert graph.index("scale=") < graph.index("zscale=t=linear") < graph.index("tonemap=") < graph.index("pad=")
    assert "desat=0" in graph and "peak=10" in graph


# ---------------------------------------------------------------------- the pictures


def yuv_frames(path: Path, tmp_path: Path) -> np.ndarray:
    """Every frame of ``path`` as (n, 3, height, width) 8-bit Y, Cb, Cr (chroma upsampled, no conversion)."""
    raw = tmp_path / (path.name + ".yuv")
    run_ffmpeg(["-y", "-loglevel", "error", "-i", str(path), "-map", "0:v:0", "-pix_fmt", "yuv444p",
                "-f", "rawvideo", str(raw)])
    data = np.fromfile(raw, dtype=np.uint8)
    raw.unlink()
    return data.reshape(-1, 3, FMT.height, FMT.width).astype(float)


def reference_ycbcr(nits_bt2020: np.ndarray, peak_nits: float) -> np.ndarray:
    """The SDR picture a tone map should give: BT.2020 display light to BT.709, Möbius (knee 0.3, the peak
    on white) on the brightest component, BT.1886's inverse EOTF, BT.709 Y'CbCr, 8-bit limited range."""
    rgb = np.clip(nits_bt2020 @ np.linalg.inv(BT709_TO_BT2020).T / REFERENCE_WHITE_NITS, 0, None)
    peak, knee = peak_nits / REFERENCE_WHITE_NITS, 0.3
    a = -knee * knee * (peak - 1) / (knee * knee - 2 * knee + peak)
    b = (knee * knee - 2 * knee * peak + peak) / (peak - 1)
    brightest = np.maximum(rgb.max(axis=-1), 1e-6)
    mapped = np.where(brightest <= knee, brightest,
                      (b * b + 2 * b * knee + knee * knee) / (b - a) * (brightest + a) / (brightest + b))
    signal = np.clip(rgb * (mapped / brightest)[..., None], 0, 1) ** (1 / 2.4)
    r, g, b_ = signal[..., 0], signal[..., 1], signal[..., 2]
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b_
    return np.stack([16 + 219 * y, 128 + 224 * (b_ - y) / 1.8556, 128 + 224 * (r - y) / 1.5748], axis=-1)


def ramp_y(frame: np.ndarray) -> list[float]:
    return [float(frame[0, 30:60, k * RAMP_BLOCK + 8:(k + 1) * RAMP_BLOCK - 8].mean()) for k in range(len(RAMP_NITS))]


def patch_chroma(frame: np.ndarray) -> list[float]:
    middle = [(frame[1:, 110:160, k * PATCH_BLOCK + 12:(k + 1) * PATCH_BLOCK - 12].mean(axis=(1, 2)) - 128)
              for k in range(len(PATCHES))]
    return [float(np.hypot(*cbcr)) for cbcr in middle]


@pytest.fixture(scope="module")
def part(sources, tmp_path_factory):
    """One SDR part: the PQ scene, the HLG scene and an SDR scene, joined by stream copy."""
    folder = tmp_path_factory.mktemp("hdr-part")
    segments = []
    for name in ("pq", "hlg", "sdr"):
        job = make_job(folder, make_scene(sources[name], 0.0, FRAMES, FMT), FMT, FAST, name=name)
        segments.append(PartInput(render_scene_ffmpeg(job).segment_path, FRAMES, name))
    path = assemble_part(segments, folder / "part.mp4", FMT.fps, title="hdr")
    return path, yuv_frames(path, folder)


def test_the_sdr_part_is_tagged_bt709_with_nothing_hdr_left(part):
    info = probe_source(part[0])
    assert (info.color_matrix, info.color_transfer, info.dynamic_range.kind) == ("bt709", "bt709", "SDR")
    assert len(part[1]) == 3 * FRAMES


@pytest.mark.parametrize("scene, name", [(0, "pq"), (1, "hlg")])
def test_an_hdr_ramp_is_tone_mapped_into_the_sdr_range(part, sources, scene, name):
    frame = part[1][scene * FRAMES + 2]
    ys = ramp_y(frame)
    reference = reference_ycbcr(np.array([[n, n, n] for n in RAMP_NITS], dtype=float),
                                sources[name].dynamic_range.peak[0])[:, 0]
    assert all(later > earlier for earlier, later in zip(ys, ys[1:])), ys  # the ramp rises
    assert ys[0] <= 18 and ys[1] <= 31, ys  # 0 and 0.1 cd/m² stay black (0.1 shows at 0.1 on a BT.1886 screen)
    assert ys[RAMP_NITS.index(100.0)] >= 185, ys  # 100-cd/m² white is a white, not PQ's mid grey (126)
    assert ys[-1] >= 230, ys  # the 1000-cd/m² highlight is near peak white
    assert np.abs(np.array(ys) - reference).max() <= 4, (ys, reference)


@pytest.mark.parametrize("scene, name", [(0, "pq"), (1, "hlg")])
def test_hdr_colours_keep_their_chroma(part, sources, scene, name):
    chroma = patch_chroma(part[1][scene * FRAMES + 2])
    nits = picture_nits()
    patches = np.array([nits[135, k * PATCH_BLOCK + 32] for k in range(len(PATCHES))])
    reference = reference_ycbcr(patches, sources[name].dynamic_range.peak[0])
    expected = np.hypot(reference[:, 1] - 128, reference[:, 2] - 128)
    assert np.all(np.abs(np.array(chroma) - expected) <= 0.15 * expected), (chroma, expected)


def test_an_sdr_scene_beside_them_is_unchanged(part, sources, tmp_path):
    source = yuv_frames(sources["sdr"].path, tmp_path)[:FRAMES]
    rendered = part[1][2 * FRAMES:]
    assert np.abs(rendered[:, 0] - source[:, 0]).mean() < 2.0  # luma: only the encoder's loss
    assert np.abs(rendered[:, 1:] - source[:, 1:]).mean() < 2.0


def test_an_hdr_source_has_its_own_segment_keys(sources):
    job = make_job(Path("/tmp"), make_scene(sources["pq"], 0.0, FRAMES, FMT), FMT, FAST)
    other = replace(sources["pq"], dynamic_range=replace(sources["pq"].dynamic_range, max_cll=4000))
    assert make_job(Path("/tmp"), make_scene(other, 0.0, FRAMES, FMT), FMT, FAST).key != job.key


def test_megacut_probe_says_what_each_source_is_and_what_becomes_of_it(sources, capsys):
    code, out = run(["probe", sources["pq"].path, sources["hlg"].path, sources["sdr"].path], capsys)
    assert code == 0, out
    assert ("dynamic range: HDR10 (PQ), mastering display 1000/0.0001 cd/m², MaxCLL 1000, MaxFALL 250; "
            "into an SDR part: tone-mapped (HDR10, peak 1000 nits)") in out
    assert "dynamic range: HLG; into an SDR part: tone-mapped (HLG, peak 1000 nits by default)" in out
    assert out.count("dynamic range:") == 2  # SDR says nothing more


def test_an_hdr_source_is_never_stream_copied_into_an_sdr_part(sources):
    from megacut.render.copy_plan import copy_span

    # an H.264 SDR source as smart copy wants it, but HDR: its pictures change, so none is copied
    hdr = replace(sources["sdr"], video_codec="h264", dynamic_range=DynamicRange("HDR10", "pq"))
    reason = copy_span(make_scene(hdr, 0.0, FRAMES, FMT), FMT, replace(FAST, copy="auto"))
    assert reason == "it is HDR10: its pictures are tone-mapped"


# ---------------------------------------------------------------------- the HDR output

HDR_FMT = replace(FMT, pix_fmt="yuv420p10le")
HDR_SETTINGS = replace(FAST, video_codec="libx265", dynamic_range="hdr")


def pq_code(nits: float) -> float:
    """The 10-bit limited-range luma code of a grey of ``nits`` cd/m² in PQ."""
    return 64 + 876 * float(pq_encode(np.array(nits)))


def yuv10_frames(path: Path, tmp_path: Path) -> np.ndarray:
    raw = tmp_path / (path.name + ".yuv10")
    run_ffmpeg(["-y", "-loglevel", "error", "-i", str(path), "-map", "0:v:0", "-pix_fmt", "yuv444p10le",
                "-f", "rawvideo", str(raw)])
    data = np.fromfile(raw, dtype="<u2")
    raw.unlink()
    return data.reshape(-1, 3, FMT.height, FMT.width).astype(float)


@pytest.fixture(scope="module")
def hdr_part(sources, tmp_path_factory):
    """One HDR part: the PQ scene, the HLG scene, an SDR scene (black above, white below) with the date overlay
    (top right), joined."""
    folder = tmp_path_factory.mktemp("hdr-output")
    white = probe_source(make_video(folder / "white.mp4", duration_s=1, audio_tracks=(), extra_args=(
        "-vf", "drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill,drawbox=x=0:y=ih/2:w=iw:h=ih/2:color=white:t=fill,"
               "scale=out_color_matrix=bt709:out_range=tv,"
               "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv")))
    segments = []
    for name, info, lines in (("pq", sources["pq"], ()), ("hlg", sources["hlg"], ()),
                              ("white", white, ("1943", "Thor · S01E02"))):
        scene = make_scene(info, 0.0, FRAMES, HDR_FMT, overlay_lines=lines)
        job = make_job(folder, scene, HDR_FMT, HDR_SETTINGS, name=name)
        segments.append(PartInput(render_scene_ffmpeg(job).segment_path, FRAMES, name))
    path = assemble_part(segments, folder / "part.mp4", FMT.fps, title="hdr")
    return path, yuv10_frames(path, folder)


def test_the_hdr_part_is_tagged_pq_bt2020_with_its_mastering_display(hdr_part):
    info = probe_source(hdr_part[0])
    assert (info.video_codec, info.pix_fmt, info.color_matrix, info.color_transfer) == \
           ("hevc", "yuv420p10le", "bt2020nc", "smpte2084")
    assert (info.dynamic_range.kind, info.dynamic_range.mastering_max) == ("HDR10", 1000)
    assert len(hdr_part[1]) == 3 * FRAMES


@pytest.mark.parametrize("scene", [0, 1])
def test_an_hdr_scenes_light_is_kept_in_the_hdr_part(hdr_part, scene):
    ys = ramp_y(hdr_part[1][scene * FRAMES + 2] / 4)  # ramp_y reads 8-bit blocks: the same blocks
    for nits, y in zip(RAMP_NITS, ys):
        if nits >= 5:  # below, a code or two is many times the light
            assert abs(4 * y - pq_code(nits)) <= 6, (nits, 4 * y, pq_code(nits))


def test_an_sdr_scene_is_placed_at_the_reference_white_and_its_overlay_too(hdr_part):
    frames = hdr_part[1][2 * FRAMES:]
    white = frames[:, 0, 110:170, 20:300].mean()
    assert abs(white - pq_code(203)) <= 4, (white, pq_code(203))
    assert abs(frames[:, 0, 10:80, 20:120].mean() - 64) <= 2  # black stays black
    text = frames[:, 0, :90, 160:]  # the overlay's white text over black: white too (as RGB it was 10,000 cd/m²)
    assert abs(text.max() - pq_code(203)) <= 25, text.max()


def run(args, capsys) -> tuple[int, str]:
    from megacut.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out + err


def test_an_hdr_output_is_planned_rendered_split_joined_and_resumed(tmp_path, capsys):
    import json

    movies = tmp_path / "movies"
    movies.mkdir()
    make_hdr_source(movies / "Dune HDR.mp4", "pq", duration_s=2.0)
    make_video(movies / "Thor.mp4", duration_s=2, audio_tracks=())
    csv = tmp_path / "scenes.csv"
    csv.write_text("movie,start,end\nPart One,,\nDune HDR,0:00.2,0:01.8\nThor,0:00.4,0:01.2\n", encoding="utf-8")
    common = ["--csv", csv, "--movies", movies, "--dynamic-range", "hdr", "--preset", "ultrafast"]
    code, out = run(["plan", *common, "--rows"], capsys)
    assert code == 0, out
    assert "Dynamic range (HDR output):" in out and "Dune HDR.mp4: HDR10 (PQ)" in out and ": HDR10 kept" in out
    assert "Thor.mp4: SDR: SDR placed at 203 cd/m² (BT.2408)" in out and "libx265" in out
    parts = {}
    for name, segment in (("whole", "0"), ("split", "0.5")):
        output = tmp_path / name
        args = ["process", *common, "--output", output, "--segment-duration", segment, "--section-cards"]
        code, out = run(args, capsys)
        assert code == 0, out
        part = output / "mega_cut_part_1.mp4"
        info = probe_source(part)
        assert (info.color_transfer, info.dynamic_range.kind, info.pix_fmt) == ("smpte2084", "HDR10", "yuv420p10le")
        report = json.loads((output / "megacut-report.json").read_text(encoding="utf-8"))
        assert [s["picture"] for s in report["scenes"]] == ["HDR10 kept", "SDR placed at 203 cd/m² (BT.2408)"]
        parts[name] = (report, yuv10_frames_any(part, tmp_path, info.width, info.height))
    whole, split = parts["whole"], parts["split"]
    frames = sum(s["frames"] for s in whole[0]["scenes"]) + round(whole[0]["cards"][0]["duration_s"] * 25)
    assert len(whole[1]) == len(split[1]) == frames == 40 + 20 + 75  # the title card: 3 s at 25 fps
    assert len(split[0]["scenes"][0]["segments"]) > 1
    assert np.abs(whole[1][:, 0] - split[1][:, 0]).mean() < 3  # the same frames, encoded in other segments
    code, out = run(["process", *common, "--output", tmp_path / "split", "--segment-duration", "0.5",
                     "--section-cards"], capsys)
    report = json.loads((tmp_path / "split" / "megacut-report.json").read_text(encoding="utf-8"))
    assert code == 0 and {s["status"] for sc in report["scenes"] for s in sc["segments"]} == {"cached"}


def yuv10_frames_any(path: Path, tmp_path: Path, width: int, height: int) -> np.ndarray:
    raw = tmp_path / (path.name + ".any.yuv10")
    run_ffmpeg(["-y", "-loglevel", "error", "-i", str(path), "-map", "0:v:0", "-pix_fmt", "yuv444p10le",
                "-f", "rawvideo", str(raw)])
    data = np.fromfile(raw, dtype="<u2")
    raw.unlink()
    return data.reshape(-1, 3, height, width).astype(float)


@pytest.mark.parametrize("extra, message", [
    (["--video-codec", "libx264"], "--dynamic-range hdr writes 10-bit HEVC with libx265"),
    (["--backend", "moviepy"], "--dynamic-range hdr is rendered by the ffmpeg backend only")])
def test_an_hdr_output_needs_libx265_and_the_ffmpeg_backend(tmp_path, capsys, extra, message):
    csv = tmp_path / "scenes.csv"
    csv.write_text("movie,start,end\nThor,0:00,0:01\n", encoding="utf-8")
    code, out = run(["plan", "--csv", csv, "--movies", tmp_path, "--dynamic-range", "hdr", *extra], capsys)
    assert code == 2 and message in out, out


# ---------------------------------------------------------------------- Dolby Vision files


@pytest.fixture(scope="module")
def dolby_vision(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dolby-vision")
    return {"5": make_dolby_vision(folder / "Arrival DV5.mp4", 5, 0, None),
            "8.1": make_dolby_vision(folder / "Dune DV8.mp4", 8, 1, "pq"),
            "8.4": make_dolby_vision(folder / "Phone DV84.mp4", 8, 4, "hlg")}


def test_dolby_vision_files_are_known_by_their_record_and_base_layer(dolby_vision):
    found = {name: probe_source(path) for name, path in dolby_vision.items()}
    assert str(found["5"].dynamic_range) == "Dolby Vision profile 5 (no compatible base layer)"
    assert found["5"].color_transfer == "" and found["5"].hdr  # not tagged PQ, and still known for what it is
    assert str(found["8.1"].dynamic_range) == "Dolby Vision profile 8.1 (HDR10 base layer)"
    assert str(found["8.4"].dynamic_range) == "Dolby Vision profile 8.4 (HLG base layer)"


@pytest.mark.parametrize("name", ["8.1", "8.4"])
def test_dolby_vision_8_is_tone_mapped_through_its_base_layer(dolby_vision, tmp_path, name):
    info = probe_source(dolby_vision[name])
    segment = render_scene_ffmpeg(make_job(tmp_path, make_scene(info, 0.0, 3, FMT), FMT, FAST)).segment_path
    ys = ramp_y(yuv_frames(segment, tmp_path)[1])
    assert ys[RAMP_NITS.index(100.0)] >= 185 and ys[-1] >= 230, ys


def test_dolby_vision_5_is_a_plan_error_naming_the_file_and_what_to_do(dolby_vision, tmp_path, capsys):
    csv = tmp_path / "scenes.csv"
    csv.write_text("movie,start,end\nArrival DV5,0:00,0:00.5\nDune DV8,0:00,0:00.5\n", encoding="utf-8")
    code, out = run(["plan", "--csv", csv, "--movies", dolby_vision["5"].parent], capsys)
    assert code != 0
    assert "scenes.csv:2:" in out and "Arrival DV5.mp4 is Dolby Vision profile 5" in out
    assert "give megacut an HDR10 or SDR version of it" in out and "scenes.csv:3:" not in out
    assert "Traceback" not in out


def test_a_title_card_in_an_hdr_output_is_white_at_the_reference_white(tmp_path):
    from PIL import Image
    from scene_jobs import make_still_job

    from megacut.plan.sections import Section
    from megacut.render.section import render_still

    Image.new("RGB", (64, 36), (255, 255, 255)).save(tmp_path / "white.png")
    section = Section(tmp_path / "s.json", 1, tmp_path / "white.png", None, None, 0.2, 0.0)
    segment = render_still(make_still_job(tmp_path, section, HDR_FMT, HDR_SETTINGS, "card")).segment_path
    info = probe_source(segment)
    assert (info.color_transfer, info.dynamic_range.kind) == ("smpte2084", "HDR10")
    assert abs(yuv10_frames(segment, tmp_path)[:, 0, 60:120, 100:220].mean() - pq_code(203)) <= 4


def test_megacut_sections_writes_an_hdr_video_with_dynamic_range_hdr(tmp_path, capsys):
    import json

    from PIL import Image

    Image.new("RGB", (64, 36), (255, 255, 255)).save(tmp_path / "white.png")
    spec = tmp_path / "intro.json"
    spec.write_text(json.dumps({"output": "intro.mp4", "resolution": "160x90", "fps": 25,
                                "sections": [{"image": "white.png", "duration": 0.4}]}), encoding="utf-8")
    code, out = run(["sections", spec, "--output", tmp_path / "out", "--preset", "ultrafast", "--dynamic-range",
                     "hdr", "-q"], capsys)
    assert code == 0, out
    info = probe_source(tmp_path / "out" / "intro.mp4")
    assert (info.video_codec, info.color_transfer, info.dynamic_range.kind) == ("hevc", "smpte2084", "HDR10")
