"""`megacut cache`: what the segment cache holds, what a plan still uses, and pruning the rest;
`megacut plan` saying how much disk a run needs."""

import re

from test_cli import run_cli, write_csv

from megacut.run.cache import SegmentCache
from megacut.run.disk import format_bytes

ROWS = "movie,start,end,overlay\nSmall,0,0.4,Year 1\nSmall,1,1.4,Year 2\nSmall,2,2.4,Year 3\n"
FAST = ["--preset", "ultrafast", "--encoder-threads", "1"]


def process(csv, movies, output, capsys):
    code, out, err = run_cli(["process", "--csv", csv, "--movies", movies, "--output", output, "--no-threading",
                              "-q", *FAST], capsys)
    assert code == 0, out + err
    return out


def segments_in(output):
    return sorted((output / ".megacut-cache" / "segments").glob("*.mov"))


def test_prune_deletes_exactly_the_segment_an_edit_left_behind(tmp_path, movies, capsys):
    csv = write_csv(tmp_path, ROWS)
    output = tmp_path / "out"
    process(csv, movies, output, capsys)
    first = set(segments_in(output))
    csv.write_text(ROWS.replace("Year 2", "Year 22"), encoding="utf-8")
    process(csv, movies, output, capsys)
    after = set(segments_in(output))
    assert len(first) == 3 and len(after) == 4  # the edit left the old scene's segment behind
    manifest = next((output / ".megacut-cache" / "parts").glob("*.json")).read_text()
    (stale,) = [p for p in after if p.stem not in manifest]  # the rewritten part no longer lists it
    stale_bytes, total = stale.stat().st_size, sum(p.stat().st_size for p in after)

    code, out, err = run_cli(["cache", "--output", output], capsys)
    assert code == 0, out + err
    assert f"cache: {output / '.megacut-cache'}" in out
    assert f"segments: 4, {format_bytes(total)}" in out
    assert f"{output / 'mega_cut_part_1.mp4'}: 3 segment(s), as written" in out

    code, out, err = run_cli(["cache", "--output", output, "--prune"], capsys)
    assert code == 2 and "--prune needs the plan" in err and len(segments_in(output)) == 4

    plan_args = ["--csv", csv, "--movies", movies, *FAST]
    code, out, err = run_cli(["cache", "--output", output, *plan_args], capsys)
    assert code == 0, out + err
    assert f"used by this plan: 3 segment(s), {format_bytes(total - stale_bytes)}" in out
    assert f"unused: 1 segment(s), {format_bytes(stale_bytes)}" in out
    assert len(segments_in(output)) == 4  # looking deletes nothing

    with SegmentCache(output / ".megacut-cache").lock():  # a render running on this cache
        code, out, err = run_cli(["cache", "--output", output, "--prune", *plan_args], capsys)
    assert code == 2 and "another megacut run" in err and stale.exists()

    code, out, err = run_cli(["cache", "--output", output, "--prune", *plan_args], capsys)
    assert code == 0, out + err
    assert set(segments_in(output)) == after - {stale}
    assert f"freed {format_bytes(stale_bytes)}: 1 unused segment(s)" in out

    out = process(csv, movies, output, capsys)
    assert "part 1: current" in out and "3 cached" in out
    code, out, _ = run_cli(["cache", "--output", output, *plan_args], capsys)
    assert "unused: 0 segment(s)" in out


