"""Progress for the person at the terminal: a tqdm bar in output seconds, or plain log lines.

Parent process only: workers never print. The bar counts seconds of finished
output (cached scenes count at once), so its ETA is in real rendering terms.
"""

from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm

log = logging.getLogger(__name__)


def _mb(value: int) -> str:
    return f"{value / 1e6:.0f} MB"


class Progress:
    def __init__(self, total_s: float, *, quiet: bool = False, stream=None, interactive: bool | None = None):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.total_s = total_s
        self.done_s = 0.0
        self.counts = {"done": 0, "failed": 0, "cancelled": 0}
        self.started = time.monotonic()
        self.bar = None
        if not quiet and self.interactive:
            self.bar = tqdm(total=round(total_s, 1), unit="s", unit_scale=False, file=self.stream,
                            desc="rendering", dynamic_ncols=True,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s output "
                                       "[{elapsed}<{remaining}] {postfix}")

    def advance(self, seconds: float, status: str, *, running: int, rss_bytes: int, message: str) -> None:
        """A job ended with ``status`` (ok, failed, cancelled, not-started); ``seconds`` of output count as done
        only when it was rendered or failed: work a stop cancelled is shown as cancelled."""
        kind = {"ok": "done", "failed": "failed"}.get(status, "cancelled")
        failed = kind == "failed"
        self.counts[kind] += 1
        self.done_s += seconds if kind != "cancelled" else 0.0
        line = f"[{self.done_s:.0f}/{self.total_s:.0f} s] {message} (mem {_mb(rss_bytes)})"
        log.info(line)  # the log file gets every scene, whatever is shown
        if self.bar is not None:
            self.bar.update(round(seconds, 3) if kind != "cancelled" else 0)
            self.update(running=running, rss_bytes=rss_bytes)
            if failed:
                self.bar.write(message, file=self.stream)
        elif failed or not self.quiet:
            print(f"megacut: {line}", file=self.stream, flush=True)

    def reused(self, seconds: float, count: int) -> None:
        """Segments already rendered: counted at once."""
        self.done_s += seconds
        if self.bar is not None:
            self.bar.update(round(seconds, 3))
        self.log(f"{count} segment(s) reused from the cache ({seconds:.0f} s of output)")

    def update(self, *, running: int, rss_bytes: int) -> None:
        if self.bar is not None:
            cancelled = f"{self.counts['cancelled']} cancelled, " if self.counts["cancelled"] else ""
            self.bar.set_postfix_str(f"jobs {self.counts['done']} done, {self.counts['failed']} failed, {cancelled}"
                                     f"{running} running, mem {_mb(rss_bytes)}", refresh=True)

    def log(self, message: str, *, always: bool = False) -> None:
        """A line for the user; ``always`` for problems, which --quiet does not hide."""
        log.info(message)
        if self.bar is not None:
            self.bar.write(message, file=self.stream)
        elif always or not self.quiet:
            print(f"megacut: {message}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
