"""The frame code of every frame of an MP4 file, as a real browser shows it (Debian's chromium, headless,
driven by Selenium through its chromedriver).

The page seeks a ``<video>`` to the middle of each frame, waits for that frame to be presented
(``requestVideoFrameCallback``), draws it to a canvas at the video's own size and hands the canvas's RGB
pixels back; Python decodes them with framecode.read_index, so the browser and ffmpeg checks read frame
codes with the same code.

Two ways in:

* seek_frame_codes: the file as it is, served over HTTP on 127.0.0.1 with byte ranges (Chromium seeks
  with them; SimpleHTTPRequestHandler has none) from a scratch folder that holds the page and a link to
  the file (a copy where links fail), so nothing is written beside the file;
* mse_frame_codes: a fragmented copy appended to a Media Source Extensions SourceBuffer, as a
  streaming player would feed it.

What MSE shows (Chromium 156, a libx264 source with ``-bf 3`` and AAC sound): every frame, none wrong,
missing or repeated, but 2 frames (80 ms) late at 25 fps. The offset is the fragmented copy's own:
with ``empty_moov`` ffmpeg writes no edit list, so the B-frame delay that the source's edit list takes
off stays in the times (ffmpeg reads the copy's first frame at 0.08 s too: first_frame_time_s). Without
B-frames the copy still runs late by the AAC priming (1024 samples, 21 ms): 1 frame at mid-frame times.
mse_frame_codes reports what the page shows at (i + 0.5) / fps of the media timeline, as a player would
(``[0] * late + list(range(n - late))`` for an untouched source; late_by measures it), so compare a
file with its untouched source read the same way; ``align=True`` counts the times from the first
frame presented instead, which takes the B-frame delay off (not the priming, which moves only the
frames after the first).

Not used here, and why: Chromium's plain (non-MSE) player seeking in the fragmented copy itself shows
the frame after a fragment's boundary in place of the two frames before it (frames 10, 11 show 12 with
GOPs of 12), so the fragmented copy is only ever read through MSE.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import tempfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from framecode import read_index

from megacut.ffmpeg import run_ffmpeg
from megacut.mov import read_tracks

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                  "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-extensions")
FRAME_TIMEOUT_S = 1.5  # after 'seeked', how long to wait for the frame to be presented before taking it anyway
MAX_CANVAS_WIDTH = 320  # larger videos are drawn scaled down (the frame code survives scaling)
PAGE = "browser_frames.html"


def browser_missing() -> str | None:
    """Why the browser checks cannot run here, or None."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        return ("needs Debian's chromium and chromium-driver (.ci/run installs them: "
                "apt-get install chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium (pip install '.[test]')"
    return None


@contextlib.contextmanager
def open_browser(profile_dir: str | Path | None = None):
    """A headless chromium under Selenium, quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with contextlib.ExitStack() as stack:
        if profile_dir is None:
            profile_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="browser-frames-profile-"))
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in (*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}"):
            options.add_argument(arg)
        # The driver's path is given: Selenium never looks for (or downloads) one.
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        stack.callback(driver.quit)
        driver.set_script_timeout(60)
        yield driver


# ----------------------------------------------------------------- the server


class RangeRequestHandler(SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler with single byte ranges (206 Partial Content), quiet."""

    def send_head(self):
        header = self.headers.get("Range")
        if not header:
            return super().send_head()
        path = self.translate_path(self.path)
        if os.path.isdir(path):
            return super().send_head()
        try:
            handle = open(path, "rb")
        except OSError:
            self.send_error(404, "File not found")
            return None
        size = os.fstat(handle.fileno()).st_size
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
        if match and match[1]:
            start, end = int(match[1]), int(match[2]) if match[2] else size - 1
        elif match and match[2]:  # the last N bytes
            start, end = max(0, size - int(match[2])), size - 1
        else:
            start, end = 0, -1
        end = min(end, size - 1)
        if start > end:
            handle.close()
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self._range = (start, end - start + 1)
        handle.seek(start)
        return handle

    def end_headers(self):
        if not self.headers.get("Range"):
            self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def copyfile(self, source, outputfile):
        span = getattr(self, "_range", None)
        if span is None:
            return super().copyfile(source, outputfile)
        self._range, left = None, span[1]
        while left > 0:
            chunk = source.read(min(left, 64 * 1024))
            if not chunk:
                break
            outputfile.write(chunk)
            left -= len(chunk)

    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def serve(folder: str | Path):
    """``http://127.0.0.1:PORT`` serving ``folder`` (byte ranges included), on a thread of its own."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeRequestHandler, directory=str(folder)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _link_into(folder: Path, path: Path) -> str:
    """``path`` made visible in the served ``folder`` (a link, or a copy where links fail); its name there."""
    name = "media" + path.suffix.lower()
    target = folder / name
    for make in (os.link, os.symlink, shutil.copyfile):
        try:
            make(path.resolve(), target)
            return name
        except OSError:
            continue
    raise OSError(f"cannot serve {path}")


# ----------------------------------------------------------------- the page

PAGE_HTML = """<!doctype html>
<meta charset="utf-8">
<title>browser frames</title>
<video id="v" muted preload="auto" playsinline></video>
<canvas id="c"></canvas>
<script>
"use strict";
const video = document.getElementById("v");
const canvas = document.getElementById("c");
const context = canvas.getContext("2d", {willReadFrequently: true});
window.pageErrors = [];
video.addEventListener("error", () => pageErrors.push("video error " + (video.error && video.error.message)));

