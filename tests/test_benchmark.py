"""The performance benchmark's quick mode runs end to end and every configuration renders valid output.

Slow-ish (tens of seconds): deselect with ``-m "not benchmark"``.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytestmark = [pytest.mark.slow, pytest.mark.benchmark]

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "performance_demo.py"
EXPECTED = ("moviepy-baseline", "ffmpeg-command", "megacut-inline", "megacut-1w", "megacut-2w",
            "megacut-threads", "megacut-rerun-edit")


def test_quick_benchmark_runs_every_configuration(tmp_path):
    out = tmp_path / "bench"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--quick", "--out", str(out)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:  # room for stall recoveries (20-30 s each) of a deadlocked ffmpeg
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:  # never leave the benchmark's processes behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    data = json.loads((out / "performance.json").read_text(encoding="utf-8"))
    results = {c["name"]: c for c in data["configurations"]}
    for name in EXPECTED:
        assert name in results, f"{name} missing from {sorted(results)}"
        result = results[name]
        assert result["valid"], (name, result["problems"])
        assert result["wall_s"] > 0 and result["cpu_s"] > 0 and result["peak_rss_bytes"] > 0, (name, result)
    assert data["machine"]["cpus_available"] >= 1 and data["machine"]["ffmpeg"]
    with Image.open(out / "performance.png") as chart:
        chart.verify()


SECTIONS_SCRIPT = SCRIPT.with_name("sections_benchmark.py")


def test_quick_sections_benchmark_renders_valid_slides_on_one_cpu(tmp_path):
    out = tmp_path / "bench"
    done = subprocess.run([sys.executable, str(SECTIONS_SCRIPT), "--quick", "--out", str(out)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads((out / "sections.json").read_text(encoding="utf-8"))
    results = {c["name"]: c for c in data["configurations"]}
    assert sorted(results) == ["moviepy", "still"]
    for name, result in results.items():
        assert result["valid"], (name, result["problems"])
        assert result["wall_s"] > 0 and result["cpu_s"] > 0 and result["peak_rss_bytes"] > 0, (name, result)
    if hasattr(os, "sched_setaffinity"):
        assert data["pinned_cpu"] in os.sched_getaffinity(0)
    assert "still encoder:" in done.stdout and data["workload"]["width"] == 640
