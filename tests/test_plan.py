import os
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from megacut.cli.report import plan_table
from megacut.errors import UsageError
from megacut.plan import fonts
from megacut.plan.build import build_plan, episode_code
from megacut.plan.dynamic_range import DynamicRange
from megacut.plan.probe import AudioTrack, SourceInfo
from megacut.plan.scenes import load_scenes
from megacut.plan.settings import Settings, Transition, parse_overlay_second_line
from megacut.render.jobs import scene_job


def source(name, *, duration_s=3600.0, size=(1920, 1080), fps=Fraction(24000, 1001), tracks=None, mtime_ns=1):
    if tracks is None:
        tracks = (AudioTrack(index=1, order=0, codec="aac", language="eng", title="Main", channels=2,
                             sample_rate=48000, default=True),
                  AudioTrack(index=2, order=1, codec="ac3", language="fre", title="VF", channels=6,
                             sample_rate=48000, default=False))
    return SourceInfo(path=Path("/movies") / name, size_bytes=1000, mtime_ns=mtime_ns, container="matroska,webm",
                      duration_s=duration_s, start_s=0.0, duration_measured=False, video_index=0,
                      video_codec="h264", pix_fmt="yuv420p", width=size[0], height=size[1], rotation=0, fps=fps,
                      audio_tracks=tuple(tracks))


def plan_for(tmp_path, body, sources_by_movie, settings=Settings(), header="movie,start,end,overlay,part"):
    path = tmp_path / "scenes.csv"
    path.write_text(f"{header}\n{body}", encoding="utf-8")
    table = load_scenes(path)
    lookup = {}
    for row in table.rows:
        found = sources_by_movie.get(row.movie, f"movie '{row.movie}' not found")
        lookup[row.line] = found
    return build_plan(table, lookup, settings)


def messages(plan, tmp_path):
    return [str(p).replace(f"{tmp_path}/", "") for p in plan.problems]


THOR = source("Thor.mkv")
SMALL = source("Small.mp4", size=(640, 360), fps=Fraction(25), duration_s=600)


def test_format_covers_most_of_the_planned_time_and_can_be_overridden(tmp_path):
    body = "Thor,0:00,0:10\nSmall,0:00,0:30\n"
    plan = plan_for(tmp_path, body, {"Thor": THOR, "Small": SMALL})
    assert (plan.format.width, plan.format.height, plan.format.fps) == (640, 360, Fraction(25))
    assert "75%" in plan.format_note
    plan = plan_for(tmp_path, body, {"Thor": THOR, "Small": SMALL},
                    Settings(resolution=(1280, 720), fps=Fraction(30000, 1001)))
    assert (plan.format.width, plan.format.height, plan.format.fps) == (1280, 720, Fraction(30000, 1001))


def test_scenes_are_packed_into_parts_without_splitting(tmp_path):
    body = "".join(f"Small,{i * 60},{i * 60 + 50}\n" for i in range(7))  # seven 50 s scenes
    plan = plan_for(tmp_path, body, {"Small": SMALL}, Settings(chunk_duration_s=120))
    assert [len(p.scenes) for p in plan.parts] == [2, 2, 2, 1]
    assert [p.filename for p in plan.parts][:2] == ["mega_cut_part_1.mp4", "mega_cut_part_2.mp4"]
    assert all(p.duration_s <= 120 for p in plan.parts)
    part = plan.parts[0]
    assert [s.offset_s for s in part.scenes] == [0.0, 50.0]
    assert [s.frames for s in part.scenes] == [1250, 1250]
    assert [s.index for s in plan.scenes] == list(range(7))


def test_a_scene_longer_than_a_part_gets_its_own_part_with_a_warning(tmp_path):
    plan = plan_for(tmp_path, "Small,0,10\nSmall,10,300\nSmall,300,310\n", {"Small": SMALL},
                    Settings(chunk_duration_s=60))
    assert [len(p.scenes) for p in plan.parts] == [1, 1, 1]
    assert not plan.errors
    assert "longer than --chunk-duration 0:01:00" in messages(plan, tmp_path)[0]


def test_part_column_decides_parts_and_blank_cells_follow_the_row_above(tmp_path):
    body = "Small,0,10,,1\nSmall,10,20,,\nSmall,20,30,,3\nSmall,30,40,,\n"
    plan = plan_for(tmp_path, body, {"Small": SMALL}, Settings(chunk_duration_s=5))
    assert [(p.number, [s.line for s in p.scenes]) for p in plan.parts] == [(1, [2, 3]), (3, [4, 5])]


