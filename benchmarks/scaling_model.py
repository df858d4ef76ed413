"""How megacut would keep N cores busy: jobs measured in a real run here, replayed on N simulated cores.

    python benchmarks/scaling_model.py                       # the three workloads, both designs
    python benchmarks/scaling_model.py --workloads readme --cores 2,4,8,16,32
    python benchmarks/scaling_model.py --workloads saga        # a 2-hour part and a 25-part saga
    python benchmarks/scaling_model.py --workloads saga --hdr-share 0.5   # half its scenes tone-mapped HDR10
    python benchmarks/scaling_model.py --workloads audio --cores 2,16,64   # a 2-hour part's audio

For each workload and design, megacut renders the workload once on this machine (``--force``, one
worker: each job runs alone, so its CPU / wall says how many cores it can use by itself, its decoder
and filters beside its encoder) and its report gives every job's CPU seconds and wall seconds, each
part's join and the start-up (from the command's start to its first job). The jobs are then replayed
on N simulated cores with megacut's own policy (:class:`megacut.run.scheduler.Pending`: in the part's
order, the longest of the next four per worker first by frames times the CPU per frame learned from the
ended jobs of the same source; one job queued beyond the workers), at most as many running as there
are workers (the design's default for N cores); a part's audio encoded as its jobs end in order
(``AUDIO_S_PER_S``) and, in the part's last four rounds of jobs, from the sound of the jobs not ended
yet rendered alone (``ALONE_S``); the part joined (one core) once its jobs and its audio are done, the
run over when the last part is written. A running job wants as many cores as it used alone; when the
jobs want more than N cores they share them. The replay of this machine's own run is printed next to
the real wall time, so the model's error can be judged.

Designs:
  before  one job per scene, 2 encoder threads per job, CPUs / 2 workers (megacut before segments)
  after   megacut's defaults now: scenes longer than --segment-duration split into segments, its
          --encoder-threads, CPUs / encoder threads workers

Workloads (generated, nothing downloaded):
  readme  9 scenes, 60 s of 1280x720 at 25 fps (benchmarks/performance_demo.py; docs/performance.md)
  list32  32 scenes of 4-6 s, 161.6 s of 854x480 at 30 fps
  long4   4 scenes of 60 s at 1920x1080 (rendered here at --long-sample-s per scene: the jobs of the
          full scenes are replayed with the CPU per frame and per job measured on the shorter ones)

  saga    a 2-hour 1080p part of 40 scenes of 1-10 minutes, and a saga of 25 such parts, on 2, 16, 64 and
          160 cores, whole and at several segment lengths: each job's cost from long4's scenes rendered
          here whole and split into 2 s segments (CPU per frame, and per job: what a segment costs)

Also compared: one ffmpeg command doing the whole workload, measured here as CPU seconds and modelled
on N cores as x264's own threading allows (its speed-up is taken from ``--ffmpeg-parallelism``,
measured on a 16-core machine as 111 CPU-s in 10.1 s wall: 11.0 cores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import performance_demo as demo  # noqa: E402  (the 9-scene workload and its sources)

import megacut  # noqa: E402
from megacut.join.aac_chunks import CHUNK_S, FRAME, POSTROLL_FRAMES, PREROLL_FRAMES  # noqa: E402
from megacut.join.audio import ALONE_THREADS  # noqa: E402
from megacut.plan.build import OutputFormat  # noqa: E402
from megacut.render.jobs import segment_bounds  # noqa: E402
from megacut.run.groups import scene_groups  # noqa: E402
from megacut.run.part import AHEAD_ROUNDS  # noqa: E402
from megacut.run.scheduler import WINDOW_PER_WORKER, Pending, default_workers, job_window  # noqa: E402

CORES = (2, 4, 8, 16, 32)
# Encoding a part's AAC track, seconds per second of audio: 192 s for a 2-hour part here (docs/rendering.md:
# Sound); it runs beside the jobs, fed as they end in the part's order.
AUDIO_S_PER_S = 192 / 7200
# The chunked encoder (join/aac_chunks.py): chunks of CHUNK_S, each one ffmpeg (CHUNK_START_S to start,
# and its pre- and post-roll encoded too), as many at once as the machine has cores; the chunks spliced
# and muxed at MUX_S_PER_S (benchmarks/audio_benchmark.py measures them: docs/performance.md, "A part's audio").
CHUNK_START_S = 0.03
ROLL_S = (PREROLL_FRAMES + POSTROLL_FRAMES) * FRAME / 48000
MUX_S_PER_S = 0.0004
# Rendering a 2 s segment's sound alone (without its picture) for the part's audio encoder: 41 ms here
# (ffmpeg's start-up, demuxing and decoding the source's sound).
ALONE_S = 0.041
FFMPEG_CMD_PARALLELISM = 111 / 10.1  # cores one ffmpeg command kept busy on 16 CPUs (issue figures)
LIST32 = demo.SourceSpec("Glass Harbor", "854x480", "30", 40,
                         "testsrc2=size={size}:rate={fps},hue=H=t/2,noise=alls=5:allf=t", (494, 587))
LONG_SOURCE = demo.SourceSpec("The Long Winter 1080p", "1920x1080", "30000/1001", 70,
                              "testsrc2=size={size}:rate={fps},hue=H=t/3,noise=alls=6:allf=t", (262, 349))


@dataclass(eq=False)
class Job:
    part: int
    frames: int
    cpu_s: float
    wall_s: float  # alone, on this machine
    source: str = ""  # megacut learns the CPU time per frame of each source's jobs as they end
    seconds: float = 0.0  # of output: its audio, encoded as the part's jobs end in order

    @property
    def cost_class(self) -> str:
        return self.source

    @property
    def cores(self) -> float:
        return max(1.0, self.cpu_s / self.wall_s) if self.wall_s > 0 else 1.0


@dataclass
class Measured:
    """One real run: its jobs, joins and totals, as the report gives them."""

    jobs: list[Job]
    joins: dict[int, float]  # part -> join wall seconds
    wall_s: float
    cpu_s: float  # the whole run's: its jobs, and this process with its other ffmpeg (audio, joins)
    workers: int
    startup_s: float = 0.0  # from the command's start to its first job: imports, probing, planning, the pool
    tail_s: float = 0.0  # from the last job ended to the last part written
    replay_s: float = 0.0  # the model's replay of this very run, to compare with wall_s
    steal: float | None = None  # of this machine's CPU time during the run, taken by the host (a VM)

    @property
    def other_cpu_s(self) -> float:
        """CPU seconds beside the jobs and the joins the model replays: planning, the parts' audio (encoded,
        and rendered alone), joining ahead. The replay leaves them out of its cores busy (they run beside
        the jobs); a measurement of the whole process tree counts them (``busy_all``)."""
        return max(0.0, self.cpu_s - sum(j.cpu_s for j in self.jobs) - sum(self.joins.values()))


def machine_cpu_ticks() -> list[int] | None:
    """The machine's CPU time counters (Linux /proc/stat: user ... steal), None elsewhere."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            return [int(v) for v in handle.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def stolen_fraction(before: list[int] | None, after: list[int] | None) -> float | None:
    """How much of the CPU time between two readings the hypervisor gave to other machines: CPU seconds
    measured on a VM with much steal are inflated and noisy."""
    if not before or not after:
        return None
    deltas = [b - a for a, b in zip(before, after)]
    return deltas[7] / sum(deltas) if sum(deltas) > 0 else None


