"""The whole loop in one screen: collect -> store -> train -> evaluate -> render -> propose.

Each stage lives in its own module; this file only calls them in order, decides when there is
nothing to do, and reports progress through the ``log`` callable the CLI passes in.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from prompt_trainer import dashboard, evaluate, propose, render
from prompt_trainer.collect.github_pr import collect_pull, is_agent_pull
from prompt_trainer.collect.local import collect_directory
from prompt_trainer.errors import ConfigError, NotEnoughEvidence, PromptTrainerError
from prompt_trainer.failures import find_sample
from prompt_trainer.followup import follow_up
from prompt_trainer.github import GitHubClient
from prompt_trainer.measure.report import TargetReport
from prompt_trainer.models import Candidate, PromptSet, Rejection, Sample, Skipped
from prompt_trainer.runs import RunRecord, training_inputs
from prompt_trainer.settings import LLMSettings, Settings
from prompt_trainer.store import DEFAULT_STORE, SampleStore, sync_with_branch
from prompt_trainer.targets import LocalSource, load_prompt_set

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
    #: This run's directory (``runs.py``): steps done, candidates, bodies; None keeps no record.
    run: RunRecord | None = None


@dataclass
class RunOutcome:
    """What the run did, for the CLI to print and summarize."""

    samples: list[Sample] = field(default_factory=list)
    proposals: list[propose.Proposal] = field(default_factory=list)
    bodies: dict[str, str] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)
    gate_failures: dict[str, tuple[str, ...]] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    message: str = ""
    #: Why a target was not trained this run (no key, too few samples, ...), for the dashboard.
    skipped_targets: dict[str, str] = field(default_factory=dict)

    @property
    def skipped(self) -> list[Skipped]:
        return [sk for s in self.samples for sk in s.skipped]


LOCK_REF = "prompt-trainer/lock"


@contextlib.contextmanager
def exclusive(
    client: GitHubClient | None, settings: Settings, *, dry_run: bool, log: Log
) -> Iterator[str | None]:
    """Hold the repository's run lock (``refs/prompt-trainer/lock``) while writing to GitHub.

    Yields None when this run may go on, or who holds the lock. A lock older than
    ``store.lock_stale_minutes`` belonged to a run that died and is taken over (atomically: of
    two runs taking it over at once, one wins; see ``GitHubClient.acquire_lock``). Dry runs and
    local runs take no lock."""
    if client is None or dry_run:
        yield None
        return
    holder = f"run {settings.env.github_run_id or 'local'} ({uuid.uuid4().hex[:8]})"
    stale = settings.config.store.lock_stale_minutes * 60
    held_by = client.acquire_lock(LOCK_REF, holder=holder, stale_after_s=stale)
    if held_by:
        log(f"another prompt-trainer run holds the lock: {held_by}")
        yield held_by
        return
    try:
        yield None
    finally:
        client.release_lock(LOCK_REF, holder=holder)


def busy_message(held_by: str) -> str:
    return (
        f"another prompt-trainer run is in progress ({held_by}); this one stops without "
        "writing. The next run collects what it would have (give the workflow a concurrency "
        "group to queue runs instead)"
    )


def run(settings: Settings, options: RunOptions, log: Log) -> RunOutcome:
    """Run the loop once and report what happened."""
    client = None if options.local else connect(settings, options)
    with exclusive(client, settings, dry_run=options.dry_run, log=log) as held_by:
        if held_by:
            return RunOutcome(message=busy_message(held_by))
        return _run(settings, options, client, log)


def _run(
    settings: Settings, options: RunOptions, client: GitHubClient | None, log: Log
) -> RunOutcome:
    current = {
        t.name: load_prompt_set(t, LocalSource(settings.root)) for t in settings.config.targets
    }
    outcome = RunOutcome(samples=collect(settings, options, client, current, log))
    if not outcome.samples:
        outcome.message = "nothing to train: no samples were collected"
        return outcome
    store = SampleStore(settings.root / DEFAULT_STORE)
    stored = store.upsert(outcome.samples)
    log(f"store: {stored.added} added, {stored.replaced} replaced, {stored.total} in the ledger")
    if client is not None:
        sync_store(store, client, settings, push=not options.dry_run, log=log)
    propose_all(settings, options, client, store, outcome, log=log, stored_note=True)
    return outcome


def propose_all(
    settings: Settings,
    options: RunOptions,
    client: GitHubClient | None,
    store: SampleStore,
    outcome: RunOutcome,
    *,
    log: Log,
    stored_note: bool = False,
) -> None:
    """Follow up on closed proposals, then train and propose every target (or the one in
    ``options.target``) from the stored samples of its current prompts; with GitHub, read the
    dashboard's commands first and update it last."""
    board = settings.config.dashboard
    if client is None or not board.enabled or options.dry_run:
        _propose_all(settings, options, client, store, outcome, log=log, stored_note=stored_note)
        return
    try:
        number, commands = dashboard.read(client, label=board.label)
    except PromptTrainerError as exc:
        log(f"dashboard: not read: {exc.diagnostics()}")
        number, commands = None, dashboard.Commands()
    if commands.retrain or commands.allowed:
        log(
            f"dashboard: retrain {sorted(commands.retrain) or 'none'}; "
            f"{len(commands.allowed)} rejected edit(s) allowed again"
        )
    view = dashboard.DashboardView(
        repository=client.info().full_name,
        when=datetime.now(UTC),
        event=settings.env.github_event_name or "cli",
        targets=[t.name for t in settings.config.targets],
        allowed=commands.allowed,
    )
    try:
        _propose_all(
            settings,
            options,
            client,
            store,
            outcome,
            log=log,
            stored_note=stored_note,
            commands=commands,
            view=view,
        )
    except PromptTrainerError as exc:
        outcome.message = outcome.message or f"the run failed: {exc.message}"
        raise
    finally:
        _fill_view(view, client, outcome, store)
        dashboard.publish(
            client, view, number=number, title=board.title, label=board.label, log=log
        )


