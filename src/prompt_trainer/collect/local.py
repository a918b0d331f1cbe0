"""Collect evidence from a local directory (no GitHub): ``prompt-trainer run --local DIR``.

Files directly in ``DIR`` form one sample; each subdirectory (searched recursively) forms one
more, so ``DIR/pr-12/`` and ``DIR/pr-13/`` are two pull requests. In each: ``*.xml`` are JUnit
reports, ``reviews*.json`` holds review comments, ``pr.json`` optional PR metadata (number,
title, body, author, merged, url, labels, base_sha, and ``files``/``commits``/``issue`` in the
shape of ``PullRequestInfo``), and other text files are agent traces. A sample
whose ``pr.json`` gives ``base_sha`` is attributed to the prompt versions at that commit of the
local clone; without one (or when the clone lacks that commit, e.g. a shallow clone, which is
noted as skipped evidence) it is attributed to the prompt versions of the working tree.
"""

from __future__ import annotations

import json
from pathlib import Path

from prompt_trainer.collect.evidence import (
    Evidence,
    clean_pull,
    is_reviews_file,
    load_reviews,
    parse_evidence_file,
)
from prompt_trainer.collect.junit import flag_flaky_across_runs
from prompt_trainer.collect.reviews import keep
from prompt_trainer.errors import ConfigError
from prompt_trainer.models import PullRequestInfo, Sample, Skipped
from prompt_trainer.settings import Settings
from prompt_trainer.targets import GitSource, load_prompt_set


def collect_directory(
    directory: Path, *, settings: Settings, versions: dict[str, str]
) -> list[Sample]:
    """One sample per evidence group under ``directory``; ``versions`` are the working tree's."""
    if not directory.is_dir():
        raise ConfigError(
            f"--local {directory}: not a directory",
            fix="pass a directory holding JUnit XML, trace and reviews files",
        )
    groups = [directory] if _files(directory, recursive=False) else []
    groups += sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [
        _sample(group, directory, settings, versions)
        for group in groups
        if _files(group, recursive=group != directory)
    ]


def _files(folder: Path, *, recursive: bool) -> list[Path]:
    pattern = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in pattern if p.is_file() and not p.name.startswith("."))


def _sample(group: Path, root: Path, settings: Settings, versions: dict[str, str]) -> Sample:
    evidence = Evidence()
    limits = settings.config.limits
    pull = PullRequestInfo(title=group.name)
    for path in _files(group, recursive=group != root):
        source = path.relative_to(root).as_posix()
        if path.name == "pr.json":
            pull = _pull_info(path, evidence, default=pull, limit=limits.max_text_chars)
        elif is_reviews_file(path):
            loaded = load_reviews(
                path, trusted=settings.config.reviews.trusted_associations, limits=limits
            )
            if isinstance(loaded, Skipped):
                evidence.skipped.append(loaded)
            else:
                include_bots = settings.config.reviews.include_bots
                evidence.feedback.extend(f for f in loaded if keep(f, include_bots=include_bots))
        else:
            evidence.add(parse_evidence_file(path, source=source, limits=limits))
    evidence.test_runs = list(flag_flaky_across_runs(evidence.test_runs))
    name = "." if group == root else group.relative_to(root).as_posix()
    if pull.base_sha:
        versions = _versions_at(pull.base_sha, settings, evidence, default=versions)
    return evidence.to_sample(f"local:{name}", pull=pull, versions=versions)


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
    return {
        t.name: load_prompt_set(t, source, required=False).version for t in settings.config.targets
    }


def _pull_info(
    path: Path, evidence: Evidence, *, default: PullRequestInfo, limit: int
) -> PullRequestInfo:
    """PR metadata from ``pr.json``; a bad file is Skipped and the default kept."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        fields = set(PullRequestInfo.model_fields)
        pull = PullRequestInfo.model_validate({k: v for k, v in data.items() if k in fields})
        return clean_pull(pull, limit=limit)
    except (OSError, ValueError, AttributeError) as exc:
        evidence.skipped.append(Skipped(source=path.name, reason=f"invalid pr.json: {exc}"))
        return default