def test_part_column_missing_on_the_first_rows_is_an_error(tmp_path):
    plan = plan_for(tmp_path, "Small,0,10,,\nSmall,10,20,,2\n", {"Small": SMALL})
    assert messages(plan, tmp_path) == [
        "scenes.csv:2: error: no part number, but other rows give one; give this row a part "
        "(rows below it without one follow it)"]
    assert [s.line for s in plan.scenes] == [3]


def test_chunk_selection_marks_parts_and_rejects_unknown_parts(tmp_path):
    body = "".join(f"Small,{i * 10},{i * 10 + 10}\n" for i in range(4))
    plan = plan_for(tmp_path, body, {"Small": SMALL}, Settings(chunk_duration_s=10, chunks=(2, 4)))
    assert [p.number for p in plan.selected_parts] == [2, 4] and not plan.errors
    plan = plan_for(tmp_path, body, {"Small": SMALL}, Settings(chunk_duration_s=10, chunks=(2, 9)))
    assert messages(plan, tmp_path) == ["error: --chunks asks for part 9, but the plan has parts: 1, 2, 3, 4"]


@pytest.mark.parametrize(
    "row, message",
    [
        ("Small,9:59,10:05", "the end (10:05) is past the end of Small.mp4, which lasts 0:10:00.000; use "
                             "0:10:00.000 or less"),
        ("Small,10:00,10:05", "the start (10:00) is past the end of Small.mp4, which lasts 0:10:00.000"),
        ("Small,0:00:10:30,0:00:11:00", "bad time: '0:00:10:30': frame 30 does not exist at 25.000 fps "
                                         "(frames run 00 to 24)"),
        ("Small,0:00:10:05,0:00:10:05", "the end (0:00:10:05) is not after the start (0:00:10:05)"),
        ("Small,1.00,1.01", "the scene lasts 0.010 s, shorter than one frame at 25 fps; widen it or remove "
                              "the row"),
        ("Nobody,0,1", "movie 'Nobody' not found"),
    ],
)
def test_rows_checked_against_their_source(tmp_path, row, message):
    plan = plan_for(tmp_path, f"{row}\nSmall,0,1\n", {"Small": SMALL}, header="movie,start,end")
    assert messages(plan, tmp_path) == [f"scenes.csv:2: error: {message}"]
    assert [r.line for r in plan.rejected] == [2]
    assert [s.line for s in plan.scenes] == [3]


def test_an_end_within_one_frame_of_the_source_end_is_clamped(tmp_path):
    plan = plan_for(tmp_path, "Small,9:59,10:00.02\n", {"Small": SMALL}, header="movie,start,end")
    assert not plan.problems
    assert plan.scenes[0].end_s == 600.0 and plan.scenes[0].frames == 25


def test_frame_timecodes_use_the_source_rate(tmp_path):
    plan = plan_for(tmp_path, "Thor,00:00:01:00,00:00:02:12\n", {"Thor": THOR}, header="movie,start,end")
    scene = plan.scenes[0]
    assert scene.start_s == pytest.approx(24 * 1001 / 24000)
    assert scene.end_s == pytest.approx(60 * 1001 / 24000)


def test_audio_track_choice_and_fallback_warning(tmp_path):
    body = "Thor,0,10,fr,\nThor,10,20,,Commentary\nThor,20,30,,\n"
    plan = plan_for(tmp_path, body, {"Thor": THOR}, header="movie,start,end,language,audio_title")
    assert [s.audio.index for s in plan.scenes] == [2, 1, 1]
    assert not plan.errors
    warnings = messages(plan, tmp_path)
    assert len(warnings) == 1 and warnings[0].startswith("scenes.csv:3: warning:") and "Commentary" in warnings[0]
    assert plan.scenes[1].warnings


def test_overlay_text(tmp_path):
    plan = plan_for(tmp_path, "Thor,0,10,May 2013,3x19,The Dark\nThor,10,20,,,\n", {"Thor": THOR},
                    header="movie,start,end,overlay,season_episode,episode_title")
    assert plan.scenes[0].overlay_lines == ("May 2013", "Thor · S03E19 · The Dark")
    assert plan.scenes[1].overlay_lines == ()
    assert episode_code("3.10") == "S03E10" and episode_code("s1e2") == "S01E02"


SILENT = source("Silent Planet (1955) 4x3.mp4")