def _fill_view(
    view: dashboard.DashboardView, client: GitHubClient, outcome: RunOutcome, store: SampleStore
) -> None:
    view.skipped = dict(outcome.skipped_targets)
    view.message = outcome.message
    view.collected = list(outcome.samples)
    view.ledger_total = len(store.lines())
    for target in view.targets:
        try:
            found = client.find_open_pull(propose.branch_name(target))
        except PromptTrainerError:
            continue
        if found:
            view.proposals[target] = found


def _propose_all(
    settings: Settings,
    options: RunOptions,
    client: GitHubClient | None,
    store: SampleStore,
    outcome: RunOutcome,
    *,
    log: Log,
    stored_note: bool = False,
    commands: dashboard.Commands | None = None,
    view: dashboard.DashboardView | None = None,
) -> None:
    commands = commands or dashboard.Commands()
    targets = [settings.target(options.target)] if options.target else settings.config.targets
    llm = settings.llm(model=options.model, api_base=options.api_base)
    if not llm.available:
        outcome.message = no_key(llm) + ("; evidence was stored" if stored_note else "")
        outcome.skipped_targets.update(dict.fromkeys((t.name for t in targets), no_key(llm)))
        return
    current = {
        t.name: load_prompt_set(t, LocalSource(settings.root)) for t in settings.config.targets
    }
    ledger = store.load()
    # Measured once per target: for the follow-up and for the PR body's metrics and chart.
    reports = {
        t.name: r
        for t in settings.config.targets
        if (r := measured(settings, t.name, client, log=log)) is not None
    }
    rejected: dict[str, list[Rejection]] = {}
    if client is not None:
        follow = follow_up(
            client,
            reports,
            labels=settings.config.pull_request.labels,
            write=not options.dry_run,
            log=log,
            targets=tuple(t.name for t in settings.config.targets),
        )
        rejected = dashboard.without_allowed(follow.rejections, commands.allowed)
        if view is not None:
            view.rejections = follow.rejections
    if view is not None:
        view.reports = reports
    for target in targets:
        forced = target.name in commands.retrain
        samples, why = training_samples(
            settings, ledger, current[target.name], log=log, need=1 if forced else None
        )
        if not samples:
            outcome.skipped_targets[target.name] = why
            continue
        train_and_propose(
            settings,
            options,
            llm=llm,
            current=current[target.name],
            samples=samples,
            outcome=outcome,
            client=client,
            log=log,
            rejected=tuple(rejected.get(target.name, ())),
            report=reports.get(target.name),
        )
        if target.name in outcome.blocked:
            outcome.skipped_targets[target.name] = outcome.blocked[target.name]
        elif target.name in outcome.gate_failures:
            problems = "; ".join(outcome.gate_failures[target.name])
            outcome.skipped_targets[target.name] = f"candidate rejected by guardrails: {problems}"


def measured(
    settings: Settings, target: str, client: GitHubClient | None, *, log: Log
) -> TargetReport | None:
    """The target's measurement for the PR body's metric table and chart (None if it fails:
    the body then says there is no history yet; the proposal does not depend on it)."""
    from prompt_trainer.measure import choose_history, load_reports  # noqa: PLC0415

    try:
        history = choose_history(settings, "auto", (lambda: client) if client else None)
        (report,) = load_reports(settings, target=target, history=history)
    except PromptTrainerError as exc:
        log(f"report: {target}: no measurement for the PR body: {exc.message}")
        return None
    return report


