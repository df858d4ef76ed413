import pytest

from megacut.errors import InputError
from megacut.plan.scenes import load_scenes


def write(tmp_path, text, name="scenes.csv", raw=None):
    path = tmp_path / name
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_short_column_names_and_every_field(tmp_path):
    path = write(tmp_path, (
        "movie,start,end,overlay,season_episode,episode_title,language,audio_title,part,file,comment\n"
        'Agents,0:10,0:20,"May 2013, London",3.19,Rise,fr,VF,2,shows/a.mkv,"quote "" inside"\n'
    ))
    table = load_scenes(path)
    assert not table.problems
    row = table.rows[0]
    assert (row.index, row.line, row.movie) == (0, 2, "Agents")
    assert row.start.to_seconds() == 10 and row.end.to_seconds() == 20
    assert row.overlay == "May 2013, London"
    assert (row.season_episode, row.episode_title, row.language, row.audio_title) == ("3.19", "Rise", "fr", "VF")
    assert (row.part, row.file, row.comment) == (2, "shows/a.mkv", 'quote " inside')


def test_long_column_names_any_case_and_extra_columns_kept(tmp_path):
    path = write(tmp_path, (
        "Movie_Show,START_TIMECODE,End_Timecode,Timeline_Placement,Audio_Language,Chunk,Rating\n"
        "Thor,00:01:00,00:02:00.500,1942,en,1,PG\n"
    ))
    table = load_scenes(path)
    row = table.rows[0]
    assert row.movie == "Thor" and row.end.to_seconds() == 120.5
    assert row.overlay == "1942" and row.language == "en" and row.part == 1
    assert row.extra == (("Rating", "PG"),)
    assert table.extra_columns == ["Rating"]


def test_headings_comments_blank_rows_bom_and_line_numbers(tmp_path):
    text = (
        "# my mega cut\n"
        "movie,start,end,overlay\n"
        "\n"
        "Phase One,,,\n"
        "Iron Man,0:10,0:20,2008\n"
        "# Iron Man 2,0:10,0:20,\n"
        ",,,\n"
        'Thor,0:10,0:20,"two\nlines"\n'
        "1940s,,,\n"
        "Captain America,1:00,1:05,1942\n"
    )
    path = write(tmp_path, "", raw=b"\xef\xbb\xbf" + text.encode())
    table = load_scenes(path)
    assert not table.problems
    assert [(r.line, r.movie, r.index) for r in table.rows] == [
        (5, "Iron Man", 0), (8, "Thor", 1), (11, "Captain America", 2)]
    assert table.rows[1].overlay == "two\nlines"
    assert [(h.line, h.text, h.before_scene) for h in table.headings] == [(4, "Phase One", 0), (10, "1940s", 2)]


def test_semicolon_separated_csv_from_european_excel(tmp_path):
    table = load_scenes(write(tmp_path, "movie;start;end;overlay\nThor;0:10;0:20;May 2013, London\n"))
    assert table.rows[0].overlay == "May 2013, London"


def test_frame_timecodes_are_kept_for_the_planner(tmp_path):
    table = load_scenes(write(tmp_path, "movie,start,end\nThor,00:00:01:00,00:00:02:12\n"))
    assert table.rows[0].start.needs_source and not table.problems


@pytest.mark.parametrize(
    "body, message",
    [
        ("Thor,abc,0:20", "scenes.csv:2: error: bad start time: 'abc' is not a time"),
        ("Thor,-5,0:20", "scenes.csv:2: error: bad start time: '-5' is negative"),
        ("Thor,0:10,nan", "scenes.csv:2: error: bad end time: 'nan' is not a time"),
        ("Thor,0:10,inf", "scenes.csv:2: error: bad end time: 'inf' is not a time"),
        ("Thor,0:20,0:10", "scenes.csv:2: error: the end (0:10) is not after the start (0:20)"),
        ("Thor,0:10,0:10", "scenes.csv:2: error: the end (0:10) is not after the start (0:10)"),
        ("Thor,0:10,", "scenes.csv:2: error: the end time is empty"),
        (",0:10,0:20", "scenes.csv:2: error: no movie"),
        ("Thor,0:10,0:20,two", "scenes.csv:2: error: part must be a whole number from 1 up (found 'two')"),
        ("Thor,0:10,0:20,0", "scenes.csv:2: error: part must be a whole number from 1 up (found '0')"),
        ("Thor,0:10,0:20,1,May 2013, London", "scenes.csv:2: error: 6 values but the header has 4 columns"),
    ],
)
def test_bad_rows_are_collected_with_file_and_line(tmp_path, body, message):
    table = load_scenes(write(tmp_path, f"movie,start,end,part\n{body}\nThor,1:00,1:10\n"))
    assert len(table.errors) == 1
    shown = str(table.errors[0]).replace(f"{tmp_path}/", "")
    assert shown.startswith(message), shown
    # the good row after it is still read, with its own index
    assert [(r.line, r.index) for r in table.rows] == [(3, 1)]
    assert table.scene_count == 2


def test_all_bad_rows_are_reported_not_just_the_first(tmp_path):
    table = load_scenes(write(tmp_path, "movie,start,end\nA,x,1\nB,1,y\nC,5,1\n"))
    assert [p.line for p in table.errors] == [2, 3, 4]
    assert table.rows == []


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the CSV is empty; it needs a header row"),
        (b"\n\n# only a comment\n", "the CSV is empty"),
        (b"movie,start,end\n", "has a header but no scene rows"),
        (b"movie,start,end\n\n# nothing\n", "has a header but no scene rows"),
        (b"movie,start,overlay\nThor,1,2\n", "scenes.csv:1: missing required column 'end' (or 'end_timecode'); "
                                             "the header has: movie, start, overlay"),
        (b"Thor,0:10,0:20\n", "scenes.csv:1: the first row must be a header naming the columns"),
        (b"movie,movie_show,start,end\nA,B,1,2\n", "columns 'movie' and 'movie_show' both give the movie"),
        (b"movie,start,end\nThor,0:10,0:20\nL\xe9on,0:10,0:20\n", "scenes.csv:3: byte 0xe9 at column 2 is not UTF-8"),
        (b'movie,start,end\nThor,0:10,0:20\n"Thor,0:10,0:20\nLoki,1,2\n', "scenes.csv:3: unbalanced double quote"),
        (b'movie,start,end\n"Thor"x,0:10,0:20\n', "scenes.csv:2: unbalanced double quote"),
    ],
)
def test_file_level_problems_raise_with_location(tmp_path, content, message):
    path = write(tmp_path, "", raw=content)
    with pytest.raises(InputError) as caught:
        load_scenes(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_missing_and_folder_paths(tmp_path):
    with pytest.raises(InputError, match="CSV file not found"):
        load_scenes(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a folder"):
        load_scenes(tmp_path)
