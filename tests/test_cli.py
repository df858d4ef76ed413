"""The command line as a user meets it: exit codes, messages with file:line, nothing written."""

import os
import subprocess
import sys

import pytest

from megacut.cli import main


def run_cli(args, capsys, cwd=None):
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
    finally:
        os.chdir(old)
    out, err = capsys.readouterr()
    return code, out, err


def write_csv(tmp_path, text, name="scenes.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def files_in(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


def test_clean_plan_prints_parts_and_headings(tmp_path, movies, capsys):
    csv = write_csv(tmp_path, "movie,start,end,overlay,season_episode\nPhase One,,,,\n"
                              "Thor: The Dark World,0:01,0:04,2013,\nAgents,0:00,0:02,,3x19\nSmall,1,2,,\n")
    code, out, err = run_cli(["plan", "--csv", csv, "--movies", movies, "--chunk-duration", "4s"], capsys)
    assert code == 0, out + err
    assert "Output: 320x180 @ 25 fps" in out
    assert "   1       1   0:00:03  Thor The Dark World.mkv" in out
    assert "   2       2   0:00:03  Agents S03E19.mkv, Small.mp4" in out
    assert "line 2: Phase One" in out
    assert "OK: 2 part(s), 3 scene(s)" in out


ROW_ERRORS = [
    ("Thor The Dark World,abc,0:05", "bad start time: 'abc' is not a time"),
    ("Thor The Dark World,-1,0:05", "bad start time: '-1' is negative"),
    ("Thor The Dark World,0:01,inf", "bad end time: 'inf' is not a time"),
    ("Thor The Dark World,0:05,0:02", "the end (0:02) is not after the start (0:05)"),
    ("Thor The Dark World,1.00,1.01", "shorter than one frame at 25 fps"),
    ("Thor The Dark World,0:05,0:30", "the end (0:30) is past the end of Thor The Dark World.mkv, which lasts"),
    ("Thor The Dark World,0:30,0:40", "the start (0:30) is past the end of Thor The Dark World.mkv"),
    ("Loki,0:01,0:02", "Loki"),
    ("Twin,0:01,0:02", "a/Twin.mp4"),
    ("../outside.mkv,0:01,0:02", "leaves the movies folder"),
    ("/etc/passwd,0:01,0:02", "movies folder"),
    ("Broken,0:01,0:02", "cannot use this source"),
    ("Thor The Dark World,00:00:01:30,00:00:02:00", "frame 30 does not exist at 25.000 fps"),
]


@pytest.mark.parametrize("row, message", ROW_ERRORS)
def test_bad_rows_exit_2_with_file_line_and_reason(tmp_path, movies, capsys, row, message):
    csv = write_csv(tmp_path, f"movie,start,end\nSmall,0,1\n{row}\n")
    before = files_in(tmp_path)
    code, out, err = run_cli(["plan", "--csv", csv, "--movies", movies], capsys)
    assert code == 2
    error_lines = [line for line in out.splitlines() if f"{csv}:3: error:" in line]
    assert len(error_lines) == 1 and message in error_lines[0], out
    assert "Traceback" not in out + err
    assert files_in(tmp_path) == before  # nothing written


def test_ambiguous_movie_lists_the_candidates(tmp_path, movies, capsys):
    csv = write_csv(tmp_path, "movie,start,end\nTwin,0:01,0:02\n")
    code, out, _ = run_cli(["plan", "--csv", csv, "--movies", movies], capsys)
    assert code == 2 and "a/Twin.mp4" in out and "b/Twin.mp4" in out


def test_bad_part_number_and_unknown_chunk(tmp_path, movies, capsys):
    csv = write_csv(tmp_path, "movie,start,end,part\nSmall,0,1,x\nSmall,1,2,1\n")
    code, out, _ = run_cli(["plan", "--csv", csv, "--movies", movies], capsys)
    assert code == 2 and f"{csv}:2: error: part must be a whole number from 1 up (found 'x')" in out
    csv = write_csv(tmp_path, "movie,start,end\nSmall,0,1\n")
    code, out, _ = run_cli(["plan", "--csv", csv, "--movies", movies, "--chunks", "1,3"], capsys)
    assert code == 2 and "--chunks asks for part 3, but the plan has parts: 1" in out


FILE_ERRORS = [
    (b"", "the CSV is empty"),
    (b"movie,start,end\n", "has a header but no scene rows"),
    (b"movie,start\nSmall,1\n", "missing required column 'end'"),
    (b"movie,start,end\nL\xe9on,0,1\n", ":2: byte 0xe9 at column 2 is not UTF-8"),
    (b'movie,start,end\n"Small,0,1\n', ":2: unbalanced double quote"),
]


@pytest.mark.parametrize("content, message", FILE_ERRORS)
def test_unreadable_csv_files_exit_2(tmp_path, movies, capsys, content, message):
    csv = tmp_path / "scenes.csv"
    csv.write_bytes(content)
    code, out, err = run_cli(["plan", "--csv", csv, "--movies", movies], capsys)
    assert code == 2
    assert err.startswith(f"megacut: error: {csv}") and message in err, err
    assert "Traceback" not in err


OPTION_ERRORS = [
    (["--chunks", "3-1"], "argument --chunks: '3-1' is not a valid range"),
    (["--chunks", "a"], "argument --chunks: 'a' is not a part number or range"),
    (["--chunk-duration", "0"], "argument --chunk-duration: '0' must be longer than zero"),
    (["--chunk-duration", "soon"], "argument --chunk-duration: 'soon' is not a duration"),
    (["--max-workers", "0"], "argument --max-workers: 0 is out of range; use 1 to 256"),
    (["--max-workers", "many"], "argument --max-workers: 'many' is not a whole number"),
    (["--resolution", "1281x720"], "must be even numbers"),
    (["--fps", "fast"], "argument --fps: 'fast' is not a frame rate"),
    (["--transition", "wipe"], "argument --transition: 'wipe' is not none, fade or fade:SECONDS"),
    (["--video-codec", "libvpx-vp9"], "argument --video-codec: 'libvpx-vp9' is not supported; megacut joins H.264"),
    (["--overlay-second-line", "both"], "argument --overlay-second-line: 'both' is not title, movie or none"),
    (["--font", "/no/such/font.ttf"], "--font: '/no/such/font.ttf' is neither a font file nor the name"),
]


@pytest.mark.parametrize("options, message", OPTION_ERRORS)
def test_bad_options_exit_2(tmp_path, movies, capsys, options, message):
    csv = write_csv(tmp_path, "movie,start,end\nSmall,0,1\n")
    code, out, err = run_cli(["plan", "--csv", csv, "--movies", movies, *options], capsys)
    assert code == 2 and message in err, err


def test_overlay_second_line_option_is_for_plan_and_process(capsys):
    from megacut.cli.options import build_parser, settings_from_args

    parser = build_parser()
    for command in ("plan", "process"):
        assert settings_from_args(parser.parse_args([command, "--overlay-second-line", "none"])
                                  ).overlay_second_line == "none"
        assert settings_from_args(parser.parse_args([command])).overlay_second_line == "title"
    assert settings_from_args(parser.parse_args(["sections", "a.json"])).overlay_second_line == "title"
    with pytest.raises(SystemExit):
        parser.parse_args(["sections", "a.json", "--overlay-second-line", "none"])


def test_overlay_characters_no_font_can_draw_are_a_warning(tmp_path, movies, capsys):
    from megacut.plan.fonts import uncovered_chars
    from megacut.plan.settings import Settings

    text = "1942 — 終わり"  # Japanese: only a CJK font draws it
    csv = write_csv(tmp_path, f"movie,start,end,overlay\nSmall,0,1,{text}\nSmall,1,2,1943\n")
    code, out, _ = run_cli(["plan", "--csv", csv, "--movies", movies], capsys)
    missing = uncovered_chars(text, Settings())
    if not missing:
        pytest.skip("this machine has a font covering the test characters")
    assert code == 0
    assert f"{csv}:2: warning: no installed font can draw" in out and f"{csv}:3: warning" not in out


def test_missing_paths(tmp_path, movies, capsys):
    csv = write_csv(tmp_path, "movie,start,end\nSmall,0,1\n")
    code, _, err = run_cli(["plan", "--csv", tmp_path / "nope.csv", "--movies", movies], capsys)
    assert code == 2 and "nope.csv: CSV file not found" in err
    code, _, err = run_cli(["plan", "--csv", csv, "--movies", tmp_path / "nothing"], capsys)
    assert code == 2 and "movies folder not found" in err
    code, _, err = run_cli(["plan", "--csv", csv], capsys, cwd=tmp_path)
    assert code == 2 and "--movies is required (or set MEGA_CUT_MOVIE_FOLDER" in err


def test_invalid_input_to_process_writes_nothing(tmp_path, movies, capsys):
    csv = write_csv(tmp_path, "movie,start,end\nSmall,0,1\nLoki,0,1\n")
    output = tmp_path / "out"
    code, out, _ = run_cli(["process", "--csv", csv, "--movies", movies, "--output", output], capsys)
    assert code == 2 and f"{csv}:3: error:" in out and "nothing was rendered" in out
    assert not output.exists()


@pytest.mark.parametrize("command", ["process", "sections", "demo", "process from MEGA_CUT_OUTPUT",
                                     "sections in a file"])
def test_an_output_that_is_a_file_is_a_usage_error_and_nothing_is_written(tmp_path, movies, capsys, monkeypatch,
                                                                          command):
    csv = write_csv(tmp_path, "movie,start,end\nSmall,0,1\n")
    spec = tmp_path / "talk.json"
    spec.write_text('{"output": "talk.mp4", "sections": [{"text": "Hi", "duration": 1}]}', encoding="utf-8")
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"someone's video")
    args = {"process": ["process", "--csv", csv, "--movies", movies, "--output", taken],
            "sections": ["sections", spec, "--output", taken],
            "demo": ["demo", "--output", taken],
            "process from MEGA_CUT_OUTPUT": ["process", "--csv", csv, "--movies", movies],
            "sections in a file": ["sections", spec, "--output", taken / "videos"]}[command]
    monkeypatch.setenv("MEGA_CUT_OUTPUT", str(taken))
    before = files_in(tmp_path)
    code, _, err = run_cli(args, capsys, cwd=tmp_path)
    where = {"process from MEGA_CUT_OUTPUT": f"MEGA_CUT_OUTPUT {taken}",
             "sections in a file": f"--output {taken / 'videos'}: {taken}"}.get(command, f"--output {taken}")
    assert code == 2
    assert f"{where} is a file, not a folder; give a folder path" in err
    assert files_in(tmp_path) == before and taken.read_bytes() == b"someone's video"


