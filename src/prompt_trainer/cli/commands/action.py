"""The commands that run on a GitHub event: ``action`` (what the Action runs: decide from the
event, then collect, report, train, propose or revise) and ``respond`` (the review loop on the
bot's own PRs).

Each takes its parsed arguments and the ``Invocation``, reads the webhook payload (``events``),
narrows the settings to what this event may use (``event_settings``: the default branch's
config on PR events, read first), calls ``action.run_action`` or
``respond.respond`` (imported when the command runs) and reports through the console and the
runner's outputs, step summary and annotations. Returns the exit code (0 when nothing may be
done: the reason is printed).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING

from prompt_trainer.cli.commands import jobs
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
from prompt_trainer.errors import ConfigError, PromptTrainerError
from prompt_trainer.loop.runs import recorded
from prompt_trainer.settings import Environment, Settings

if TYPE_CHECKING:
    from pathlib import Path

    from prompt_trainer.loop.action import ActionResult
    from prompt_trainer.loop.bundle import Recorder
    from prompt_trainer.loop.contract import RunOptions
    from prompt_trainer.loop.events import Event
    from prompt_trainer.loop.runs import RunRecord


def cmd_action(args: argparse.Namespace, ctx: Invocation) -> int:
    from prompt_trainer.loop.events import parse, read_event  # noqa: PLC0415

    environment = Environment.from_mapping(ctx.env)
    name = environment.github_event_name
    try:
        event = parse(name, read_event(environment.github_event_path) if name else {})
    except ConfigError as exc:
        # Without a readable event there is nothing safe to do: say so, and do not fail the job.
        ctx.console.progress(f"action: nothing done: {exc.diagnostics()}")
        return 0
    if args.mode == "evaluate":  # no token here: the bundle carries the configuration
        return jobs.evaluate_job(args, ctx, event_name=name)
    trusted = event_settings(args.config, event, mode=args.mode, repo=args.repo, ctx=ctx)
    if trusted is None:
        return 0
    settings = trusted
    record = _open_action_run(settings, args, event.number, ctx)
    recorder = _recorder() if args.mode == "prepare" else None
    shared = run_options(args, record)
    options = replace(
        shared, repo=args.repo, dry_run=args.dry_run, target=args.target, bundle=recorder
    )
    if args.mode == "publish":
        return _publish(args, ctx, settings, options, record)
    try:
        result = _run(args, ctx, settings, options, event, record)
    except PromptTrainerError as exc:
        if recorder is None:
            raise
        # What was collected still reaches the publish job, which stores it and then fails.
        from prompt_trainer.loop.action import ActionResult  # noqa: PLC0415
        from prompt_trainer.loop.contract import RunOutcome  # noqa: PLC0415

        failed = ActionResult(outcome=RunOutcome(message=f"the run failed: {exc.message}"))
        jobs.write_prepared(args, ctx, settings, failed, recorder, failure=exc)
        ctx.runner.annotate("error", exc.diagnostics(), title="prompt-trainer")
        return 0
    if recorder is not None:
        jobs.write_prepared(args, ctx, settings, result, recorder)
    _report(result, name, ctx, dry_run=args.dry_run)
    return 0


def _recorder() -> Recorder:
    from prompt_trainer.loop.bundle import Recorder  # noqa: PLC0415

    return Recorder()


def _run(  # noqa: PLR0917 - one run's state, passed on once
    args: argparse.Namespace,
    ctx: Invocation,
    settings: Settings,
    options: RunOptions,
    event: Event,
    record: RunRecord,
) -> ActionResult:
    from prompt_trainer.loop.action import run_action  # noqa: PLC0415

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
    return result


def _publish(
    args: argparse.Namespace,
    ctx: Invocation,
    settings: Settings,
    options: RunOptions,
    record: RunRecord,
) -> int:
    """The publish job: write the bundle, report like any run, then fail with the prepare
    job's error when it had one."""
    with recorded(record):
        result, failure = jobs.publish_job(args, ctx, settings, options)
        if result is not None:
            close_run(record, result.outcome, did=result.did)
    if result is not None:
        _report(result, settings.env.github_event_name, ctx, dry_run=args.dry_run)
    if failure is not None:
        raise failure
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


def event_settings(
    path: Path,
    event: Event,
    *,
    mode: str,
    repo: str | None,
    ctx: Invocation,
) -> Settings | None:
    """The settings ``action`` (and ``run`` and ``respond`` on an event) may use on this event:
    on an event a pull request can steer, the default branch's configuration, read first
    (``config_trust``), with its notice in the step summary; None when nothing may be done."""
    from prompt_trainer.github.connect import connect_env  # noqa: PLC0415
    from prompt_trainer.loop.action import guarded  # noqa: PLC0415
    from prompt_trainer.loop.config_trust import trusted_settings  # noqa: PLC0415
    from prompt_trainer.loop.contract import RunOutcome  # noqa: PLC0415

    trusted = trusted_settings(
        path,
        ctx.env,
        guarded=guarded(event, mode),
        connect_client=lambda environment: connect_env(environment, repo),
        log=ctx.console.progress,
    )
    if trusted.notice:
        ctx.runner.summary(f"**prompt-trainer** ({event.name}): {trusted.notice}.\n\n")
    if trusted.settings is None:
        ctx.runner.set_outputs(action_outputs(RunOutcome(message=trusted.notice or "")))
    return trusted.settings


def cmd_respond(args: argparse.Namespace, ctx: Invocation) -> int:
    from prompt_trainer.github.connect import connect  # noqa: PLC0415
    from prompt_trainer.loop.events import ReviewEvent, parse, read_event  # noqa: PLC0415
    from prompt_trainer.loop.respond import respond  # noqa: PLC0415

    if args.pr is not None:
        settings = Settings.load(args.config, ctx.env)
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
        environment = Environment.from_mapping(ctx.env)
        event = parse(environment.github_event_name, read_event(environment.github_event_path))
        review = event.review()
    if review is None:
        ctx.console.progress(
            f"respond: nothing to do for event {event.name or '(none)'} "
            "(only review events and comments on pull requests)"
        )
        return 0
    if args.pr is None:
        trusted = event_settings(args.config, event, mode="revise", repo=args.repo, ctx=ctx)
        if trusted is None:
            return 0
        settings = trusted
    llm = settings.llm(model=args.model, api_base=args.api_base)
    client = connect(settings, args.repo)
    response = respond(settings, client, review, llm=llm, log=ctx.console.progress)
    ctx.console.progress(f"respond: {response.action}: {response.message.splitlines()[0]}")
    return 0
