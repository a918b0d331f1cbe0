"""``prompt-trainer collect``: gather samples from one PR, every agent PR closed since a date,
or a local directory, and store each sample as soon as it is collected.

Storing per sample means an API failure halfway through a backfill loses nothing already
collected: the error is raised after the samples before it are in the store, and a rerun
replaces them (the store upserts by sample id) instead of duplicating them.

In a backfill (``--since``, the Action's scheduled run) an error from one PR, whatever raised it
(a report the parser refuses, an artifact, GitHub answering 404 or 5xx for that PR alone), skips
that PR with the reason (``CollectOutcome.failed``) and the backfill goes on. Only an error of
GitHub itself stops it (``stops_the_run``): the token refused (401), a permission or rate limit
(403, 429), or no answer even from ``GET /rate_limit`` (the API host down). PRs asked for by
number (``--pr``) are collected as asked: their error stops the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from prompt_trainer.collect.github_pr import collect_pull, is_agent_pull
from prompt_trainer.collect.local import collect_directory_outcome
from prompt_trainer.errors import GitHubError, PromptTrainerError
from prompt_trainer.measure.facts import facts_of
from prompt_trainer.models import Sample, Skipped
from prompt_trainer.settings import Settings
from prompt_trainer.store import SampleStore, UpsertResult
from prompt_trainer.targets import LocalSource, load_prompt_set

if TYPE_CHECKING:
    from prompt_trainer.github import GitHubClient

Log = Callable[[str], None]
#: Wraps an iterable to show progress (tqdm in the CLI; identity in tests).
Progress = Callable[[list[int]], Iterable[int]]


@dataclass
class CollectOutcome:
    samples: list[Sample] = field(default_factory=list)
    not_agent: list[str] = field(default_factory=list)
    added: int = 0
    replaced: int = 0
    total: int = 0
    #: Folders of a local directory that gave no evidence (each file skipped): not stored.
    empty: list[Skipped] = field(default_factory=list)
    #: The local directory collected, for "no evidence found in DIR".
    directory: Path | None = None
    #: PRs of a backfill that could not be collected (``#N`` and why); the others were.
    failed: list[Skipped] = field(default_factory=list)

    def record(self, result: UpsertResult) -> None:
        self.added += result.added
        self.replaced += result.replaced
        self.total = result.total


def collect_local(directory: Path, *, settings: Settings, store: SampleStore) -> CollectOutcome:
    """Every sample of a local evidence directory, attributed to the checkout's prompts."""
    versions = {
        t.name: load_prompt_set(t, LocalSource(settings.root), required=False).version
        for t in settings.config.targets
    }
    found = collect_directory_outcome(directory, settings=settings, versions=versions)
    outcome = CollectOutcome(empty=found.empty, directory=directory, total=len(store.lines()))
    for sample in found.samples:
        outcome.samples.append(sample)
        outcome.record(store.upsert([sample]))
    return outcome