function once(target, name) {
  return new Promise(resolve => target.addEventListener(name, resolve, {once: true}));
}

// Loaded, with the media time of the first frame presented (null if none is presented within timeoutMs).
function videoReady(timeoutMs) {
  const first = new Promise(resolve => {
    video.requestVideoFrameCallback((now, metadata) => resolve(metadata.mediaTime));
    setTimeout(() => resolve(null), timeoutMs);
  });
  const loaded = new Promise((resolve, reject) => {
    video.addEventListener("loadeddata", resolve, {once: true});
    video.addEventListener("error", () => reject(new Error(pageErrors.join("; "))), {once: true});
  });
  return loaded.then(() => first);
}

function described(firstFrame) {
  return {duration: video.duration, width: video.videoWidth, height: video.videoHeight, firstFrame: firstFrame};
}

// Plain playback: the file as it is, fetched with byte ranges.
window.openPlain = async function (url, timeoutMs) {
  const ready = videoReady(timeoutMs);
  video.src = url;
  return described(await ready);
};

// MSE: the whole fragmented file appended to one SourceBuffer.
window.openMse = async function (url, mime, timeoutMs) {
  if (!window.MediaSource || !MediaSource.isTypeSupported(mime)) throw new Error("MSE does not take " + mime);
  const data = await (await fetch(url)).arrayBuffer();
  const source = new MediaSource();
  const ready = videoReady(timeoutMs);
  video.src = URL.createObjectURL(source);
  await once(source, "sourceopen");
  const buffer = source.addSourceBuffer(mime);
  buffer.appendBuffer(data);
  await once(buffer, "updateend");
  const ranges = [];
  for (let i = 0; i < buffer.buffered.length; i++) ranges.push([buffer.buffered.start(i), buffer.buffered.end(i)]);
  source.endOfStream();
  const result = described(await ready);
  result.buffered = ranges;
  return result;
};

function pixels(maxWidth) {
  const scale = Math.min(1, maxWidth / video.videoWidth);
  const width = Math.max(1, Math.round(video.videoWidth * scale));
  const height = Math.max(1, Math.round(video.videoHeight * scale));
  canvas.width = width;
  canvas.height = height;
  context.drawImage(video, 0, 0, width, height);
  const rgba = context.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2];
  }
  let binary = "";
  for (let i = 0; i < rgb.length; i += 0x8000) binary += String.fromCharCode.apply(null, rgb.subarray(i, i + 0x8000));
  return {width: width, height: height, rgb: btoa(binary)};
}

// Seek to t, wait until the frame there is presented (or timeoutMs after 'seeked'), return its pixels.
window.frameAt = function (t, timeoutMs, maxWidth) {
  return new Promise(resolve => {
    let presented = null, seeked = false, done = false, timer = null;
    const finish = how => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const result = pixels(maxWidth);
      result.how = how;
      result.mediaTime = presented ? presented.mediaTime : null;
      result.currentTime = video.currentTime;
      resolve(result);
    };
    video.requestVideoFrameCallback((now, metadata) => {
      presented = metadata;
      if (seeked) finish("frame");
    });
    video.addEventListener("seeked", () => {
      seeked = true;
      if (presented) finish("frame");
      else timer = setTimeout(() => finish("timeout"), timeoutMs);
    }, {once: true});
    video.currentTime = t;
  });
};
</script>
"""


def _call(driver, function: str, *args):
    """``await window[function](...args)`` in the page; raises RuntimeError with the page's error."""
    script = ("const done = arguments[arguments.length - 1];"
              f"window[{json.dumps(function)}](...Array.from(arguments).slice(0, -1))"
              ".then(value => done({value: value}), error => done({error: String(error)}));")
    answer = driver.execute_async_script(script, *args)
    if "error" in answer:
        raise RuntimeError(f"{function}: {answer['error']}")
    return answer["value"]


def _read_frames(driver, fps, frames: int, timeout_s: float, max_width: int, origin_s: float = 0.0) -> list[int]:
    codes = []
    for i in range(frames):
        shot = _call(driver, "frameAt", origin_s + (i + 0.5) / float(fps), round(timeout_s * 1000), max_width)
        rgb = np.frombuffer(base64.b64decode(shot["rgb"]), dtype=np.uint8)
        codes.append(read_index(rgb.reshape(shot["height"], shot["width"], 3)))
    return codes


