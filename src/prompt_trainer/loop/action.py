"""``prompt-trainer action``: what the GitHub Action runs; decides from the event what to do.

- ``pull_request`` or ``pull_request_target`` closed, the agent's: collect the PR, then train
  and propose each target that has enough samples of its current prompts;
- the same from a fork: collect only (through the API; the fork's code is never run), no LLM;
- ``schedule``, ``workflow_dispatch``: backfill the agent PRs closed in the last
  ``backfill-days``, report to the step summary, train, propose;
- ``pull_request_review``, ``pull_request_review_comment``, ``issue_comment``: the review loop
  (``respond``) on the bot's own PRs;
- anything else, or a PR that is not the agent's: say why nothing is done, exit 0.

``decide`` reads the typed ``Event`` (``loop.events``) and returns a ``Plan`` (its ``kind``, and
for ``none`` the reason); ``run_action`` carries it out and returns an ``ActionResult``. ``mode``
overrides the decision: ``collect``, ``report``, ``train`` (local candidates only),
``propose`` or ``revise``. The ``JOB_MODES`` are the jobs of a split workflow and decide from the
event like ``auto``: a ``prepare`` run (``RunOptions.bundle``) records its writes instead of making
them, takes no lock and runs no configured command (``loop.bundle``); ``evaluate`` and
``publish`` act on its bundle (``loop.commands``, ``loop.publish``). Without an LLM key,
everything that needs no LLM still happens and the rest is skipped with a notice. DSPy and
LiteLLM are imported only by the modes that call an LLM.

On the events a pull request can steer (``GUARDED_EVENTS``: the checkout may be the PR's merge
ref) the settings are the default branch's configuration unless the checkout's file is that
blob (``config_trust``), read before anything of the checkout's is parsed; ``guarded`` says
whether an event and mode need that check.

With ``training.gate: replay`` the candidate is replayed (the agent reruns held-out tasks) only
on ``REPLAY_EVENTS``, runs someone started or scheduled; on any other event ``replay_note`` says
it was not run, and the proposal is not blocked on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from prompt_trainer.collect.batch import collect_pulls
from prompt_trainer.collect.github_pr import is_agent_pull
from prompt_trainer.errors import PromptTrainerError
from prompt_trainer.github import GitHubClient
from prompt_trainer.github.connect import connect
from prompt_trainer.loop.config_trust import GUARDED_EVENTS
from prompt_trainer.loop.contract import RunOptions, RunOutcome
from prompt_trainer.loop.events import PULL_EVENTS, REVIEW_EVENTS, Event
from prompt_trainer.loop.lock import busy_message, exclusive
from prompt_trainer.models import Sample
from prompt_trainer.pipeline import propose_all, train_from_store
from prompt_trainer.settings import Settings
from prompt_trainer.store import SampleStore, open_ledger, sync_store

Log = Callable[[str], None]
MODES = (
    "auto", "collect", "report", "train", "propose", "revise", "prepare", "evaluate", "publish",
)  # fmt: skip
#: The modes of a split workflow's jobs, which decide from the event as ``auto`` does: ``prepare``
#: records what ``auto`` would write (``loop.bundle``), ``evaluate`` and ``publish`` act on it.
JOB_MODES = ("prepare", "evaluate", "publish")
PlanKind = Literal[
    "pr", "pr-fork", "backfill", "collect", "report", "train", "propose", "revise", "none"
]

#: The events on which ``training.gate: replay`` reruns the agent (it costs agent time and money).
REPLAY_EVENTS = ("workflow_dispatch", "schedule")

#: What each ``mode`` other than ``auto`` plans, whatever the event.
MODE_PLANS: dict[str, PlanKind] = {
    "collect": "collect",
    "report": "report",
    "train": "train",
    "propose": "propose",
    "revise": "revise",
}


@dataclass(frozen=True)
class Plan:
    """What the Action does on an event; ``reason`` says why when the kind is ``none``."""

    kind: PlanKind
    reason: str = ""

    def __str__(self) -> str:
        """As the log shows it: the kind, and for ``none`` its reason (``none:<reason>``)."""
        return f"none:{self.reason}" if self.kind == "none" else self.kind


@dataclass(frozen=True)
class ActionResult:
    """What the Action did, for the step summary and the outputs."""

    did: tuple[str, ...] = ()
    outcome: RunOutcome = field(default_factory=RunOutcome)
    report_markdown: str = ""
    #: The plan carried out (``str(Plan)``), recorded in a ``prepare`` job's bundle.
    plan: str = ""


def decide(event: Event, mode: str) -> Plan:
    """The plan for an event: the ``mode`` when it is not ``auto``; else ``pr`` (collect one PR,
    then propose), ``pr-fork`` (collect only), ``backfill``, ``revise`` or ``none``."""
    if mode not in ("auto", *JOB_MODES):
        return Plan(MODE_PLANS[mode])
    if event.name in PULL_EVENTS:
        if event.action != "closed":
            return Plan("none", f"pull_request {event.action}: only closed PRs are evidence")
        return Plan("pr-fork" if event.from_fork else "pr")
    if event.name in ("schedule", "workflow_dispatch"):
        return Plan("backfill")
    if event.name in REVIEW_EVENTS:
        return Plan("revise")
    return Plan("none", f"nothing to do for the {event.name or 'unknown'} event")


def guarded(event: Event, mode: str) -> bool:
    """Whether a run on ``event`` in ``mode`` must take the default branch's configuration
    (``config_trust``): an event a pull request can steer, with a plan that does something."""
    return event.name in GUARDED_EVENTS and decide(event, mode).kind != "none"


def replay_note(event_name: str | None) -> str:
    """Why this event's run may not replay (empty when it may: ``REPLAY_EVENTS``)."""
    if event_name in REPLAY_EVENTS:
        return ""
    return (
        f"replay runs only on workflow_dispatch or schedule, not on a {event_name or 'local'} "
        "event; the candidate was not replayed (training.gate: replay)"
    )


