"""The whole loop in one screen: collect -> store -> train -> evaluate -> render -> propose.

Takes the settings, what the command line asked for (``RunOptions``) and a ``log`` callable;
returns a ``RunOutcome``, built once from one ``TargetResult`` per target. Each stage lives in its
own module and returns a value; this file only calls them in order and decides when there is
nothing to do. The loop's operations around it (the run lock, the dashboard, the follow-up, the
run records) live in ``loop/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from prompt_trainer import evaluate, propose, render
from prompt_trainer.collect.step import collect_run
from prompt_trainer.errors import NotEnoughEvidence, PromptTrainerError
from prompt_trainer.github import GitHubClient
from prompt_trainer.github.connect import connect
from prompt_trainer.loop import dashboard
from prompt_trainer.loop.followup import Known, before_training
from prompt_trainer.loop.lock import busy_message, exclusive
from prompt_trainer.loop.outcome import RunOutcome, TargetResult
from prompt_trainer.loop.runs import RunRecord
from prompt_trainer.measure.report import TargetReport
from prompt_trainer.models import PromptSet, Rejection, Sample
from prompt_trainer.settings import LLMSettings, Settings, Target
from prompt_trainer.store import DEFAULT_STORE, SampleStore, sync_store, training_samples
from prompt_trainer.targets import current_prompt_sets

Log = Callable[[str], None]


@dataclass(frozen=True)
class RunOptions:
    """What the command line asked for."""

    repo: str | None = None
    pr: int | None = None
    local: Path | None = None
    dry_run: bool = False
    model: str | None = None
    api_base: str | None = None
    evidence: tuple[Path, ...] = ()
    strategy: str | None = None
    target: str | None = None
    #: This run's directory (``loop.runs``): steps done, candidates, bodies; None keeps no record.
    run: RunRecord | None = None


def run(settings: Settings, options: RunOptions, log: Log) -> RunOutcome:
    """Run the loop once (holding the run lock when it writes to GitHub) and report it."""
    client = None if options.local else connect(settings, options.repo)
    with exclusive(client, settings, dry_run=options.dry_run, log=log) as held_by:
        if held_by:
            return RunOutcome(message=busy_message(held_by))
        current = current_prompt_sets(settings.root, settings.config.targets)
        versions = {name: prompt_set.version for name, prompt_set in current.items()}
        samples = collect_run(
            settings, client, local=options.local, pr=options.pr, evidence=options.evidence,
            versions=versions, run=options.run, log=log,
        )  # fmt: skip
        if not samples:
            return RunOutcome(message="nothing to train: no samples were collected")
        store = SampleStore(settings.root / DEFAULT_STORE)
        stored = store.upsert(samples)
        log(
            f"store: {stored.added} added, {stored.replaced} replaced, {stored.total} in the ledger"
        )
        if client is not None:
            branch = settings.config.store.branch
            sync_store(store, client, branch, push=not options.dry_run, log=log)
        return propose_all(
            settings, options, client, store, samples=samples, current=current, log=log,
            stored_note=True,
        )  # fmt: skip


def train_from_store(
    settings: Settings, options: RunOptions, *, target: str | None, log: Log
) -> RunOutcome:
    """``prompt-trainer train``: train on the stored samples of each target's current version
    and write the candidates locally (no GitHub)."""
    store = SampleStore(settings.root / DEFAULT_STORE)
    outcome = propose_all(settings, replace(options, target=target), None, store, log=log)
    if not outcome.candidates and not outcome.message:
        return replace(outcome, message="no target had enough samples to train")
    return outcome


def propose_all(
    settings: Settings,
    options: RunOptions,
    client: GitHubClient | None,
    store: SampleStore,
    *,
    log: Log,
    samples: Sequence[Sample] = (),
    current: dict[str, PromptSet] | None = None,
    stored_note: bool = False,
) -> RunOutcome:
    """Follow up on closed proposals, then train and propose every target (or the one in
    ``options.target``) from the stored samples of its current prompts; with GitHub, read the
    dashboard's commands first and publish it last, also when the run fails."""
    label = settings.config.dashboard.label
    on_board = client is not None and settings.config.dashboard.enabled and not options.dry_run
    board = dashboard.open_board(client, label=label, log=log) if client and on_board else None
    llm = settings.llm(model=options.model, api_base=options.api_base)
    known, results, message = Known(), list[TargetResult](), ""
    try:
        if not llm.available:
            message = no_key(llm) + ("; evidence was stored" if stored_note else "")
            results = [
                TargetResult(t.name, skipped=no_key(llm)) for t in targets_of(settings, options)
            ]
            return RunOutcome.of(results, samples=samples, message=message)
        known = before_training(settings, client, write=not options.dry_run, log=log)
        commands = board.commands if board else dashboard.Commands()
        current = current or current_prompt_sets(settings.root, settings.config.targets)
        for result in train_targets(
            settings, options, client, store.load(), current,
            known=known, commands=commands, llm=llm, log=log,
        ):  # fmt: skip
            results.append(result)
    except PromptTrainerError as exc:
        message = f"the run failed: {exc.message}"
        raise
    finally:
        if board is not None and client is not None:
            dashboard.publish_run(
                client, board, settings, reports=known.reports, rejections=known.rejections,
                skipped={r.target: r.why_not for r in results if r.why_not}, message=message,
                collected=list(samples), ledger_total=len(store.lines()), log=log,
            )  # fmt: skip
    return RunOutcome.of(results, samples=samples, message=message)