def test_prune_keeps_segments_of_parts_another_plan_wrote(tmp_path, movies, capsys):
    """A cache shared by two outputs: pruning against one plan keeps the other's written parts."""
    csv = write_csv(tmp_path, ROWS)
    other_csv = write_csv(tmp_path, ROWS.replace("Year", "Era"), name="other.csv")
    cache = tmp_path / "shared-cache"
    for source, output in ((csv, tmp_path / "a"), (other_csv, tmp_path / "b")):
        code, out, err = run_cli(["process", "--csv", source, "--movies", movies, "--output", output,
                                  "--cache-dir", cache, "--no-threading", "-q", *FAST], capsys)
        assert code == 0, out + err
    assert len(list((cache / "segments").glob("*.mov"))) == 6
    code, out, err = run_cli(["cache", "--output", tmp_path / "a", "--cache-dir", cache, "--prune", "--csv", csv,
                              "--movies", movies, *FAST], capsys)
    assert code == 0, out + err
    assert "kept for parts on disk: 3 segment(s)" in out and "freed 0 B" in out
    assert len(list((cache / "segments").glob("*.mov"))) == 6
    (tmp_path / "b" / "mega_cut_part_1.mp4").unlink()  # that part is gone: its segments are no one's now
    code, out, err = run_cli(["cache", "--output", tmp_path / "a", "--cache-dir", cache, "--prune", "--csv", csv,
                              "--movies", movies, *FAST], capsys)
    assert code == 0 and "3 unused segment(s), 1 stale part record(s), 1 audio track(s) of parts no longer" in out
    assert len(list((cache / "segments").glob("*.mov"))) == 3
    assert len(list((cache / "audio").glob("*.m4a"))) == 1  # a's part keeps its audio track


def test_cache_usage_errors(tmp_path, capsys):
    code, _, err = run_cli(["cache", "--output", tmp_path / "never-rendered"], capsys)
    assert code == 2 and "no segment cache" in err
    code, _, err = run_cli(["cache"], capsys, cwd=tmp_path)
    assert code == 2 and "--output is required" in err


def disk_line(out):
    return next(line for line in out.splitlines() if line.startswith("disk: "))


def test_plan_says_how_much_disk_a_run_needs(tmp_path, movies, capsys):
    csv = write_csv(tmp_path, ROWS)
    output = tmp_path / "out"
    code, out, _ = run_cli(["plan", "--csv", csv, "--movies", movies, *FAST], capsys)
    assert code == 0
    everything = disk_line(out)
    assert re.fullmatch(r"disk: about \d+ kB for segments and \d+ kB for parts \(give --output to count only what is not "
                        r"rendered there yet\)", everything)
    process(csv, movies, output, capsys)
    code, out, _ = run_cli(["plan", "--csv", csv, "--movies", movies, "--output", output, *FAST], capsys)
    assert code == 0 and disk_line(out) == f"disk: nothing to render, every part is current in {output}"
    csv.write_text(ROWS.replace("Year 2", "Year 22"), encoding="utf-8")
    code, out, _ = run_cli(["plan", "--csv", csv, "--movies", movies, "--output", output, *FAST], capsys)
    edited = disk_line(out)
    assert f"for segments (in {output / '.megacut-cache'})" in edited and f"for parts (in {output})" in edited
    one, three = (int(re.search(r"about (\d+) kB for segments", line).group(1)) for line in (edited, everything))
    assert abs(one * 3 - three) <= 3  # one scene of three left to render


def test_prune_keeps_parts_recorded_without_their_path_and_clears_leftovers(tmp_path):
    cache = SegmentCache(tmp_path / "cache")
    cache.prepare()
    for key in ("kept", "old-part", "unused"):
        cache.segment_path(key).write_bytes(b"x" * 100)
    (cache.parts / "mega_cut_part_1-123.json").write_text('{"keys": ["old-part"], "size_bytes": 1, "mtime_ns": 1}')
    (cache.parts / "damaged.json").write_text("{not json")
    (cache.work_dir("killed") / "frames").mkdir(parents=True)
    (cache.work_dir("killed") / "frames" / "f.png").write_bytes(b"y" * 50)
    usage = cache.usage({"kept", "never-rendered"})
    assert (set(usage.used), set(usage.in_parts), set(usage.unused), usage.missing) == (
        {"kept"}, {"old-part"}, {"unused"}, 1)
    pruned = cache.prune({"kept"})
    assert (set(pruned.segments), pruned.records, pruned.leftover_bytes, pruned.freed_bytes) == (
        {"unused"}, 1, 50, 150)
    assert set(cache.stored()) == {"kept", "old-part"} and not any(cache.work.iterdir())
    assert [p.name for p in cache.parts.iterdir()] == ["mega_cut_part_1-123.json"]
