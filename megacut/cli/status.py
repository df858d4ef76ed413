"""``megacut status``: a run's state from its status file, its live page, and its controls; and the run's own
side of it (:func:`live_status`: the status file and the page of `process` and `sections`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from megacut.cli.options import optional_path
from megacut.errors import ExitCode, MegacutError, UsageError

WATCH_EVERY_S = 2.0
CONFIRM_WITHIN_S = 6.0
SHOWN_PARTS = 12
SHOWN_RUNNING = 20
SHOWN_IDS = 6


def cmd_status(args: argparse.Namespace) -> int:
    from megacut.status.file import status_path

    where = args.output or optional_path(args, "output")
    if where is None:
        raise UsageError("give the run's output folder: megacut status OUTPUT (or set MEGA_CUT_OUTPUT)")
    path = status_path(where)
    if args.control or args.workers:
        return send_control(path, args.control or "workers", args.workers)
    if args.status_port is not None:
        return serve(path.parent, args.status_host, args.status_port)
    try:
        return watch(path, args) if args.watch else show(path, args)
    except BrokenPipeError:  # piped into `head`, say: the reader has what it wanted
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (Python would flush the closed pipe at exit)
        return ExitCode.OK


def show(path: Path, args: argparse.Namespace) -> int:
    from megacut.status.file import VERDICT_EXIT, read_status, with_verdict

    state = with_verdict(read_status(path))
    if args.json:
        print(json.dumps(state, indent=2, ensure_ascii=False))
    else:
        print(status_text(state, every_item=args.all))
    return VERDICT_EXIT.get(state["verdict"], ExitCode.FAILED)


def watch(path: Path, args: argparse.Namespace) -> int:
    from megacut.status.file import VERDICT_EXIT, read_status, with_verdict

    live = ExitCode.RUNNING
    code = live
    try:
        while True:
            state = with_verdict(read_status(path))
            code = VERDICT_EXIT.get(state["verdict"], ExitCode.FAILED)
            text = status_text(state, every_item=args.all)
            if sys.stdout.isatty():
                sys.stdout.write("\x1b[H\x1b[2J")
            print(text + ("" if sys.stdout.isatty() else "\n"), flush=True)
            if code != live:
                return code
            time.sleep(WATCH_EVERY_S)
    except KeyboardInterrupt:
        return code


def send_control(path: Path, action: str, workers: int | None) -> int:
    from megacut.run import controls
    from megacut.status.file import VERDICT_EXIT, read_status, verdict

    control = controls.check_control(action, workers)
    word, reason = verdict(read_status(path))
    if VERDICT_EXIT.get(word) != ExitCode.RUNNING:
        raise UsageError(f"no run to control in {path.parent}: it is {word}" + (f" ({reason})" if reason else ""))
    sent_at = time.time()
    controls.send(path.parent, control, by="command line")
    deadline = time.monotonic() + CONFIRM_WITHIN_S
    while time.monotonic() < deadline:
        time.sleep(0.2)
        last = (read_status(path).get("controls") or {}).get("last") or {}
        if last.get("at", 0) >= sent_at - 0.5 and last.get("control") == control.describe():
            print(f"megacut: {control.describe()}: {last.get('result')}")
            return ExitCode.OK
    print(f"megacut: {control.describe()} sent; the run has not taken it yet (it looks about four times a "
          "second): see `megacut status`", file=sys.stderr)
    return ExitCode.FAILED


def serve(output: Path, host: str, port: int) -> int:
    from megacut.status.server import StatusServer

    # Ctrl+C (or SIGTERM) stops serving, also when this process was started with SIGINT ignored, as a shell
    # starts a background job (`cmd &` in a script, CI): Python then leaves SIGINT ignored, and nothing stopped it.
    server = StatusServer(output, host, port).start()
    previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:  # from the first line printed on: Ctrl+C may come as soon as a reader sees it
        print(f"megacut: status page of {output}: {server.url_with_token}", flush=True)
        print(f"megacut: controls need the token {server.token}; Ctrl+C stops serving (not the run)", flush=True)
        warn_if_exposed(host)
        # Woken every half second: Ctrl+C delivered to the server's thread would leave a wait without a
        # timeout blocked (the main thread runs Python's signal handler only once it wakes).
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return ExitCode.OK


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def warn_if_exposed(host: str) -> None:
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"megacut: warning: the status page listens on {host}: anyone who reaches it sees the run's file "
              "paths (its controls still need the token)", file=sys.stderr, flush=True)


@contextlib.contextmanager
def live_status(args: argparse.Namespace, output: Path, stop, progress, executor: str, command: str, title: str):
    """The run's status file (and with --status-port its page) for as long as the block renders; yields the
    RunWatch to hand the engine. The block calls ``ended(result)``; an error leaving it ends the state."""
    from megacut.status.live import RunStatus

    status = RunStatus(output, command=command, executor=executor, stop=stop, title=title,
                       log_line=lambda message: progress.log(message, always=True))
    server = None
    if getattr(args, "status_port", None) is not None:
        from megacut.status.server import StatusServer

        server = StatusServer(output, args.status_host, args.status_port, run_id=status.run_id).start()
        status.page = server.url
        progress.log(f"status page: {server.url_with_token}", always=True)
        progress.log(f"controls on the page need the token {server.token}", always=True)
        warn_if_exposed(args.status_host)
    status.start()
    try:
        yield status
    except BaseException as exc:
        code = exc.exit_code if isinstance(exc, MegacutError) else (
            ExitCode.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else ExitCode.FAILED)
        status.ended(error=exc, exit_code=code)
        raise
    finally:
        status.ended()  # nothing happens when already ended
        if server is not None:
            server.close()


# ---- the text -------------------------------------------------------------------------------------------------

def status_text(state: dict, every_item: bool = False, now: float | None = None) -> str:
    """What `megacut status` prints."""
    now = time.time() if now is None else now
    if "run_id" not in state:
        return f"megacut status: {state.get('verdict_reason') or 'no status yet'}"
    totals, jobs = state["totals"], state["totals"]["jobs"]
    executor, writer = state["executor"], state["writer"]
    word = state["verdict"]
    workers = f", {executor['workers']} worker(s)" if executor.get("workers") else ""
    lines = [f"megacut {state['command']}: {state.get('title') or ''} -> {state['output']}",
             f"state     {word.upper()}{_outcome(state)} · {executor['kind']}{workers} · {writer['host']} pid "
             f"{writer['pid']} · updated {human_s(now - state['updated_at'])} ago"]
    if word == "stale":
        lines.append(f"          STALE: {state['verdict_reason']}; run the same command again to resume "
                     "(finished segments are kept)")
    elif state.get("verdict_reason") and word not in ("done",):
        lines.append(f"          {state['verdict_reason']}")
    done, total = totals["done_s"], totals["output_s"]
    share = done / total if total else 1.0
    bar = "#" * round(share * 30) + "." * (30 - round(share * 30))
    lines.append(f"progress  {share:4.0%} [{bar}] {human_s(done)} of {human_s(total)} output{_eta(state, now)}")
    memory, disk = state.get("memory") or {}, state.get("disk") or {}
    lines.append(f"jobs      {jobs['done']} done · {jobs['failed']} failed · {jobs['running']} running · "
                 f"{jobs['queued']} queued" + (f" · {jobs['cancelled']} cancelled" if jobs["cancelled"] else "")
                 + f" · memory {human_bytes(memory.get('rss_bytes'))}"
                 f" (peak {human_bytes(memory.get('peak_rss_bytes'))})"
                 f" · disk free {human_bytes(disk.get('free_bytes'))}")
    controls = state.get("controls") or {}
    if controls.get("paused") or controls.get("stop") or controls.get("workers_asked"):
        asked = [name for name, on in (("paused", controls.get("paused")),
                                       (f"stop {controls.get('stop')}", controls.get("stop")),
                                       (f"workers {controls.get('workers_asked')}", controls.get("workers_asked")))
                 if on]
        lines.append(f"controls  {', '.join(asked)}")
    if executor.get("dashboard"):
        lines.append(f"dashboard {executor['dashboard']}")
    if state.get("page"):
        lines.append(f"page      {state['page']}")
    lines += _parts_lines(state["parts"])
    lines += _running_lines(state["running"], now)
    lines += _failure_lines(state["failures"])
    if every_item:
        lines += _item_lines(state)
    return "\n".join(lines)


def _outcome(state: dict) -> str:
    if not state.get("ended"):
        return ""
    return f" (exit {state.get('exit_code')}" + (f": {state['error']}" if state.get("error") else "") + ")"


def _eta(state: dict, now: float) -> str:
    rate, eta = state.get("rate") or {}, state.get("eta")
    speed = f" · {rate['speed']:.2f}x real time" if rate.get("speed") else ""
    if not eta or state.get("ended"):
        return speed
    left = max(eta["at"] - now, 0.0)
    shift = left - eta["s"]
    tail = " (the last jobs)" if eta.get("tail") else ""
    low, high = human_s(max(eta["low_s"] + shift, 0)), human_s(max(eta["high_s"] + shift, 0))
    return f" · ETA {human_s(left)} ({low}–{high}){tail}{speed}"


def _parts_lines(parts: list[dict]) -> list[str]:
    shown = [p for p in parts if p["status"] != "skipped"]
    if len(shown) > SHOWN_PARTS:  # the ones in progress or failed, and a count of the rest
        counts: dict[str, int] = {}
        for part in shown:
            counts[part["status"]] = counts.get(part["status"], 0) + 1
        busy = [p for p in shown if p["status"] in ("rendering", "joining", "failed", "incomplete")][:SHOWN_PARTS]
        head = "parts     " + " · ".join(f"{n} {status}" for status, n in counts.items())
        return [head] + [f"          {_part(p)}" for p in busy]
    return [("parts     " if i == 0 else "          ") + _part(p) for i, p in enumerate(shown)]


def _part(part: dict) -> str:
    text = f"#{part['n']} {part['status']} {part['name']} {part['items_done']}/{part['items']} items"
    if part["status"] in ("written", "incomplete", "current") and part.get("size_bytes") is not None:
        text += f" · {human_bytes(part['size_bytes'])} · {part['path']}"
    if part.get("error"):
        text += f" ({part['error']})"
    return text


def _running_lines(running: list[dict], now: float) -> list[str]:
    lines = []
    for n, job in enumerate(running[:SHOWN_RUNNING]):
        where = ""
        if job.get("in_s") is not None:
            where = f" {human_s(job['in_s'], clock=True)}->{human_s(job['out_s'], clock=True)}"
        segment = f" segment {job['segment']}/{job['segments']}" if job.get("segments", 1) > 1 else ""
        since = f" {human_s(now - job['since'])}" if job.get("since") else ""
        host = f" on {job['host']}" if job.get("host") else ""
        attempt = f" attempt {job['attempt']}" if job.get("attempt", 1) > 1 else ""
        lines.append(("running   " if n == 0 else "          ") +
                     f"{job['name']} · {job.get('source') or ''}{where}{segment}{host}{since}{attempt}")
    if len(running) > SHOWN_RUNNING:
        lines.append(f"          (+{len(running) - SHOWN_RUNNING} more)")
    return lines


def _failure_lines(failures: list[dict]) -> list[str]:
    lines = []
    for n, failure in enumerate(failures):
        ids = ", ".join(failure["names"][:SHOWN_IDS]) + (" ..." if failure["count"] > SHOWN_IDS else "")
        lines.append(("failures  " if n == 0 else "          ") + f"{failure['error']} ×{failure['count']}: {ids}")
        detail = [line for line in failure.get("detail", "").splitlines()[1:] if line.strip()]
        lines += [f"            {line}" for line in detail[-3:]]
    return lines


def items_of(state: dict) -> list[dict]:
    """The state's item rows as dicts (a row that has not run yet stops after its segments)."""
    columns = state["items"]["columns"]
    defaults = {"host": -1, "attempts": 0, "render_s": 0.0, "error": -1}
    return [{**defaults, **dict(zip(columns, row))} for row in state["items"]["rows"]]


