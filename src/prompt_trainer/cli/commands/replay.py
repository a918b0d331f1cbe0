"""``prompt-trainer replay``: rerun the agent on stored tasks with the current prompts and a
candidate, and print the paired comparison (a table, or with ``--json`` the object).

Reads the configuration, the ledger and the candidate folder; writes only under
``.prompt-trainer/replay/``. Returns the exit code (0 whatever the verdict: the verdict is the
output, not a failure).
"""

from __future__ import annotations

import argparse
import json

from prompt_trainer.cli.console import Invocation
from prompt_trainer.settings import Settings
from prompt_trainer.targets import check_prompt_files


def cmd_replay(args: argparse.Namespace, ctx: Invocation) -> int:
    from prompt_trainer import replay  # noqa: PLC0415
    from prompt_trainer.store import open_ledger  # noqa: PLC0415

    settings = Settings.load(args.config, ctx.env)
    target = settings.target(args.target)
    check_prompt_files(settings.config, settings.root, only=target.name)
    folder, files = replay.load_candidate(settings.root, target, args.candidate)
    ctx.console.progress(f"replay: candidate {folder}")
    result = replay.replay(
        settings, target, files, open_ledger(settings.root).load(),
        tasks=args.tasks, repeat=args.repeat, log=ctx.console.progress,
    )  # fmt: skip
    print(json.dumps(replay.to_json(result), indent=2) if args.json else replay.table(result))
    return 0
