"""The status page: one static page and the run's status file, served by the standard library's HTTP server.

Routes: ``GET /`` the page (megacut/data/status.html: inline CSS and JS,
nothing fetched from anywhere else); ``GET /api/status`` the state with the
reader's verdict (running, paused, stale...); ``GET /api/events`` the same as
server-sent events, sent when the file changes and every few seconds (so a
stale run shows as stale); ``POST /api/control`` a control (pause, resume,
stop, stop-now, workers) with the token in the ``X-Megacut-Token`` header,
dropped into the output folder for the run to apply (run/controls.py).

It reads the file, so it serves the same page inside the run (``--status-port``)
or from another process (``megacut status OUT --serve``), during the run or
after it. It binds 127.0.0.1 unless told otherwise, answers only requests
addressed to the host and port it listens on (no DNS rebinding), sends no
CORS headers (another site's script cannot post a control), and its pages
may load nothing but themselves (Content-Security-Policy).
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

from megacut.errors import UsageError
from megacut.run import controls
from megacut.status.file import SCHEMA, STATUS_NAME, read_status, with_verdict

log = logging.getLogger(__name__)

EVENT_CHECK_S = 0.5  # how often an event stream looks at the file
EVENT_REPEAT_S = 5.0  # a state sent again this often when the file did not change (its verdict may have)
MAX_BODY = 4096
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
       "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
LIVE = ("starting", "rendering", "paused", "stopping", "joining")


def page_html() -> bytes:
    return resources.files("megacut").joinpath("data/status.html").read_bytes()


class StatusServer:
    """Serve the status of the run rendering into ``output_dir`` on ``host:port`` (0: any free port), in
    daemon threads; ``run_id``: only that run's state (a server started with its run shows nothing of
    an earlier run's file)."""

    def __init__(self, output_dir: Path, host: str = "127.0.0.1", port: int = 0, *, token: str | None = None,
                 run_id: str | None = None):
        self.output_dir = Path(output_dir)
        self.path = self.output_dir / STATUS_NAME
        self.token = token or secrets.token_urlsafe(12)
        self.run_id = run_id
        self.closing = threading.Event()
        self.streams = 0  # event streams open now
        self.streams_lock = threading.Lock()
        self.page = page_html()
        try:
            self.httpd = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as exc:
            raise UsageError(f"cannot serve the status page on {host}:{port} ({exc.strerror or exc}); give another "
                             "port (0: any free one), or another --status-host") from None
        self.httpd.daemon_threads = True
        self.host, self.port = host, self.httpd.server_address[1]
        self.hosts = {f"{name}:{self.port}" for name in (host, "127.0.0.1", "localhost", "[::1]")}
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="megacut-status-page", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def url_with_token(self) -> str:
        """The page's address with the token after ``#``: a browser keeps it, and never sends it anywhere."""
        return f"{self.url}#token={self.token}"

    def start(self) -> "StatusServer":
        self.thread.start()
        return self

    def close(self, linger_s: float = 1.5) -> None:
        """Stop serving; event streams first send the last state (given ``linger_s`` to do so)."""
        self.closing.set()
        deadline = time.monotonic() + linger_s
        while self.streams and time.monotonic() < deadline:
            time.sleep(0.05)
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "StatusServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def state(self) -> dict:
        """The run's state and the verdict on it, or a placeholder while there is none yet."""
        try:
            state = read_status(self.path) if self.path.is_file() else None
        except UsageError as exc:
            return {"schema": SCHEMA, "state": "starting", "verdict": "starting", "verdict_reason": str(exc)}
        if state is None or (self.run_id and state.get("run_id") != self.run_id):
            return {"schema": SCHEMA, "state": "starting", "verdict": "starting", "output": str(self.output_dir),
                    "verdict_reason": "waiting for the run's first status"}
        return with_verdict(state)

    def send_control(self, body: dict) -> tuple[int, dict]:
        try:
            control = controls.check_control(str(body.get("action", "")), body.get("workers"))
        except UsageError as exc:
            return HTTPStatus.BAD_REQUEST, {"error": str(exc)}
        state = self.state()
        if state.get("verdict") not in LIVE or "run_id" not in state:
            return HTTPStatus.CONFLICT, {"error": f"no run to control: it is {state.get('verdict')}"}
        controls.send(self.output_dir, control, by="page")
        return HTTPStatus.ACCEPTED, {"sent": control.describe()}


def _handler(server: StatusServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "megacut-status"

        def log_message(self, format, *args) -> None:  # requests go to the debug log, not the terminal
            log.debug("status page: " + format, *args)

        def _addressed_here(self) -> bool:
            if self.headers.get("Host", "") in server.hosts:
                return True
            self._send(HTTPStatus.FORBIDDEN, b"wrong Host header\n", "text/plain; charset=utf-8")
            return False

        def _send(self, status: int, body: bytes, kind: str, extra: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", CSP)
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, data: dict) -> None:
            self._send(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), "application/json")

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            if not self._addressed_here():
                return
            route = self.path.split("?", 1)[0]
            if route in ("/", "/index.html"):
                self._send(HTTPStatus.OK, server.page, "text/html; charset=utf-8")
            elif route == "/api/status":
                self._json(HTTPStatus.OK, server.state())
            elif route == "/api/events":
                self._events()
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

        def do_POST(self) -> None:
            if not self._addressed_here():
                return
            if self.path.split("?", 1)[0] != "/api/control":
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
                return
            given = self.headers.get("X-Megacut-Token", "")
            if not hmac.compare_digest(given.encode(), server.token.encode()):
                self._json(HTTPStatus.FORBIDDEN, {"error": "controls need the token the run printed in its "
                                                           "terminal"})
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                if not 0 < length <= MAX_BODY:
                    raise ValueError("no body, or too long")
                body = json.loads(self.rfile.read(length))
                if not isinstance(body, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"error": f"a JSON object is expected ({exc})"})
                return
            status, answer = server.send_control(body)
            self._json(status, answer)

        def _events(self) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            seen, sent_at = None, 0.0
            with server.streams_lock:
                server.streams += 1
            try:
                while True:
                    closing = server.closing.is_set()
                    try:
                        stat = server.path.stat()
                        mark = (stat.st_mtime_ns, stat.st_size)
                    except OSError:
                        mark = None
                    now = time.monotonic()
                    if mark != seen or now - sent_at >= EVENT_REPEAT_S or closing:
                        data = json.dumps(server.state(), ensure_ascii=False, separators=(",", ":"))
                        self.wfile.write(f"event: status\ndata: {data}\n\n".encode("utf-8"))
                        self.wfile.flush()
                        seen, sent_at = mark, now
                    if closing:
                        self.wfile.write(b"event: closing\ndata: {}\n\n")
                        self.wfile.flush()
                        return
                    server.closing.wait(EVENT_CHECK_S)
            except OSError:
                return  # the page was closed
            finally:
                with server.streams_lock:
                    server.streams -= 1

    return Handler