@pytest.mark.parametrize("second_line, lines", [
    ("title", ("1955", "Silent Planet")),  # no extension, year or release tags
    ("movie", ("1955", "Silent Planet (1955) 4x3.mp4")),  # the cell as written
    ("none", ("1955",)),
])
def test_overlay_second_line_is_the_title_the_movie_cell_or_nothing(tmp_path, second_line, lines):
    body = "Silent Planet (1955) 4x3.mp4,0,10,1955\nThe.Kid.1921.720p.BluRay.x264-GROUP.mp4,0,10,1921\n"
    sources = {"Silent Planet (1955) 4x3.mp4": SILENT, "The.Kid.1921.720p.BluRay.x264-GROUP.mp4": THOR}
    plan = plan_for(tmp_path, body, sources, Settings(overlay_second_line=second_line))
    assert plan.scenes[0].overlay_lines == lines
    assert plan.scenes[1].overlay_lines[1:] == {"title": ("The Kid",), "none": ()}.get(
        second_line, ("The.Kid.1921.720p.BluRay.x264-GROUP.mp4",))
    others = {keys(tmp_path, body, Settings(overlay_second_line=other), sources)[0]
              for other in ("title", "movie", "none") if other != second_line}
    assert keys(tmp_path, body, Settings(overlay_second_line=second_line), sources)[0] not in others


def test_overlay_title_keeps_the_episode_code_and_title(tmp_path):
    plan = plan_for(tmp_path, "Agents of S.H.I.E.L.D. (2013),0,10,May 2016,3.19,Absolution\n",
                    {"Agents of S.H.I.E.L.D. (2013)": THOR},
                    header="movie,start,end,overlay,season_episode,episode_title")
    assert plan.scenes[0].overlay_lines == ("May 2016", "Agents of S.H.I.E.L.D. · S03E19 · Absolution")


def test_overlay_second_line_values():
    assert [parse_overlay_second_line(v) for v in ("title", " Movie ", "NONE")] == ["title", "movie", "none"]
    with pytest.raises(UsageError, match="--overlay-second-line: 'both' is not title, movie or none"):
        parse_overlay_second_line("both")


def test_fades_only_at_joins_inside_a_part(tmp_path):
    body = "Small,0,10\nSmall,10,20\nSmall,20,30\n"
    plan = plan_for(tmp_path, body, {"Small": SMALL}, Settings(transition=Transition("fade", 0.5)),
                    header="movie,start,end")
    assert [(s.fade_in_s, s.fade_out_s) for s in plan.scenes] == [(0, 0.5), (0.5, 0.5), (0.5, 0)]


def keys(tmp_path, body, settings=Settings(), sources=None):
    plan = plan_for(tmp_path, body, sources or {"Thor": THOR}, settings)
    return [scene_job(s, plan.format, plan.settings).key for s in plan.scenes]


def test_scene_keys_change_exactly_when_the_segment_would(tmp_path):
    base = "Thor,0,10,1942\nThor,10,20,1943\nThor,20,30,\n"
    first = keys(tmp_path, base)
    assert len(set(first)) == 3
    assert keys(tmp_path, base) == first  # stable
    edited = keys(tmp_path, base.replace("1943", "1944"))
    assert [a == b for a, b in zip(first, edited)] == [True, False, True]
    assert keys(tmp_path, base.replace("20,30", "20,31"))[:2] == first[:2]
    assert set(keys(tmp_path, base, Settings(crf=18))).isdisjoint(first)
    styled = keys(tmp_path, base, Settings(font_size=40))
    assert styled[2] == first[2] and styled[0] != first[0]  # overlay style only matters with an overlay
    touched = keys(tmp_path, base, sources={"Thor": replace(THOR, mtime_ns=2)})
    assert set(touched).isdisjoint(first)
    # an added scene elsewhere does not change the others (resume and incremental renders rely on it)
    assert keys(tmp_path, "Thor,50,60,\n" + base)[1:] == first


@pytest.fixture
def font_folder(tmp_path, monkeypatch):
    """An empty OS font folder (the font caches are cleared before and after): fonts are "installed" into it."""
    folder = tmp_path / "fonts"
    folder.mkdir()
    caches = [fonts.system_fonts, fonts._default_primary, fonts._fallback_order, fonts.font_for_char,
              fonts._user_font]
    for cache in caches:
        cache.cache_clear()
    monkeypatch.setattr(fonts, "font_dirs", lambda: [folder])
    yield folder
    monkeypatch.undo()
    for cache in caches:
        cache.cache_clear()