def run_action(
    settings: Settings,
    options: RunOptions,
    event: Event,
    *,
    mode: str,
    backfill_days: int,
    log: Log,
) -> ActionResult:
    """Carry out the plan for this event."""
    plan = decide(event, mode)
    log(f"action: event {settings.env.github_event_name or '(none)'}, plan {plan}")
    options = replace(options, replay_skipped=replay_note(settings.env.github_event_name))
    result = _carry_out(settings, options, event, plan, backfill_days=backfill_days, log=log)
    return replace(result, plan=str(plan))


def _carry_out(
    settings: Settings,
    options: RunOptions,
    event: Event,
    plan: Plan,
    *,
    backfill_days: int,
    log: Log,
) -> ActionResult:
    if plan.kind == "none":
        return ActionResult(outcome=RunOutcome(message=plan.reason))
    if plan.kind == "train":
        outcome = train_from_store(settings, options, target=options.target, log=log)
        return ActionResult(("trained from the store (candidates written locally)",), outcome)
    if plan.kind == "report":
        return ActionResult(("reported",), report_markdown=_report(settings))
    client = connect(settings, options.repo)
    if plan.kind == "revise":
        # The review loop commits with fast-forwards only, so it needs no lock.
        return _revise(settings, options, event, client, log)
    # A prepare job writes nothing, so it takes no lock: the publish job does.
    recording = options.bundle is not None
    with exclusive(client, settings, dry_run=options.dry_run or recording, log=log) as held_by:
        if held_by:
            return ActionResult(outcome=RunOutcome(message=busy_message(held_by)))
        return _write_plan(settings, options, event, plan, client, backfill_days, log)


def _revise(
    settings: Settings, options: RunOptions, event: Event, client: GitHubClient, log: Log
) -> ActionResult:
    from prompt_trainer.loop.respond import respond  # noqa: PLC0415

    review = event.review()
    if review is None:
        return ActionResult(outcome=RunOutcome(message="not a review or comment on a pull request"))
    llm = settings.llm(model=options.model, api_base=options.api_base)
    response = respond(settings, client, review, llm=llm, log=log, recorder=options.bundle)
    message = f"{response.action}: {response.message.splitlines()[0]}"
    return ActionResult((f"review loop: {response.action}",), RunOutcome(message=message))