@dataclass
class Design:
    name: str
    extra: list[str]  # megacut options
    encoder_threads: int
    segment_s: float

    def workers(self, cores: int) -> int:
        return max(1, cores // self.encoder_threads)


def designs() -> list[Design]:
    defaults = megacut.Settings()
    return [Design("before", ["--segment-duration", "0", "--encoder-threads", "2"], 2, 0.0),
            Design("after", [], defaults.encoder_threads, defaults.segment_s)]


# ------------------------------------------------------------------ workloads


@dataclass
class Workload:
    name: str
    csv: Path
    movies: Path
    options: list[str]  # resolution, fps, preset
    full_csv: Path | None = None  # long4: the full-length scenes, replayed from the measured costs
    parts: dict = field(default_factory=dict)


def readme_workload(work: Path, args) -> Workload:
    ns = argparse.Namespace(quick=False, work=work, seed=7, preset=args.preset, crf=20)
    w = demo.generated_workload(ns)
    return Workload("readme", w.csv, w.movies, ["--resolution", "1280x720", "--fps", "25", "--preset", w.preset])


def list32_workload(work: Path, args) -> Workload:
    folder = work / "list32"
    movies = folder / "movies"
    movies.mkdir(parents=True, exist_ok=True)
    sources = tuple(demo.SourceSpec(f"{s.name}", s.size, s.fps, s.duration_s, s.video, s.tones, s.sample_rate)
                    for s in demo.FULL_SOURCES)
    for spec in sources:
        demo.make_source(spec, movies)
    rows = demo.scene_rows(sources, 32, 161.6, seed=11)
    csv_path = folder / "scenes.csv"
    demo.write_csv(csv_path, rows)
    return Workload("list32", csv_path, movies, ["--resolution", "854x480", "--fps", "30", "--preset", args.preset])


def long4_workload(work: Path, args) -> Workload:
    folder = work / "long4"
    movies = folder / "movies"
    movies.mkdir(parents=True, exist_ok=True)
    demo.make_source(LONG_SOURCE, movies)

    def rows(length_s: float) -> list[dict]:
        return [{"movie": LONG_SOURCE.name, "start": demo.timecode(1 + k * 0.5),
                 "end": demo.timecode(1 + k * 0.5 + length_s), "overlay": demo.OVERLAYS[k]} for k in range(4)]

    sample, full = folder / "sample.csv", folder / "scenes.csv"
    demo.write_csv(sample, rows(args.long_sample_s))
    demo.write_csv(full, rows(60.0))
    return Workload("long4", sample, movies, ["--resolution", "1920x1080", "--preset", args.preset], full_csv=full)


WORKLOADS = {"readme": readme_workload, "list32": list32_workload, "long4": long4_workload}


# ------------------------------------------------------------------ measuring


def measure(workload: Workload, design: Design, out: Path, workers: int = 1, reuse: bool = False) -> Measured:
    """Render ``workload`` with ``design`` once here with ``workers`` workers, and read its report
    (``reuse``: the run measured before in ``out``, if there is one)."""
    cores = default_workers()
    output = out / f"{workload.name}-{design.name}"
    timing_path = output / "scaling-run.json"
    if reuse and timing_path.exists():
        timing = json.loads(timing_path.read_text(encoding="utf-8"))
    else:
        command = [sys.executable, "-m", "megacut", "process", "--csv", str(workload.csv), "--movies",
                   str(workload.movies), "--output", str(output), "--force", "-q", "--max-workers", str(workers),
                   *workload.options, *design.extra]
        launched_at, started, cpu_before = time.time(), time.monotonic(), machine_cpu_ticks()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall_s = time.monotonic() - started
        report = json.loads((output / "megacut-report.json").read_text(encoding="utf-8"))
        timing = {"wall_s": wall_s, "workers": workers, "steal": stolen_fraction(cpu_before, machine_cpu_ticks()),
                  # imports and the plan, before the run
                  "run_started_s": datetime.fromisoformat(report["started_at"]).timestamp() - launched_at}
        timing_path.write_text(json.dumps(timing, indent=2), encoding="utf-8")
    wall_s, workers, steal, run_started_s = (timing[k] for k in ("wall_s", "workers", "steal", "run_started_s"))
    report = json.loads((output / "megacut-report.json").read_text(encoding="utf-8"))
    segments = [(scene["part"], scene["source"], s) for scene in report["scenes"] if scene.get("segments")
                for s in scene["segments"]]
    # what a worker spends between jobs (submission, results, spawning ffmpeg): added to every job's wall
    busy_s = sum(s["render_s"] for _, _, s in segments)
    first_start_s = min(s["ended_at_s"] - s["render_s"] for _, _, s in segments)
    span_s = report["last_job_ended_s"] - first_start_s
    gap_s = max(0.0, (span_s * workers - busy_s) / len(segments)) if len(segments) > workers else 0.0
    fps = Fraction(report["format"]["fps"])
    jobs = [Job(part, s["frames"], s["cpu_s"], s["render_s"] + gap_s, source, float(s["frames"] / fps))
            for part, source, s in segments]
    # the join as it would be with cores to spare: its audio, encoded while the part rendered, waited for
    # here only because two cores were busy with jobs
    joins = {p["n"]: p["join_s"] - p.get("audio_wait_s", 0.0) for p in report["parts"]
             if p["status"] in ("written", "incomplete")}
    # the report's CPU time includes the jobs' (their workers are reaped when the pool closes)
    measured = Measured(jobs, joins, wall_s, max(report["cpu_s"], sum(j.cpu_s for j in jobs)), workers)
    measured.startup_s = run_started_s + first_start_s  # from the command's start to its first job
    measured.steal = steal
    measured.tail_s = max(p["written_at_s"] for p in report["parts"]) - report["last_job_ended_s"]
    measured.replay_s = simulate(jobs, joins, cores, workers)[0] + measured.startup_s
    return measured


def fitted_jobs(measured: Measured, plan_csv: Path, workload: Workload, design: Design) -> list[Job]:
    """The jobs of ``plan_csv`` under ``design``, with CPU and wall seconds from a line fitted to the
    measured jobs (seconds = a + b * frames): for scenes too long to render here."""
    xs = [j.frames for j in measured.jobs]
    mean_x = sum(xs) / len(xs)
    spread = sum((x - mean_x) ** 2 for x in xs)

    def fit(values):
        mean_y = sum(values) / len(values)
        slope = (sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, values)) / spread if spread
                 else mean_y / mean_x)
        return mean_y - slope * mean_x, slope

    (cpu_a, cpu_b), (wall_a, wall_b) = fit([j.cpu_s for j in measured.jobs]), fit([j.wall_s for j in measured.jobs])
    settings = settings_for(workload, design)
    plan = megacut.prepare_plan(plan_csv, workload.movies, settings)
    jobs = []
    for group in scene_groups(plan, Path("/nonexistent")):
        for item in group.items:
            for job in item.jobs:
                jobs.append(Job(group.number, job.frames, max(0.01, cpu_a + cpu_b * job.frames),
                                max(0.01, wall_a + wall_b * job.frames), str(job.scene.source.path),
                                group.format.seconds_for(job.frames)))
    return jobs


