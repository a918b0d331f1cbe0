"""Commands on local files: ``inspect`` (what prompt-trainer makes of a report or trace) and
``report-failure`` (a failure no test catches, recorded on a stored sample).

Each takes its parsed arguments and the ``Invocation``, reads (``report-failure``: writes the
ledger under ``.prompt-trainer/``) and prints; neither reaches GitHub or an LLM. Returns the exit
code.
"""

from __future__ import annotations

import argparse
import json

from prompt_trainer.cli.console import Invocation


def cmd_inspect(args: argparse.Namespace, ctx: Invocation) -> int:
    """Each file's reading, printed as it is made; a JUnit report is read without loading the
    settings (the default caps: ``prompt_trainer.limits``)."""
    from prompt_trainer.collect.inspect import inspect_paths  # noqa: PLC0415

    for info in inspect_paths(args.paths):
        if args.json:
            print(json.dumps(info))
        elif "skipped" in info and "kind" not in info:
            print(f"{info['path']}: skipped: {info['skipped']}")
        else:
            details = ", ".join(f"{k}={v}" for k, v in info.items() if k not in ("path", "kind"))
            print(f"{info['path']}: {info['kind']}: {details}")
    return 0


def cmd_report_failure(args: argparse.Namespace, ctx: Invocation) -> int:
    from prompt_trainer.settings import Settings  # noqa: PLC0415

    settings = Settings.load(args.config, ctx.env)
    from prompt_trainer.loop import failures  # noqa: PLC0415
    from prompt_trainer.store import open_ledger  # noqa: PLC0415

    store = open_ledger(settings.root)
    sample = failures.stored_sample(store, args.pr)
    parsed = failures.ParsedReport(
        type=args.type, description=args.description, context=args.context
    )
    report_, _ = failures.record(
        store,
        sample,
        parsed,
        author=args.author or ctx.env.get("USER", ""),
        max_chars=settings.config.limits.max_text_chars,
    )
    ctx.console.progress(f"recorded {report_.id} ({args.type}) on {sample.id}")
    return 0


def cmd_samples(args: argparse.Namespace, ctx: Invocation) -> int:
    from prompt_trainer import samples  # noqa: PLC0415
    from prompt_trainer.settings import Settings  # noqa: PLC0415
    from prompt_trainer.store import open_ledger  # noqa: PLC0415

    settings = Settings.load(args.config, ctx.env)
    store = open_ledger(settings.root)
    if args.samples_command == "rm":
        removed = samples.remove(store, args.ids)
        print(f"removed {len(removed)} sample(s): {', '.join(removed)}")
        return 0
    rows = samples.list_rows(store)
    print(samples.json_lines(rows) if args.json else samples.table(rows))
    return 0


def cmd_evidence_preview(args: argparse.Namespace, ctx: Invocation) -> int:
    from prompt_trainer.settings import Settings  # noqa: PLC0415
    from prompt_trainer.train.preview import previews  # noqa: PLC0415

    found = previews(Settings.load(args.config, ctx.env), args.samples, target=args.target)
    for item in found:
        print(json.dumps(item.to_json()) if args.json else item.to_text())
    if not found:
        ctx.console.progress("no stored sample ran on the current prompts; collect some first")
    return 0
