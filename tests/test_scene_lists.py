"""A scene list as people write it for their own use, planned against a library named as Plex or Radarr name
films (``Title (Year)/Title (Year).mkv``): names that differ from the files in spelling, one problem on many
rows, a film row without times, and a dry run of `process --skip-invalid`. The stand-ins are tiny real files."""

from __future__ import annotations

import os

import media
import pytest
from test_cli import run_cli, write_csv

FILMS = ("Spider-Man - Homecoming (2017)", "Iron Man (2008)", "Iron Man 2 (2010)", "Thor (2011)",
         "Thor - The Dark World (2013)", "Ant-Man (2015)", "Ant-Man and the Wasp (2018)", "The Avengers (2012)",
         "Guardians of the Galaxy Vol. 2 (2017)", "Spider-Man - Far From Home (2019)")


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Each film a 12 s stand-in in a folder of its name (hard links of one file: probing reads each)."""
    root = tmp_path_factory.mktemp("library")
    one = media.make_video(root / "stand-in.mkv", duration_s=12, size="64x36", fps=5, audio_tracks=())
    for film in FILMS:
        (root / film).mkdir()
        os.link(one, root / film / f"{film}.mkv")
    one.unlink()
    return root


def rows_of(out: str) -> dict[str, str]:
    return {line.split()[0]: line for line in out.splitlines() if line.strip()[:1].isdigit() and "→" in line}


def test_names_as_a_list_writes_them_find_the_library_files_and_plan_rows_says_how(tmp_path, library, capsys):
    csv = write_csv(tmp_path, "movie,start,end\nSpiderman: Homecoming,0:01,0:03\nIron Man,0:00,0:02\n"
                              "Thor,0:02,0:04\nAnt Man,0:00,0:01\nAvengers,0:00,0:01\n"
                              "Guardians of the Galaxy Volume 2,0:00,0:01\nAnt-Man & the Wasp,0:00,0:01\n"
                              "Iron Man II,0:00,0:01\nThe Avengers,0:01,0:02\n")
    code, out, _ = run_cli(["plan", "--rows", "--csv", csv, "--movies", library], capsys)
    assert code == 0, out
    rows = rows_of(out)
    expected = {"2": ("Spider-Man - Homecoming (2017)", "words joined or hyphenated alike (Spiderman, Spider-Man)"),
                "3": ("Iron Man (2008)", "title (year and [tags] aside)"),
                "4": ("Thor (2011)", "title (year and [tags] aside)"),
                "5": ("Ant-Man (2015)", "title (year and [tags] aside)"),
                "6": ("The Avengers (2012)", 'a leading "The" left out'),
                "7": ("Guardians of the Galaxy Vol. 2 (2017)", '"Volume" and "Vol." alike'),
                "8": ("Ant-Man and the Wasp (2018)", '"&" as "and"'),
                "9": ("Iron Man 2 (2010)", "roman sequel numbers as arabic (II as 2)"),
                "10": ("The Avengers (2012)", "title (year and [tags] aside)")}
    for line, (film, rule) in expected.items():  # a long "movie → file" keeps its ends
        assert f"{film[-20:]}.mkv  " in rows[line] and rows[line].endswith(f"  {rule}"), rows[line]


def test_one_problem_on_many_rows_is_said_once_with_its_lines_and_advice(tmp_path, library, capsys):
    body = "".join(f"Spiderman: Homecomin,0:0{n % 5},0:0{n % 5 + 1}\n" for n in range(11))
    body += "Thor: Dark Wrld,0:00,0:01\nThor,0:02,\nIron Man,0:00,0:01\n"
    csv = write_csv(tmp_path, "movie,start,end\n" + body)
    code, out, _ = run_cli(["plan", "--csv", csv, "--movies", library], capsys)
    assert code == 2
    problems = out.split("Problems:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    not_found = [p for p in problems if 'movie "Spiderman: Homecomin" not found' in p]
    assert len(not_found) == 1, problems
    assert "scenes.csv:2: error: lines 2-12 (11 rows): " in not_found[0]
    assert 'did you mean "Spider-Man - Homecoming (2017)/Spider-Man - Homecoming (2017).mkv"' in not_found[0]
    assert sum("Check the name in the CSV" in p for p in problems) == 1  # the advice, once for both names
    assert "Check the name in the CSV" in not_found[0]
    assert any('scenes.csv:13: error: movie "Thor: Dark Wrld" not found' in p for p in problems)
    assert any("scenes.csv:14: error: the end time is empty" in p and "`end`" in p for p in problems)
    assert len(problems) == 3, problems
    assert out.splitlines()[-1].startswith("3 error(s)")


def test_many_rows_list_their_first_lines_and_count(tmp_path, library, capsys):
    body = "".join(f"Spiderman: Homecomin,0:01,0:02\nIron Man,0:00,0:01\n" for _ in range(15))
    csv = write_csv(tmp_path, "movie,start,end\n" + body)
    _, out, _ = run_cli(["plan", "--csv", csv, "--movies", library], capsys)
    said = [line for line in out.splitlines() if "not found" in line]
    assert len(said) == 1 and "lines 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24 ... (15 rows): " in said[0]


def test_a_film_row_without_times_is_pointed_out_and_end_plays_to_the_end(tmp_path, library, capsys):
    csv = write_csv(tmp_path, "movie,start,end\nPhase Three,,\nIron Man,0:00,0:02\nSpiderman: Far From Home,,\n")
    code, out, _ = run_cli(["plan", "--csv", csv, "--movies", library], capsys)
    assert code == 0, out  # a warning: the list may mean a heading
    warning = next(line for line in out.splitlines() if "scenes.csv:4: warning:" in line)
    assert ('"Spiderman: Far From Home" has no start or end time, so it is read as a heading' in warning
            and "Spider-Man - Far From Home (2019)/Spider-Man - Far From Home (2019).mkv" in warning
            and "give it start 0 and end `end`" in warning)
    assert "Phase Three" not in out.split("Problems:", 1)[1]  # a heading that names no file stays one
    csv = write_csv(tmp_path, "movie,start,end\nSpiderman: Far From Home,0,end\nThor,0:10,END\n")
    code, out, _ = run_cli(["plan", "--rows", "--csv", csv, "--movies", library], capsys)
    assert code == 0 and "Problems:" not in out, out
    rows = rows_of(out)
    assert "0:00:00.000  0:00:12.000      60" in rows["2"] and "0:00:10.000  0:00:12.000      10" in rows["3"]
    csv = write_csv(tmp_path, "movie,start,end\nThor,end,0:10\n")
    code, out, _ = run_cli(["plan", "--csv", csv, "--movies", library], capsys)
    assert code == 2 and "scenes.csv:2: error: the start is `end`: `end` is for the end time" in out


def test_a_dry_run_with_skip_invalid_says_what_the_run_renders_and_skips(tmp_path, library, capsys):
    csv = write_csv(tmp_path, "movie,start,end\nIron Man,0:00,0:02\nThor,0:02,\nNo Such Film,0,1\nThor,0:01,0:03\n")
    output = tmp_path / "out"
    code, out, _ = run_cli(["process", "--dry-run", "--skip-invalid", "--csv", csv, "--movies", library,
                            "--output", output], capsys)
    assert code == 0, out
    last = out.splitlines()[-1]
    assert last == ("OK with --skip-invalid: 1 part(s), 2 scene(s), 0 warning(s); the row(s) on line(s) 3-4 (2 rows) "
                    "skipped (2 error(s) above).")
    assert "--skip-invalid`" not in out  # no advice to use the option given
    assert not output.exists()
    code, out, _ = run_cli(["process", "--dry-run", "--csv", csv, "--movies", library, "--output", output], capsys)
    assert code == 2 and "add --skip-invalid" not in out and "`megacut process --skip-invalid`" in out
    csv = write_csv(tmp_path, "movie,start,end\nNo Such Film,0,1\n")
    code, out, _ = run_cli(["process", "--dry-run", "--skip-invalid", "--csv", csv, "--movies", library,
                            "--output", output], capsys)
    assert code == 2, out  # nothing valid to render: the run would refuse too