def settings_for(workload: Workload, design: Design) -> megacut.Settings:
    options = dict(zip(workload.options[::2], workload.options[1::2]))
    size = tuple(int(v) for v in options["--resolution"].split("x"))
    fps = Fraction(options["--fps"]) if "--fps" in options else None
    return megacut.Settings(resolution=size, fps=fps, preset=options["--preset"],
                            encoder_threads=design.encoder_threads, segment_s=design.segment_s)


# ------------------------------------------------------------------ the model


def simulate(jobs: list[Job], joins: dict[int, float], cores: int, workers: int,
             queued: int = 1, window_per_worker: int = WINDOW_PER_WORKER,
             ahead_rounds: int = AHEAD_ROUNDS, known_costs: bool = False,
             audio_lanes: int | None = None) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, when the last job ended) of replaying ``jobs`` (in part order) on
    ``cores`` cores with ``workers`` workers and megacut's own choice of the next job
    (:class:`megacut.run.scheduler.Pending`: in order, the longest of the next ``window_per_worker`` per
    worker first by frames times the CPU per frame of the source's ended jobs, never into the next part),
    ``queued`` jobs chosen ahead of a free worker. A part's audio is encoded as its jobs end in order
    (``AUDIO_S_PER_S``); once no more than ``ahead_rounds`` jobs per worker of the part are left, the sound
    of those not ended is rendered alone (``ALONE_S`` each, ``ALONE_THREADS`` at a time) and encoded
    without waiting for them. The part is joined (``joins``: its video copy, one core) once its jobs are
    done and its audio is, one join at a time. ``known_costs``: every job's CPU time known from the start
    (a bound for any estimate), not learned from the jobs that ended. The audio is encoded in chunks
    (:class:`PartAudioModel`) on ``audio_lanes`` cores (None: ``cores``; 0: one encoder, as before chunks),
    beside the jobs: it is not in the cores' shares."""
    order = KnownCosts if known_costs else Pending
    pending = order(jobs, lambda job: job.frames, lambda job: job.part,
                    window=job_window(workers, window_per_worker))
    waiting: list[Job] = []  # submitted, waiting for a worker
    in_order: dict[int, list[Job]] = {}
    for job in jobs:
        in_order.setdefault(job.part, []).append(job)
    left = {part: len(part_jobs) for part, part_jobs in in_order.items()}  # jobs of the part not ended
    fed = {part: 0 for part in in_order}  # jobs of the part whose audio went to its encoder
    audio = {part: PartAudioModel(cores if audio_lanes is None else audio_lanes) for part in in_order}
    ended: set[int] = set()
    running: list[list] = []  # [remaining CPU seconds, job]
    joining: list[list] = []  # [remaining seconds, part], one at a time
    waiting_joins: list[tuple[float, int]] = []  # (ready at: its audio encoded, part)
    now = cpu = last_job_s = 0.0

    def feed(part: int) -> None:
        """The part's sound to its encoder, in order: the ended jobs', and in its last rounds the others'."""
        part_jobs = in_order[part]
        ahead = left[part] <= ahead_rounds * workers
        while fed[part] < len(part_jobs):
            job = part_jobs[fed[part]]
            if id(job) in ended:
                audio[part].feed(now, job.seconds)
            elif ahead:
                audio[part].feed(now, job.seconds, ALONE_S / ALONE_THREADS)
            else:
                return
            fed[part] += 1

    for part in in_order:
        feed(part)
    while pending or waiting or running or joining or waiting_joins:
        while pending and len(running) + len(waiting) < workers + queued:
            waiting.append(pending.pop())
        while waiting and len(running) < workers:
            job = waiting.pop(0)
            running.append([job.cpu_s, job])
        if not joining and waiting_joins and waiting_joins[0][0] <= now + 1e-9:
            _, part = waiting_joins.pop(0)
            joining.append([joins.get(part, 0.0), part])
        demand = sum(j.cores for _, j in running) + len(joining)
        share = min(1.0, cores / demand) if demand else 1.0
        # time until the next job or join ends at the current shares, or a part's audio is encoded
        steps = [rest / (j.cores * share) for rest, j in running] + [rest / share for rest, _ in joining]
        if not joining and waiting_joins:
            steps.append(waiting_joins[0][0] - now)
        step = min(steps)
        now += step
        cpu += step * share * demand
        for entry in running:
            entry[0] -= step * entry[1].cores * share
        for entry in joining:
            entry[0] -= step * share
        for entry in [e for e in running if e[0] <= 1e-9]:
            running.remove(entry)
            job = entry[1]
            last_job_s = now
            pending.ended(job, job.cpu_s)
            ended.add(id(job))
            left[job.part] -= 1
            feed(job.part)
            if left[job.part] == 0:
                waiting_joins.append((audio[job.part].done_s(), job.part))  # the joiner takes them in turn
        joining = [e for e in joining if e[0] > 1e-9]
    return now, cpu, last_job_s


class PartAudioModel:
    """A part's audio encoder in the model, fed as its jobs end in order. ``lanes`` 0: one encoder taking the
    sound as it comes (megacut before chunks); else the chunked encoder: a chunk is encoded once the sound
    has reached its end, on the first of ``lanes`` cores free, and the last one once all the sound is in."""

    def __init__(self, lanes: int, chunk_s: float | None = None):
        self.lanes = [0.0] * max(1, lanes)
        self.chunked, self.chunk_s = lanes > 0, chunk_s or CHUNK_S
        self.fed_s = self.encoded_s = 0.0  # seconds of sound fed; of those, given to a chunk's encode
        self.at = 0.0  # when the sound fed so far was in

    def feed(self, now: float, seconds: float, alone_s: float = 0.0) -> None:
        """``seconds`` of sound fed at ``now`` (rendered alone first, for ``alone_s``)."""
        self.fed_s += seconds
        if not self.chunked:  # the sound rendered alone, then encoded, one after the other
            self.lanes[0] = max(self.lanes[0], now) + AUDIO_S_PER_S * seconds + alone_s
            return
        self.at = max(self.at, now) + alone_s
        while self.fed_s - self.encoded_s > self.chunk_s:
            self._encode(self.chunk_s)

    def _encode(self, seconds: float) -> None:
        lane = min(range(len(self.lanes)), key=self.lanes.__getitem__)
        roll_s = ROLL_S if self.encoded_s else 0.0  # the first chunk has no pre-roll
        self.lanes[lane] = max(self.lanes[lane], self.at) + CHUNK_START_S + AUDIO_S_PER_S * (seconds + roll_s)
        self.encoded_s += seconds

    def done_s(self) -> float:
        """When the track is written, all its sound fed."""
        if not self.chunked:
            return self.lanes[0]
        if self.fed_s > self.encoded_s:
            self._encode(self.fed_s - self.encoded_s)
        return max(self.lanes) + MUX_S_PER_S * self.fed_s


def part_audio_s(seconds: float, cores: int, chunk_s: float | None = None) -> float:
    """Wall seconds to encode ``seconds`` of a part's sound handed over at once (0 cores: one encoder)."""
    audio = PartAudioModel(cores, chunk_s)
    audio.feed(0.0, seconds)
    return audio.done_s()


class KnownCosts(Pending):
    """megacut's job order as if every job's CPU time were known before it ran."""

    def expected(self, job: Job) -> float:
        return job.cpu_s


def ffmpeg_command_s(measured_cpu_s: float, cores: int) -> float:
    return measured_cpu_s / min(cores, FFMPEG_CMD_PARALLELISM)


# ------------------------------------------------------------------ the saga


SAGA_PART_S, SAGA_SCENES, SAGA_PARTS = 7200.0, 40, 25  # a 2-hour part of 40 scenes of 1-10 minutes; 25 parts
SAGA_MIN_S, SAGA_MAX_S = 60.0, 600.0
SAGA_CORES = (2, 16, 64, 160)  # 160: ten 16-core machines on Dask
SAGA_FPS = Fraction(24000, 1001)
SAGA_TARGETS = (2.0, 10.0, 20.0, 30.0, 60.0)  # segment lengths compared (0: scenes whole)


@dataclass
class JobCosts:
    """What a job costs at 1080p, from two runs of the same scenes here: every scene whole, and split into
    segments. CPU seconds = per_job + per_frame * frames; a job keeps ``cores`` busy by itself."""

    per_frame: float
    per_job: float
    cores: float

    @classmethod
    def measured(cls, whole: Measured, split: Measured) -> JobCosts:
        frames = sum(j.frames for j in whole.jobs)
        assert frames == sum(j.frames for j in split.jobs) and len(split.jobs) > len(whole.jobs)
        whole_cpu, split_cpu = sum(j.cpu_s for j in whole.jobs), sum(j.cpu_s for j in split.jobs)
        per_job = max(0.0, (split_cpu - whole_cpu) / (len(split.jobs) - len(whole.jobs)))
        per_frame = (whole_cpu - per_job * len(whole.jobs)) / frames
        cores = sum(j.cpu_s for j in whole.jobs) / sum(j.wall_s for j in whole.jobs)
        return cls(per_frame, per_job, max(1.0, cores))


# What tone mapping adds to a 1080p output frame from a 2160p HEVC 10-bit source, CPU seconds (the decode
# and picture filters against the same SDR source's, whatever the encoder): benchmarks/hdr_benchmark.py
# here, three runs, 35-60 ms for HDR10 and 80-138 ms for HLG (docs/performance.md); the middle figures
TONE_MAP_CPU_S = {"pq": 0.047, "hlg": 0.108}


def saga_jobs(costs: JobCosts, segment_s: float, parts: int, seed: int = 3,
              hdr_share: float = 0.0) -> tuple[list[Job], dict[int, float]]:
    """The jobs of ``parts`` saga parts (each its own seeded order of scene lengths) at ``segment_s``, with
    megacut's own segment boundaries; and each part's join, from the join measured here per second.
    ``hdr_share``: that share of the scenes comes from HDR10 sources, tone-mapped (their own cost class)."""
    fmt = OutputFormat(1920, 1080, SAGA_FPS, "yuv420p", 48000, 2)
    every = round(1 / hdr_share) if hdr_share > 0 else 0
    jobs = []
    for part in range(1, parts + 1):
        lengths = demo.power_lengths(SAGA_SCENES, SAGA_MIN_S, SAGA_MAX_S, SAGA_PART_S, seed + part)
        for number, length in enumerate(lengths):
            hdr = every > 0 and number % every == 0
            per_frame = costs.per_frame + (TONE_MAP_CPU_S["pq"] if hdr else 0.0)
            for _, frames in segment_bounds(fmt.frames_for(length), fmt.frames_for(segment_s)):
                cpu_s = costs.per_job + per_frame * frames
                jobs.append(Job(part, frames, cpu_s, cpu_s / costs.cores, "saga-hdr.mkv" if hdr else "saga.mkv",
                                float(frames / SAGA_FPS)))
    return jobs, {part: SAGA_JOIN_S_PER_S * SAGA_PART_S for part in range(1, parts + 1)}


# Joining a 2-hour part once its audio is encoded: stream copies of its video (measured here: a 2-hour part's
# join took 227 s when it encoded its audio, 192 s of it; the audio is now encoded while the part renders).
SAGA_JOIN_S_PER_S = 35 / 7200


def saga_model(costs: JobCosts, cores_list=SAGA_CORES, targets=SAGA_TARGETS, hdr_share: float = 0.0) -> dict:
    """Per segment length: the part's and the whole saga's wall time and cores busy on each core count
    (``hdr_share`` of the scenes tone-mapped from HDR10 sources)."""
    results = {}
    for segment_s in (0.0, *targets):
        rows = []
        for cores in cores_list:
            row = {"cores": cores}
            for name, parts in (("part", 1), ("saga", SAGA_PARTS)):
                jobs, joins = saga_jobs(costs, segment_s, parts, hdr_share=hdr_share)
                wall, cpu, _ = simulate(jobs, joins, cores, cores)
                row[name] = {"jobs": len(jobs), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                             "busy": round(cpu / (wall * cores), 3)}
            rows.append(row)
        results[f"{segment_s:g}"] = rows
    return results


# What a 1080p job costs at x264 medium, measured here by ``--workloads saga`` (docs/performance.md, Segments),
# and the CPU of smart copy's jobs against a full re-encode (the uniform saga: 0.148x)
MEASURED_COSTS = JobCosts(per_frame=0.1168, per_job=0.67, cores=1.0)
COPY_CPU = 0.148


def audio_model(cores_list=SAGA_CORES, costs: JobCosts = MEASURED_COSTS) -> dict:
    """A 2-hour part's audio, one encoder against chunks: handed over at once, and in the part (its 30 s
    jobs re-encoded, or at smart copy's CPU) as its jobs end."""
    rows = []
    copy = JobCosts(costs.per_frame * COPY_CPU, costs.per_job * COPY_CPU, costs.cores)
    for cores in cores_list:
        row = {"cores": cores, "audio_one_s": round(part_audio_s(SAGA_PART_S, 0), 1),
               "audio_chunks_s": round(part_audio_s(SAGA_PART_S, cores), 1)}
        for name, job_costs in (("encode", costs), ("copy", copy)):
            jobs, joins = saga_jobs(job_costs, 30.0, 1)
            for audio, lanes in (("one", 0), ("chunks", None)):
                wall, _, last_job_s = simulate(jobs, joins, cores, cores, audio_lanes=lanes)
                row[f"{name}_{audio}_s"], row[f"{name}_{audio}_tail_s"] = round(wall, 1), round(wall - last_job_s, 1)
        rows.append(row)
    return {"rows": rows}


def print_audio(results: dict) -> None:
    print("\naudio: a 2-hour part's AAC track, one encoder -> chunks (CHUNK_S, one encode per core)")
    print("  cores   handed over at once     part re-encoded (tail after its last job)     part with smart copy")
    for r in results["rows"]:
        print(f"  {r['cores']:>5}   {r['audio_one_s']:>6.1f} -> {r['audio_chunks_s']:>5.1f} s"
              f"      {r['encode_one_s'] / 60:>6.2f} -> {r['encode_chunks_s'] / 60:>6.2f} min "
              f"({r['encode_one_tail_s']:.0f} -> {r['encode_chunks_tail_s']:.0f} s)"
              f"      {r['copy_one_s'] / 60:>6.2f} -> {r['copy_chunks_s'] / 60:>6.2f} min "
              f"({r['copy_one_tail_s']:.0f} -> {r['copy_chunks_tail_s']:.0f} s)")


def print_saga(costs: JobCosts, results: dict, hdr_share: float = 0.0) -> None:
    hdr = (f"; {hdr_share:.0%} of the scenes from HDR10 sources, tone-mapped (+{TONE_MAP_CPU_S['pq'] * 1000:.1f} "
           "CPU-ms per frame)") if hdr_share else ""
    print(f"\nsaga: a 2-hour 1080p part of {SAGA_SCENES} scenes of 1-10 min, and {SAGA_PARTS} such parts; a job "
          f"costs {costs.per_job:.2f} CPU-s + {costs.per_frame * 1000:.1f} CPU-ms per frame and keeps "
          f"{costs.cores:.2f} cores busy (measured here){hdr}")
    print("  segment s  cores   part: jobs  wall      busy   saga: jobs  wall       busy   CPU vs whole")
    whole_cpu = {row["cores"]: row["saga"]["cpu_s"] for row in results["0"]}
    for target, rows in results.items():
        for row in rows:
            part, saga = row["part"], row["saga"]
            print(f"  {target:>9}  {row['cores']:>5}  {part['jobs']:>10}  {part['wall_s'] / 60:>6.1f} min {part['busy']:>5.0%}"
                  f"  {saga['jobs']:>10}  {saga['wall_s'] / 3600:>6.2f} h  {saga['busy']:>5.0%}"
                  f"   {saga['cpu_s'] / whole_cpu[row['cores']]:.3f}")


# ------------------------------------------------------------------ command


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default=",".join([*WORKLOADS, "saga"]),
                        help="readme, list32, long4, saga (the 1080p jobs of long4 rendered whole and split here, "
                             "replayed as a 2-hour part and a 25-part saga), audio (a 2-hour part's audio: one "
                             "encoder against chunks, modelled from figures measured before; renders nothing)")
    parser.add_argument("--cores", default=",".join(map(str, CORES)), help="simulated core counts")
    parser.add_argument("--preset", default="medium", help="x264 preset (default: medium)")
    parser.add_argument("--long-sample-s", type=float, default=20.0, help="scene length rendered for long4")
    parser.add_argument("--measure-workers", type=int, default=1,
                        help="workers of the runs measured here (default 1: each job alone)")
    parser.add_argument("--reuse", action="store_true",
                        help="replay the runs measured before in OUT/runs instead of rendering again")
    parser.add_argument("--hdr-share", type=float, default=0.0,
                        help="saga: the share of its scenes from HDR10 sources, tone-mapped (0 to 1)")
    parser.add_argument("--out", type=Path, default=Path("bench-out/scaling"))
    parser.add_argument("--work", type=Path, help="generated sources (default: OUT/work)")
    args = parser.parse_args(argv)
    work = args.work or args.out / "work"
    cores_list = [int(c) for c in args.cores.split(",")]
    results = {}
    for name in args.workloads.split(","):
        if name == "audio":
            results["audio"] = audio_model(cores_list)
            print_audio(results["audio"])
            continue
        if name == "saga":
            workload = long4_workload(work, args)
            whole, split = (measure(workload, Design(f"saga-{n}", ["--segment-duration", f"{t:g}"], 1, t),
                                    args.out / "runs", 1, args.reuse) for n, t in (("whole", 0.0), ("split", 2.0)))
            costs = JobCosts.measured(whole, split)
            results["saga"] = {"costs": asdict(costs), "hdr_share": args.hdr_share,
                               "model": saga_model(costs, hdr_share=args.hdr_share)}
            print_saga(costs, results["saga"]["model"], args.hdr_share)
            continue
        workload = WORKLOADS[name](work, args)
        results[name] = {}
        for design in designs():
            measured = measure(workload, design, args.out / "runs", args.measure_workers, args.reuse)
            jobs = (fitted_jobs(measured, workload.full_csv, workload, design) if workload.full_csv
                    else measured.jobs)
            joins = measured.joins if not workload.full_csv else {
                n: max(measured.joins.values()) * (60.0 / args.long_sample_s) for n in {j.part for j in jobs}}
            # the CPU beside the jobs, for as much work as is replayed
            other_cpu_s = measured.other_cpu_s * sum(j.cpu_s for j in jobs) / sum(j.cpu_s for j in measured.jobs)
            rows = []
            for cores in cores_list:
                wall, cpu, jobs_end_s = simulate(jobs, joins, cores, design.workers(cores))
                wall += measured.startup_s
                rows.append({"cores": cores, "workers": design.workers(cores), "wall_s": round(wall, 2),
                             "cpu_s": round(cpu, 1), "busy": round(cpu / (wall * cores), 3),
                             "busy_all": round((cpu + other_cpu_s) / (wall * cores), 3),
                             # where the time goes: the start-up, then the jobs (against the CPU in jobs
                             # spread evenly over the cores), then the joins after the last job
                             "startup_s": round(measured.startup_s, 2),
                             "jobs_s": round(jobs_end_s, 2),
                             "even_jobs_s": round(sum(j.cpu_s for j in jobs) / cores, 2),
                             "tail_s": round(wall - measured.startup_s - jobs_end_s, 2),
                             # a bound for any cost estimate: every job's cost known from the start,
                             # longest first over the whole part
                             "known_costs_s": round(measured.startup_s + simulate(
                                 jobs, joins, cores, design.workers(cores), window_per_worker=len(jobs),
                                 known_costs=True)[0], 2)})
            results[name][design.name] = {
                "measured": {"wall_s": round(measured.wall_s, 2), "replay_s": round(measured.replay_s, 2),
                             "job_cpu_s": round(sum(j.cpu_s for j in measured.jobs), 1),
                             "jobs": len(measured.jobs), "workers": measured.workers,
                             "startup_s": round(measured.startup_s, 2), "tail_s": round(measured.tail_s, 2),
                             "steal": None if measured.steal is None else round(measured.steal, 3)},
                "replayed_jobs": len(jobs), "replayed_cpu_s": round(sum(j.cpu_s for j in jobs), 1),
                "other_cpu_s": round(other_cpu_s, 1), "model": rows}
            print_design(name, design, results[name][design.name])
        print_comparison(name, results[name], cores_list)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"\nresults: {args.out / 'scaling.json'}")
    return 0


