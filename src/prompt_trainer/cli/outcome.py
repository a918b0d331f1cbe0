"""A command's run and its outcome, as the user and the runner see them.

Takes ``Settings`` and a pipeline ``RunOutcome`` and produces: the run directory under
``.prompt-trainer/runs/`` (``open_run``, whose ``run-dir``/``run-id`` outputs are written at
once so a failing run's directory is uploaded too, and ``close_run``'s ``outcome.json``); the
progress lines and the dry run's PR body on the console (``print_outcome``); the Action's step
outputs (``action_outputs``), the step summary's Markdown (``outcome_summary``) and the
``::warning`` annotations for the most recurring real failures (``annotate_failures``), all
written through ``RunnerIO``. ``run_options`` gives the training commands their shared
``RunOptions`` around the run's record.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from prompt_trainer.cli.console import Console, Invocation
from prompt_trainer.cli.runner import RunnerIO

if TYPE_CHECKING:
    from prompt_trainer.loop.contract import RunOptions, RunOutcome
    from prompt_trainer.loop.runs import RunRecord
    from prompt_trainer.models import TestCase
    from prompt_trainer.propose import Proposal
    from prompt_trainer.settings import Settings

#: GitHub shows at most 10 warning annotations per step.
MAX_ANNOTATIONS = 10


def open_run(
    settings: Settings, command: str, *, key: str, inputs: dict[str, Any], ctx: Invocation
) -> RunRecord:
    """Start (or resume) this run's directory under .prompt-trainer/runs/; ``key`` (after the
    command's name) says which earlier run of the command this one resumes."""
    from prompt_trainer.loop import runs  # noqa: PLC0415

    record = runs.start(
        settings.root,
        command=command,
        key=f"{command}:{key}",
        inputs={"command": command, "config": str(settings.config_path), **inputs},
        keep_days=settings.config.runs.keep_days,
        resume_within_hours=settings.config.runs.resume_within_hours,
        log=ctx.console.progress,
    )
    ctx.console.progress(f"run directory: {record.path}")
    # Written now, so that a failing run's directory is uploaded too.
    ctx.runner.set_outputs({"run-dir": str(record.path), "run-id": record.path.name})
    return record


def run_options(args: argparse.Namespace, record: RunRecord) -> RunOptions:
    """What the training commands share: the ``--model``/``--api-base`` block and this run's
    record (a command adds its own flags with ``dataclasses.replace``)."""
    from prompt_trainer.loop.contract import RunOptions  # noqa: PLC0415

    return RunOptions(model=args.model, api_base=args.api_base, run=record)


def close_run(record: RunRecord, outcome: RunOutcome, *, did: Sequence[str] = ()) -> None:
    """What the run did, next to its status (``outcome.json``)."""
    record.status["message"] = outcome.message
    record.write_json(
        "outcome.json",
        {
            "did": list(did),
            "message": outcome.message,
            "evidence": [
                {
                    "sample": s.id,
                    "test_cases": sum(r.tests for r in s.test_runs),
                    "comments": len(s.feedback),
                    "traces": len(s.traces),
                    "reported_failures": len(s.failures),
                    "skipped": len(s.skipped),
                }
                for s in outcome.samples
            ],
            "proposals": [proposal_json(p) for p in outcome.proposals],
            "blocked": outcome.blocked,
            "guardrail_failures": {k: list(v) for k, v in outcome.gate_failures.items()},
        },
    )


def proposal_json(proposal: Proposal) -> dict[str, Any]:
    """One proposal, as the ``proposals`` output and ``outcome.json`` give it."""
    return {
        "target": proposal.target,
        "operation": proposal.operation,
        "number": proposal.number,
        "url": proposal.url,
        "candidate_dir": str(proposal.candidate_dir or ""),
    }


def print_outcome(outcome: RunOutcome, console: Console, *, dry_run: bool) -> None:
    """Print what happened; on a dry run, the PR body and files that would be committed."""
    if outcome.message:
        console.progress(outcome.message)
    for sk in outcome.skipped:
        console.progress(f"skipped {sk.source}: {sk.reason}")
    for target, problems in outcome.gate_failures.items():
        console.progress(f"{target}: candidate rejected by guardrails: " + "; ".join(problems))
    for candidate in outcome.candidates:
        usage = candidate.usage
        cost = f", ${usage.cost_usd:.4f}" if usage.cost_usd is not None else ""
        console.progress(
            f"{candidate.target}: {usage.calls} LLM call(s), {usage.input_tokens} input + "
            f"{usage.output_tokens} output = {usage.total_tokens} tokens{cost}"
        )
    for proposal in outcome.proposals:
        where = proposal.url or proposal.candidate_dir
        console.progress(f"{proposal.target}: {proposal.operation} {where or ''}".rstrip())
    if dry_run:
        for candidate in outcome.candidates:
            print(outcome.bodies.get(candidate.target, ""))
            for file in candidate.files:
                print(f"\n===== {file.path} =====\n{file.content}", end="")


def action_outputs(outcome: RunOutcome) -> dict[str, str]:
    """The Action's outputs, for the first target proposed, plus ``proposals``: every target's,
    as JSON (``run-dir`` is written when the run starts)."""
    first = outcome.proposals[0] if outcome.proposals else None
    candidate = outcome.candidates[0] if outcome.candidates else None
    usage = candidate.usage if candidate else None
    return {
        "pull-request-number": str(first.number) if first and first.number else "",
        "pull-request-url": (first.url or "") if first else "",
        # The contract is created | updated | closed | none; a rejected, dry-run or local-only
        # candidate opened nothing.
        "operation": first.operation
        if first and first.operation in ("created", "updated", "closed")
        else "none",
        "candidate-dir": str(first.candidate_dir or "") if first else "",
        "tokens": str(usage.total_tokens) if usage else "0",
        "cost-usd": f"{usage.cost_usd:.6f}" if usage and usage.cost_usd is not None else "",
        "proposals": json.dumps([proposal_json(p) for p in outcome.proposals]),
    }


def outcome_summary(outcome: RunOutcome, *, message_fallback: bool = True) -> str:
    """The step summary's Markdown: the rendered bodies, or the reason nothing happened (which
    may quote outside text: escaped like everything rendered, ``render.filters.neutralize``)."""
    from prompt_trainer.render.filters import neutralize  # noqa: PLC0415 - Jinja2: only here

    fallback = [f"**prompt-trainer:** {neutralize(outcome.message)}\n"] if message_fallback else []
    return "\n\n".join(list(outcome.bodies.values()) or fallback)


def annotate_failures(outcome: RunOutcome, runner: RunnerIO) -> None:
    """``::warning`` annotations for the most recurring real failures among the collected
    samples, with file and line where the report gives them."""
    counts: dict[str, list[TestCase]] = {}
    for sample in outcome.samples:
        for run in sample.test_runs:
            for case in run.problems:
                if not case.flaky:
                    counts.setdefault(case.id, []).append(case)
    ranked = sorted(counts.items(), key=lambda item: (-len(item[1]), item[0]))
    for test_id, cases in ranked[:MAX_ANNOTATIONS]:
        case = cases[0]
        runner.annotate(
            "warning",
            f"{test_id}: {case.message or case.type}"[:500],
            file=case.file or None,
            line=case.line if case.file and case.line else None,
            title=f"prompt-trainer: {case.status} in {len(cases)} run(s)",
        )