def _write_plan(  # noqa: PLR0917 - the plan's state, passed on once
    settings: Settings,
    options: RunOptions,
    event: Event,
    plan: Plan,
    client: GitHubClient,
    backfill_days: int,
    log: Log,
) -> ActionResult:
    """Collect, and then (by plan) report, train and propose, holding the run lock."""
    store = open_ledger(settings.root)
    since = datetime.now(UTC) - timedelta(days=backfill_days)
    # A fork's PR runs with a read-only token: read the data branch, do not write it. A
    # prepare job hands the samples to the publish job instead.
    push = not options.dry_run and plan.kind != "pr-fork" and options.bundle is None
    held = "the publish job writes it" if options.bundle is not None else "dry run"
    before = {s.id for s in store.load()} if options.bundle is not None else set()
    try:
        collected = _collect(settings, options, event, plan, client, store, since=since, log=log)
    except PromptTrainerError:
        _store_before_raising(store, client, settings, push=push, log=log)
        if options.bundle is not None and plan.kind != "pr-fork":
            options.bundle.keep([s for s in store.load() if s.id not in before], store=True)
        raise
    if collected.stop:
        return ActionResult(outcome=RunOutcome(message=collected.stop))
    samples, did = collected.samples, collected.did
    sync_store(store, client, settings.config.store.branch, push=push, log=log, held=held)
    if options.bundle is not None and plan.kind != "pr-fork":
        options.bundle.keep(samples, store=True)
    if plan.kind == "pr-fork":
        message = "PR from a fork: evidence collected; no LLM call is made for it"
        return ActionResult(did, RunOutcome(samples=samples, message=message))
    if plan.kind == "collect":
        return ActionResult(did, RunOutcome(samples=samples))
    report = _report(settings) if plan.kind == "backfill" else ""
    did = (*did, "reported") if plan.kind == "backfill" else did
    outcome = propose_all(settings, options, client, store, samples=samples, log=log)
    return ActionResult((*did, "trained and proposed"), outcome, report)


def _store_before_raising(
    store: SampleStore, client: GitHubClient, settings: Settings, *, push: bool, log: Log
) -> None:
    """GitHub stopped the collection: what was collected before reaches the data branch. A
    failure to write it is logged, not raised over the error that stopped the run."""
    try:
        sync_store(store, client, settings.config.store.branch, push=push, log=log)
    except PromptTrainerError as exc:
        log(f"store: the data branch was not updated: {exc.diagnostics()}")


@dataclass(frozen=True)
class Collected:
    """What a plan's collect step gathered and says it did, or why the plan stops (``stop``)."""

    samples: list[Sample] = field(default_factory=list)
    did: tuple[str, ...] = ()
    stop: str = ""


def _collect(  # noqa: PLR0917 - the plan's state, passed on once
    settings: Settings,
    options: RunOptions,
    event: Event,
    plan: Plan,
    client: GitHubClient,
    store: SampleStore,
    *,
    since: datetime,
    log: Log,
) -> Collected:
    """The event's PR (when it is the agent's) or, on a backfill, the PRs closed ``since``."""
    pull = event.pull_info()
    numbers: list[int] | None = None
    if plan.kind in ("pr", "pr-fork", "collect") and pull is not None and event.pull is not None:
        if not is_agent_pull(pull, settings.config.agent):
            why = f"#{pull.number} by {pull.author} is not an agent PR (see agent: in the config)"
            return Collected(stop=why)
        numbers = [event.pull]
    elif plan.kind not in ("backfill", "collect"):
        return Collected()
    outcome = collect_pulls(
        client, numbers, since=None if numbers else since, settings=settings, store=store,
        log=log, progress=lambda n: n, **_resume(options),
    )  # fmt: skip
    found = outcome.samples
    if numbers:
        return Collected(found, (f"collected #{event.pull}",))
    did = f"collected {len(found)} agent PR(s) closed since {since:%Y-%m-%d}"
    if outcome.failed:
        did += f"; {len(outcome.failed)} agent PR(s) skipped (see the log)"
    return Collected(found, (did,))


def _resume(options: RunOptions) -> dict[str, Any]:
    """``collect_pulls`` arguments that skip the PRs the resumed run collected and record each
    one this run collects."""
    record = options.run
    if record is None:
        return {}
    return {
        "skip": record.collected(),
        "on_stored": lambda number: record.mark(f"collect:#{number}"),
    }


def _report(settings: Settings) -> str:
    from prompt_trainer.measure import choose_history, load_reports  # noqa: PLC0415
    from prompt_trainer.render.report import render_report  # noqa: PLC0415

    history = choose_history(settings, "auto", None)
    return render_report(load_reports(settings, history=history))