def test_paths_from_environment_and_dotenv(tmp_path, movies, capsys, monkeypatch):
    csv = write_csv(tmp_path, "movie,start,end\nSmall,0,1\n")
    (tmp_path / ".env").write_text(f'# paths\nMEGA_CUT_CSV="{csv}"\nexport MEGA_CUT_MOVIE_FOLDER={movies}\n')
    monkeypatch.delenv("MEGA_CUT_CSV", raising=False)
    monkeypatch.delenv("MEGA_CUT_MOVIE_FOLDER", raising=False)
    code, out, _ = run_cli(["plan"], capsys, cwd=tmp_path)
    assert code == 0 and "OK: 1 part(s)" in out
    monkeypatch.setenv("MEGA_CUT_CSV", str(tmp_path / "from-env.csv"))  # the environment wins over .env
    code, _, err = run_cli(["plan"], capsys, cwd=tmp_path)
    assert code == 2 and "from-env.csv: CSV file not found" in err


def test_probe_lists_tracks_and_fails_on_unreadable(movies, capsys):
    code, out, _ = run_cli(["probe", movies / "Thor The Dark World.mkv"], capsys)
    assert code == 0
    assert "320x180, 25.000 fps, h264 yuv420p" in out
    assert "colour: BT.601 (untagged: guessed from the picture size)" in out  # a small untagged test file
    assert 'audio #1 (stream 1): eng "Main"' in out and 'audio #2 (stream 2): fre "VF"' in out
    code, out, _ = run_cli(["probe", movies / "Small.mp4", movies / "Broken.mkv"], capsys)
    assert code == 2 and "no audio" in out and "Broken.mkv\n  error:" in out


