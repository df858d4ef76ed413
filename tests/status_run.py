"""A real `megacut process` run slow enough to watch: tiny generated sources, scenes that each take about a third
of a second (effects_for_tests.slow_unless_red sleeps on every frame, and fails the red source's scene), in three
parts of four scenes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from media import ffmpeg, make_video

TESTS = Path(__file__).resolve().parent
SCENES = 12  # 11 of the green source, one of the red one (the 11th), four scenes a part


def make_workload(root: Path) -> tuple[Path, Path]:
    """(the CSV, the movies folder)."""
    movies = root / "movies"
    movies.mkdir(parents=True)
    make_video(movies / "Good.mp4", duration_s=12, size="160x90")
    ffmpeg(["-f", "lavfi", "-i", "color=red:size=160x90:rate=25:duration=3", "-f", "lavfi", "-i",
            "sine=duration=3", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
            "-shortest", str(movies / "Red.mp4")])
    rows = [f"Good,{i},{i + 1},Year {i}" for i in range(10)] + ["Red,1,2,Year red", "Good,10,11,Year 10"]
    csv = root / "scenes.csv"
    csv.write_text("movie,start,end,overlay\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return csv, movies


def start_run(csv: Path, movies: Path, output: Path, *extra: str, workers: int | None = 1) -> subprocess.Popen:
    """`megacut process` in its own process group, its output piped (stderr has the progress lines);
    ``workers`` None: --no-threading."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    args = [sys.executable, "-m", "megacut", "process", "--csv", str(csv), "--movies", str(movies),
            "--output", str(output), "--chunk-duration", "4s", "--retries", "0",
            *(["--max-workers", str(workers)] if workers else ["--no-threading"]), "--backend", "moviepy",
            "--effect", "effects_for_tests:slow_unless_red", "--encoder-threads", "1", *extra]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def megacut_status(*args) -> subprocess.CompletedProcess:
    """`megacut status ARGS` as the command line runs it (in this process: no start-up to wait for)."""
    from megacut.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["status", *map(str, args)])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    return subprocess.CompletedProcess(["megacut", "status", *map(str, args)], int(code), out.getvalue(),
                                       err.getvalue())


def read_state(output: Path) -> dict | None:
    try:
        return json.loads((output / "megacut-status.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def wait_for(check, proc: subprocess.Popen | None = None, timeout_s: float = 60, every_s: float = 0.1):
    """Call ``check`` until it returns something true; return that. Fails when the run ends first."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) first:\n" + "".join(proc.communicate()))
        assert time.monotonic() < deadline, f"timed out waiting for {check}"
        time.sleep(every_s)


def items(state: dict) -> list[dict]:
    columns = state["items"]["columns"]
    defaults = {"host": -1, "attempts": 0, "render_s": 0.0, "error": -1}
    return [{**defaults, **dict(zip(columns, row))} for row in state["items"]["rows"]]