def _origin_s(opened: dict, align: bool) -> float:
    if not align:
        return 0.0
    if opened.get("firstFrame") is None:
        raise RuntimeError("align: the browser presented no first frame, so its time is unknown")
    return float(opened["firstFrame"])


@contextlib.contextmanager
def _page(driver):
    """(driver, base URL, served folder): the page served from a scratch folder, in ``driver`` or a new browser."""
    with contextlib.ExitStack() as stack:
        if driver is None:
            driver = stack.enter_context(open_browser())
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="browser-frames-")))
        (folder / PAGE).write_text(PAGE_HTML, encoding="utf-8")
        base = stack.enter_context(serve(folder))
        driver.get(f"{base}/{PAGE}")
        yield driver, base, folder


def seek_frame_codes(path: str | Path, fps, frames: int, *, driver=None, align: bool = False,
                     timeout_s: float = FRAME_TIMEOUT_S, max_width: int = MAX_CANVAS_WIDTH) -> list[int]:
    """The frame code shown at (i + 0.5) / fps for each frame i < ``frames`` when the browser plays ``path``
    as it is (-1 where unreadable). ``driver``: a Selenium driver to reuse (else a browser is started);
    ``align``: times counted from the first frame's presentation time instead of 0."""
    path = Path(path)
    with _page(driver) as (driver, base, folder):
        name = _link_into(folder, path)
        opened = _call(driver, "openPlain", f"{base}/{name}", round(timeout_s * 1000))
        return _read_frames(driver, fps, frames, timeout_s, max_width, _origin_s(opened, align))


# ----------------------------------------------------------------- MSE


def mse_mime(path: str | Path) -> str:
    """The MSE type of an MP4 file's tracks, e.g. ``video/mp4; codecs="avc1.64001e, mp4a.40.2"``: the avc1
    profile, constraints and level from the file's avcC."""
    codecs = []
    for track in read_tracks(Path(path)):
        if track.handler == "vide":
            if track.codec not in ("avc1", "avc3") or len(track.config) < 4:
                raise ValueError(f"{Path(path).name}: no MSE codec string for video {track.codec!r}")
            codecs.append(f"{track.codec}.{track.config[1]:02x}{track.config[2]:02x}{track.config[3]:02x}")
        elif track.handler == "soun":
            known = {"mp4a": "mp4a.40.2", "Opus": "opus", "fLaC": "flac", "ac-3": "ac-3", "ec-3": "ec-3"}
            if track.codec not in known:
                raise ValueError(f"{Path(path).name}: no MSE codec string for audio {track.codec!r}")
            codecs.append(known[track.codec])
    return f'video/mp4; codecs="{", ".join(codecs)}"'


def fragment(path: str | Path, out: str | Path) -> Path:
    """A fragmented copy of ``path`` (streams copied), as MSE takes it."""
    run_ffmpeg(["-y", "-loglevel", "error", "-i", str(path), "-map", "0", "-c", "copy",
                "-movflags", "frag_keyframe+empty_moov+default_base_moof", str(out)])
    return Path(out)


def mse_frame_codes(path: str | Path, fps, frames: int, *, driver=None, align: bool = False,
                    timeout_s: float = FRAME_TIMEOUT_S, max_width: int = MAX_CANVAS_WIDTH) -> list[int]:
    """As seek_frame_codes, with a fragmented copy of ``path`` appended to a MediaSource SourceBuffer."""
    path = Path(path)
    mime = mse_mime(path)
    with _page(driver) as (driver, base, folder):
        fragment(path, folder / "fragmented.mp4")
        opened = _call(driver, "openMse", f"{base}/fragmented.mp4", mime, round(timeout_s * 1000))
        return _read_frames(driver, fps, frames, timeout_s, max_width, _origin_s(opened, align))


def first_frame_time_s(path: str | Path) -> float:
    """The presentation time of the first video frame of ``path``, as ffmpeg reads it."""
    done = run_ffmpeg(["-loglevel", "info", "-i", str(path), "-map", "0:v:0", "-frames:v", "1",
                       "-vf", "showinfo", "-f", "null", "-"])
    found = re.search(r"n: *0 .*?pts_time:(-?[0-9.]+)", done.stderr)
    if not found:
        raise ValueError(f"{Path(path).name}: no video frame")
    return float(found[1])


def late_by(codes: list[int]) -> int:
    """How many frames late a frame-code list runs: the repeats of frame 0 at its start."""
    if not codes or codes[0] != 0:
        return 0
    return next((i for i, code in enumerate(codes) if code != 0), len(codes)) - 1