def collect_pulls(
    client: GitHubClient,
    numbers: list[int] | None,
    *,
    since: datetime | None,
    settings: Settings,
    store: SampleStore,
    log: Log,
    progress: Progress,
    local_paths: tuple[Path, ...] = (),
    skip: frozenset[int] = frozenset(),
    on_stored: Callable[[int], None] | None = None,
) -> CollectOutcome:
    """The agent PRs among ``numbers`` (or among those closed since ``since``), one by one.

    ``local_paths`` (files the current job produced) belong to a single PR: they are added to
    the sample only when exactly one PR is collected. PRs in ``skip`` (already collected by the
    interrupted run this one resumes) are not collected again; ``on_stored`` hears of each PR
    once its sample is stored.
    """
    outcome = CollectOutcome()
    checked = False  # pulls listed by --since are already known to be the agent's
    if numbers is None:
        closed = client.closed_pulls_since(since) if since else []
        agent = [p for p in closed if is_agent_pull(p, settings.config.agent)]
        outcome.not_agent = [f"#{p.number} by {p.author}" for p in closed if p not in agent]
        numbers = [p.number for p in agent if p.number is not None]
        checked = True
        if since is not None:
            log(f"collect: {len(numbers)} agent PR(s) closed since {since:%Y-%m-%d}")
    repository = client.info().full_name
    if skip & set(numbers):
        log(f"collect: {len(skip & set(numbers))} PR(s) already collected by the resumed run")
        numbers = [n for n in numbers if n not in skip]
    for number in progress(numbers):
        if not checked:
            pull = client.pull(number)
            if not is_agent_pull(pull, settings.config.agent):
                outcome.not_agent.append(f"#{number} by {pull.author}")
                continue
        extra = local_paths if len(numbers) == 1 else ()
        try:
            sample = collect_pull(
                client, number, settings=settings, repository=repository, local_paths=extra
            )
        except Exception as exc:
            if not checked or stops_the_run(exc, client):
                raise
            outcome.failed.append(Skipped(source=f"#{number}", reason=failure_reason(exc)))
            log(f"collect: #{number}: skipped: {outcome.failed[-1].reason}")
            continue
        outcome.samples.append(sample)
        outcome.record(store.upsert([sample]))
        log(f"collect: {sample.id}: stored")
        if on_stored is not None:
            on_stored(number)
    return outcome


#: Statuses that are GitHub's answer to every PR alike: the token refused, a permission
#: missing, a rate limit.
SYSTEMIC_STATUSES = frozenset({401, 403, 429})


def stops_the_run(exc: Exception, client: GitHubClient) -> bool:
    """Whether an error met while collecting one PR is GitHub's own (stop the backfill) rather
    than that PR's (skip it). Without an answer (5xx until the retries ran out, a connection
    error), GitHub is asked whether it answers at all, with the free ``GET /rate_limit``."""
    if not isinstance(exc, GitHubError):
        return False
    if exc.status in SYSTEMIC_STATUSES:
        return True
    if exc.status is None or exc.status >= 500:
        return not client.reachable()
    return False


def failure_reason(exc: Exception) -> str:
    """One line saying why a PR could not be collected."""
    if isinstance(exc, PromptTrainerError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def closing_table(outcome: CollectOutcome) -> str:
    """What was collected per sample, then every skipped piece of evidence and why. Comments
    are counted as the report counts them (trusted humans' comments with text)."""
    lines = [
        "| sample | tests | passed | failed | errors | skipped | flaky | traces | comments "
        "| skipped evidence |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for sample in outcome.samples:
        counts = {k: 0 for k in ("tests", "passed", "failed", "errors", "skipped", "flaky")}
        for run in sample.test_runs:
            for key, value in run.counts().items():
                counts[key] += value
        lines.append(
            f"| {sample.id} | "
            + " | ".join(str(counts[k]) for k in counts)
            + f" | {len(sample.traces)} | {facts_of(sample).comments} | {len(sample.skipped)} |"
        )
    skipped = [(s.id, sk) for s in outcome.samples for sk in s.skipped]
    if skipped:
        lines += ["", "Skipped evidence:"]
        lines += [f"- {sample_id}: {sk.source}: {sk.reason}" for sample_id, sk in skipped]
    if outcome.empty:
        lines += ["", "Not stored (no evidence in the folder):"]
        lines += [f"- {sk.source}: {sk.reason}" for sk in outcome.empty]
    if outcome.directory is not None and not outcome.samples:
        lines += [
            "",
            f"no evidence found in {outcome.directory} (JUnit *.xml, reviews*.json, pr.json, "
            "trace files)",
        ]
    if outcome.failed:
        lines += ["", "Agent PRs not collected (the backfill went on without them):"]
        lines += [f"- {sk.source}: skipped: {sk.reason}" for sk in outcome.failed]
    if outcome.not_agent:
        lines += ["", "Not agent PRs (see `agent:` in the config): " + ", ".join(outcome.not_agent)]
    lines += [
        "",
        f"Store: {outcome.added} added, {outcome.replaced} replaced, {outcome.total} in total.",
    ]
    return "\n".join(lines)
