"""The loop's commands: ``run`` (collect, train, propose), ``train`` (from the stored samples,
locally) and ``runs`` (the run directories they leave).

Each takes its parsed arguments and the ``Invocation``, loads ``Settings``, opens its run
directory, calls the pipeline (imported when the command runs: it pulls in PyGithub) and prints
the outcome; ``run`` also writes the step summary and the Action's outputs. Returns the exit code.
"""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import replace

from prompt_trainer.cli.console import Invocation
from prompt_trainer.cli.outcome import (
    action_outputs,
    close_run,
    open_run,
    outcome_summary,
    print_outcome,
    run_options,
)
from prompt_trainer.errors import ConfigError
from prompt_trainer.loop.runs import recorded
from prompt_trainer.settings import DEFAULT_CONFIG_PATH, Environment, Settings
from prompt_trainer.targets import check_prompt_files


def cmd_run(args: argparse.Namespace, ctx: Invocation) -> int:
    _check_sources(args)
    local = args.local is not None
    found = Settings.load(args.config, ctx.env) if local else _event_settings(args, ctx)
    if found is None:
        return 0
    settings = found
    pr = _pull_request(args, settings)
    check_prompt_files(settings.config, settings.root)  # run trains every target
    # The pipeline pulls in PyGithub (~0.7 s): only commands that need it import it.
    from prompt_trainer.pipeline import run  # noqa: PLC0415

    record = open_run(
        settings,
        "run",
        key=f"{pr}:{args.local or ''}:{args.dry_run}:{settings.env.github_run_id or ''}",
        inputs={
            "pull_request": pr,
            "local": str(args.local) if args.local else None,
            "evidence": [str(p) for p in args.evidence],
            "dry_run": args.dry_run,
            "model": args.model,
        },
        ctx=ctx,
    )
    options = replace(
        run_options(args, record),
        repo=args.repo,
        pr=pr,
        local=args.local,
        dry_run=args.dry_run,
        evidence=tuple(args.evidence),
    )
    with recorded(record):
        outcome = run(settings, options, log=ctx.console.progress)
        close_run(record, outcome)
    print_outcome(outcome, ctx.console, dry_run=args.dry_run)
    llm = settings.llm(model=args.model, api_base=args.api_base)
    if not llm.available and outcome.samples:
        ctx.console.progress(f"to train: {_train_command(args, key_var=llm.key_var)}")
    ctx.runner.summary(outcome_summary(outcome))
    ctx.runner.set_outputs(action_outputs(outcome))
    return 0


def _train_command(args: argparse.Namespace, *, key_var: str) -> str:
    """This ``run`` as it would train: with the key set, without ``--dry-run``."""
    words = ["prompt-trainer", "run"]
    words += ["--local", str(args.local)] if args.local is not None else ["--pr", str(args.pr)]
    words += [w for e in args.evidence for w in ("--evidence", str(e))]
    for flag, value in (("--config", args.config), ("--model", args.model)):
        if value and (flag != "--config" or str(value) != DEFAULT_CONFIG_PATH):
            words += [flag, str(value)]
    if args.repo:
        words += ["--repo", args.repo]
    return f"{key_var}=... " + " ".join(shlex.quote(w) for w in words)


def _check_sources(args: argparse.Namespace) -> None:
    """``--pr``, ``--local`` and ``--evidence`` that do not go together."""
    if args.local is not None and args.pr is not None:
        raise ConfigError("--pr and --local exclude each other", fix="pass only one of them")
    if args.local is not None and args.evidence:
        raise ConfigError(
            "--evidence adds files to a GitHub PR's sample",
            fix="with --local, put the files in the directory instead",
        )


def _event_settings(args: argparse.Namespace, ctx: Invocation) -> Settings | None:
    """Inside a workflow on an event a pull request can steer (the Action's ``pr`` input runs
    ``run``), the same configuration check as ``action``: the default branch's settings unless
    the checkout's file is the default branch's (read first); None when nothing may be done."""
    from prompt_trainer.loop.config_trust import GUARDED_EVENTS  # noqa: PLC0415

    environment = Environment.from_mapping(ctx.env)
    name, path = environment.github_event_name, environment.github_event_path
    if name not in GUARDED_EVENTS or not path:
        return Settings.load(args.config, ctx.env)
    from prompt_trainer.cli.commands.action import event_settings  # noqa: PLC0415
    from prompt_trainer.loop.events import parse, read_event  # noqa: PLC0415

    event = parse(name, read_event(path))
    return event_settings(args.config, event, mode="collect", repo=args.repo, ctx=ctx)


def _pull_request(args: argparse.Namespace, settings: Settings) -> int | None:
    """``--pr``, else the PR of a ``pull_request`` event; None with ``--local``."""
    pr: int | None = args.pr
    if args.local is None and pr is None:
        from prompt_trainer.loop.events import pull_number_from_event  # noqa: PLC0415

        pr = pull_number_from_event(settings.env.github_event_name, settings.env.github_event_path)
    if args.local is None and pr is None:
        raise ConfigError(
            "nothing to learn from",
            fix="pass --pr N or --local DIR (or run on a pull_request event)",
        )
    return pr


def cmd_train(args: argparse.Namespace, ctx: Invocation) -> int:
    settings = Settings.load(args.config, ctx.env)
    check_prompt_files(settings.config, settings.root, only=args.target)
    from prompt_trainer.pipeline import train_from_store  # noqa: PLC0415

    record = open_run(
        settings,
        "train",
        key=f"{args.target or '*'}:{args.strategy or ''}",
        inputs={"target": args.target, "strategy": args.strategy, "model": args.model},
        ctx=ctx,
    )
    options = replace(run_options(args, record), strategy=args.strategy)
    with recorded(record):
        outcome = train_from_store(settings, options, target=args.target, log=ctx.console.progress)
        close_run(record, outcome)
    print_outcome(outcome, ctx.console, dry_run=False)
    return 0


def cmd_runs(args: argparse.Namespace, ctx: Invocation) -> int:
    from prompt_trainer.loop.runs import list_runs  # noqa: PLC0415

    settings = Settings.load(args.config, ctx.env)
    for record in list_runs(settings.root):
        status = record.status
        steps = sorted(status.get("steps") or {})
        if args.json:
            print(json.dumps({"path": str(record.path), **status, "steps": steps}))
            continue
        print(
            f"{record.path.name}\t{status.get('command', '?')}\t{status.get('state', '?')}\t"
            f"{len(steps)} step(s)\t{status.get('message') or ''}".rstrip()
        )
    return 0