def user_template(settings: Settings) -> str | None:
    """The text of ``pull_request.template``, if configured."""
    path = settings.config.pull_request.template
    if not path:
        return None
    try:
        return (settings.root / path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"pull_request.template {path}: cannot read it: {exc}",
            fix="fix the path (relative to the repository root) or remove the key",
        ) from None


def no_key(llm: LLMSettings) -> str:
    return (
        f"training skipped: no API key for {llm.model} (set {llm.key_var}, or "
        "--api-base for an OpenAI-compatible server)"
    )


def training_samples(
    settings: Settings,
    stored: list[Sample],
    current: PromptSet,
    *,
    log: Log,
    need: int | None = None,
) -> tuple[list[Sample], str]:
    """The stored samples that ran on the target's current prompts, or [] and the reason
    (logged) when there are fewer than ``need`` (default ``training.min_samples``)."""
    samples = [s for s in stored if s.prompt_versions.get(current.target) == current.version]
    need = settings.config.training.min_samples if need is None else need
    if len(samples) < need:
        why = (
            f"{len(samples)} stored sample(s) ran on the current prompts ({current.version}); "
            f"{need} needed (training.min_samples)"
        )
        log(
            f"train: {current.target}: {why}. Collect more with `prompt-trainer collect`; "
            "nothing proposed"
        )
        return [], why
    return samples, ""


def train_from_store(
    settings: Settings, options: RunOptions, *, target: str | None, log: Log
) -> RunOutcome:
    """``prompt-trainer train``: train on the stored samples of each target's current version
    and write the candidates locally (no GitHub)."""
    store = SampleStore(settings.root / DEFAULT_STORE)
    outcome = RunOutcome()
    propose_all(settings, replace(options, target=target), None, store, outcome, log=log)
    if not outcome.candidates and not outcome.message:
        outcome.message = "no target had enough samples to train"
    return outcome


def connect(settings: Settings, options: RunOptions) -> GitHubClient:
    repo = options.repo or settings.env.github_repository
    if not repo:
        raise ConfigError(
            "no repository given", fix="pass --repo OWNER/NAME or set GITHUB_REPOSITORY"
        )
    return GitHubClient(
        api_url=settings.env.github_api_url,
        token=settings.env.github_token,
        repository=repo,
        timeout_s=settings.env.http_timeout_s,
        bot_logins=settings.config.pull_request.bot_logins,
        backoff_s=settings.env.backoff_s,
    )


def sync_store(
    store: SampleStore, client: GitHubClient, settings: Settings, *, push: bool, log: Log
) -> None:
    """Merge the data branch's ledger into the local one and (unless ``push`` is off) write the
    union back; nothing happens when ``store.branch`` is null."""
    branch = settings.config.store.branch
    if not branch:
        return
    result = sync_with_branch(store, client, branch, push=push)
    wrote = f"wrote {result.commit[:12]}" if result.commit else "nothing to write"
    if not push:
        wrote = "not written (dry run)"
    log(f"store: data branch {branch}: {result.pulled} sample(s) taken, {wrote}")


def collect(
    settings: Settings,
    options: RunOptions,
    client: GitHubClient | None,
    current: dict[str, PromptSet],
    log: Log,
) -> list[Sample]:
    """Local evidence, or the one PR asked for (if it is the agent's)."""
    if options.local:
        versions = {name: prompt_set.version for name, prompt_set in current.items()}
        samples = collect_directory(options.local, settings=settings, versions=versions)
    elif client is None or options.pr is None:
        raise ConfigError("no evidence source", fix="pass --pr N (GitHub) or --local DIR")
    elif (
        options.run
        and options.pr in options.run.collected()
        and (stored := find_sample(SampleStore(settings.root / DEFAULT_STORE).load(), options.pr))
    ):
        log(f"collect: #{options.pr} was collected by the resumed run; using the stored sample")
        samples = [stored]
    else:
        pull = client.pull(options.pr)
        if not is_agent_pull(pull, settings.config.agent):
            log(f"#{options.pr} by {pull.author} is not an agent PR (see agent: in the config)")
            return []
        samples = [
            collect_pull(
                client,
                options.pr,
                settings=settings,
                repository=client.info().full_name,
                local_paths=options.evidence,
            )
        ]
    for sample in samples:
        if options.run and sample.pull.number is not None:
            options.run.mark(f"collect:#{sample.pull.number}", sample=sample.id)
        tests = sum(r.tests for r in sample.test_runs)
        log(
            f"collect: {sample.id}: {tests} test case(s), {len(sample.feedback)} comment(s), "
            f"{len(sample.traces)} trace(s), {len(sample.skipped)} skipped"
        )
    return samples


