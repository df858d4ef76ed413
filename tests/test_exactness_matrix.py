"""The exactness matrix in CI: scenes cut from sources made the many ways real files are made (sample
rates, codecs, layouts, timing quirks, frame rates, GOP structures, containers), checked frame by frame
and beep by beep, whole and split, in the process pool, ``--no-threading`` and a local Dask cluster.
``benchmarks/exactness_matrix.py`` runs the same matrix and prints its table."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import exactness_matrix as matrix  # noqa: E402

from megacut.cli import main  # noqa: E402
from megacut.ffmpeg import ffmpeg_exe, run_ffmpeg  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    folder = tmp_path_factory.mktemp("matrix")
    executors = ("process", "inline", "dask")
    try:
        import distributed  # noqa: F401
    except ImportError:  # the cluster extra is not installed: the other executors still agree
        executors = ("process", "inline")
    found = matrix.run_matrix(folder, matrix.SOURCES, executors, log=lambda line: None)
    print(matrix.table(found))
    return {(row.source, row.layout): row for row in found}


@pytest.mark.parametrize("layout", matrix.LAYOUTS)
@pytest.mark.parametrize("name", [s.name for s in matrix.SOURCES])
def test_every_cut_frame_and_beep_is_where_the_source_plays_it(rows, name, layout):
    row = rows[(name, layout)]
    assert row.frames_right == row.frames and row.first_frame_right, row.problems
    assert row.beeps_found == row.beeps > 0, row.problems
    assert row.worst_offset_ms <= matrix.BAR_S * 1000, row.problems
    assert row.audio_video_samples == 0, row.problems
    assert row.split_frames_equal and row.split_pcm_max_diff == 0 and row.alone_identical, row.problems
    assert row.executors_identical is True, row.problems
    assert row.moviepy_identical is not False, row.problems
    assert row.problems == []


def test_the_matrix_covers_the_ways_real_files_differ():
    sources = matrix.SOURCES
    rates = {s.rate for s in sources}
    assert {8000, 16000, 22050, 32000, 44100, 48000, 88200, 96000} <= rates
    extensions = {Path(s.name).suffix for s in sources}
    assert {".mp4", ".mkv", ".mov", ".webm", ".avi", ".ts"} <= extensions
    assert {"24000/1001", "24", "25", "30000/1001", "30", "50", "60000/1001"} <= {s.fps for s in sources}
    assert {"mono", "stereo", "5.1"} <= {s.layout for s in sources}
    transfers = " ".join(" ".join(s.video) for s in sources)
    assert "transfer=smpte2084" in transfers and "transfer=arib-std-b67" in transfers  # HDR10 and HLG


def beep_source(path: Path, rate: int) -> Path:
    """The reproduction users sent: a 60 ms 1.5 kHz beep at every whole second, AAC at ``rate``."""
    run_ffmpeg(["-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=10", "-f", "lavfi",
                "-i", f"aevalsrc='if(lt(mod(t\\,1)\\,0.06)\\,sin(2*PI*1500*t)\\,0)':s={rate}:d=10",
                "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(path)])
    return path


@pytest.mark.parametrize("rate", [44100, 22050])
@pytest.mark.parametrize("segment", ["1", "600"])
def test_a_scene_of_a_44_1_khz_film_keeps_its_beeps_split_and_whole(tmp_path, rate, segment, capsys):
    (tmp_path / "movies").mkdir()
    beep_source(tmp_path / "movies" / "Beeps.mp4", rate)
    (tmp_path / "s.csv").write_text("movie,start,end\nBeeps,2.4,7.2\n", encoding="utf-8")
    code = main(["process", "--csv", str(tmp_path / "s.csv"), "--movies", str(tmp_path / "movies"), "--output",
                 str(tmp_path / "out"), "--preset", "ultrafast", "--resolution", "160x90", "--fps", "25",
                 "--segment-duration", segment, "-q"])
    assert code == 0, capsys.readouterr().err
    decoded = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "out" / "mega_cut_part_1.mp4"),
                              "-ac", "1", "-ar", "48000", "-f", "s16le", "-"], capture_output=True, check=True).stdout
    onsets = matrix.onsets_s(np.frombuffer(decoded, dtype=np.int16))
    # the source beeps at 3, 4, 5, 6 and 7 s: 0.6, 1.6, 2.6, 3.6 and 4.6 s into the scene
    assert len(onsets) == 5 and max(abs(t - (0.6 + k)) for k, t in enumerate(onsets)) < 0.002, onsets
