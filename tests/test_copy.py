"""Smart copy (--copy): the frames megacut does not change are the source's packets, and the part is exact.

Every source here is already what the output is (H.264, 160x120, 25 fps, yuv420p tagged BT.709), each
encoded by x264 in another way, in another container. Each test renders scenes cut on, before, after and
between IDR pictures, with overlays longer than a GOP, and checks what a user would: every frame is the
planned one (frame codes), the copied frames decode bit-identical to the source's (framemd5), the part's
timestamps are uniform across the seams and it decodes without a warning, and the sound is the sound
of the same run without copy, sample for sample.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace

import numpy as np
import pytest
from framecode import decode_audio, decode_frames, make_framecode_video, read_indices

from megacut import prepare_plan
from megacut.ffmpeg import input_file, run_ffmpeg
from megacut.plan.dynamic_range import dynamic_range
from megacut.plan.settings import Settings
from megacut.render.copy_plan import colour_reading, copy_span, copy_summary
from megacut.render.jobs import CopyJob
from megacut.run.engine import RunOptions, render_plan
from megacut.run.groups import scene_groups

pytestmark = pytest.mark.slow

FPS = 25
SIZE = (160, 120)
FRAMES = 400
TAGS = ("-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709")
GOP = "keyint=24:min-keyint=24:scenecut=0"  # IDR pictures on frames 0, 24, 48, ...

# name: (x264 parameters, container, more output options)
SOURCES = {
    "default.mp4": (f"{GOP}", "mp4", ()),
    "bframes0.mp4": (f"{GOP}:bframes=0", "mp4", ()),
    "bframes8.mkv": (f"{GOP}:bframes=8:b-pyramid=strict:ref=16", "mkv", ()),
    "nopyramid.mp4": (f"{GOP}:bframes=3:b-pyramid=none", "mp4", ()),
    "crf17-slices.ts": (f"{GOP}:crf=17:slices=4", "ts", ()),
    "crf23.mov": (f"{GOP}:crf=23", "mov", ()),
    "long-gop.mkv": ("keyint=300:min-keyint=300:scenecut=0", "mkv", ()),
    "idr-irregular.mp4": ("keyint=600:scenecut=0", "mp4", ("-force_key_frames", "0,1.32,2.6,5.04,6.4,8.8,9.6,12,13.36")),
    "start-edit.mp4": (f"{GOP}", "mp4", ("-output_ts_offset", "0.6")),
    # the copied runs' sound from other rates and codecs (rendered as a segment's: the matrix's path)
    "aac-44100.mp4": (f"{GOP}", "mp4", ("-ar", "44100")),
    "mp3-22050.mkv": (f"{GOP}", "mkv", ("-c:a", "libmp3lame", "-ar", "22050")),
    # tagged as ffmpeg 9 tags with -color_primaries bt709 -color_trc bt709 -colorspace bt709: the matrix only
    "matrix-only.mp4": (f"{GOP}", "mp4", ()),
}
MATRIX_ONLY = "matrix-only.mp4"


def encode(folder, name, params, container, extra, frames=FRAMES, tagged=True, **kwargs):
    """A framecode source of ``frames`` frames, x264 with ``params``, tagged BT.709, in ``container``."""
    params += ":colorprim=bt709:transfer=bt709:colormatrix=bt709" if tagged else ""
    path = folder / name
    staged = folder / f"staged-{name}.mp4"  # MP4 first: its colour tags are the bitstream's, all three
    make_framecode_video(staged, frames=frames, fps=FPS, size=SIZE,
                         video_args=("-preset", "veryfast", "-x264-params", params, *TAGS), extra_args=extra,
                         **kwargs)
    if container != "mp4":
        run_ffmpeg(["-loglevel", "error", *input_file(staged), "-c", "copy", "-y", str(path)])
        staged.unlink()
    else:
        staged.rename(path)
    return path


@pytest.fixture(scope="module")
def movies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("copy-movies")
    for name, (params, container, extra) in SOURCES.items():
        encode(folder, name, params, container, extra, tagged=name != MATRIX_ONLY)
    return folder


def test_a_source_tagged_with_the_matrix_only_is_read_as_bt709_as_the_renderer_reads_it(tmp_path, movies):
    plan = prepare_plan(write_csv(tmp_path, MATRIX_ONLY), movies, Settings(copy="auto"))
    info = plan.scenes[0].source
    assert (info.color_matrix, info.color_transfer) == ("bt709", "")  # "bt709/unknown/unknown"
    reading = "colours tagged with a BT.709 matrix, transfer untagged: read as BT.709, as the renderer reads them"
    assert colour_reading(info) == (True, reading)
    said = copy_summary(plan)[0]  # `plan --copy auto`: once, at the source's first copied scene
    assert said[1].endswith(f"the rest rendered; {reading}") and not any(reading in line for line in said[2:])
    # the renderer's reading of other tags, and of none (render/colour.py): only what it would convert is rendered
    readings = {(matrix, transfer, size): colour_reading(replace(  # the dynamic range as the probe reads the tags
                    info, color_matrix=matrix, color_transfer=transfer, width=size[0], height=size[1],
                    dynamic_range=dynamic_range(transfer, "avc1", [])))
                for matrix, transfer, size in [("", "", (1280, 720)), ("", "", (720, 576)), ("smpte170m", "", (160, 120)),
                                               ("bt470bg", "bt709", (1920, 1080)), ("bt709", "bt709", (160, 120)),
                                               ("bt2020nc", "smpte2084", (3840, 2160)), ("bt709", "smpte2084", (1920, 1080))]}
    assert [copyable for copyable, _ in readings.values()] == [True, False, False, False, True, False, False]
    assert readings[("", "", (1280, 720))][1] == "colours untagged, 1280x720: read as BT.709 (HD), as the renderer reads them"
    assert readings[("", "", (720, 576))][1] == "its colours are untagged, 720x576: read as BT.601 (SD), converted to BT.709"


def at(frame: int) -> str:
    """A time inside source frame ``frame`` (a quarter frame after it starts)."""
    return f"{(frame + 0.25) / FPS:.4f}"


# (first source frame, frames, overlay): on an IDR, one before, one after, inside a GOP with an end inside
# a B-run, and overlays of 3 s (75 frames, longer than a 24-frame GOP)
CUTS = [(48, 100, ""), (71, 95, "Year 1"), (97, 83, ""), (130, 101, "Year 2"), (250, 117, "")]


def write_csv(folder, name, cuts=CUTS):
    rows = [f"{name},{at(first)},{at(first + frames)},{overlay}" for first, frames, overlay in cuts]
    path = folder / "scenes.csv"
    path.write_text("movie,start,end,overlay\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def render(tmp_path, csv, movies, name, **settings):
    plan = prepare_plan(csv, movies, Settings(preset="veryfast", **settings))
    assert not plan.errors, plan.errors
    result = render_plan(plan, RunOptions(output_dir=tmp_path / name, quiet=True))
    assert result.exit_code == 0, [(r.item.name, r.error) for r in result.items.values()]
    return plan, tmp_path / name / "mega_cut_part_1.mp4"


def copied_ranges(plan) -> list[tuple[int, int]]:
    """(first, end) output frames of the part that are copied runs."""
    ranges, offset = [], 0
    for item in scene_groups(plan, plan.csv_path.parent)[0].items:
        for job in item.jobs:
            if isinstance(job, CopyJob):
                ranges.append((offset, offset + job.frames))
            offset += job.frames
    return ranges


def frame_md5s(path, *options) -> list[str]:
    listing = run_ffmpeg(["-loglevel", "error", *input_file(path), *options, "-map", "0:v:0",
                          "-f", "framemd5", "-"]).stdout
    return [line.split(",")[-1].strip() for line in listing.splitlines() if line and not line.startswith("#")]


def packet_times(path) -> list[tuple[int, int]]:
    listing = run_ffmpeg(["-loglevel", "error", *input_file(path), "-map", "0:v:0", "-c", "copy",
                          "-f", "framecrc", "-"]).stdout
    rows = [line.split(",") for line in listing.splitlines() if line and not line.startswith("#")]
    return [(int(f[1]), int(f[2])) for f in rows]


def assert_uniform_and_clean(part):
    times = packet_times(part)
    steps = {b[0] - a[0] for a, b in zip(times, times[1:])}
    assert len(steps) == 1, f"decode times not uniform: steps {sorted(steps)[:6]}"
    assert all(pts >= dts for dts, pts in times), "a frame is presented before it is decoded"
    step, shown = steps.pop(), sorted(pts for _, pts in times)
    assert shown == [shown[0] + k * step for k in range(len(times))], "presentation times are not one frame apart"
    log = run_ffmpeg(["-v", "warning", *input_file(part), "-f", "null", "-"]).stderr
    assert log.strip() == "", f"ffmpeg warns decoding the part: {log[:400]}"


@pytest.mark.parametrize("name", list(SOURCES))
def test_copied_scenes_are_frame_exact_bit_identical_and_uniform(tmp_path, movies, name):
    csv = write_csv(tmp_path, name)
    plan, part = render(tmp_path, csv, movies, "copy", copy="auto")
    ranges = copied_ranges(plan)
    assert ranges, f"nothing was copied from {name}"
    _, rendered = render(tmp_path, csv, movies, "render", copy="off")
    codes, codes_rendered = (read_indices(decode_frames(p, *SIZE, tmp_path)) for p in (part, rendered))
    assert codes == codes_rendered, f"{name}: copied and rendered parts differ in frames"
    # the frame on screen at each start (a source whose video starts late in its file is shown later)
    late = 0 if "start-edit" not in name else 1
    expected = [first - late + k for first, frames, _ in CUTS for k in range(frames)]
    overlaid = {o for (first, frames, text), o0 in zip(CUTS, np.cumsum([0] + [c[1] for c in CUTS]))
                if text for o in range(o0, o0 + 75)}
    wrong = [(i, c, e) for i, (c, e) in enumerate(zip(codes, expected)) if c != e and not (i in overlaid and c == -1)]
    assert len(codes) == len(expected) and not wrong, f"{name}: wrong frames (index, read, expected) {wrong[:8]}"
    source_md5 = frame_md5s(movies / name)
    part_md5 = frame_md5s(part)
    copied = [i for first, end in ranges for i in range(first, end)]
    assert all(part_md5[i] == source_md5[expected[i]] for i in copied), f"{name}: a copied frame differs"
    assert_uniform_and_clean(part)
    # the sound is the same run's without copy, sample for sample
    assert np.array_equal(decode_audio(part, tmp_path), decode_audio(rendered, tmp_path))


def test_sources_that_are_not_the_output_are_rendered_and_the_plan_says_why(tmp_path, movies):
    folder = tmp_path / "other"
    folder.mkdir()
    shutil.copy(movies / "default.mp4", folder / "default.mp4")
    encode(folder, "small.mp4", GOP, "mp4", (), frames=200)  # made at 160x120, scaled below
    run_ffmpeg(["-loglevel", "error", *input_file(folder / "small.mp4"), "-vf", "scale=128:96", "-c:v", "libx264",
                "-preset", "ultrafast", *TAGS, "-y", str(folder / "smaller.mp4")])
    encode(folder, "vfr.mp4", GOP, "mp4", (), frames=200, rates=((50, 25), (50, 50)))
    make_framecode_video(folder / "untagged.mp4", frames=200, fps=FPS, size=SIZE,
                         video_args=("-preset", "veryfast", "-x264-params", GOP))
    make_framecode_video(folder / "bt601.mp4", frames=200, fps=FPS, size=SIZE,
                         video_args=("-preset", "veryfast", "-x264-params", f"{GOP}:colormatrix=smpte170m",
                                     "-colorspace", "smpte170m"))
    encode(folder, "open-gop.mp4", "keyint=48:min-keyint=12:open-gop=1", "mp4", (), frames=200)
    make_framecode_video(folder / "hevc.mp4", frames=200, fps=FPS, size=SIZE, vcodec="libx265",
                         video_args=("-preset", "ultrafast", "-x265-params", "log-level=error"))
    rows = ["default.mp4,0,10,"] + [f"{n},0,6," for n in ("smaller.mp4", "vfr.mp4", "untagged.mp4", "bt601.mp4",
                                                         "hevc.mp4")]
    rows += ["open-gop.mp4,1,6,"]
    csv = tmp_path / "scenes.csv"
    csv.write_text("movie,start,end,overlay\n" + "\n".join(rows) + "\n", encoding="utf-8")
    plan = prepare_plan(csv, folder, Settings(copy="auto", resolution=SIZE, fps=FPS))
    reasons = {s.source.path.name: copy_span(s, plan.format, plan.settings) for s in plan.scenes}
    assert not isinstance(reasons["default.mp4"], str)
    assert reasons["smaller.mp4"] == "it is 128x96, the output 160x120"
    assert "frame rate" in reasons["vfr.mp4"]  # its frames last 1/25 s, then 1/50 s
    assert reasons["untagged.mp4"] == "its colours are untagged, 160x120: read as BT.601 (SD), converted to BT.709"
    assert reasons["bt601.mp4"] == "its colours are tagged smpte170m, not BT.709: converted to BT.709"
    assert reasons["hevc.mp4"] == "its video is hevc, the output H.264"
    assert reasons["open-gop.mp4"] == "no IDR picture lies inside it"  # x264's open GOPs: I pictures, no IDR
    from megacut.cli import main

    assert main(["plan", "--csv", str(csv), "--movies", str(folder), "--copy", "strict",
                 "--resolution", "160x120", "--fps", "25"]) == 2
    # the scenes that are not copied render as without copy: every frame planned
    plan, part = render(tmp_path, csv, folder, "mixed", copy="auto", resolution=SIZE, fps=FPS)
    assert len(read_indices(decode_frames(part, *SIZE, tmp_path))) == plan.parts[0].frames
    assert_uniform_and_clean(part)


def test_strict_names_the_line_and_renders_nothing(tmp_path, movies, capsys):
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(movies / "default.mp4", folder / "default.mp4")
    make_framecode_video(folder / "hevc.mp4", frames=100, fps=FPS, size=SIZE, vcodec="libx265",
                         video_args=("-preset", "ultrafast", "-x265-params", "log-level=error"))
    csv = tmp_path / "scenes.csv"
    csv.write_text("movie,start,end,overlay\ndefault.mp4,0,6,\nhevc.mp4,0,3,\n", encoding="utf-8")
    from megacut.cli import main

    code = main(["process", "--csv", str(csv), "--movies", str(folder), "--output", str(tmp_path / "out"),
                 "--copy", "strict", "--resolution", "160x120", "--fps", "25"])
    out = capsys.readouterr()
    assert code == 2
    assert re.search(r"scenes\.csv:3: error: --copy strict: scene 2 \(line 3\) cannot be copied: its video is hevc",
                     out.out + out.err)
    assert not list(tmp_path.glob("out/*.mp4")), "a part was written"


def listing(packets, tb="1/12800"):
    """A framecrc listing of (dts, pts) packets."""
    return f"#tb 0: {tb}\n" + "".join(f"0, {d}, {p}, 512, 100, 0x0\n" for d, p in packets)


def test_the_index_finds_idr_pictures_b_frame_delay_and_a_variable_rate():
    from fractions import Fraction

    from megacut.plan.copy_index import parse_index

    # I0 P4 B2 b1 b3 (B-pyramid: two frames of delay), then an IDR at 5, frames of 1/25 s (512 ticks)
    order = [0, 4, 2, 1, 3, 5, 9, 7, 6, 8]
    packets = [((n - 2) * 512, f * 512) for n, f in enumerate(order)]
    idr = listing([packets[0], packets[5]]).replace(", 100,", ", 90,")
    index = parse_index(listing(packets), idr, "Stream #0:0: Video: h264 (High), yuv420p(tv, bt709)", 0)
    assert index.idr == {0, 5} and index.reorder == 2
    assert index.rank == tuple(order) and index.constant_rate(Fraction(25))
    assert not index.constant_rate(Fraction(30))
    # one frame twice as long: variable, though most frames last 1/25 s
    stretched = [(d, p + (512 if p >= 6 * 512 else 0)) for d, p in packets]
    assert not parse_index(listing(stretched), idr, "", 0).constant_rate(Fraction(25))
    # Matroska's milliseconds: 40 ms frames of 23.976 fps rounded are still constant
    ms = [(round((n - 2) * 1001 / 24), round(f * 1001 / 24)) for n, f in enumerate(order)]
    assert parse_index(listing(ms, "1/1000"), "", "", 0).constant_rate(Fraction(24000, 1001))
    assert "decode order" in parse_index(listing(list(reversed(packets))), "", "", 0)


def test_an_overlay_edit_renders_the_head_again_and_reuses_the_copied_run_and_the_tail(tmp_path, movies):
    csv = write_csv(tmp_path, "default.mp4", [(13, 150, "Year 1")])
    render(tmp_path, csv, movies, "out", copy="auto")
    csv.write_text(csv.read_text().replace("Year 1", "Year 2"))
    plan = prepare_plan(csv, movies, Settings(preset="veryfast", copy="auto"))
    edited = render_plan(plan, RunOptions(output_dir=tmp_path / "out", quiet=True))
    assert [type(job).__name__ for job in scene_groups(plan, tmp_path)[0].items[0].jobs] == \
        ["SceneJob", "CopyJob", "SceneJob"]
    assert [s.status for s in edited.items["scene-0"].segments] == ["ok", "cached", "cached"]
    assert edited.parts[0].status == "written"
    assert read_indices(decode_frames(tmp_path / "out" / "mega_cut_part_1.mp4", *SIZE, tmp_path))[80:] == \
        list(range(13 + 80, 13 + 150))


def test_a_copied_part_is_byte_identical_with_any_executor(tmp_path, movies):
    csv = write_csv(tmp_path, "bframes8.mkv", CUTS[:3])
    plan = prepare_plan(csv, movies, Settings(preset="veryfast", copy="auto"))
    parts = []
    for executor, workers in (("inline", 1), ("process", 2), ("thread", 2)):
        result = render_plan(plan, RunOptions(output_dir=tmp_path / executor, quiet=True, executor=executor,
                                              max_workers=workers))
        assert result.exit_code == 0
        parts.append((tmp_path / executor / "mega_cut_part_1.mp4").read_bytes())
    assert copied_ranges(plan) and parts[0] == parts[1] == parts[2]