def test_help_shows_examples_and_module_entry_point_works():
    result = subprocess.run([sys.executable, "-m", "megacut", "plan", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "example:\n  megacut plan --csv scenes.csv" in result.stdout
    result = subprocess.run([sys.executable, "-m", "megacut", "--help"], capture_output=True, text=True)
    assert "megacut demo" in result.stdout and "megacut process --csv" in result.stdout


def test_example_csv_plans_cleanly_and_matches_the_packaged_copy():
    from pathlib import Path

    from megacut.cli.demo import example_csv_text
    top = Path(__file__).resolve().parent.parent / "scenes.example.csv"
    assert top.read_text(encoding="utf-8") == example_csv_text()


def test_plan_rows_shows_the_file_track_and_part_of_every_row(tmp_path, movies, capsys):
    csv = write_csv(tmp_path, "movie,start,end,season_episode,language\nThor The Dark World,0:01,0:04,,fr\n"
                              "Agents,0:00,0:02,3x19,\nSmall,1,2,,\nLoki,0,1,,\n")
    code, out, _ = run_cli(["plan", "--csv", csv, "--movies", movies, "--chunk-duration", "4s"], capsys)
    assert "Shows/Season 3" not in out  # the per-row table only with --rows
    linked = tmp_path / "linked-movies"  # sources are found under the real path; still shown relative
    linked.symlink_to(movies)
    for command, folder in ((["plan"], movies), (["process", "--dry-run", "--output", tmp_path / "out"], linked)):
        code, out, _ = run_cli([*command, "--rows", "--csv", csv, "--movies", folder, "--chunk-duration", "4s"],
                               capsys)
        assert code == 2, out  # Loki is not found
        rows = {line.split()[0]: line for line in out.splitlines() if line.strip()[:1].isdigit() and "→" in line}
        assert list(rows) == ["2", "3", "4", "5"], out
        assert "Thor The Dark World → Thor The Dark World.mkv" in rows["2"] and '#2 fre "VF"' in rows["2"]
        assert "0:00:01.000" in rows["2"] and "0:00:04.000" in rows["2"] and " 75 " in rows["2"]
        # the part, then how the file was found when the name is not the file's
        assert "Agents → Shows/Season 3/Agents S03E19.mkv" in rows["3"] and rows["3"].endswith(" 2  episode S03E19")
        assert "silence" in rows["4"] and rows["4"].endswith(" 2  case, punctuation or extension")
        assert "Loki → not planned (see the problems)" in rows["5"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("missing, advice, not_advice", [
    ("😀", "Noto Emoji", "Noto Sans CJK"),
    ("終わ", "Noto Sans CJK", "Emoji"),
    ("ꦲ", "a font that has them (e.g. Noto Sans", "CJK"),
])
def test_the_font_advice_fits_the_characters_no_font_can_draw(tmp_path, movies, capsys, monkeypatch,
                                                               missing, advice, not_advice):
    import megacut.plan.fonts

    monkeypatch.setattr(megacut.plan.fonts, "uncovered_chars", lambda text, settings: missing)
    csv = write_csv(tmp_path, f"movie,start,end,overlay\nSmall,0,1,x {missing}\n")
    code, out, _ = run_cli(["plan", "--csv", csv, "--movies", movies], capsys)
    assert code == 0, out  # a warning, not an error
    warning = next(line for line in out.splitlines() if "no installed font can draw" in line)
    assert advice in warning and not_advice not in warning, warning


def test_max_workers_that_oversubscribe_the_cpus_are_warned_about(tmp_path, movies, capsys, monkeypatch):
    import megacut.run.engine
    import megacut.run.scheduler

    def stop_before_rendering(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(megacut.run.scheduler, "default_workers", lambda: 2)
    monkeypatch.setattr(megacut.run.engine, "render_groups", stop_before_rendering)
    csv = write_csv(tmp_path, "movie,start,end\nSmall,0,1\n")
    args = ["process", "--csv", csv, "--movies", movies, "--output", tmp_path / "out", "-q"]
    code, _, err = run_cli([*args, "--max-workers", "8", "--encoder-threads", "2"], capsys)
    assert code == 130
    warnings = [line for line in err.splitlines() if "--max-workers" in line]
    assert len(warnings) == 1, err
    assert warnings[0].startswith("megacut: warning: --max-workers 8 × --encoder-threads 2 = 16 encoder threads "
                                  "on 2 CPUs"), warnings[0]
    assert "memory" in warnings[0] and "default (1)" in warnings[0]
    code, _, err = run_cli([*args, "--max-workers", "1"], capsys)
    assert code == 130 and "--max-workers" not in err
