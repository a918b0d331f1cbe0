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
from prompt_trainer.settings import Settings
from prompt_trainer.targets import GitSource, version_at


@dataclass
class LocalOutcome:
    """The samples of a directory, and the folders that gave none (with why)."""

    samples: list[Sample] = field(default_factory=list)
    empty: list[Skipped] = field(default_factory=list)


def collect_directory(
    directory: Path, *, settings: Settings, versions: dict[str, str]
) -> list[Sample]:
    """One sample per evidence group under ``directory``; ``versions`` are the working tree's."""
    return collect_directory_outcome(directory, settings=settings, versions=versions).samples


def collect_directory_outcome(
    directory: Path, *, settings: Settings, versions: dict[str, str]
) -> LocalOutcome:
    """``collect_directory``, also saying which folders gave no evidence at all."""
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
        sample, useful = _sample(group, directory, settings, versions)
        if useful:
            outcome.samples.append(sample)
        else:
            reasons = "; ".join(f"{s.source}: {s.reason}" for s in sample.skipped)
            outcome.empty.append(
                Skipped(source=sample.id, reason=f"every file was skipped ({reasons})")
            )
    return outcome


def _files(folder: Path, *, recursive: bool) -> list[Path]:
    pattern = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in pattern if p.is_file() and not p.name.startswith("."))


def _sample(
    group: Path, root: Path, settings: Settings, versions: dict[str, str]
) -> tuple[Sample, bool]:
    """The group's sample, and whether any of its files gave evidence."""
    evidence = Evidence()
    limits = settings.config.limits
    pull = PullRequestInfo(title=group.name)
    files = _files(group, recursive=group != root)
    for path in files:
        source = path.relative_to(root).as_posix()
        if path.name == "pr.json":
            pull = _pull_info(
                path, evidence, default=pull, source=source, limit=limits.max_text_chars
            )
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
    useful = len(evidence.skipped) < len(files)
    if pull.base_sha:
        versions = _versions_at(pull.base_sha, settings, evidence, default=versions)
    return evidence.to_sample(f"local:{name}", pull=pull, versions=versions), useful


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


def _pull_info(
    path: Path, evidence: Evidence, *, default: PullRequestInfo, source: str, limit: int
) -> PullRequestInfo:
    """PR metadata from ``pr.json``; a bad file is Skipped, naming the key, and the default
    kept."""
    read = read_pull_info(path, source=source, limit=limit)
    if isinstance(read, Skipped):
        evidence.skipped.append(read)
        return default
    return read


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
