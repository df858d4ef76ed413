"""``megacut sections``: render narrated slides from JSON specs, one video per spec."""

from __future__ import annotations

import argparse

from megacut.cli.options import resolve_paths, settings_from_args
from megacut.cli.rendering import finish_run, print_problems, render, started_pool
from megacut.files import write_json_atomic


def cmd_sections(args: argparse.Namespace) -> int:
    """Reports: one per video next to it (``intro.mp4``: ``intro.report.json``), kept when another
    spec renders into the same folder, and ``megacut-report.json`` for this run as a whole."""
    from megacut.cli.report import sections_report_data, video_reports
    from megacut.plan.sections import load_section_specs, section_font_warnings
    from megacut.run.groups import section_groups

    output = resolve_paths(args, ("output",))["output"]
    settings = settings_from_args(args)
    with started_pool(args, settings, f"still/{settings.backend}") as pool:  # its workers start meanwhile
        specs = load_section_specs(args.specs)
        print_problems(section_font_warnings(specs, settings))
        groups = section_groups(specs, output, settings)
        result = render(groups, output, args, noun="section", pool=pool)
    data = sections_report_data(result, specs)
    reports = video_reports(data, specs, output)
    for path, report in reports:
        write_json_atomic(path, report)
    write_json_atomic(output / "megacut-report.json", data)
    return finish_run(result, output, [path for path, _ in reports])