def train_and_propose(
    settings: Settings,
    options: RunOptions,
    *,
    llm: LLMSettings,
    current: PromptSet,
    samples: list[Sample],
    outcome: RunOutcome,
    client: GitHubClient | None,
    log: Log,
    rejected: tuple[Rejection, ...] = (),
    report: TargetReport | None = None,
) -> None:
    """Train one target on ``samples``, check the candidate, render it and propose it;
    ``report`` is the target's measurement, for the PR body."""
    # DSPy takes ~1 s to import: only the modes that call an LLM pay for it.
    from prompt_trainer.train import TrainRequest, train  # noqa: PLC0415

    target = settings.target(current.target)
    strategy = options.strategy or target.strategy
    log(f"train: {target.name} with {llm.model} ({strategy}) on {len(samples)} sample(s)")
    budget = settings.config.training
    inputs = training_inputs(
        current, samples, llm=llm, strategy=strategy, target=target, options=budget
    )
    stored = options.run.stored_candidate(target.name, inputs) if options.run else None
    if stored is not None:
        log(f"train: {target.name}: reusing the candidate the interrupted run trained")
    try:
        ranked = (
            [stored]
            if stored is not None
            else train(
                TrainRequest(
                    target=target,
                    current=current,
                    samples=samples,
                    llm=llm,
                    cache_dir=settings.root / ".prompt-trainer" / "cache",
                    max_calls=budget.max_calls,
                    max_usd=budget.max_usd,
                    max_evidence_tokens=budget.max_evidence_tokens,
                    holdout=budget.holdout,
                    candidates=budget.candidates,
                    rejected=rejected,
                    rejected_threshold=budget.rejected_evidence_threshold,
                ),
                strategy,
            )
        )
    except NotEnoughEvidence as exc:
        log(exc.diagnostics())
        outcome.blocked[target.name] = exc.message
        return
    candidate, *others = ranked
    if options.run and stored is None:
        # Kept at once: an eval_command or a proposal that fails next does not cost the LLM work.
        options.run.save_candidate(candidate, inputs, body="", gate=())
    for other in others:
        folder = propose.write_candidate(
            other, root=settings.root, body="", gate_problems=("not elected",)
        )
        log(f"candidate (not elected, kept): {folder}")
    outcome.candidates.append(candidate)
    training = settings.config.training
    gate = evaluate.check_candidate(candidate, current, target, samples=samples, limits=training)
    if (
        training.eval_command
        and candidate.fingerprint != current.version
        and candidate.eval_command is None
    ):
        log(f"evaluate: running eval_command for {target.name} (current, then candidate)")
        result = evaluate.run_eval_command(
            training.eval_command,
            current,
            candidate,
            root=settings.root,
            timeout_s=training.eval_timeout_s,
            max_report_bytes=settings.config.limits.max_report_bytes,
            env=settings.command_env(),
            repeat=training.eval_repeat,
        )
        candidate = candidate.model_copy(update={"eval_command": result})
        outcome.candidates[-1] = candidate
        gate = evaluate.GateResult(gate.problems + tuple(evaluate.eval_problems(result)))
    view = render.ProposalView(
        candidate=candidate,
        current=current,
        samples=samples,
        model=llm.model,
        skipped=[sk for s in samples for sk in s.skipped],
        gate_problems=gate.problems,
        report=report,
    )
    template = user_template(settings)
    body = render.render_body(view, template_text=template)
    outcome.bodies[target.name] = body
    folder = propose.write_candidate(
        candidate, root=settings.root, body=body, gate_problems=gate.problems
    )
    log(f"candidate: {folder}")
    if options.run:
        options.run.save_candidate(candidate, inputs, body=body, gate=gate.problems)
    if not gate.passed:
        outcome.gate_failures[target.name] = gate.problems
        outcome.proposals.append(propose.Proposal(target.name, "rejected", candidate_dir=folder))
    elif options.dry_run or client is None:
        outcome.proposals.append(
            propose.Proposal(
                target.name, "dry-run" if options.dry_run else "written", candidate_dir=folder
            )
        )
    else:
        made = propose.open_pull_request(
            client,
            candidate,
            title=render.render_title(view),
            render=lambda sha: render.render_body(
                replace(view, commit=sha), template_text=template
            ),
            labels=settings.config.pull_request.labels,
            current_version=current.version,
            prompts=target,
        )
        if made.reason:
            log(f"propose: {target.name} skipped: {made.reason}")
        outcome.proposals.append(
            propose.Proposal(made.target, made.operation, made.number, made.url, folder)
        )
    if options.run:
        last = outcome.proposals[-1]
        options.run.mark(
            f"propose:{target.name}", operation=last.operation, number=last.number, url=last.url
        )