def item_name(state: dict, item: dict) -> str:
    kind = state["kinds"][item["kind"]] if item["kind"] >= 0 else "item"
    if kind == "title card":
        return f"title card (line {item['line']})" if item.get("line") else "title card"
    return f"{kind} {item['number']}"


def _item_lines(state: dict) -> list[str]:
    lines = ["items     item · line · source · part · status · segments · worker · attempts · render · error"]
    for item in items_of(state):
        source = state["sources"][item["source"]] if item["source"] >= 0 else ""
        error = state["failures"][item["error"]]["error"] if item["error"] >= 0 else ""
        host = state["hosts"][item["host"]] if item["host"] >= 0 else "-"
        lines.append(f"          {item_name(state, item)} · {item['line'] or ''} · {source} · {item['part']} · "
                     f"{item['status']} · {item['segments_done']}/{item['segments']} · {host} · "
                     f"{item['attempts']} · {item['render_s']:.1f} s" + (f" · {error}" if error else ""))
    return lines


def human_s(seconds: float | None, clock: bool = False) -> str:
    """``45 s``, ``5m07s``, ``2h05m``; ``clock``: ``0:05:07.250``."""
    if seconds is None:
        return "?"
    if clock:
        whole = int(seconds)
        return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}.{int(round(seconds % 1 * 1000)) % 1000:03d}"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds // 60 % 60):02d}m"


def human_bytes(value: int | None) -> str:
    if value is None:
        return "?"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value} B"
