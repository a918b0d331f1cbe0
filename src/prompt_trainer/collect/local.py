"""Collect evidence from a local directory (no GitHub): ``prompt-trainer run --local DIR``.

Files directly in ``DIR`` form one sample; each subdirectory (searched recursively) forms one
more, so ``DIR/pr-12/`` and ``DIR/pr-13/`` are two pull requests. In each: ``*.xml`` are JUnit
reports, ``reviews*.json`` holds review comments, ``pr.json`` optional PR metadata (number,
title, body, author, merged, url, labels, base_sha, and ``files``/``commits``/``issue`` in the
shape of ``PullRequestInfo``), and other text files are agent traces. A sample
whose ``pr.json`` gives ``base_sha`` is attributed to the prompt versions at that commit of the
local clone; without one (or when the clone lacks that commit, e.g. a shallow clone, which is
noted as skipped evidence) it is attributed to the prompt versions of the working tree. A folder
none of whose files gave evidence (each was skipped) is no sample: it would count as a PR without
tests or comments. ``pr.json`` values of the wrong type (``"merged": "yes"``) skip the file with
the key named, rather than being coerced.

The ``agent:`` rules apply as they do on GitHub: a folder whose ``pr.json`` names an author or
labels is stored only when the author is one of ``agent.authors`` or a label one of
``agent.labels``; the others are left out with the reason (``LocalOutcome.not_agent``). A folder
whose ``pr.json`` names neither (or that has none) is kept: nothing says it is not the agent's.
A folder whose only readable files are plain text (no JUnit report, reviews, ``pr.json`` or
trace in a known format), such as a ``README.md`` in the evidence root, is not evidence of a
pull request: its files are listed as ignored (``LocalOutcome.ignored``), not stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from prompt_trainer.collect.evidence import (
    Evidence,
    clean_pull,
    is_reviews_file,
    load_reviews,
    parse_evidence_file,
)
from prompt_trainer.collect.junit_runs import flag_flaky_across_runs
from prompt_trainer.collect.per_file import internal_error
from prompt_trainer.collect.reviews import keep
from prompt_trainer.config_errors import explain, key_path
from prompt_trainer.errors import ConfigError
from prompt_trainer.models import PullRequestInfo, Sample, Skipped
from prompt_trainer.settings import AgentRules, Settings
from prompt_trainer.targets import GitSource, version_at

#: Why plain text alone is no sample.
NOT_EVIDENCE = (
    "not evidence: plain text with no JUnit report, reviews*.json, pr.json or agent trace in a "
    "known format beside it"
)


@dataclass
class LocalOutcome:
    """The samples of a directory, and what was not stored, with why: folders that gave no
    evidence, folders of PRs that are not the agent's, and files that are not evidence."""

    samples: list[Sample] = field(default_factory=list)
    empty: list[Skipped] = field(default_factory=list)
    not_agent: list[Skipped] = field(default_factory=list)
    ignored: list[Skipped] = field(default_factory=list)
    #: Folders (the evidence root counts as one when it holds files) that were looked at.
    folders: int = 0


@dataclass(frozen=True)
class _Group:
    """What one folder gave: its sample, its files and how much of them was evidence."""

    sample: Sample
    files: tuple[str, ...]
    useful: bool
    only_text: bool


def collect_directory(
    directory: Path, *, settings: Settings, versions: dict[str, str]
) -> list[Sample]:
    """One sample per evidence group under ``directory``; ``versions`` are the working tree's."""
    return collect_directory_outcome(directory, settings=settings, versions=versions).samples


def collect_directory_outcome(
    directory: Path, *, settings: Settings, versions: dict[str, str]
) -> LocalOutcome:
    """``collect_directory``, also saying what was not stored and why."""
    if not directory.is_dir():
        raise ConfigError(
            f"--local {directory}: not a directory",
            fix="pass a directory holding JUnit XML, trace and reviews files",
        )
    groups = [directory] if _files(directory, recursive=False) else []
    groups += sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
    outcome = LocalOutcome()
    for group in groups:
        if not _files(group, recursive=group != directory):
            continue
        outcome.folders += 1
        _sort(_sample(group, directory, settings, versions), settings.config.agent, outcome)
    return outcome


def _sort(group: _Group, rules: AgentRules, outcome: LocalOutcome) -> None:
    """Store the group's sample, or say why not."""
    sample = group.sample
    if not group.useful:
        reasons = "; ".join(f"{s.source}: {s.reason}" for s in sample.skipped)
        outcome.empty.append(
            Skipped(source=sample.id, reason=f"every file was skipped ({reasons})")
        )
    elif group.only_text:
        outcome.ignored += [Skipped(source=f, reason=NOT_EVIDENCE) for f in group.files]
    elif (other := not_the_agents(sample.pull, rules)) is not None:
        outcome.not_agent.append(Skipped(source=sample.id, reason=other))
    else:
        outcome.samples.append(sample)