def test_installing_or_changing_a_font_that_draws_an_overlay_changes_its_key(tmp_path, font_folder):
    dejavu = next(Path("/usr/share/fonts").rglob("DejaVuSans.ttf"), None) if Path("/usr/share/fonts").is_dir() else None
    if dejavu is None:
        pytest.skip("no DejaVuSans.ttf on this machine to install (apt-get install fonts-dejavu-core)")
    body = "Thor,0,10,Жуков 1942\nThor,10,20,\n"
    before = keys(tmp_path, body)  # no font draws the Cyrillic: it would show as boxes
    assert keys(tmp_path, body) == before
    (font_folder / "DejaVuSans.ttf").write_bytes(dejavu.read_bytes())
    for cache in (fonts.system_fonts, fonts._default_primary, fonts._fallback_order, fonts.font_for_char):
        cache.cache_clear()
    installed = keys(tmp_path, body)
    assert installed[0] != before[0], "a rerun would reuse the segment drawn with boxes"
    assert installed[1] == before[1]  # no overlay, no font: the scene is not re-rendered
    stat = (font_folder / "DejaVuSans.ttf").stat()
    os.utime(font_folder / "DejaVuSans.ttf", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert keys(tmp_path, body)[0] != installed[0]  # a replaced font file re-renders too


def test_an_hdr_source_is_planned_tone_mapped_and_said_so_once(tmp_path):
    hdr = replace(source("Dune 2160p HDR.mkv"), color_matrix="bt2020nc", color_transfer="smpte2084",
                  dynamic_range=DynamicRange("HDR10", "pq", max_cll=1000, max_fall=400))
    plan = plan_for(tmp_path, "dune,0:10,0:20,,\ndune,0:30,0:40,,\nthor,0:10,0:20,,\n",
                    {"dune": hdr, "thor": THOR})
    assert len(plan.scenes) == 3 and not plan.errors and not plan.warnings
    table = plan_table(plan)
    assert table.count("Dune 2160p HDR.mkv: HDR10 (PQ), MaxCLL 1000, MaxFALL 400: "
                       "tone-mapped (HDR10, peak 1000 nits)") == 1 and "Thor.mkv:" not in table
    moviepy = plan_for(tmp_path, "dune,0:10,0:20,,\n", {"dune": hdr}, Settings(backend="moviepy"))
    assert "moviepy backend does not tone-map" in str(moviepy.warnings[0])


def test_a_dolby_vision_source_without_a_base_layer_is_an_error_naming_the_file(tmp_path):
    profile5 = replace(source("Arrival DV.mkv"), dynamic_range=DynamicRange("Dolby Vision", "", 5, 0))
    plan = plan_for(tmp_path, "arrival,0:10,0:20,,\nthor,0:10,0:20,,\n", {"arrival": profile5, "thor": THOR})
    errors = [str(p) for p in plan.errors]
    assert len(errors) == 1 and "scenes.csv:2:" in errors[0]
    assert "Arrival DV.mkv is Dolby Vision profile 5" in errors[0] and "HDR10 or SDR version" in errors[0]
    assert [s.source.path.name for s in plan.scenes] == ["Thor.mkv"]


def test_an_interlaced_source_is_warned_about_only_with_the_moviepy_backend(tmp_path):
    dvd = replace(source("Episode 1 DVD.mkv", size=(720, 576)), interlaced=True)
    rows = "ep,0:10,0:20,,\nep,0:30,0:40,,\n"
    assert not plan_for(tmp_path, rows, {"ep": dvd}).warnings  # the ffmpeg backend deinterlaced it
    warnings = [str(p) for p in plan_for(tmp_path, rows, {"ep": dvd}, Settings(backend="moviepy")).warnings]
    assert len(warnings) == 1 and "Episode 1 DVD.mkv is interlaced" in warnings[0] and "scenes.csv:2:" in warnings[0]


UNTAGGED = source("Untagged.mkv", tracks=(AudioTrack(index=1, order=0, codec="aac", language=None, title=None,
                                                     channels=2, sample_rate=48000, default=True),))


def test_a_warning_repeated_for_rows_of_one_source_is_said_once_with_its_lines(tmp_path):
    body = "Untagged,0,10,en\nThor,0,10,en\nUntagged,10,20,en\nUntagged,20,30,en\nUntagged,40,50,en\n"
    plan = plan_for(tmp_path, body, {"Thor": THOR, "Untagged": UNTAGGED}, header="movie,start,end,language")
    warnings = messages(plan, tmp_path)
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith('scenes.csv:2: warning: lines 2, 4-6 (4 rows): no audio track in language "en" in '
                                  "Untagged.mkv")
    # each scene keeps its own warning for the report
    assert [bool(s.warnings) for s in plan.scenes] == [True, False, True, True, True]
    assert "lines" not in plan.scenes[2].warnings[0]


def test_errors_come_before_warnings_each_in_line_order(tmp_path):
    body = "Thor,0,10,,Commentary\nThor,0:20,0:10,,\nThor,10,20,,Commentary\nLoki,0,1,,\n"
    plan = plan_for(tmp_path, body, {"Thor": THOR}, header="movie,start,end,language,audio_title")
    assert [(p.severity, p.line) for p in plan.problems] == [("error", 3), ("error", 5), ("warning", 2)]
