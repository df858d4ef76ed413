"""The run's status file and `megacut status`: what they say during and after a real run, the controls (pause
holds new jobs, workers changed while it runs, stop), a killed run reported as stale, and the page's server."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from status_run import SCENES, items, make_workload, megacut_status, read_state, start_run, wait_for
from test_cli import run_cli

from megacut.run import controls
from megacut.run.scheduler import StopControl
from megacut.status.parts import RateMeter
from megacut.status.server import StatusServer

RED = "--effect effects_for_tests:slow_unless_red failed at t=0.000 s: ValueError: red frames: this effect refuses them"


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    return make_workload(tmp_path_factory.mktemp("status"))


def part_digests(output):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(output.glob("mega_cut_part_*.mp4"))}


@pytest.fixture(scope="module")
def watched(workload, tmp_path_factory):
    """A run with two workers, watched: its state and `megacut status` while a job runs, then at its end."""
    csv, movies = workload
    output = tmp_path_factory.mktemp("watched") / "out"
    proc = start_run(csv, movies, output, workers=2)
    during = wait_for(lambda: (s := read_state(output)) and s["running"] and s["totals"]["jobs"]["done"] and s, proc)
    shown = megacut_status(output)
    out, err = proc.communicate(timeout=120)
    return {"output": output, "during": during, "shown": shown, "exit": proc.returncode, "log": out + err,
            "end": read_state(output), "digests": part_digests(output)}


def test_the_state_file_during_the_run(watched):
    state = watched["during"]
    assert state["schema"] == 1 and state["command"] == "process" and not state["ended"]
    assert state["state"] == "rendering" and state["executor"] == {"kind": "process", "workers": 2, "cluster": None,
                                                                   "dashboard": None}
    assert state["writer"]["pid"] > 0 and abs(state["writer"]["heartbeat_at"] - time.time()) < 60
    assert state["totals"]["output_s"] == SCENES and state["totals"]["jobs"]["total"] == SCENES
    job = state["running"][0]
    assert job["name"].startswith("scene ") and job["source"] == "Good" and job["out_s"] - job["in_s"] == 1.0
    assert job["attempt"] == 1 and job["since"] <= time.time()
    assert [p["name"] for p in state["parts"]] == [f"mega_cut_part_{n}.mp4" for n in (1, 2, 3)]
    assert {p["status"] for p in state["parts"]} <= {"waiting", "rendering", "joining", "written"}
    assert "waiting" in {i["status"] for i in items(state)} and "running" in {i["status"] for i in items(state)}
    shown = watched["shown"]
    assert shown.returncode == 3, shown.stdout + shown.stderr
    assert "state     RENDERING · process, 2 worker(s)" in shown.stdout
    assert "\nrunning   scene " in shown.stdout and " · Good 0:00:" in shown.stdout
    assert "#3 waiting mega_cut_part_3.mp4 0/4 items" in shown.stdout


def test_the_state_file_after_the_run_and_what_status_prints(watched):
    output, state = watched["output"], watched["end"]
    assert watched["exit"] == 1, watched["log"]
    assert state["ended"] and state["outcome"] == "failed" and state["exit_code"] == 1 and state["state"] == "ended"
    assert [(p["status"], p["items_done"], p["items"]) for p in state["parts"]] == [
        ("written", 4, 4), ("written", 4, 4), ("incomplete", 4, 4)]
    for part in state["parts"]:
        assert part["size_bytes"] == os.path.getsize(part["path"]) and part["path"].startswith(str(output))
    rows = items(state)
    assert [r["status"] for r in rows] == ["ok"] * 10 + ["failed", "ok"]
    failed = rows[10]
    assert (failed["kind"], failed["number"], failed["line"], state["sources"][failed["source"]]) == (0, 11, 12, "Red")
    assert state["failures"] == [{"error": RED, "count": 1, "names": ["scene 11 (line 12)"], "rows": [10],
                                  "detail": RED}]
    assert failed["error"] == 0 and failed["attempts"] == 1
    done = [r for r in rows if r["status"] == "ok"]
    assert all(r["attempts"] == 1 and state["hosts"][r["host"]] and r["render_s"] > 0 for r in done)
    assert state["totals"]["done_s"] == SCENES and state["totals"]["jobs"]["failed"] == 1 and not state["running"]
    writes, wall = state["writer"]["writes"], state["updated_at"] - state["started_at"]
    assert 2 <= writes <= wall + 3  # at most about once a second
    shown = megacut_status(output)
    assert shown.returncode == 1 and "state     FAILED (exit 1)" in shown.stdout
    assert "progress  100% [" in shown.stdout and "12 s of 12 s output" in shown.stdout
    assert "#1 written mega_cut_part_1.mp4 4/4 items · " in shown.stdout
    assert f"failures  {RED} ×1: scene 11 (line 12)" in shown.stdout
    every = megacut_status(output, "--all")
    assert every.stdout.count("\n          scene ") == SCENES
    assert "scene 11 · 12 · Red · 3 · failed · 0/1 · - · 1 · 0.0 s · --effect" in every.stdout
    as_json = megacut_status(output / "megacut-status.json", "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["verdict"] == "failed"
    refused = megacut_status(output, "--pause")
    assert refused.returncode == 2 and "no run to control" in refused.stderr and "failed" in refused.stderr
    watched_once = megacut_status(output, "--watch")  # an ended run: drawn once, and its exit code
    assert watched_once.returncode == 1 and watched_once.stdout.count("state     FAILED") == 1


def test_status_serves_the_page_of_a_run_started_without_it(watched):
    # started with SIGINT ignored, as a shell starts a background job (`pytest &`, CI): Ctrl+C still stops it
    serving = subprocess.Popen([sys.executable, "-m", "megacut", "status", str(watched["output"]), "--serve", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        line = serving.stdout.readline()
        address = re.search(r"status page of .*: http://127\.0\.0\.1:(\d+)/#token=(\S+)", line)
        assert address, line
        connection = http.client.HTTPConnection("127.0.0.1", int(address[1]), timeout=10)
        connection.request("GET", "/api/status")
        state = json.loads(connection.getresponse().read())
        assert state["verdict"] == "failed" and state["run_id"] == watched["end"]["run_id"]
        assert f"controls need the token {address[2]}" in serving.stdout.readline()
    finally:
        serving.send_signal(signal.SIGINT)
        try:
            assert serving.wait(timeout=10) == 0
        finally:
            serving.kill()  # nothing when it exited; else no server is left behind
            serving.communicate()


def test_pause_holds_new_jobs_and_workers_change_while_it_runs(workload, watched, tmp_path):
    csv, movies = workload
    output = tmp_path / "out"
    proc = start_run(csv, movies, output, workers=1)
    try:
        wait_for(lambda: (s := read_state(output)) and s["totals"]["jobs"]["done"] >= 1, proc)
        paused = megacut_status(output, "--pause")
        assert paused.returncode == 0 and "pause: paused: no new job starts" in paused.stdout, paused.stderr
        at_pause = read_state(output)["totals"]["jobs"]
        held = wait_for(lambda: (s := read_state(output)) and s["state"] == "paused" and not s["running"] and s, proc)
        # the job running finishes; the one the pool held queued for its worker does not start
        assert held["totals"]["jobs"]["done"] <= at_pause["done"] + at_pause["running"]
        time.sleep(1.5)  # the file is rewritten within a second of any change
        later = read_state(output)
        assert later["totals"]["jobs"] == held["totals"]["jobs"] and not later["running"]
        shown = megacut_status(output)
        assert shown.returncode == 3 and "state     PAUSED" in shown.stdout and "controls  paused" in shown.stdout
        assert "ETA" not in shown.stdout
        more = megacut_status(output, "--workers", 2)
        assert "workers 2: workers: at most 2 job(s) at once from now" in more.stdout, more.stderr
        assert megacut_status(output, "--resume").stdout.strip() == "megacut: resume: resumed"
        two = wait_for(lambda: (s := read_state(output)) and len(s["running"]) == 2 and s, proc)
        assert two["executor"]["workers"] == 2 and two["controls"]["workers_asked"] == 2
        assert proc.wait(timeout=120) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
        log = "".join(proc.communicate())
    assert "pause (command line): paused" in log and "resume (command line): resumed" in log
    assert part_digests(output) == watched["digests"]  # the same output, whatever the workers did


def test_stop_finishes_the_running_job_and_ends_interrupted(workload, tmp_path):
    csv, movies = workload
    output = tmp_path / "out"
    proc = start_run(csv, movies, output, workers=None)  # --no-threading: the job runs in the run's process
    try:
        wait_for(lambda: (s := read_state(output)) and s["running"], proc)
        stop = megacut_status(output, "--stop")
        assert "stop: stopping: running jobs finish and complete parts are joined" in stop.stdout, stop.stderr
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    state = read_state(output)
    assert state["outcome"] == "interrupted" and state["exit_code"] == 130 and state["controls"]["stop"]
    statuses = [r["status"] for r in items(state)]
    assert "ok" in statuses and "cancelled" in statuses and "failed" not in statuses
    shown = megacut_status(output)
    assert shown.returncode == 130 and "INTERRUPTED (exit 130) · inline, 1 worker(s)" in shown.stdout


def test_a_killed_run_is_stale(workload, tmp_path):
    csv, movies = workload
    output = tmp_path / "out"
    proc = start_run(csv, movies, output, workers=1)
    try:
        wait_for(lambda: (s := read_state(output)) and s["running"], proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers, without a word
        proc.communicate()
    state = read_state(output)
    assert not state["ended"] and state["state"] == "rendering"
    shown = megacut_status(output)
    assert shown.returncode == 4, shown.stdout + shown.stderr
    assert "state     STALE" in shown.stdout and "is gone without ending the run" in shown.stdout
    assert "run the same command again to resume" in shown.stdout
    assert json.loads(megacut_status(output, "--json").stdout)["verdict"] == "stale"
    refused = megacut_status(output, "--resume")
    assert refused.returncode == 2 and "no run to control" in refused.stderr and "stale" in refused.stderr


def test_no_status_is_a_clear_error(tmp_path, capsys):
    code, out, err = run_cli(["status", tmp_path / "nowhere"], capsys)
    assert code == 2 and "nowhere: no such folder" in err
    code, out, err = run_cli(["status", tmp_path], capsys)
    assert code == 2 and "no run status here" in err
    (tmp_path / "megacut-status.json").write_text("{half a fi", encoding="utf-8")
    code, out, err = run_cli(["status", tmp_path], capsys)
    assert code == 2 and "not a megacut status file" in err
    code, out, err = run_cli(["status", tmp_path, "--workers", "0"], capsys)
    assert code == 2 and "--workers" in err
    assert "Traceback" not in out + err


def test_controls_go_through_the_stop_machinery(tmp_path):
    stop = StopControl()
    assert controls.apply(controls.check_control("pause"), stop, "process").startswith("paused")
    assert stop.pause.is_set() and stop.hold.is_set() and not stop.stopping
    assert controls.apply(controls.check_control("resume"), stop, "process") == "resumed"
    assert not stop.pause.is_set() and not stop.hold.is_set()
    controls.apply(controls.check_control("pause"), stop, "dask")  # a cluster's hold cannot be lifted: not sent
    assert stop.pause.is_set() and not stop.hold.is_set()
    assert "one job at a time" in controls.apply(controls.check_control("workers", 3), stop, "inline")
    assert stop.workers is None
    controls.apply(controls.check_control("workers", "3"), stop, "process")
    assert stop.workers == 3
    controls.apply(controls.check_control("stop"), stop, "process")
    assert stop.drain.is_set() and not stop.cancel.is_set()  # the first Ctrl+C
    controls.apply(controls.check_control("stop-now"), stop, "process")
    assert stop.cancel.is_set()  # the second
    for bad in (("jump", None), ("workers", 0), ("workers", "many")):
        with pytest.raises(Exception, match="unknown control|workers"):
            controls.check_control(*bad)
    sent = [controls.send(tmp_path, controls.check_control(a), by="test") for a in ("pause", "resume")]
    (tmp_path / controls.CONTROL_DIR / "9-junk.json").write_text("not json")
    assert [c.action for c in controls.take(tmp_path)] == ["pause", "resume"]
    assert not any(p.exists() for p in sent) and controls.take(tmp_path) == []


def test_the_eta_does_not_swing_and_its_range_holds_the_end():
    """Eight workers ending jobs of 30 s of output together every 20 s (12 output s a second, in bursts), then
    twice as slow: the predicted end stays put between bursts, follows the change within minutes, and its
    range holds the true end; a stall makes it later."""
    meter, done, ends, ranges = RateMeter(), 0.0, {}, {}
    for second in range(0, 1200, 1):
        if second and second % (20 if second <= 600 else 40) == 0:
            done += 8 * 30
        meter.update(float(second), done)
        eta = meter.eta(14400.0 - done, int(done // 240), float(second))
        if eta:
            ends[second] = second + eta["s"]
            ranges[second] = (second + eta["low_s"], second + eta["high_s"])
    assert ends[20] == 1200 and ends[120] == ends[599] == 1200  # at 12 s a second: 14400 s of output by 1200
    assert all(ranges[s][0] <= 1200 <= ranges[s][1] for s in range(20, 600))
    assert max(abs(ends[s + 1] - ends[s]) for s in range(20, 1000)) < 60  # a burst moves it by at most a gap
    # from 600 s, 6 output s a second: 7200 s left take 1200 s more, the end moves to 1800
    assert 1700 < ends[1199] <= 1800 and ranges[1199][0] <= 1800 <= ranges[1199][1] * 1.05
    assert meter.eta(2400.0, 50, 1400.0)["s"] > meter.eta(2400.0, 50, 1200.0)["s"] + 100  # nothing ended for 240 s


def test_the_server_serves_the_page_and_guards_its_controls(watched, tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    state = dict(watched["during"])
    state["writer"] = {**state["writer"], "pid": os.getpid(), "process_started": None, "heartbeat_at": time.time()}
    (output / "megacut-status.json").write_text(json.dumps(state), encoding="utf-8")
    with StatusServer(output, "127.0.0.1", 0) as server:
        def request(method, path, body=None, headers=None):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            connection.request(method, path, body=body, headers={"Host": f"127.0.0.1:{server.port}",
                                                                    **(headers or {})})
            answer = connection.getresponse()
            return answer.status, answer.read().decode("utf-8")

        status, page = request("GET", "/")
        assert status == 200 and "<title>megacut</title>" in page
        assert "http://" not in page and "https://" not in page and "//" not in page.split("<script>")[0]
        status, body = request("GET", "/api/status")
        assert status == 200 and json.loads(body)["verdict"] == "rendering"
        assert request("GET", "/", headers={"Host": "evil.example:80"})[0] == 403  # DNS rebinding
        pause = json.dumps({"action": "pause"})
        assert request("POST", "/api/control", pause)[0] == 403  # no token
        assert request("POST", "/api/control", pause, {"X-Megacut-Token": "guess"})[0] == 403
        token = {"X-Megacut-Token": server.token, "Content-Type": "application/json"}
        status, body = request("POST", "/api/control", json.dumps({"action": "workers", "workers": 999}), token)
        assert status == 400 and "from 1 to 256" in body
        status, body = request("POST", "/api/control", pause, token)
        assert status == 202 and json.loads(body) == {"sent": "pause"}
        assert [c.action for c in controls.take(output)] == ["pause"]
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", "/api/events", headers={"Host": f"localhost:{server.port}"})
        events = connection.getresponse()
        assert events.headers["Content-Type"] == "text/event-stream"
        assert events.readline() == b"event: status\n"
        assert json.loads(events.readline().decode().removeprefix("data: "))["run_id"] == state["run_id"]
        connection.close()
        (output / "megacut-status.json").write_text(json.dumps(watched["end"]), encoding="utf-8")
        status, body = request("POST", "/api/control", pause, token)
        assert status == 409 and "no run to control: it is failed" in body
