"""The README's examples run as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

from media import make_video

ROOT = Path(__file__).resolve().parents[1]


def readme_block(heading: str, language: str) -> str:
    """The first ```language block under ``heading`` in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


def test_the_python_api_example_runs_as_written(tmp_path):
    (tmp_path / "movies").mkdir()
    make_video(tmp_path / "movies" / "Small.mp4", duration_s=2, size="160x90", audio_tracks=())
    (tmp_path / "scenes.csv").write_text("movie,start,end,overlay\nSmall,0,0.4,Year 1\n", encoding="utf-8")
    script = tmp_path / "example.py"
    script.write_text(readme_block("## Python API", "python"), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "mega_cut_part_1.mp4").is_file()
