import threading
import time

import pytest
from fake_jobs import FakeJob, run_fake

from megacut.render.clips import ClipCache
from megacut.run.scheduler import InlineExecutor, Pending, Scheduler, StopControl

KINDS = ["process", "thread", "inline"]


def run(jobs, **kwargs):
    seen = []
    scheduler = Scheduler(**kwargs)
    outcomes = scheduler.run(jobs, run_fake, seen.append)
    assert [o.job for o in outcomes] == [o.job for o in seen]  # every outcome reported as it ended
    return {o.job.name: o for o in outcomes}, seen


@pytest.mark.parametrize("kind", KINDS)
def test_every_job_runs_and_failures_are_retried_then_reported(kind, tmp_path):
    jobs = [FakeJob("ok1", state_dir=str(tmp_path)), FakeJob("flaky", fail_times=1, state_dir=str(tmp_path)),
            FakeJob("bad", fail_times=9, state_dir=str(tmp_path)), FakeJob("ok2", state_dir=str(tmp_path))]
    outcomes, _ = run(jobs, kind=kind, workers=2, retries=2)
    assert {n: o.status for n, o in outcomes.items()} == {"ok1": "ok", "flaky": "ok", "bad": "failed", "ok2": "ok"}
    assert outcomes["flaky"].attempts == 2 and outcomes["bad"].attempts == 3
    assert outcomes["flaky"].retried_after == ["flaky failed on attempt 1\nlast line of ffmpeg"]
    assert outcomes["ok1"].retried_after == []
    assert "bad failed on attempt 3" in outcomes["bad"].error and "last line of ffmpeg" in outcomes["bad"].error
    assert outcomes["ok1"].result == "ok1 done"


def test_the_longest_of_the_next_jobs_starts_first_one_per_worker(tmp_path):
    jobs = [FakeJob(f"j{c}", cost=c) for c in (1, 5, 3, 4, 2)]
    _, seen = run(jobs, kind="inline")  # one worker: in order
    assert [o.job.name for o in seen] == ["j1", "j5", "j3", "j4", "j2"]
    for window, order in ((2, ["j5", "j1", "j4", "j3", "j2"]), (3, ["j5", "j3", "j1", "j4", "j2"]),
                          (5, ["j5", "j4", "j3", "j2", "j1"])):
        # the longest within ``window`` positions of the first job left: none waits for more than that
        pending = Pending(jobs, lambda job: job.cost, window=window)
        assert [pending.pop().name for _ in jobs] == order, window


def test_jobs_of_sources_found_expensive_go_first_and_cheap_ones_fill_the_end():
    """Longest first by expected CPU time: frames times the CPU seconds per frame measured so far on the
    jobs of the same source (all sources' average for one not seen yet)."""
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Segment:
        name: str
        cost: int  # frames
        cost_class: str  # its source
        cpu_per_frame: float

    jobs = [Segment("b1", 60, "b.mkv", 0.1), Segment("a1", 50, "a.mkv", 0.01), Segment("a2", 50, "a.mkv", 0.01),
            Segment("b2", 40, "b.mkv", 0.1), Segment("c1", 45, "c.mkv", 0.05)]
    pending = Pending(jobs, lambda job: job.cost, window=8)  # eight workers
    started = []
    while pending:
        job = pending.pop()
        started.append(job.name)
        pending.ended(job, job.cost * job.cpu_per_frame)  # one at a time, to see each choice
    # b1 (60 frames) first; a1 (50) next, as a.mkv is not known yet and b1 cost 0.1 s a frame; then a.mkv
    # is known to be cheap: c1 (45 frames, 0.059 s a frame expected: the average so far) and
    # b2 (40 frames at 0.1) go before a2 (50 frames at 0.01)
    assert started == ["b1", "a1", "b2", "c1", "a2"]


def test_jobs_of_equal_cost_start_in_the_given_order_whatever_their_source():
    """A part's segments of equal length start in order, so its audio, encoded as they end, keeps up."""
    jobs = [FakeJob(f"s{n}", cost=50, cost_class="ab"[n % 2]) for n in range(6)]  # two sources, alternating
    pending = Pending(jobs, lambda job: job.cost, window=6)
    assert [pending.pop().name for _ in jobs] == [f"s{n}" for n in range(6)]


def test_a_parts_jobs_all_start_before_the_next_parts_longest_first_within_a_part():
    """Parts are joined, and their audio encoded, while later parts render."""
    jobs = [FakeJob("p2-long", cost=90), FakeJob("p1-short", cost=10), FakeJob("p1-long", cost=20),
            FakeJob("p2-short", cost=5)]
    part = {"p2-long": 2, "p1-short": 1, "p1-long": 1, "p2-short": 2}
    pending = Pending(jobs, lambda job: job.cost, lambda job: part[job.name], window=4)  # four workers
    assert [pending.pop().name for _ in jobs] == ["p1-long", "p1-short", "p2-long", "p2-short"]


def test_a_worker_that_dies_is_replaced_and_its_job_retried(tmp_path):
    jobs = [FakeJob("dies-once", die_times=1, state_dir=str(tmp_path), sleep_s=0.1)] + [
        FakeJob(f"ok{i}", state_dir=str(tmp_path), sleep_s=0.1) for i in range(4)]
    outcomes, _ = run(jobs, kind="process", workers=2, retries=2)
    assert all(o.status == "ok" for o in outcomes.values()), outcomes
    assert outcomes["dies-once"].attempts == 2


