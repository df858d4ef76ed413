"""The ``megacut`` command: one module per command; here, the entry point that turns errors into exit codes.

Only the commands print and choose exit codes (``megacut.errors.ExitCode``): 0 all
done, 1 some items or parts failed, 2 invalid input or usage (nothing rendered),
130 interrupted.
"""

from __future__ import annotations

import logging
import sys

from megacut.cli.cache import cmd_cache
from megacut.cli.demo import cmd_demo
from megacut.cli.options import build_parser
from megacut.cli.plan import cmd_plan
from megacut.cli.probe import cmd_probe
from megacut.cli.process import cmd_process
from megacut.cli.sections import cmd_sections
from megacut.cli.status import cmd_status
from megacut.errors import ExitCode, MegacutError

COMMANDS = {"plan": cmd_plan, "process": cmd_process, "sections": cmd_sections, "demo": cmd_demo,
            "probe": cmd_probe, "cache": cmd_cache, "status": cmd_status}


def setup_logging(verbose: bool, log_file: str | None) -> None:
    """Warnings (with -v, every ffmpeg command) on stderr; everything in --log-file."""
    root = logging.getLogger("megacut")
    root.setLevel(logging.DEBUG)
    root.handlers.clear()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("megacut: %(message)s"))
    root.addHandler(console)
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return ExitCode.INVALID
    setup_logging(args.verbose, args.log_file)
    try:
        return COMMANDS[args.command](args)
    except MegacutError as exc:  # the library raises, the command prints: no traceback for a user's mistake
        print(f"megacut: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a full disk, a folder that cannot be written
        where = f" {exc.filename}" if exc.filename else ""
        print(f"megacut: error:{where}: {exc.strerror or exc}", file=sys.stderr)
        return ExitCode.FAILED
    except KeyboardInterrupt:
        print("megacut: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
