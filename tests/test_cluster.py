"""Jobs on a Dask cluster (--executor dask): a local cluster of worker processes, as CI can run it.

The scheduler's promises hold there as with the process pool: retries really rerun, a worker killed
mid-job costs one attempt, a job that kills its worker every time fails alone, both stages of a stop
behave the same, and the rendered parts are byte-identical to the pool's.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from fake_jobs import FakeJob, run_fake
from media import make_audio
from test_interrupt import ffmpeg_left, framecode_workload, kill_while_writing, megacut
from test_sections_command import write_spec

from megacut.cli import main
from megacut.ffmpeg import ffmpeg_exe

pytest.importorskip("distributed")

from megacut.run.cluster import Cluster  # noqa: E402
from megacut.run.scheduler import Scheduler, StopControl  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with Cluster("local:2") as connected:
        yield connected


def run(cluster, jobs, tmp_path, **kwargs):
    cluster.client.wait_for_workers(2, timeout=60)
    seen = []
    scheduler = Scheduler(kind="dask", cluster=cluster, cache_root=tmp_path, **kwargs)
    outcomes = scheduler.run(jobs, run_fake, seen.append)
    assert [o.job for o in outcomes] == [o.job for o in seen]
    return {o.job.name: o for o in outcomes}


def test_failures_are_retried_for_real_and_reported(cluster, tmp_path):
    jobs = [FakeJob("ok", state_dir=str(tmp_path)), FakeJob("flaky", fail_times=1, state_dir=str(tmp_path)),
            FakeJob("bad", fail_times=9, state_dir=str(tmp_path))]
    outcomes = run(cluster, jobs, tmp_path, retries=2)
    assert {n: o.status for n, o in outcomes.items()} == {"ok": "ok", "flaky": "ok", "bad": "failed"}
    assert outcomes["flaky"].attempts == 2 and outcomes["bad"].attempts == 3
    assert (tmp_path / "bad.attempts").read_text() == "3"  # each retry ran again, no cached error
    assert outcomes["ok"].result == "ok done"


def test_a_worker_killed_mid_job_costs_one_attempt(cluster, tmp_path):
    jobs = [FakeJob("dies-once", cost=9, die_times=1, state_dir=str(tmp_path), sleep_s=0.2)] + [
        FakeJob(f"ok{i}", state_dir=str(tmp_path), sleep_s=0.2) for i in range(3)]
    outcomes = run(cluster, jobs, tmp_path, retries=2)
    assert all(o.status == "ok" for o in outcomes.values()), outcomes
    assert outcomes["dies-once"].attempts == 2
    assert "worker process died" in outcomes["dies-once"].retried_after[0]
    assert all(outcomes[f"ok{i}"].attempts == 1 for i in range(3))


def test_a_job_that_always_kills_its_worker_fails_alone(cluster, tmp_path):
    jobs = [FakeJob("always-dies", cost=9, die_times=99, state_dir=str(tmp_path))] + [
        FakeJob(f"ok{i}", state_dir=str(tmp_path), sleep_s=0.3) for i in range(4)]
    outcomes = run(cluster, jobs, tmp_path, retries=2)
    assert outcomes["always-dies"].status == "failed"
    assert "its worker died" in outcomes["always-dies"].error
    attempts = int((tmp_path / "always-dies.attempts").read_text())
    assert outcomes["always-dies"].attempts == attempts >= 2  # counted as the worker started it
    assert all(outcomes[f"ok{i}"].status == "ok" for i in range(4)), outcomes


def test_first_stop_lets_running_jobs_finish_and_starts_no_more(cluster, tmp_path):
    stop = StopControl()
    jobs = [FakeJob(f"j{i}", cost=10 - i, sleep_s=1.0, state_dir=str(tmp_path)) for i in range(6)]

    def stop_once_two_run():
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("*.attempts"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.request()

    threading.Thread(target=stop_once_two_run, daemon=True).start()
    outcomes = run(cluster, jobs, tmp_path, stop=stop)
    statuses = {n: o.status for n, o in outcomes.items()}
    began = sorted(p.stem for p in tmp_path.glob("*.attempts"))
    assert {n for n, s in statuses.items() if s == "ok"} == set(began)  # every job that began finished
    assert len(began) <= 4 and set(statuses.values()) == {"ok", "not-started"}


def test_second_stop_cancels_running_jobs_on_every_worker(cluster, tmp_path):
    stop = StopControl()
    jobs = [FakeJob(f"hangs{i}", cost=10, hang=True, state_dir=str(tmp_path)) for i in range(2)] + [
        FakeJob(f"j{i}", sleep_s=5) for i in range(3)]

    def press_twice_once_both_run():
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("*.attempts"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.request()
        stop.request()

    threading.Thread(target=press_twice_once_both_run, daemon=True).start()
    started = time.monotonic()
    outcomes = run(cluster, jobs, tmp_path, stop=stop)
    assert outcomes["hangs0"].status == outcomes["hangs1"].status == "cancelled"
    assert {outcomes[f"j{i}"].status for i in range(3)} == {"not-started"}
    assert time.monotonic() - started < 20


def test_job_slots_follow_workers_that_join_mid_run(tmp_path):
    import distributed

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as local, \
            Cluster(local.scheduler_address) as cluster:
        scheduler = Scheduler(kind="dask", cluster=cluster, cache_root=tmp_path)
        threading.Timer(0.5, local.scale, args=(2,)).start()
        outcomes = scheduler.run([FakeJob(f"j{i}", sleep_s=0.5, state_dir=str(tmp_path)) for i in range(12)],
                                 run_fake, lambda outcome: None)
    assert all(o.status == "ok" for o in outcomes)
    pids = {(tmp_path / f"j{i}.pid").read_text() for i in range(12)}
    assert scheduler.workers == 2 and len(pids) == 2  # the second worker got jobs once it joined


# ---- the commands on a cluster -----------------------------------------------------------------------------------

SCENES = 10


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    """Ten scenes of two movies, two of them split into segments, rendered by the process pool."""
    return framecode_workload(tmp_path_factory.mktemp("cluster"),
                              [4.2 if i in (3, 6) else 1.2 for i in range(SCENES)])


def on_cluster(*extra, scheduler="local:2"):
    return ("--executor", "dask", "--scheduler", scheduler, *extra)


def parts(output):
    return {p.name: p.read_bytes() for p in sorted(output.glob("mega_cut_part_*.mp4"))}


def partials(output):
    return list((output / ".megacut-cache" / "segments").glob(".*partial*"))


def test_parts_are_byte_identical_to_the_process_pool(workload, tmp_path):
    csv, movies, reference = workload
    output = tmp_path / "out"
    proc = megacut(csv, movies, output, *on_cluster())
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert parts(output) == parts(reference) and len(parts(output)) >= 2
    report = json.loads((output / "megacut-report.json").read_text())
    assert "local cluster" in report["cluster"] and "2 worker(s)" in report["cluster"]
    segments_ = [s for scene in report["scenes"] for s in scene["segments"]]
    assert len(segments_) > SCENES and all(s["host"] and s["cpu_s"] > 0 for s in segments_)
    assert report["cpu_s"] >= sum(s["cpu_s"] for s in segments_)  # the workers' CPU is the run's


def test_a_worker_killed_mid_job_costs_one_attempt_and_leaves_nothing(workload, tmp_path):
    csv, movies, reference = workload
    output = tmp_path / "out"
    proc = megacut(csv, movies, output, *on_cluster())
    def its_worker(ffmpeg):  # the worker process running this job, not megacut's own joins
        worker = ffmpeg.parent()
        return worker if worker.pid != proc.pid else None

    assert kill_while_writing(proc, its_worker) is not None
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    report = json.loads((output / "megacut-report.json").read_text())
    retried = [s for scene in report["scenes"] for s in scene["segments"] if s["attempts"] == 2]
    assert len(retried) == 1 and all(s["attempts"] == 1 for scene in report["scenes"] for s in scene["segments"]
                                     if s not in retried)
    assert not partials(output)
    deadline = time.monotonic() + 10  # the killed worker's ffmpeg is stopped when its replacement starts
    while ffmpeg_left(str(output)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not ffmpeg_left(str(output))
    assert parts(output) == parts(reference)


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_a_cluster_run_as_it_stops_the_pool(workload, tmp_path, presses):
    csv, movies, reference = workload
    output = tmp_path / "out"
    proc = megacut(csv, movies, output, *on_cluster())
    deadline = time.monotonic() + 120
    while len([p for p in (output / ".megacut-cache" / "segments").glob("*.mov") if not p.name.startswith(".")]) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    for _ in range(presses):
        os.killpg(proc.pid, signal.SIGINT)  # the terminal signals the whole process group, workers too
        time.sleep(0.1)
    started = time.monotonic()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert time.monotonic() - started < 30
    report = json.loads((output / "megacut-report.json").read_text())
    statuses = {s["status"] for scene in report["scenes"] for s in scene["segments"]}
    assert "failed" not in statuses and "cancelled" in statuses
    if presses == 1:  # every segment that started finished and was kept
        done = [p for p in (output / ".megacut-cache" / "segments").glob("*.mov") if not p.name.startswith(".")]
        assert len(done) == sum(1 for scene in report["scenes"] for s in scene["segments"] if s["status"] == "ok")
    assert not partials(output) and not ffmpeg_left(str(output))
    proc = megacut(csv, movies, output, *on_cluster())  # resume
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert parts(output) == parts(reference)


@pytest.fixture
def scheduler_only():
    """A Dask scheduler with no workers, for workers the tests start themselves."""
    import distributed

    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0") as local:
        yield local


def start_worker(address, *, env=None, wrap=()):
    command = [*wrap, sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
               "--nworkers", "1", "--no-dashboard"]
    return subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def refused(workload, tmp_path, address):
    csv, movies, _ = workload
    output = tmp_path / "out"
    proc = megacut(csv, movies, output, *on_cluster(scheduler=address))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, out + err
    assert not parts(output) and not list((output / ".megacut-cache" / "segments").glob("*.mov"))
    return err


def stop_worker(worker):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(timeout=30)


def test_a_worker_with_another_ffmpeg_is_refused_by_name(workload, tmp_path, scheduler_only):
    other = tmp_path / "ffmpeg"
    other.write_text(f"#!/bin/sh\nexec {ffmpeg_exe()} \"$@\"\n")
    other.chmod(0o755)
    worker = start_worker(scheduler_only.scheduler_address, env={"MEGACUT_FFMPEG": str(other)})
    try:
        distributed_client(scheduler_only).wait_for_workers(1, timeout=60)
        err = refused(workload, tmp_path, scheduler_only.scheduler_address)
    finally:
        stop_worker(worker)
    assert "1 worker(s) of tcp://" in err and "ffmpeg binary (SHA-256)" in err and str(other) in err
    assert "worker tcp://" in err
    assert "Traceback" not in err


def test_a_worker_that_cannot_see_the_movies_is_refused_by_name(workload, tmp_path, scheduler_only):
    _, movies, _ = workload
    hide = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            f"mount -t tmpfs tmpfs {movies} && exec \"$@\"", "sh"]
    probe = subprocess.run([*hide, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"this machine does not permit a private mount namespace: {probe.stderr.decode().strip()}")
    worker = start_worker(scheduler_only.scheduler_address, wrap=hide)
    try:
        distributed_client(scheduler_only).wait_for_workers(1, timeout=60)
        err = refused(workload, tmp_path, scheduler_only.scheduler_address)
    finally:
        stop_worker(worker)
    assert "worker tcp://" in err and f"cannot see {movies}" in err and "Traceback" not in err


def distributed_client(local):
    import distributed

    return distributed.Client(local, set_as_default=False)


def test_sections_render_on_the_cluster_as_in_the_pool(tmp_path):
    make_audio(tmp_path / "talk.wav", duration_s=1.2)
    spec = write_spec(tmp_path, "a.json", [{"image": "red.png", "audio": "talk.wav"},
                                           {"image": "green.png", "duration": 0.4, "text": "Chapter two"}], "a.mp4")
    common = ["sections", str(spec), "--preset", "ultrafast", "--encoder-threads", "1", "--max-workers", "2", "-q"]
    assert main([*common, "--output", str(tmp_path / "pool")]) == 0
    assert main([*common, "--output", str(tmp_path / "dask"), *on_cluster()]) == 0
    assert (tmp_path / "dask" / "a.mp4").read_bytes() == (tmp_path / "pool" / "a.mp4").read_bytes()


def test_the_scheduler_address_may_come_from_the_environment(tmp_path, capsys, monkeypatch):
    spec = write_spec(tmp_path, "a.json", [{"image": "red.png", "duration": 0.4}], "a.mp4")
    monkeypatch.setenv("MEGA_CUT_SCHEDULER", "local:0")
    assert main(["sections", str(spec), "--output", str(tmp_path / "out"), "--executor", "dask"]) == 2
    assert "MEGA_CUT_SCHEDULER local:0: local:N needs a worker count" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (("--executor", "dask"), "--executor dask needs --scheduler"),
    (("--scheduler", "local:2"), "--scheduler is for --executor dask"),
    (("--executor", "dask", "--scheduler", "local:0"), "local:N needs a worker count"),
    (("--executor", "dask", "--scheduler", "my laptop"), "give the address of a running `dask scheduler`"),
])
def test_cluster_options_are_checked_before_anything_runs(tmp_path, capsys, args, message):
    spec = write_spec(tmp_path, "a.json", [{"image": "red.png", "duration": 0.4}], "a.mp4")
    with pytest.raises(SystemExit) as exit_:
        code = main(["sections", str(spec), "--output", str(tmp_path / "out"), *args])
        raise SystemExit(code)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "a.mp4").exists()