def not_the_agents(pull: PullRequestInfo, rules: AgentRules) -> str | None:
    """Why a PR is not the agent's by the ``agent:`` rules, None when it is (or when its
    ``pr.json`` names no author and no labels to judge by)."""
    if not pull.author and not pull.labels:
        return None
    if pull.author in rules.authors or set(pull.labels) & set(rules.labels):
        return None
    labels = ", ".join(pull.labels) or "none"
    return (
        f"by {pull.author or 'an author not named'} (labels: {labels}): neither in "
        f"agent.authors ({', '.join(rules.authors) or 'none'}) nor agent.labels "
        f"({', '.join(rules.labels) or 'none'})"
    )


def _files(folder: Path, *, recursive: bool) -> list[Path]:
    pattern = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in pattern if p.is_file() and not p.name.startswith("."))


def _sample(group: Path, root: Path, settings: Settings, versions: dict[str, str]) -> _Group:
    """The group's sample, and whether any of its files gave evidence beyond plain text."""
    evidence = Evidence()
    pull = PullRequestInfo(title=group.name)
    files = _files(group, recursive=group != root)
    sources = tuple(p.relative_to(root).as_posix() for p in files)
    structured = 0  # pr.json and reviews files read
    for path, source in zip(files, sources, strict=True):
        if path.name == "pr.json":
            read = read_pull_info(path, source=source, limit=settings.config.limits.max_text_chars)
            if isinstance(read, Skipped):
                evidence.skipped.append(read)
            else:
                pull, structured = read, structured + 1
        elif is_reviews_file(path):
            structured += _read_reviews(path, settings, evidence)
        else:
            evidence.add(parse_evidence_file(path, source=source, limits=settings.config.limits))
    evidence.test_runs = list(flag_flaky_across_runs(evidence.test_runs))
    only_text = not (structured or evidence.test_runs) and all(
        t.format == "text" for t in evidence.traces
    )
    useful = len(evidence.skipped) < len(files)
    if pull.base_sha:
        versions = _versions_at(pull.base_sha, settings, evidence, default=versions)
    name = "." if group == root else group.relative_to(root).as_posix()
    sample = evidence.to_sample(f"local:{name}", pull=pull, versions=versions)
    return _Group(sample=sample, files=sources, useful=useful, only_text=only_text)


def _read_reviews(path: Path, settings: Settings, evidence: Evidence) -> int:
    """The comments of a reviews file into ``evidence``; 1 when it was read, else 0."""
    reviews = settings.config.reviews
    loaded = load_reviews(path, trusted=reviews.trusted_associations, limits=settings.config.limits)
    if isinstance(loaded, Skipped):
        evidence.skipped.append(loaded)
        return 0
    evidence.feedback.extend(f for f in loaded if keep(f, include_bots=reviews.include_bots))
    return 1


def _versions_at(
    sha: str, settings: Settings, evidence: Evidence, *, default: dict[str, str]
) -> dict[str, str]:
    source = GitSource.at(settings.root, sha)
    if source is None:
        evidence.skipped.append(
            Skipped(
                source="pr.json base_sha",
                reason=f"commit {sha[:12]} is not in the local clone (shallow?); the sample is "
                "attributed to the working tree's prompts",
            )
        )
        return default
    return {t.name: version_at(t, source) for t in settings.config.targets}


def read_pull_info(path: Path, *, source: str, limit: int) -> PullRequestInfo | Skipped:
    """``pr.json``, each key of the right type (strict: ``"merged": "yes"`` is not true), its
    text redacted and capped (``limit`` characters of body)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        return Skipped(source=source, reason=f"invalid pr.json: {exc}")
    if not isinstance(data, dict):
        return Skipped(source=source, reason="invalid pr.json: expected a JSON object")
    known: dict[str, Any] = {k: v for k, v in data.items() if k in PullRequestInfo.model_fields}
    try:
        pull = PullRequestInfo.model_validate_json(json.dumps(known), strict=True)
        return clean_pull(pull, limit=limit)
    except ValidationError as exc:
        problems = "; ".join(f"{key_path(e['loc'])}: {explain(e)}" for e in exc.errors())
        return Skipped(source=source, reason=f"invalid pr.json: {problems}")
    except Exception as exc:  # the per-file boundary (collect/per_file.py)
        return internal_error(source, exc, what="pr.json")


def evidence_files(directory: Path) -> list[Path]:
    """Every file ``collect --local`` reads under ``directory``, in the order it reads them:
    the files directly inside, then each (non-hidden) subdirectory's, recursively."""
    files = _files(directory, recursive=False)
    for group in sorted(p for p in directory.iterdir() if p.is_dir()):
        if not group.name.startswith("."):
            files += _files(group, recursive=True)
    return files
