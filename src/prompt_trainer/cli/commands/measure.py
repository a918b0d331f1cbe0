"""Measure commands: ``report`` (metrics per prompt version, compared) and ``versions`` (each
target's prompt versions and their samples).

Each takes its parsed arguments and the ``Invocation``, reads the stored samples and the prompt
files' history (git, or the GitHub API for shallow clones) through ``measure``, and prints;
``report`` also appends its Markdown to the step summary. No LLM. Returns the exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from prompt_trainer.cli.console import Invocation
from prompt_trainer.settings import Settings

if TYPE_CHECKING:
    from prompt_trainer.measure.report import TargetReport
    from prompt_trainer.measure.versions import CommitLister


def _reports(args: argparse.Namespace, ctx: Invocation) -> list[TargetReport]:
    settings = Settings.load(args.config, ctx.env)
    from prompt_trainer.measure import choose_history, load_reports  # noqa: PLC0415

    def connect() -> CommitLister:
        from prompt_trainer.github.connect import connect as open_client  # noqa: PLC0415

        return open_client(settings, args.repo)

    history = choose_history(settings, args.history, connect)
    return load_reports(
        settings, target=args.target, compare=getattr(args, "compare", None), history=history
    )


def cmd_report(args: argparse.Namespace, ctx: Invocation) -> int:
    from prompt_trainer.measure.report import to_json  # noqa: PLC0415
    from prompt_trainer.render.report import render_report  # noqa: PLC0415

    reports = _reports(args, ctx)
    # Escaped for GitHub only where it goes to GitHub (the step summary); read as it is here.
    text = (
        json.dumps([to_json(r) for r in reports], indent=2) + "\n"
        if args.format == "json"
        else render_report(reports, github=False)
    )
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        ctx.console.progress(f"report written to {args.output}")
    else:
        sys.stdout.write(text)
    if ctx.runner.summary_path:
        ctx.runner.summary(render_report(reports))
    return 0


def cmd_versions(args: argparse.Namespace, ctx: Invocation) -> int:
    from prompt_trainer.measure.report import version_json  # noqa: PLC0415

    for report in _reports(args, ctx):
        for item in report.versions:
            if args.json:
                data = {"target": report.target, **version_json(item)}
                data.pop("metrics")
                print(json.dumps(data))
                continue
            v = item.version
            when = v.introduced_at.strftime("%Y-%m-%d") if v.introduced_at else "-"
            files = ", ".join(v.files) or "-"
            print(
                f"{report.target}\t{v.label}\t{when}\t{item.samples} sample(s)\t{files}\t"
                f"{v.subject}"
            )
    return 0
