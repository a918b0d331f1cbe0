"""The ``collect`` command: agent PRs' evidence (or a local directory's) into the ledger.

Takes the parsed arguments and the ``Invocation``; stores each sample as it is collected
(``collect.batch``), holds the run lock while the data branch may be written, syncs the ledger
with the data branch (even after a failure, for what was stored), prints the closing table on
stdout and returns the exit code. PyGithub is imported only when a PR is collected.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prompt_trainer.cli.console import Console, Invocation
from prompt_trainer.cli.outcome import open_run
from prompt_trainer.errors import ConfigError, PromptTrainerError
from prompt_trainer.loop.runs import recorded
from prompt_trainer.settings import Settings

if TYPE_CHECKING:
    from prompt_trainer.github import GitHubClient
    from prompt_trainer.loop.runs import RunRecord
    from prompt_trainer.store import SampleStore


def cmd_collect(args: argparse.Namespace, ctx: Invocation) -> int:
    settings = Settings.load(args.config, ctx.env)
    # PyGithub (~0.7 s) is imported only by commands that talk to GitHub.
    from prompt_trainer.collect.batch import (  # noqa: PLC0415
        closing_table,
        collect_local,
    )
    from prompt_trainer.github.connect import connect  # noqa: PLC0415
    from prompt_trainer.loop.lock import busy_message, exclusive  # noqa: PLC0415
    from prompt_trainer.store import PreviewStore, open_ledger  # noqa: PLC0415

    progress = ctx.console.progress
    if args.evidence and (args.pr is None or len(args.pr) != 1):
        raise ConfigError(
            "--evidence belongs to one pull request", fix="pass it with exactly one --pr N"
        )
    store = open_ledger(settings.root)
    if args.local is not None:
        preview = PreviewStore(store) if args.dry_run else store
        print(closing_table(collect_local(args.local, settings=settings, store=preview)))
        if args.dry_run:
            print(f"Dry run: nothing was written ({store.path} is unchanged).")
        return 0
    client = connect(settings, args.repo)
    if args.dry_run:  # nothing anywhere: the ledger and the backfill state stay as they are
        store = PreviewStore(store)
    # collect writes only the data branch: with none (or a dry run) there is nothing to lock.
    writes = not args.dry_run and bool(settings.config.store.branch)
    with exclusive(client, settings, dry_run=not writes, log=progress) as held_by:
        if held_by:
            progress(busy_message(held_by))
            return 0
        prs = ",".join(str(n) for n in args.pr or [])
        key = f"{prs}:{args.since or ''}:{args.dry_run}"
        asked = {"pull_requests": args.pr, "since": args.since, "dry_run": args.dry_run}
        record = open_run(settings, "collect", key=key, inputs=asked, ctx=ctx)
        with recorded(record):
            return _collect_pulls(args, settings, client, store, record, console=ctx.console)


def _collect_pulls(
    args: argparse.Namespace,
    settings: Settings,
    client: GitHubClient,
    store: SampleStore,
    record: RunRecord,
    *,
    console: Console,
) -> int:
    from prompt_trainer.collect.batch import closing_table, collect_pulls  # noqa: PLC0415
    from prompt_trainer.store import sync_store  # noqa: PLC0415

    failed = True
    try:
        outcome = collect_pulls(
            client,
            args.pr,
            since=args.since,
            settings=settings,
            store=store,
            log=console.progress,
            progress=lambda numbers: _progress_bar(numbers, console),
            local_paths=tuple(args.evidence),
            skip=record.collected(),
            on_stored=lambda number: record.mark(f"collect:#{number}"),
        )
        failed = False
    finally:
        # Samples stored before a failure reach the data branch too; a sync failure then must
        # not hide the error that stopped the collection.
        try:
            sync_store(
                store,
                client,
                settings.config.store.branch,
                push=not args.dry_run,
                log=console.progress,
            )
        except PromptTrainerError as exc:
            if not failed:
                raise
            console.progress(f"store: the data branch was not updated: {exc.diagnostics()}")
    record.write_json("outcome.json", {"collected": [s.id for s in outcome.samples]})
    print(closing_table(outcome))
    if args.dry_run:
        print(f"Dry run: nothing was written ({store.path} and the data branch are unchanged).")
    return 0


def _progress_bar(numbers: list[int], console: Console) -> Iterable[int]:
    """A progress bar on an interactive terminal; plain per-PR log lines otherwise."""
    from tqdm import tqdm  # type: ignore[import-untyped]  # noqa: PLC0415

    bar: Iterable[int] = tqdm(
        numbers,
        desc="collecting",
        unit="PR",
        file=sys.stderr,
        disable=True if console.quiet else None,
    )
    return bar
