"""Setup commands: ``init`` (write the config and the workflow), ``doctor`` (check the setup),
``schema`` (the config's JSON Schema) and ``completion`` (shell completion scripts).

Each takes its parsed arguments and the ``Invocation``; it prints its result on stdout, its
progress through the console, writes files only where asked, and returns the exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from prompt_trainer import workdir
from prompt_trainer.cli.console import Invocation
from prompt_trainer.errors import ConfigError
from prompt_trainer.settings import DEFAULT_CONFIG_PATH, Settings, config_schema, parse_config

if TYPE_CHECKING:
    from prompt_trainer.github import GitHubClient


def cmd_init(args: argparse.Namespace, ctx: Invocation) -> int:
    from prompt_trainer.setup import onboard  # noqa: PLC0415

    progress = ctx.console.progress
    root = args.root.resolve()
    detection = onboard.detect(root)
    for target in detection.targets:
        progress(f"init: found {target.why}: target {target.name}")
    for note in detection.notes:
        progress(f"init: {note}")
    if not detection.targets:
        progress("init: no prompt file found; the config names CLAUDE.md: edit targets:")
    made = onboard.plan(root, detection, action_ref=args.action_ref)
    # The config is checked the way a run reads it, before anything is written.
    parse_config(made.files[DEFAULT_CONFIG_PATH], source=f"the generated {DEFAULT_CONFIG_PATH}")
    for relative, text in made.files.items():
        path = root / relative
        if args.dry_run:
            print(f"===== {relative} =====\n{text}")
            continue
        if path.exists() and not args.force:
            progress(f"init: {relative} exists; kept (--force overwrites it)")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        progress(f"init: wrote {relative}")
    _ignore_workdir(root, dry_run=args.dry_run, ctx=ctx)
    if made.diff:
        progress("init: add these upload steps to your workflows (a diff; not applied):")
        print(made.diff, end="")
    else:
        progress("init: no agent or test workflow to add upload steps to; see docs/workflows.md")
    if "OWNER/" in args.action_ref:
        progress(f"init: replace {args.action_ref} in {onboard.WORKFLOW_PATH} with your Action ref")
    return 0


def _ignore_workdir(root: Path, *, dry_run: bool, ctx: Invocation) -> None:
    """Add ``.prompt-trainer/`` to ``.gitignore`` unless it is there."""
    ignore = root / ".gitignore"
    ignored = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
    if workdir.DIRNAME in ignored:
        return
    if dry_run:
        ctx.console.progress(
            "init: would add .prompt-trainer/ (local ledger, cache, runs) to .gitignore"
        )
        return
    prefix = "" if not ignored or ignored.endswith("\n") else "\n"
    ignore.write_text(f"{ignored}{prefix}{workdir.DIRNAME}/\n", encoding="utf-8")
    ctx.console.progress("init: added .prompt-trainer/ (local ledger, cache, runs) to .gitignore")


def cmd_doctor(args: argparse.Namespace, ctx: Invocation) -> int:
    from prompt_trainer.setup.doctor import render, run_checks  # noqa: PLC0415

    def connect(settings: Settings) -> GitHubClient:
        from prompt_trainer.github.connect import connect as open_client  # noqa: PLC0415

        return open_client(settings, args.repo)

    def ping(settings: Settings) -> str | None:
        from prompt_trainer.train.trainer import ping as ping_model  # noqa: PLC0415

        return ping_model(settings.llm())

    checks = run_checks(
        args.config, ctx.env, offline=args.offline, connect=connect, ping_model=ping
    )
    if args.json:
        for check in checks:
            print(json.dumps(check.as_json()))
    else:
        sys.stdout.write(render(checks))
    return 2 if any(c.status == "fail" for c in checks) else 0


def cmd_schema(args: argparse.Namespace, ctx: Invocation) -> int:
    if args.bundle:
        from prompt_trainer.loop.bundle import bundle_schema  # noqa: PLC0415

        print(json.dumps(bundle_schema(), indent=2))
        return 0
    print(json.dumps(config_schema(), indent=2))
    return 0


#: What to do after ``completion --install``, per shell.
INSTALL_HINTS = {
    "bash": "new bash sessions load it (with the bash-completion package)",
    "zsh": "add `fpath=(~/.zfunc $fpath)` before `compinit` in ~/.zshrc",
    "fish": "new fish sessions load it",
}


def cmd_completion(args: argparse.Namespace, ctx: Invocation) -> int:
    from prompt_trainer.cli.completion import install_path, script  # noqa: PLC0415
    from prompt_trainer.cli.parser import build_parser  # noqa: PLC0415

    text = script(args.shell, build_parser())
    if not args.install:
        sys.stdout.write(text)
        return 0
    home = ctx.env.get("HOME")
    if not home:
        raise ConfigError("HOME is not set", fix="print the script instead and save it yourself")
    path = install_path(args.shell, Path(home))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    ctx.console.progress(f"completion written to {path}; {INSTALL_HINTS[args.shell]}")
    return 0