def test_a_job_that_always_kills_its_worker_fails_after_retries(tmp_path):
    jobs = [FakeJob("always-dies", die_times=99, state_dir=str(tmp_path)), FakeJob("ok", state_dir=str(tmp_path))]
    outcomes, _ = run(jobs, kind="process", workers=1, retries=1)
    assert outcomes["always-dies"].status == "failed" and "worker process died" in outcomes["always-dies"].error
    assert outcomes["ok"].status == "ok"


def test_submission_is_bounded(tmp_path):
    scheduler = Scheduler(kind="thread", workers=2)
    peak = []

    def job_fn(job):
        peak.append(len(scheduler.running))
        time.sleep(0.01)

    scheduler.run([FakeJob(f"j{i}") for i in range(200)], job_fn, lambda o: None)
    assert max(peak) <= 3  # a job for each worker and one queued


@pytest.mark.parametrize("kind", ["process", "thread"])
def test_drain_lets_running_jobs_finish_and_starts_no_more(kind, tmp_path):
    stop = StopControl()
    jobs = [FakeJob(f"j{i}", sleep_s=0.4, state_dir=str(tmp_path)) for i in range(8)]
    threading.Timer(0.8 if kind == "process" else 0.2, stop.request).start()
    outcomes, _ = run(jobs, kind=kind, workers=2, stop=stop)
    statuses = [o.status for o in outcomes.values()]
    assert "ok" in statuses and "not-started" in statuses
    assert set(statuses) <= {"ok", "not-started"}  # nothing running was cut short


@pytest.mark.parametrize("kind", ["process", "thread"])
def test_after_the_first_stop_a_job_already_queued_for_a_worker_does_not_start(kind, tmp_path):
    stop = StopControl()
    jobs = [FakeJob(f"j{i}", cost=10 - i, sleep_s=1.0, state_dir=str(tmp_path)) for i in range(4)]

    def stop_once_the_first_job_runs():
        deadline = time.monotonic() + 30
        while not (tmp_path / "j0.attempts").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.request()

    threading.Thread(target=stop_once_the_first_job_runs, daemon=True).start()
    outcomes, _ = run(jobs, kind=kind, workers=1, stop=stop)  # j1 waits in the worker's queue meanwhile
    assert {n: o.status for n, o in outcomes.items()} == {"j0": "ok", "j1": "not-started", "j2": "not-started",
                                                           "j3": "not-started"}
    assert sorted(p.name for p in tmp_path.glob("*.attempts")) == ["j0.attempts"]  # no other job began


@pytest.mark.parametrize("kind", ["process", "thread"])
def test_second_stop_cancels_running_jobs(kind, tmp_path):
    stop = StopControl()
    jobs = [FakeJob("hangs", cost=10, hang=True, state_dir=str(tmp_path))] + [FakeJob(f"j{i}", sleep_s=5) for i in range(3)]

    def press_twice():
        stop.request()
        stop.request()

    threading.Timer(1.0, press_twice).start()
    started = time.monotonic()
    outcomes, _ = run(jobs, kind=kind, workers=1, stop=stop)
    assert outcomes["hangs"].status == "cancelled"
    assert time.monotonic() - started < 15


def test_backpressure_holds_extra_jobs_until_admitted_but_never_the_only_one():
    admitted = threading.Event()
    threading.Timer(1.0, admitted.set).start()
    scheduler = Scheduler(kind="thread", workers=2, admit=admitted.is_set)
    concurrency = []

    def job_fn(job):
        concurrency.append((time.monotonic(), len(scheduler.running)))
        time.sleep(0.3)

    started = time.monotonic()
    outcomes = scheduler.run([FakeJob(f"j{i}") for i in range(6)], job_fn, lambda o: None)
    assert all(o.status == "ok" for o in outcomes)
    before = [n for t, n in concurrency if t - started < 0.9]
    after = [n for t, n in concurrency if t - started > 1.1]
    assert before and max(before) == 1  # one job at a time while memory is short
    assert after and max(after) >= 2  # full speed once it recovers


def test_inline_executor_returns_results_and_exceptions():
    executor = InlineExecutor()
    assert executor.submit(lambda: 5).result() == 5
    with pytest.raises(ZeroDivisionError):
        executor.submit(lambda: 1 / 0).result()


class Closable:
    def __init__(self, name, closed):
        self.name, self.closed = name, closed

    def close(self):
        self.closed.append(self.name)


def test_clip_cache_is_bounded_and_closes_what_it_evicts():
    closed = []
    cache = ClipCache(2)
    opened = []

    def opener(name):
        def make():
            opened.append(name)
            return Closable(name, closed)
        return make

    for name in ["a", "b", "a", "c", "d", "a"]:
        cache.get(name, opener(name))
    assert len(cache) == 2
    assert opened == ["a", "b", "c", "d", "a"]  # "a" was reused once, then evicted and reopened
    assert closed == ["b", "a", "c"]
    cache.clear()
    assert sorted(closed) == ["a", "a", "b", "c", "d"]