def train_targets(
    settings: Settings,
    options: RunOptions,
    client: GitHubClient | None,
    ledger: list[Sample],
    current: dict[str, PromptSet],
    *,
    known: Known,
    commands: dashboard.Commands,
    llm: LLMSettings,
    log: Log,
) -> Iterator[TargetResult]:
    """One result per target, in order: skipped with too few samples, else trained and proposed."""
    rejected = dashboard.without_allowed(known.rejections, commands.allowed)
    for target in targets_of(settings, options):
        need = 1 if target.name in commands.retrain else settings.config.training.min_samples
        samples, why = training_samples(ledger, current[target.name], need=need, log=log)
        if not samples:
            yield TargetResult(target.name, skipped=why)
            continue
        yield propose_target(
            settings, options, client, target=target, current=current[target.name],
            samples=samples, llm=llm,
            rejected=tuple(rejected.get(target.name, ())), report=known.reports.get(target.name),
            log=log,
        )  # fmt: skip


def propose_target(
    settings: Settings,
    options: RunOptions,
    client: GitHubClient | None,
    *,
    target: Target,
    current: PromptSet,
    samples: list[Sample],
    llm: LLMSettings,
    rejected: tuple[Rejection, ...],
    report: TargetReport | None,
    log: Log,
) -> TargetResult:
    """Train one target, check the candidate, render it, write it and propose it."""
    # DSPy takes ~1 s to import: only the modes that call an LLM pay for it.
    from prompt_trainer.train.step import train_target  # noqa: PLC0415

    strategy = options.strategy or target.strategy
    try:
        trained = train_target(
            settings, target, current, samples, llm=llm, strategy=strategy, rejected=rejected,
            run=options.run, log=log,
        )  # fmt: skip
    except NotEnoughEvidence as exc:
        log(exc.diagnostics())
        return TargetResult(target.name, blocked=exc.message)
    checked = evaluate.evaluate_candidate(
        trained.candidate, current, target, samples=samples, settings=settings, log=log
    )
    candidate, problems = checked.candidate, checked.gate.problems
    view = render.ProposalView(
        candidate=candidate, current=current, samples=samples, model=llm.model,
        skipped=[sk for s in samples for sk in s.skipped], gate_problems=problems, report=report,
    )  # fmt: skip
    template = render.user_template(settings.root, settings.config.pull_request.template)
    body = render.render_body(view, template_text=template)
    folder = propose.write_candidate(
        candidate, root=settings.root, body=body, gate_problems=problems
    )
    log(f"candidate: {folder}")
    if options.run:
        options.run.save_candidate(candidate, trained.inputs, body=body, gate=problems)
    proposal = propose.propose_candidate(
        client, candidate, view=view, template=template, folder=folder, problems=problems,
        dry_run=options.dry_run, labels=settings.config.pull_request.labels, prompts=target,
        log=log,
    )  # fmt: skip
    if options.run:
        options.run.mark(
            f"propose:{target.name}", operation=proposal.operation, number=proposal.number,
            url=proposal.url,
        )  # fmt: skip
    return TargetResult(target.name, candidate=candidate, body=body, gate_problems=problems,
                        proposal=proposal)  # fmt: skip


def targets_of(settings: Settings, options: RunOptions) -> list[Target]:
    """The targets this run trains: the one in ``options.target``, else all of them."""
    return [settings.target(options.target)] if options.target else list(settings.config.targets)


def no_key(llm: LLMSettings) -> str:
    """Why nothing is trained without an API key."""
    return (
        f"training skipped: no API key for {llm.model} (set {llm.key_var}, or "
        "--api-base for an OpenAI-compatible server)"
    )