def print_design(name: str, design: Design, data: dict) -> None:
    m = data["measured"]
    print(f"\n{name} / {design.name}: measured here {m['jobs']} jobs, {m['job_cpu_s']} CPU-s in jobs, "
          f"{m['wall_s']} s wall with {m['workers']} worker(s) (the model replays this run in {m['replay_s']} s; "
          f"start-up {m['startup_s']} s, tail {m['tail_s']} s{steal_note(m['steal'])}); "
          f"replayed {data['replayed_jobs']} jobs, "
          f"{data['replayed_cpu_s']} CPU-s; beside them {data['other_cpu_s']} CPU-s of planning, audio and joining "
          f"ahead, not in the busy column")
    print("  cores  workers   wall s   CPU s   busy   (start-up + jobs (evenly spread: ...) + tail)"
          "   every cost known, longest first")
    for row in data["model"]:
        print(f"  {row['cores']:>5}  {row['workers']:>7}  {row['wall_s']:>7.1f}  {row['cpu_s']:>6.1f}"
              f"  {row['busy']:>5.0%}"
              f"   ({row['startup_s']:.2f} + {row['jobs_s']:.2f} ({row['even_jobs_s']:.2f}) + {row['tail_s']:.2f})"
              f"   {row['known_costs_s']:.1f} s ({row['cpu_s'] / (row['known_costs_s'] * row['cores']):.0%})")


def steal_note(steal: float | None) -> str:
    return "" if steal is None else f"; {steal:.0%} of the machine's CPU time stolen by its host"


def print_comparison(name: str, data: dict, cores_list: list[int]) -> None:
    before, after = data["before"], data["after"]
    print(f"\n{name}: predicted wall, before -> after (ratio to one ffmpeg command of the same CPU work as 'before')")
    for b, a in zip(before["model"], after["model"]):
        cmd = ffmpeg_command_s(before["replayed_cpu_s"], b["cores"])
        print(f"  {b['cores']:>3} cores: {b['wall_s']:>7.1f} s ({b['busy']:.0%} busy) -> {a['wall_s']:>7.1f} s "
              f"({a['busy']:.0%} busy); ffmpeg command ~{cmd:.1f} s, after/command {a['wall_s'] / cmd:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
