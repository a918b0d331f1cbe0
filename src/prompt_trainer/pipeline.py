"""The whole loop in one screen: collect -> store -> train -> evaluate -> render -> propose.

Takes the settings, what the command line asked for (``RunOptions``) and a ``log`` callable;
returns a ``RunOutcome`` built once from one ``TargetResult`` per target (``loop.contract``).
Each stage lives in its own module and returns a value; this file calls them in order and decides
when there is nothing to do. The run lock, dashboard, follow-up and run records are ``loop/``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from prompt_trainer import evaluate, propose, render
from prompt_trainer.collect.step import collect_run
from prompt_trainer.errors import NotEnoughEvidence, PromptTrainerError
from prompt_trainer.github import GitHubClient
from prompt_trainer.github.connect import connect
from prompt_trainer.loop import dashboard
from prompt_trainer.loop.bundle import commands_barred, refuse_commands
from prompt_trainer.loop.contract import RunOptions, RunOutcome, TargetResult
from prompt_trainer.loop.followup import Known, before_training
from prompt_trainer.loop.lock import busy_message, exclusive
from prompt_trainer.loop.replay_search import (
    bundle_search,
    require_reflection_key,
    searched_in_evaluate,
)
from prompt_trainer.loop.runs import training_inputs
from prompt_trainer.measure.report import TargetReport
from prompt_trainer.memory import Memory, memory_for, merge_outcomes
from prompt_trainer.models import PromptFile, PromptSet, Rejection, Replayed, Sample
from prompt_trainer.outside import Labelled
from prompt_trainer.render import ProposalView
from prompt_trainer.render.links import repo_links
from prompt_trainer.settings import LLMSettings, Settings, Target
from prompt_trainer.store import SampleStore, keep_samples, open_ledger, training_samples
from prompt_trainer.targets import current_prompt_sets
from prompt_trainer.train.projection import keyless

Log = Callable[[str], None]
Replayer = Callable[[tuple[PromptFile, ...], Sample], Replayed]


def run(settings: Settings, options: RunOptions, log: Log) -> RunOutcome:
    """Run the loop once (holding the run lock when it writes to GitHub) and report it."""
    client = None if options.local else connect(settings, options.repo)
    with exclusive(client, settings, dry_run=options.dry_run, log=log) as held_by:
        if held_by:
            return RunOutcome(message=busy_message(held_by))
        current = current_prompt_sets(settings.root, settings.config.targets)
        versions = {name: prompt_set.version for name, prompt_set in current.items()}
        run = options.run
        samples = collect_run(
            settings, client, local=options.local, pr=options.pr, evidence=options.evidence,
            versions=versions, collected=run.collected() if run else frozenset(),
            keep=run.mark_collected if run else None, log=log,
        )  # fmt: skip
        if not samples:
            return RunOutcome(message="nothing to train: no samples were collected")
        store = open_ledger(settings.root)
        branch = settings.config.store.branch
        keep_samples(store, samples, client, branch, push=not options.dry_run, log=log)
        return propose_all(
            settings, options, client, store, samples=samples, current=current, log=log,
            stored_note=True,
        )  # fmt: skip


def train_from_store(
    settings: Settings, options: RunOptions, *, target: str | None, log: Log
) -> RunOutcome:
    """``prompt-trainer train``: train on the stored samples of each target's current version
    and write the candidates locally (no GitHub)."""
    store = open_ledger(settings.root)
    outcome = propose_all(settings, replace(options, target=target), None, store, log=log)
    if not outcome.candidates and not outcome.message:
        return replace(outcome, message="no target had enough samples to train")
    return outcome


@dataclass(frozen=True)
class Context:
    """One run's fixed inputs, as each target's steps need them."""

    settings: Settings
    options: RunOptions
    client: GitHubClient | None
    llm: LLMSettings
    log: Log
    #: Why no configured command may run in this process (``commands_barred``), or "".
    barred: str = ""


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
    board = dashboard.open_board(client, settings, dry_run=options.dry_run, log=log)
    llm = settings.llm(model=options.model, api_base=options.api_base)
    ctx = Context(settings, options, client, llm, log, barred=commands_barred(settings))
    known, results, message = Known(), list[TargetResult](), ""
    try:
        if not ctx.llm.available:
            message = keyless(ctx.settings, ctx.llm, targets_of(ctx), store.load(), stored_note)
            results = [TargetResult(t.name, skipped=ctx.llm.missing) for t in targets_of(ctx)]
            return RunOutcome.of(results, samples=samples, message=message)
        writes = client is not None and not options.dry_run and options.bundle is None
        refuse_commands(settings, writes=writes)
        require_reflection_key(settings, options, targets_of(ctx))
        known = before_training(
            settings, client, write=not options.dry_run, log=log, recorder=options.bundle
        )
        current = current or current_prompt_sets(settings.root, settings.config.targets)
        commands = board.commands if board else dashboard.Commands()
        results.extend(train_targets(ctx, store.load(), current, known=known, commands=commands))
    except PromptTrainerError as exc:
        message = f"the run failed: {exc.message}"
        raise
    finally:
        if board is not None and client is not None:
            dashboard.publish_run(
                client, board, settings, known=known, results=results, message=message,
                collected=samples, ledger_total=len(store.lines()), log=log,
                recorder=options.bundle,
            )  # fmt: skip
    return RunOutcome.of(results, samples=samples, message=message)


def train_targets(
    ctx: Context,
    ledger: list[Sample],
    current: dict[str, PromptSet],
    *,
    known: Known,
    commands: dashboard.Commands,
) -> Iterator[TargetResult]:
    """One result per target, in order: skipped with too few samples, else trained and proposed."""
    rejected = dashboard.without_allowed(known.rejections, commands.allowed)
    for target in targets_of(ctx):
        need = 1 if target.name in commands.retrain else ctx.settings.config.training.min_samples
        samples, why = training_samples(ledger, current[target.name], need=need, log=ctx.log)
        if not samples:
            yield TargetResult(target.name, skipped=why)
            continue
        rejections, report = tuple(rejected.get(target.name, ())), known.reports.get(target.name)
        memory = memory_for(
            current[target.name], ledger, known.bullets, known.judged,
            min_after=ctx.settings.config.report.min_samples,
        )  # fmt: skip
        yield propose_target(ctx, target, current[target.name], samples, rejections, report, memory)


def propose_target(  # noqa: PLR0917 - one target's inputs, in stage order
    ctx: Context,
    target: Target,
    current: PromptSet,
    samples: list[Sample],
    rejected: tuple[Rejection, ...],
    report: TargetReport | None,
    memory: Memory,
) -> TargetResult:
    """Train one target and check its candidate, then write and propose it (``publish``)."""
    # DSPy takes ~1 s to import: only the modes that call an LLM pay for it.
    from prompt_trainer.train.step import Search, train_target  # noqa: PLC0415

    training = ctx.settings.config.training
    strategy, run = ctx.options.strategy or training.strategy_for(target), ctx.options.run
    if ctx.options.bundle is not None and searched_in_evaluate(ctx.settings, ctx.options, strategy):
        return bundle_search(
            ctx.settings, target, current, samples, rejected, memory, llm=ctx.llm,
            recorder=ctx.options.bundle, log=ctx.log,
        )  # fmt: skip
    inputs = training_inputs(
        current, samples, llm=ctx.llm, strategy=strategy, target=target,
        options=ctx.settings.config.training,
    )  # fmt: skip
    try:
        trained = train_target(
            ctx.settings, target, current, samples, llm=ctx.llm, strategy=strategy,
            rejected=rejected, log=ctx.log, memory=memory, inputs=inputs,
            stored=run.stored_candidate(target.name, inputs) if run else None,
            keep=partial(run.save_candidate, inputs=inputs, body="", gate=()) if run else None,
            search=Search(*search_state(ctx, target), *replay_metric(ctx, target, strategy)),
        )  # fmt: skip
    except NotEnoughEvidence as exc:
        ctx.log(exc.diagnostics())
        return TargetResult(target.name, blocked=exc.message)
    env = ctx.settings.env
    guarded, shown = memory.with_quoted(samples), tuple(memory.outside(rejected))
    # A prepare run (``bundle``) leaves the commands to the evaluate job; a barred one skips them.
    barred = ctx.barred if ctx.options.bundle is None else ""
    checked = evaluate.evaluate_candidate(
        trained.candidate, current, target, samples=guarded, shown=shown, settings=ctx.settings,
        log=ctx.log, replay_skipped=ctx.options.replay_skipped or barred,
        commands=ctx.options.bundle is None and not barred,
    )  # fmt: skip
    if barred:
        checked = not_evaluated(ctx, target, checked, current)
    view = ProposalView(
        candidate=checked.candidate, current=current, samples=samples, model=ctx.llm.model,
        skipped=[sk for s in samples for sk in s.skipped], gate_problems=checked.gate.problems,
        report=report, links=repo_links(env.github_server_url, env.github_repository),
        draft=checked.gate.draft,
        merges=tuple(merge_outcomes(memory.entries)),
    )  # fmt: skip
    return publish(ctx, target, view, inputs=trained.inputs, guarded=guarded, shown=shown)


def not_evaluated(
    ctx: Context, target: Target, checked: evaluate.Evaluated, current: PromptSet
) -> evaluate.Evaluated:
    """A candidate whose configured command this process may not run (``ctx.barred``): not
    proposed, with the command named and why, in the log and among its gate problems."""
    if not evaluate.commands_pending(checked.candidate, current, ctx.settings):
        return checked
    named = evaluate.names_command(ctx.settings)
    problem = f"not evaluated: {named} not run: {ctx.barred}"
    ctx.log(f"evaluate: {target.name}: {problem}")
    gate = evaluate.GateResult((*checked.gate.problems, problem), checked.gate.draft)
    return evaluate.Evaluated(checked.candidate, gate)


def search_state(ctx: Context, target: Target) -> tuple[Path | None, tuple[Path, ...]]:
    """Where the ``gepa`` strategy keeps the target's search (in the run's directory), and
    where earlier runs kept theirs."""
    return ctx.options.run.search_dirs(target.name) if ctx.options.run else (None, ())


def replay_metric(ctx: Context, target: Target, strategy: str) -> tuple[Replayer | None, str]:
    """``training.gepa.metric: replay``'s replay of one task, where the agent may run beside
    this process: a run that writes nothing to GitHub and bundles nothing (``train``,
    ``--dry-run``), on a ``workflow_dispatch`` or ``schedule`` event, and outside a runner or
    holding no secret there (``commands_barred``; in the Action a prepare job hands such a
    search to the evaluate job: ``loop.replay_search``). Elsewhere None and why: the judge
    scores instead (``docs/training.md``)."""
    settings, options = ctx.settings, ctx.options
    if strategy != "gepa" or settings.config.training.gepa.metric != "replay":
        return None, ""
    why = ""
    if options.replay_skipped:
        why = "the agent replays only on workflow_dispatch and schedule runs"
    elif not settings.config.replay.agent_command or not settings.config.replay.test_command:
        why = "replay.agent_command and replay.test_command are not both set"
    elif options.bundle is not None:
        why = "the prepare job runs no agent: the agent would run beside the model's key"
    elif ctx.client is not None and not options.dry_run:
        why = "this run writes to GitHub, and the job that holds the write token runs no agent"
    elif ctx.barred:
        why = ctx.barred
    if why:
        ctx.log(f"train: {target.name}: gepa metric replay not run: {why}; the judge scores")
        return None, why
    from prompt_trainer.replay import replayer  # noqa: PLC0415 - only with metric: replay

    return replayer(settings, target, log=ctx.log), ""


def publish(
    ctx: Context,
    target: Target,
    view: ProposalView,
    *,
    inputs: str,
    guarded: list[Sample],
    shown: tuple[Labelled, ...],
) -> TargetResult:
    """Render the body, write the candidate's folder, propose it (or, in a ``prepare`` run,
    bundle it with the ``guarded`` samples and the other ``shown`` outside text its copy check
    compares), and keep both in the record."""
    settings, options, candidate = ctx.settings, ctx.options, view.candidate
    template = render.user_template(settings.root, settings.config.pull_request.template)
    body = render.render_body(view, template_text=template)
    gate = view.gate_problems
    folder = propose.write_candidate(candidate, root=settings.root, body=body, gate_problems=gate)
    ctx.log(f"candidate: {folder}")
    if options.run:
        options.run.save_candidate(candidate, inputs, body=body, gate=gate)
    if options.bundle is not None and not gate:
        pending = evaluate.commands_pending(candidate, view.current, settings)
        options.bundle.propose(
            view, title=render.render_title(view), body=body, guarded=guarded, shown=shown,
            evaluate=pending, draft=view.draft,
        )  # fmt: skip
        proposal = propose.Proposal(
            target.name, "bundled", candidate_dir=folder, draft=bool(view.draft)
        )
        ctx.log(f"propose: {target.name} bundled for the publish job")
    else:
        proposal = propose.propose_candidate(
            ctx.client, candidate, title=render.render_title(view), body=body,
            current_version=view.current.version, folder=folder, problems=gate,
            dry_run=options.dry_run, labels=settings.config.pull_request.labels, prompts=target,
            log=ctx.log, draft=view.draft,
        )  # fmt: skip
    if options.run:
        options.run.mark_proposal(proposal)
    return TargetResult(
        target.name, candidate=candidate, body=body, gate_problems=gate, proposal=proposal,
        draft=view.draft,
    )  # fmt: skip


def targets_of(ctx: Context) -> list[Target]:
    """The targets this run trains: the one in ``options.target``, else all of them."""
    name = ctx.options.target
    return [ctx.settings.target(name)] if name else list(ctx.settings.config.targets)
