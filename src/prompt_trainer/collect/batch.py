"""``prompt-trainer collect``: gather samples from one PR, every agent PR closed since a date,
or a local directory, and store each sample as soon as it is collected.

Storing per sample means an API failure halfway through a backfill loses nothing already
collected: the error is raised after the samples before it are in the store, and a rerun
replaces them (the store upserts by sample id) instead of duplicating them.

A backfill (``--since``, the Action's scheduled run) is ``collect.backfill``: within the rate
budget, going on at the next run from where one stopped. In it an error from one PR, whatever
raised it (a report the parser refuses, an artifact, GitHub answering 404 or 5xx for that PR
alone), skips that PR with the reason (``CollectOutcome.failed``) and the backfill goes on. Only
an error of GitHub itself stops it (``backfill.stops_the_run``): the token refused (401), a
permission (403), or no answer even from ``GET /rate_limit`` (the API host down). PRs asked for
by number (``--pr``) are collected as asked: their error stops the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from prompt_trainer.collect.backfill import Backfilled, backfill
from prompt_trainer.collect.github_pr import PromptVersions, collect_pull, is_agent_pull
from prompt_trainer.collect.local import collect_directory_outcome
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
    #: Files of a local directory that are not evidence (plain text alone): not stored.
    ignored: list[Skipped] = field(default_factory=list)
    #: PRs of a backfill that could not be collected (``#N`` and why); the others were.
    failed: list[Skipped] = field(default_factory=list)
    #: What a backfill did (PRs unchanged, where it stopped); None for PRs asked by number.
    backfill: Backfilled | None = None

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
    outcome = CollectOutcome(
        empty=found.empty,
        directory=directory,
        total=len(store.lines()),
        not_agent=[f"{s.source} {s.reason}" for s in found.not_agent],
        ignored=found.ignored,
    )
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
    """The agent PRs among ``numbers``, or among those closed since ``since`` (a backfill,
    ``collect.backfill``: within the rate budget, going on from where an earlier run stopped).

    ``local_paths`` (files the current job produced) belong to a single PR: they are added to
    the sample only when exactly one PR is collected. PRs in ``skip`` (already collected by the
    interrupted run this one resumes) are not collected again; ``on_stored`` hears of each PR
    once its sample is stored.
    """
    if numbers is None:
        if since is None:
            return CollectOutcome()
        done = backfill(
            client, since=since, settings=settings, store=store, log=log, progress=progress,
            skip=skip, on_stored=on_stored,
        )  # fmt: skip
        return CollectOutcome(
            samples=done.samples, not_agent=done.not_agent, failed=done.failed, backfill=done,
            added=done.added, replaced=done.replaced, total=len(store.lines()),
        )  # fmt: skip
    return _collect_numbers(
        client, numbers, settings=settings, store=store, log=log, progress=progress,
        local_paths=local_paths, skip=skip, on_stored=on_stored,
    )  # fmt: skip


def _collect_numbers(
    client: GitHubClient,
    numbers: list[int],
    *,
    settings: Settings,
    store: SampleStore,
    log: Log,
    progress: Progress,
    local_paths: tuple[Path, ...],
    skip: frozenset[int],
    on_stored: Callable[[int], None] | None,
) -> CollectOutcome:
    """The PRs asked for by number, each checked to be the agent's; an error stops the run."""
    outcome = CollectOutcome()
    repository = client.info().full_name
    if skip & set(numbers):
        log(f"collect: {len(skip & set(numbers))} PR(s) already collected by the resumed run")
        numbers = [n for n in numbers if n not in skip]
    versions = PromptVersions(client, settings)
    for number in progress(numbers):
        pull = client.pull(number)
        if not is_agent_pull(pull, settings.config.agent):
            outcome.not_agent.append(f"#{number} by {pull.author}")
            continue
        extra = local_paths if len(numbers) == 1 else ()
        sample = collect_pull(
            client, pull, settings=settings, repository=repository, local_paths=extra,
            versions=versions,
        )  # fmt: skip
        outcome.samples.append(sample)
        outcome.record(store.upsert([sample]))
        log(f"collect: {sample.id}: stored")
        if on_stored is not None:
            on_stored(number)
    return outcome


def closing_table(outcome: CollectOutcome) -> str:
    """What was collected per sample, then every skipped piece of evidence and why. Comments
    are every review comment kept; ``trusted`` counts those the report counts (trusted humans'
    comments with text)."""
    lines = [
        "| sample | tests | passed | failed | errors | skipped | flaky | traces | comments "
        "| trusted | skipped evidence |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for sample in outcome.samples:
        counts = {k: 0 for k in ("tests", "passed", "failed", "errors", "skipped", "flaky")}
        for run in sample.test_runs:
            for key, value in run.counts().items():
                counts[key] += value
        lines.append(
            f"| {sample.id} | "
            + " | ".join(str(counts[k]) for k in counts)
            + f" | {len(sample.traces)} | {len(sample.feedback)} | {facts_of(sample).comments}"
            + f" | {len(sample.skipped)} |"
        )
    skipped = [(s.id, sk) for s in outcome.samples for sk in s.skipped]
    if skipped:
        lines += ["", "Skipped evidence:"]
        lines += [f"- {sample_id}: {sk.source}: {sk.reason}" for sample_id, sk in skipped]
    if outcome.empty:
        lines += ["", "Not stored (no evidence in the folder):"]
        lines += [f"- {sk.source}: {sk.reason}" for sk in outcome.empty]
    if outcome.directory is not None and not outcome.samples and not outcome.not_agent:
        lines += [
            "",
            f"no evidence found in {outcome.directory} (JUnit *.xml, reviews*.json, pr.json, "
            "trace files)",
        ]
    if outcome.ignored:
        lines += ["", "Ignored (not stored):"]
        lines += [f"- {sk.source}: {sk.reason}" for sk in outcome.ignored]
    if outcome.failed:
        lines += ["", "Agent PRs not collected (the backfill went on without them):"]
        lines += [f"- {sk.source}: skipped: {sk.reason}" for sk in outcome.failed]
    if outcome.not_agent and outcome.directory is not None:
        lines += ["", f"Left out, not agent PRs (see `agent:` in the config): "
                  f"{len(outcome.not_agent)} folder(s)"]  # fmt: skip
        lines += [f"- {who}" for who in outcome.not_agent]
    elif outcome.not_agent:
        lines += ["", "Not agent PRs (see `agent:` in the config): " + ", ".join(outcome.not_agent)]
    lines += [
        "",
        f"Store: {outcome.added} added, {outcome.replaced} replaced, {outcome.total} in total.",
        *backfill_lines(outcome.backfill),
    ]
    return "\n".join(lines)


def backfill_lines(done: Backfilled | None) -> list[str]:
    """Where a backfill stands: PRs found unchanged, and all done or where it goes on."""
    if done is None:
        return []
    lines = []
    if done.unchanged:
        lines.append(
            f"Unchanged since they were collected (not read again): {len(done.unchanged)} PR(s)."
        )
    if done.cursor is not None:
        lines.append(f"Backfill: {done.cursor.progress} ({done.cursor.reason}).")
    else:
        lines.append(f"Backfill: all {done.total} agent PR(s) done.")
    return lines
