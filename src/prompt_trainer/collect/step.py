"""Collect stage, as the first step of ``prompt-trainer run``: this run's samples.

Takes the settings, the evidence source (a ``--local`` directory, or one PR through the GitHub
client, with its ``--evidence`` files), the current prompt versions and what the run's record
knows, passed down by the caller (``collected``: the PRs a resumed run collected already;
``keep``: where to record each PR collected). This module does not reach up into ``loop/``: the
record is the loop's. Returns the samples: the directory's, the stored sample of a PR the
resumed run collected already, the PR's (nothing when it is not the agent's). Raises
``ConfigError`` when there is no source.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prompt_trainer.collect.github_pr import collect_pull, is_agent_pull
from prompt_trainer.collect.local import collect_directory_outcome
from prompt_trainer.errors import ConfigError
from prompt_trainer.github import GitHubClient
from prompt_trainer.measure.facts import facts_of
from prompt_trainer.models import Sample
from prompt_trainer.settings import Settings
from prompt_trainer.store import find_sample, open_ledger


def collect_run(
    settings: Settings,
    client: GitHubClient | None,
    *,
    local: Path | None,
    pr: int | None,
    evidence: tuple[Path, ...],
    versions: dict[str, str],
    collected: frozenset[int] = frozenset(),
    keep: Callable[[int, str], None] | None = None,
    log: Callable[[str], None],
) -> list[Sample]:
    """Local evidence, or the one PR asked for (if it is the agent's); each one logged and
    handed to ``keep`` (its PR number and sample id) when it has a number."""
    if local:
        samples = _local(local, settings=settings, versions=versions, log=log)
    elif client is None or pr is None:
        raise ConfigError("no evidence source", fix="pass --pr N (GitHub) or --local DIR")
    elif pr in collected and (stored := find_sample(open_ledger(settings.root).load(), pr)):
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
        if keep is not None and sample.pull.number is not None:
            keep(sample.pull.number, sample.id)
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
