"""The docs check: README.md and docs/*.md say what megacut does.

- Every relative link and ``#anchor`` resolves (anchors as GitHub makes them from headings).
- Every ```sh block is marked, on the line above it, with how it is checked:
  ``<!-- docs-check: run by tests/FILE.py::TEST -->`` (that test runs it as written, on tiny generated
  media), ``<!-- docs-check: run by .ci/run -->`` (the quick start, which CI runs), or
  ``<!-- docs-check: not run: REASON -->`` (several machines, long benchmarks); for those, every
  command and option in the block is checked against the parser or the ``--help`` of what it runs.
- Every ``megacut ...`` command in the prose parses, and every option of every command is documented.
- The Python API example runs as written.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest
from media import make_audio, make_image, make_video

from megacut.cli.options import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"<!--\s*docs-check:\s*(.*?)\s*-->")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*```(\S*)")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`([^`]+)`")


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# ---------------------------------------------------------------------------------------------- reading pages

@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence
    heading: str  # the nearest heading above it, without its #s
    language: str
    text: str
    marker: str | None  # what <!-- docs-check: ... --> on the line above says

    def __str__(self) -> str:
        return f"{rel(self.page)}:{self.line} ({self.heading})"


@lru_cache(maxsize=None)
def blocks(page: Path) -> tuple[Block, ...]:
    found, heading, fence, body, last = [], "", None, [], ""
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if fence is not None:
            if line.strip() == "```":
                found.append(Block(page, fence[0], heading, fence[1], "\n".join(body) + "\n", fence[2]))
                fence, body, last = None, [], line
            else:
                body.append(line)
            continue
        if match := FENCE.match(line):
            marker = MARKER.fullmatch(last.strip())
            fence = (number, match[1], marker[1] if marker else None)
        elif match := HEADING.match(line):
            heading = match[2]
        if line.strip():
            last = line
    assert fence is None, f"{rel(page)}:{fence[0]}: a code block is not closed"
    return tuple(found)


def prose_lines(page: Path):
    """(line number, text) of every line outside code blocks."""
    inside = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            yield number, line


def block(page: str, heading: str, language: str) -> Block:
    """The one ```language block under ``heading`` (the heading's text, without #s) of ``page``."""
    found = [b for b in blocks(ROOT / page) if b.heading == heading and b.language == language]
    assert len(found) == 1, f"{page}: {len(found)} {language} blocks under '{heading}', expected one"
    return found[0]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lower case, without punctuation, spaces as hyphens."""
    text = INLINE_CODE.sub(r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@lru_cache(maxsize=None)
def anchors(page: Path) -> frozenset[str]:
    """Every heading's anchor; a repeated heading gets -1, -2... as on GitHub."""
    found, repeats = set(), {}
    for _, line in prose_lines(page):
        if match := HEADING.match(line):
            base = slug(match[2])
            if base in repeats:
                repeats[base] += 1
                found.add(f"{base}-{repeats[base]}")
            else:
                repeats[base] = 0
                found.add(base)
    return frozenset(found)


def test_slugs_are_githubs():
    assert slug("What `plan` checks") == "what-plan-checks"
    assert slug("One line per row: `--rows`") == "one-line-per-row---rows"
    assert slug("A 2-hour part's join") == "a-2-hour-parts-join"
    assert slug("Many cores: the scaling model") == "many-cores-the-scaling-model"
    assert slug("A 10,000-row plan") == "a-10000-row-plan"


# ---------------------------------------------------------------------------------------------- links

@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_link_and_anchor_resolves(page):
    broken = []
    for number, line in prose_lines(page):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            where = f"{rel(page)}:{number}: {target}"
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{where}: no such file")
            elif anchor and (resolved.suffix != ".md" or anchor not in anchors(resolved)):
                broken.append(f"{where}: no heading with that anchor in {rel(resolved)}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_docs_page_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    unlinked = [rel(p) for p in PAGES[1:] if f"]({rel(p)}" not in readme]
    assert not unlinked, f"not linked from README.md: {unlinked}"


# ---------------------------------------------------------------------------------------------- sh blocks

def sh_blocks() -> list[Block]:
    return [b for page in PAGES for b in blocks(page) if b.language in ("sh", "bash", "shell", "console")]


def commands(text: str) -> list[list[str]]:
    """The commands of a shell block: continuation lines joined, comments dropped, split at && ; &."""
    found: list[list[str]] = []
    for line in text.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split, lexer.commenters = True, "#"
        found.append([])
        for token in lexer:
            if token in ("&&", ";", "&", "||", "|"):
                found.append([])
            else:
                found[-1].append(token)
    return [command for command in found if command]


def test_every_sh_block_is_run_or_marked_not_run():
    problems = []
    for b in sh_blocks():
        if b.marker is None:
            problems.append(f"{b}: unmarked; put `<!-- docs-check: run by tests/FILE.py::TEST -->` (a test that "
                            "runs it) or `<!-- docs-check: not run: REASON -->` on the line above it")
        elif match := re.fullmatch(r"run by (tests/\S+\.py)::(\w+)", b.marker):
            test_file = ROOT / match[1]
            if not test_file.is_file() or f"def {match[2]}(" not in test_file.read_text(encoding="utf-8"):
                problems.append(f"{b}: {match[1]} has no test {match[2]}")
        elif b.marker == "run by .ci/run":
            problems += [f"{b}: {p}" for p in ci_problems(b)]
        elif not re.fullmatch(r"not run: \S.*", b.marker):
            problems.append(f"{b}: unknown marker '{b.marker}'")
    assert not problems, "\n".join(problems)


def run_block(b: Block, cwd: Path, test_name: str, env: dict | None = None) -> str:
    """Run ``b`` with bash, as written, in ``cwd``; returns its output."""
    assert b.marker == f"run by tests/test_readme.py::{test_name}", f"{b}: marked '{b.marker}'"
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])  # this megacut
    run = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", b.text], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, "PATH": path, **(env or {})}, timeout=240)
    assert run.returncode == 0, f"{b} failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run.stdout


# The quick start's commands and what .ci/run must run for each (CI installs the test extras too).
CI_RUNS = {
    "python3 -m venv .venv": r"^python3 -m venv ",
    ". .venv/bin/activate": r"^\. \S*venv/bin/activate",
    "pip install .": r"pip install .*\"\.\[test,cluster\]\"",
    'pip install ".[test,cluster]"': r"pip install .*\"\.\[test,cluster\]\"",
    "pytest -q": r"^pytest -q$",
    "megacut demo": r"^megacut demo( |$)",
}


def ci_problems(b: Block) -> list[str]:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    problems = []
    for command in commands(b.text):
        text = shlex.join(command).replace("'", '"')
        pattern = CI_RUNS.get(text)
        if pattern is None:
            problems.append(f"'{text}' is not a command .ci/run is known to run: make .ci/run run it, and add "
                            "it to CI_RUNS in tests/test_readme.py")
        elif not re.search(pattern, ci, re.M):
            problems.append(f".ci/run does not run '{text}' (looked for /{pattern}/)")
    return problems


def test_the_quick_start_is_what_ci_runs():
    quick = [b for b in sh_blocks() if b.page.name == "README.md" and b.heading == "Quick start"]
    assert len(quick) == 2 and all(b.marker == "run by .ci/run" for b in quick)
    assert "megacut demo" in quick[0].text and "pytest -q" in quick[1].text


# Commands of "not run" blocks, checked without running them.

def check_megacut(args: list[str]) -> str | None:
    """None when megacut's parser takes ``args``, else why not. A command alone (`megacut plan`) names it."""
    args = [a for a in args if a != "..."]  # "..." stands for the command's other options
    parser = build_parser()
    if len(args) == 1 and not args[0].startswith("-"):
        args = [args[0], "--help"]
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(args)
    except SystemExit as exc:
        if exc.code:
            return f"megacut {shlex.join(args)}: {errors.getvalue().strip().splitlines()[-1]}"
    return None


@lru_cache(maxsize=None)
def script_help(script: str) -> str:
    run = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"{script} --help: {run.stderr[-2000:]}"
    return run.stdout


def options_of(args: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in args if a.startswith("-") and a != "-"]


def check_python(args: list[str]) -> str | None:
    if args[:2] == ["-m", "venv"]:
        return None
    script = args[0]
    if not script.startswith("benchmarks/") or not (ROOT / script).is_file():
        return f"python {script}: not a script of this repository"
    known = set(re.findall(r"(?<![\w-])--?[\w-]+", script_help(script)))
    unknown = [o for o in options_of(args[1:]) if o not in known]
    return f"python {shlex.join(args)}: {script} has no {unknown}" if unknown else None


def check_pip(args: list[str]) -> str | None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "([^"]+)"', pyproject, re.M)[1]
    extras_section = pyproject.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    known_extras = set(re.findall(r"^([\w-]+) = \[", extras_section, re.M))
    for spec in [a for a in args[1:] if not a.startswith("-")]:
        match = re.fullmatch(r"(megacut|\.)(?:\[([\w,-]+)\])?(?:==([\w.]+))?", spec)
        if args[0] != "install" or not match:
            return f"pip {shlex.join(args)}: not an install of megacut"
        extras = set(match[2].split(",")) if match[2] else set()
        if missing := extras - known_extras:
            return f"pip install {spec}: pyproject.toml has no extra {sorted(missing)}"
        if match[3] and match[3] != version:
            return f"pip install {spec}: megacut's version is {version}"
    return None


def check_export(args: list[str]) -> str | None:
    """DASK_* variables must set what megacut sets for a local cluster (the docs say they do)."""
    from megacut.run.cluster import LOCAL_CLUSTER_CONFIG

    dask = {}
    for assignment in args:
        name, _, value = assignment.partition("=")
        if name.startswith("DASK_"):
            dask[name[5:].lower().replace("__", ".").replace("_", "-")] = value
    if dask and dask != {key: str(value) for key, value in LOCAL_CLUSTER_CONFIG.items()}:
        return f"export {shlex.join(args)}: not the local cluster's settings {LOCAL_CLUSTER_CONFIG}"
    return None


def check_dask(args: list[str]) -> str | None:
    cli = pytest.importorskip(f"distributed.cli.dask_{args[0]}", reason="dask commands need megacut[cluster]")
    known = {option for param in cli.main.params for option in param.opts}
    unknown = [o for o in options_of(args[1:]) if o not in known]
    return f"dask {shlex.join(args)}: no {unknown}" if unknown else None


def check_command(command: list[str]) -> str | None:
    program, args = Path(command[0]).name, command[1:]
    if program == "megacut":
        return check_megacut(args)
    if re.fullmatch(r"python(3(\.\d+)?)?", program):
        return check_python(args)
    if program == "pip":
        return check_pip(args)
    if program == "export":
        return check_export(args)
    if program == "dask" and args and args[0] in ("scheduler", "worker"):
        return check_dask(args)
    return f"{shlex.join(command)}: the docs check has no check for '{program}'; add one to tests/test_readme.py"


NOT_RUN = [b for b in sh_blocks() if b.marker and b.marker.startswith("not run:")]


@pytest.mark.parametrize("b", NOT_RUN, ids=str)
def test_commands_not_run_exist_with_their_options(b):
    problems = [p for p in map(check_command, commands(b.text)) if p]
    assert not problems, f"{b}:\n" + "\n".join(problems)


# ---------------------------------------------------------------------------------------------- the prose

def test_every_megacut_command_in_the_prose_parses():
    refused = []
    for page in PAGES:
        for number, line in prose_lines(page):
            for code in INLINE_CODE.findall(line):
                if code.startswith("megacut ") and "COMMAND" not in code:
                    if problem := check_megacut(shlex.split(code)[1:]):
                        refused.append(f"{rel(page)}:{number}: {problem}")
    assert not refused, "\n".join(refused)


def every_option() -> dict[str, set[str]]:
    """command -> its options (the long form of each), from megacut's parser."""
    parser = build_parser()
    found = {"megacut": {max(a.option_strings, key=len) for a in parser._actions if a.option_strings}}
    subparsers = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    for name, sub in subparsers.choices.items():
        found[name] = {max(a.option_strings, key=len) for a in sub._actions if a.option_strings}
    return {name: options - {"--help"} for name, options in found.items()}


def test_every_option_is_documented():
    text = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    missing = [f"{command} {option}" for command, options in every_option().items() for option in sorted(options)
               if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text)]
    assert not missing, "options no page documents:\n" + "\n".join(missing)


# ---------------------------------------------------------------------------------------------- runs

def test_the_first_mega_cut_runs_as_written(tmp_path):
    """The README's first mega cut on tiny movies in ~/Movies, then the cache commands of the cache page."""
    movies = tmp_path / "Movies"
    (movies / "Agents of Shield" / "Season 1").mkdir(parents=True)
    make_video(movies / "Thor.mkv", duration_s=100, size="160x90", fps=10)
    make_video(movies / "Agents of Shield" / "Season 1" / "Agents of Shield S01E01.mkv", duration_s=20,
               size="160x90", fps=10)
    (tmp_path / "scenes.csv").write_text(block("README.md", "Your first mega cut", "csv").text, encoding="utf-8")
    home = {"HOME": str(tmp_path)}
    name = "test_the_first_mega_cut_runs_as_written"
    run_block(block("README.md", "Your first mega cut", "sh"), tmp_path, name, home)
    report = json.loads((tmp_path / "out" / "megacut-report.json").read_text(encoding="utf-8"))
    assert [p["status"] for p in report["parts"]] == ["written"]
    assert [(s["line"], s["status"]) for s in report["scenes"]] == [(3, "ok"), (4, "ok"), (5, "ok")]
    assert (tmp_path / "out" / "mega_cut_part_1.mp4").is_file()
    shown = run_block(block("docs/interrupting-and-cache.md", "The cache only grows: `megacut cache`", "sh"),
                      tmp_path, name, home)
    assert "used by this plan: 3 segment(s)" in shown and "freed " in shown  # one per scene: all under 45 s


def test_the_narrated_slides_command_runs_as_written(tmp_path):
    """docs/narrated-slides.md: its spec as intro.json (with tiny slides and narration), its command."""
    (tmp_path / "intro.json").write_text(block("docs/narrated-slides.md", "The spec", "json").text, encoding="utf-8")
    for folder in ("slides", "voice"):
        (tmp_path / folder).mkdir()
    make_image(tmp_path / "slides" / "01.png", size="160x90")
    make_image(tmp_path / "slides" / "02.jpg", size="160x90")
    make_audio(tmp_path / "voice" / "01.mp3", duration_s=0.5)
    make_audio(tmp_path / "voice" / "02.wav", duration_s=0.5)
    (tmp_path / "chapter2.json").write_text(json.dumps({"output": "chapter2.mp4", "resolution": "160x90", "fps": 10,
                                                        "sections": [{"text": "Chapter 2", "duration": 1}]}))
    run_block(block("docs/narrated-slides.md", "Narrated slides", "sh"), tmp_path,
              "test_the_narrated_slides_command_runs_as_written")
    videos = tmp_path / "videos"
    for name in ("intro", "chapter2"):
        assert (videos / f"{name}.mp4").is_file() and (videos / f"{name}.report.json").is_file()


def test_the_python_api_example_runs_as_written(tmp_path):
    (tmp_path / "movies").mkdir()
    make_video(tmp_path / "movies" / "Small.mp4", duration_s=2, size="160x90", audio_tracks=())
    (tmp_path / "scenes.csv").write_text("movie,start,end,overlay\nSmall,0,0.4,Year 1\n", encoding="utf-8")
    script = tmp_path / "example.py"
    script.write_text(block("docs/python-api.md", "Example", "python").text, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "mega_cut_part_1.mp4").is_file()
