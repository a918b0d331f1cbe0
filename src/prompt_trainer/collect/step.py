"""Collect stage, as the first step of ``prompt-trainer run``: this run's samples.

Takes the settings, the evidence source (a ``--local`` directory, or one PR through the GitHub
client, with its ``--evidence`` files), the current prompt versions and the run's record
(``loop.runs``) when it keeps one. Returns the samples: the directory's, the stored sample of a
PR the resumed run collected already, the PR's (nothing when it is not the agent's). Raises
``ConfigError`` when there is no source.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from prompt_trainer.collect.github_pr import collect_pull, is_agent_pull
from prompt_trainer.collect.local import collect_directory_outcome
from prompt_trainer.errors import ConfigError
from prompt_trainer.github import GitHubClient
from prompt_trainer.measure.facts import facts_of
from prompt_trainer.models import Sample
from prompt_trainer.settings import Settings
from prompt_trainer.store import open_ledger

if TYPE_CHECKING:
    from prompt_trainer.loop.runs import RunRecord


def collect_run(
    settings: Settings,
    client: GitHubClient | None,
    *,
    local: Path | None,
    pr: int | None,
    evidence: tuple[Path, ...],
    versions: dict[str, str],
    run: RunRecord | None,
    log: Callable[[str], None],
) -> list[Sample]:
    """Local evidence, or the one PR asked for (if it is the agent's); each one logged."""
    if local:
        samples = _local(local, settings=settings, versions=versions, log=log)
    elif client is None or pr is None:
        raise ConfigError("no evidence source", fix="pass --pr N (GitHub) or --local DIR")
    elif run and pr in run.collected() and (stored := _stored(settings, pr)):
        log(f"collect: #{pr} was collected by the resumed run; using the stored sample")
        samples = [stored]
    else:
        pull = client.pull(pr)
        if not is_agent_pull(pull, settings.config.agent):
            log(f"#{pr} by {pull.author} is not an agent PR (see agent: in the config)")
            return []
        repository = client.info().full_name
        sample = collect_pull(
            client, pull, settings=settings, repository=repository, local_paths=evidence
        )
        samples = [sample]
    for sample in samples:
        if run and sample.pull.number is not None:
            run.mark(f"collect:#{sample.pull.number}", sample=sample.id)
        tests = sum(r.tests for r in sample.test_runs)
        trusted = facts_of(sample).comments
        log(
            f"collect: {sample.id}: {tests} test case(s), {len(sample.feedback)} comment(s) "
            f"({trusted} trusted), {len(sample.traces)} trace(s), {len(sample.skipped)} skipped"
        )
    return samples


def _local(
    directory: Path, *, settings: Settings, versions: dict[str, str], log: Callable[[str], None]
) -> list[Sample]:
    """The directory's samples; what was left out is logged with why."""
    found = collect_directory_outcome(directory, settings=settings, versions=versions)
    for left in found.not_agent:
        log(f"collect: {left.source} left out, not an agent PR (see agent: in the config): "
            f"{left.reason}")  # fmt: skip
    for left in [*found.empty, *found.ignored]:
        log(f"collect: {left.source} not stored: {left.reason}")
    return found.samples


def _stored(settings: Settings, pr: int) -> Sample | None:
    from prompt_trainer.loop.failures import find_sample  # noqa: PLC0415 - the loop's helper

    return find_sample(open_ledger(settings.root).load(), pr)
