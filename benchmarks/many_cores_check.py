"""The many-core targets, measured on the machine this runs on: one ffmpeg command against megacut at its
defaults (a worker per CPU), on the 9-scene workload (readme) and the 32-scene list, every CPU of this machine.

    python benchmarks/many_cores_check.py                                   # both workloads, 2 rounds
    python benchmarks/many_cores_check.py --model bench-out/scaling/scaling.json   # and the model's figures
    python benchmarks/many_cores_check.py --workloads readme --quick --rounds 1    # a quick smoke run

Each workload runs through ``performance_demo.py`` (configurations ``ffmpeg-command`` and
``megacut-<CPUs>w``, each output checked before its figures count; the fastest of the rounds kept). The
table gives each one's wall and CPU seconds, megacut's ratio to the command and its cores busy (CPU /
wall / CPUs), against the targets: the 9-scene workload at most 0.80x the command with 85% of the cores
busy, the 32-scene list 85% busy. With ``--model``, the scaling model's prediction for this many cores
(``benchmarks/scaling_model.py`` run on another machine, its ``scaling.json``) is printed beside it, so
the model can be judged. On a 16-core machine without network or ffmpeg, ``../shared/tools/device-bundle``
prepares what this needs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scaling_model  # noqa: E402  (the 32-scene list)

HERE = Path(__file__).resolve().parent
TARGETS = {"readme": (0.80, 0.85), "list32": (None, 0.85)}  # (ratio to the command at most, busy at least)


def run_demo(name: str, args, cpus: int, extra: list[str]) -> dict:
    """performance_demo.py's figures for one workload: {configuration: its best run}."""
    out = args.out / name
    command = [sys.executable, str(HERE / "performance_demo.py"), "--configs", f"ffmpeg-command,megacut-{cpus}w",
               "--repeat", str(args.rounds), "--work", str(args.work), "--out", str(out), *extra]
    subprocess.run(command, check=True)
    data = json.loads((out / "performance.json").read_text(encoding="utf-8"))
    return {c["name"]: c for c in data["configurations"]}


def model_row(model: dict | None, name: str, cpus: int) -> dict | None:
    """The scaling model's prediction for ``cpus`` cores, megacut's defaults (``after``), if it has one."""
    rows = (model or {}).get(name, {}).get("after", {}).get("model", [])
    return next((row for row in rows if row["cores"] == cpus), None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="readme,list32", help="readme, list32")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each configuration (the fastest counts)")
    parser.add_argument("--quick", action="store_true", help="the 9-scene workload's small version (a smoke run)")
    parser.add_argument("--model", type=Path, help="scaling.json of benchmarks/scaling_model.py, to compare")
    parser.add_argument("--preset", default="medium", help="x264 preset (default: medium)")
    parser.add_argument("--out", type=Path, default=Path("bench-out/many-cores"))
    parser.add_argument("--work", type=Path, help="generated sources (default: OUT/work)")
    args = parser.parse_args(argv)
    args.work = args.work or args.out / "work"
    cpus = len(os.sched_getaffinity(0))
    model = json.loads(args.model.read_text(encoding="utf-8")) if args.model else None
    rows = []
    for name in args.workloads.split(","):
        if name == "readme":
            configs = run_demo(name, args, cpus, ["--quick"] if args.quick else ["--preset", args.preset])
        elif name == "list32":
            workload = scaling_model.list32_workload(args.work, args)
            configs = run_demo(name, args, cpus, ["--csv", str(workload.csv), "--movies", str(workload.movies),
                                                  *workload.options])  # its size, rate and preset
        else:
            parser.error(f"unknown workload {name!r}: readme or list32")
        command, megacut = configs["ffmpeg-command"], configs[f"megacut-{cpus}w"]
        quick = args.quick and name == "readme"  # not the workload the model replayed
        rows.append((name, command, megacut, None if quick else model_row(model, name, cpus)))

    print(f"\n{cpus} CPUs; best of {args.rounds} round(s)")
    print(f"{'workload':<9} {'command s':>10} {'megacut s':>10} {'CPU s':>8} {'busy':>6} {'ratio':>6}   targets"
          f"{'   model: wall s, busy' if model else ''}")
    failed = False
    for name, command, megacut, predicted in rows:
        valid = command["valid"] and megacut["valid"]
        busy = megacut["cpu_s"] / megacut["wall_s"] / cpus
        ratio = megacut["wall_s"] / command["wall_s"]
        most_ratio, least_busy = TARGETS[name]
        met = busy >= least_busy and (most_ratio is None or ratio <= most_ratio)
        wanted = f"busy >= {least_busy:.0%}" + (f", ratio <= {most_ratio:.2f}" if most_ratio else "")
        print(f"{name:<9} {command['wall_s']:>10.2f} {megacut['wall_s']:>10.2f} {megacut['cpu_s']:>8.1f} "
              f"{busy:>6.0%} {ratio:>6.2f}   {wanted}: {'met' if met else 'not met'}"
              f"{'' if valid else ' (an output failed its checks)'}"
              + (f"   {predicted['wall_s']:.2f} s, {predicted['busy']:.0%}" if predicted else ""))
        failed = failed or not valid
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
