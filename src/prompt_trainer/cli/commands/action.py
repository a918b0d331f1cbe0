"""The commands that run on a GitHub event: ``action`` (what the Action runs: decide from the
event, then collect, report, train, propose or revise) and ``respond`` (the review loop on the
bot's own PRs).

Each takes its parsed arguments and the ``Invocation``, reads the webhook payload (``events``),
narrows the settings to what this event may use (``action_settings``: the default branch's
config on PR events, no LLM for untrusted senders), calls ``action.run_action`` or
``respond.respond`` (imported when the command runs) and reports through the console and the
runner's outputs, step summary and annotations. Returns the exit code (0 when nothing may be
done: the reason is printed).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING

from prompt_trainer.cli.console import Invocation
from prompt_trainer.cli.outcome import (
    action_outputs,
    annotate_failures,
    close_run,
    open_run,
    outcome_summary,
    print_outcome,
    run_options,
)
from prompt_trainer.errors import ConfigError
from prompt_trainer.loop.runs import recorded
from prompt_trainer.settings import Settings

if TYPE_CHECKING:
    from prompt_trainer.loop.action import ActionResult
    from prompt_trainer.loop.events import Event
    from prompt_trainer.loop.runs import RunRecord


def cmd_action(args: argparse.Namespace, ctx: Invocation) -> int:
    settings = Settings.load(args.config, ctx.env)
    from prompt_trainer.loop.action import run_action  # noqa: PLC0415
    from prompt_trainer.loop.events import parse, read_event  # noqa: PLC0415

    name = settings.env.github_event_name
    try:
        event = parse(name, read_event(settings.env.github_event_path) if name else {})
    except ConfigError as exc:
        # Without a readable event there is nothing safe to do: say so, and do not fail the job.
        ctx.console.progress(f"action: nothing done: {exc.diagnostics()}")
        return 0
    trusted = action_settings(settings, event, mode=args.mode, repo=args.repo, ctx=ctx)
    if trusted is None:
        return 0
    settings = trusted
    record = _open_action_run(settings, args, event.number, ctx)
    shared = run_options(args, record)
    options = replace(shared, repo=args.repo, dry_run=args.dry_run, target=args.target)
    with recorded(record):
        result = run_action(
            settings,
            options,
            event,
            mode=args.mode,
            backfill_days=args.backfill_days,
            log=ctx.console.progress,
        )
        close_run(record, result.outcome, did=result.did)
    _report(result, name, ctx, dry_run=args.dry_run)
    return 0


def _open_action_run(
    settings: Settings, args: argparse.Namespace, number: int | None, ctx: Invocation
) -> RunRecord:
    name = settings.env.github_event_name
    return open_run(
        settings,
        "action",
        # A re-run of a failed workflow keeps its run id: that is what resumes.
        key=f"{name}:{number}:{args.mode}:{args.target or '*'}:{args.backfill_days}:"
        f"{settings.env.github_run_id or ''}:{args.dry_run}",
        inputs={
            "event": name,
            "pull_request": number,
            "mode": args.mode,
            "target": args.target,
            "backfill_days": args.backfill_days,
            "dry_run": args.dry_run,
            "workflow_run": settings.env.github_run_id,
        },
        ctx=ctx,
    )


def _report(result: ActionResult, name: str | None, ctx: Invocation, *, dry_run: bool) -> None:
    """The console lines, the report, the step summary (the run's message escaped, as it may
    quote outside text), the outputs and the annotations."""
    from prompt_trainer.render.filters import neutralize  # noqa: PLC0415 - Jinja2: only here

    print_outcome(result.outcome, ctx.console, dry_run=dry_run)
    if result.report_markdown:
        print(result.report_markdown)
    done = "; ".join(result.did) or "nothing"
    message = f"{neutralize(result.outcome.message)}\n\n" if result.outcome.message else ""
    ctx.runner.summary(
        f"**prompt-trainer** ({name or 'no event'}): {done}.\n\n{message}{result.report_markdown}"
    )
    ctx.runner.summary(outcome_summary(result.outcome, message_fallback=False))
    ctx.runner.set_outputs(action_outputs(result.outcome))
    annotate_failures(result.outcome, ctx.runner)


def action_settings(
    settings: Settings,
    event: Event,
    *,
    mode: str,
    repo: str | None,
    ctx: Invocation,
) -> Settings | None:
    """The settings ``action`` (and ``respond`` on an event) may use on this event
    (``action.trusted_settings``), with its notice in the step summary; None when nothing may
    be done."""
    from prompt_trainer.github.connect import connect  # noqa: PLC0415
    from prompt_trainer.loop.action import trusted_settings  # noqa: PLC0415
    from prompt_trainer.loop.contract import RunOutcome  # noqa: PLC0415

    trusted = trusted_settings(
        settings,
        event,
        mode=mode,
        connect_client=lambda: connect(settings, repo),
        log=ctx.console.progress,
    )
    if trusted.notice:
        name = settings.env.github_event_name
        ctx.runner.summary(f"**prompt-trainer** ({name}): {trusted.notice}.\n\n")
    if trusted.settings is None:
        ctx.runner.set_outputs(action_outputs(RunOutcome(message=trusted.notice or "")))
    return trusted.settings


def cmd_respond(args: argparse.Namespace, ctx: Invocation) -> int:
    settings = Settings.load(args.config, ctx.env)
    from prompt_trainer.github.connect import connect  # noqa: PLC0415
    from prompt_trainer.loop.events import ReviewEvent, parse, read_event  # noqa: PLC0415
    from prompt_trainer.loop.respond import respond  # noqa: PLC0415

    if args.pr is not None:
        review: ReviewEvent | None = ReviewEvent(
            name="pull_request_review",
            number=args.pr,
            author="cli",
            association=settings.config.reviews.trusted_associations[0],
            is_bot=False,
            body="",
            comment_id=None,
            review_state="commented",
            by_operator=True,
        )
    else:
        event = parse(settings.env.github_event_name, read_event(settings.env.github_event_path))
        review = event.review()
    if review is None:
        ctx.console.progress(
            f"respond: nothing to do for event {settings.env.github_event_name or '(none)'} "
            "(only review events and comments on pull requests)"
        )
        return 0
    if args.pr is None:
        trusted = action_settings(settings, event, mode="revise", repo=args.repo, ctx=ctx)
        if trusted is None:
            return 0
        settings = trusted
    llm = settings.llm(model=args.model, api_base=args.api_base)
    client = connect(settings, args.repo)
    response = respond(settings, client, review, llm=llm, log=ctx.console.progress)
    ctx.console.progress(f"respond: {response.action}: {response.message.splitlines()[0]}")
    return 0
