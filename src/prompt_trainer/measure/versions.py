"""Prompt versions: which content each target had, when it appeared, and which samples ran on it.

A version is the content hash of a target's prompt files (``PromptSet.version``), the same hash
collection attributes each sample to at its PR's base commit. It is labelled by the commit that
introduced it: the history of the target's paths is read from a local clone (``git log``) or,
when the clone is shallow (as ``actions/checkout`` makes it by default) or absent, through the
API. Hashes per commit are cached in ``.prompt-trainer/versions.json`` so that the API is asked
about each commit once. A sample's version that no commit explains is labelled
``unknown-<hash>``; the working tree's version, if uncommitted, ``working-tree``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Protocol

from prompt_trainer.models import CommitRef, PromptSet
from prompt_trainer.settings import Target
from prompt_trainer.targets import GitSource, PromptSource, git, load_prompt_set
from prompt_trainer.workdir import atomic_write

WORKING_TREE = "working-tree"


@dataclass(frozen=True)
class Version:
    """One version of a target's prompts."""

    target: str
    hash: str
    label: str
    introduced_at: datetime | None
    commit: str | None
    subject: str
    files: tuple[str, ...]


class History(Protocol):
    """Where the commits of a target's prompt paths come from."""

    def commits(self, paths: tuple[str, ...]) -> list[CommitRef]:
        """Commits that touched any of ``paths``, oldest first."""
        ...

    def source_at(self, sha: str) -> PromptSource:
        """The repository tree at ``sha``."""
        ...


def target_paths(target: Target) -> tuple[str, ...]:
    return (target.main, target.subagents) if target.subagents else (target.main,)


class GitHistory:
    """A local clone, read with the ``git`` command (paths relative to ``root``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def open(cls, root: Path) -> GitHistory | None:
        """The clone at ``root``, or None when it is not one, is shallow, or git is missing."""
        out = git(root, "rev-parse", "--is-shallow-repository")
        return cls(root) if out is not None and out.strip() == "false" else None

    def commits(self, paths: tuple[str, ...]) -> list[CommitRef]:
        out = git(
            self.root,
            "log",
            "--reverse",
            "--format=%H%x1f%cI%x1f%s",
            "--",
            *[f"./{p}" for p in paths],
        )
        refs = []
        for line in (out or "").splitlines():
            sha, date, subject = [*line.split("\x1f"), "", ""][:3]
            refs.append(CommitRef(sha=sha, date=datetime.fromisoformat(date), subject=subject))
        return refs

    def source_at(self, sha: str) -> PromptSource:
        return GitSource(self.root, sha)


class HashCache:
    """``.prompt-trainer/versions.json``: {target: {commit sha: version hash}}."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        self.data: dict[str, dict[str, str]] = data if isinstance(data, dict) else {}
        self.dirty = False

    def get(self, target: str, sha: str, compute: Callable[[], str]) -> str:
        known = self.data.setdefault(target, {})
        if sha not in known:
            known[sha] = compute()
            self.dirty = True
        return known[sha]

    def save(self) -> None:
        if self.dirty:
            atomic_write(self.path, json.dumps(self.data, indent=1, sort_keys=True))
            self.dirty = False


EMPTY = "(none)"


def _hash_at(target: Target, source: PromptSource) -> str:
    prompt_set = load_prompt_set(target, source, required=False)
    return prompt_set.version if prompt_set.main.content else EMPTY


def resolve_versions(
    target: Target,
    *,
    history: History | None,
    cache: HashCache,
    current: PromptSet | None,
    seen: Iterable[str],
    first_seen: dict[str, datetime] | None = None,
) -> list[Version]:
    """Every version of ``target``: those introduced by a commit, oldest first, then those only
    samples know (ordered by their first sample), then the uncommitted working tree."""
    versions: dict[str, Version] = {}
    for ref in history.commits(target_paths(target)) if history is not None else []:
        source = history.source_at(ref.sha)  # type: ignore[union-attr]
        digest = cache.get(target.name, ref.sha, partial(_hash_at, target, source))
        if digest != EMPTY and digest not in versions:
            versions[digest] = Version(
                target=target.name,
                hash=digest,
                label=ref.sha[:7],
                introduced_at=ref.date,
                commit=ref.sha,
                subject=ref.subject,
                files=_files(source, target),
            )
    order = first_seen or {}
    for digest in sorted(
        set(seen) - set(versions), key=lambda d: (d not in order, order.get(d), d)
    ):
        versions[digest] = Version(
            target=target.name,
            hash=digest,
            label=f"unknown-{digest[:7]}",
            introduced_at=order.get(digest),
            commit=None,
            subject="no commit in the history has this content",
            files=(),
        )
    if current is not None and current.version not in versions:
        versions[current.version] = Version(
            target=target.name,
            hash=current.version,
            label=WORKING_TREE,
            introduced_at=None,
            commit=None,
            subject="uncommitted changes in the working tree",
            files=tuple(f.path for f in current.files if f.content),
        )
    cache.save()
    return list(versions.values())


def _files(source: PromptSource, target: Target) -> tuple[str, ...]:
    prompt_set = load_prompt_set(target, source, required=False)
    return tuple(f.path for f in prompt_set.files if f.content)


class CommitLister(Protocol):
    """The part of the GitHub client that API history needs."""

    def commits_touching(self, paths: tuple[str, ...]) -> list[CommitRef]: ...

    def read_text(self, path: str, *, ref: str) -> str | None: ...

    def list_files(self, directory: str, *, ref: str) -> list[str]: ...


class ApiHistory:
    """The default branch's history, read through the GitHub API (for shallow clones)."""

    def __init__(self, client: CommitLister) -> None:
        self.client = client

    def commits(self, paths: tuple[str, ...]) -> list[CommitRef]:
        return self.client.commits_touching(paths)

    def source_at(self, sha: str) -> PromptSource:
        return _ApiSource(self.client, sha)


class _ApiSource:
    def __init__(self, client: CommitLister, sha: str) -> None:
        self.client, self.sha = client, sha

    def read_text(self, path: str) -> str | None:
        return self.client.read_text(path, ref=self.sha)

    def list_files(self, directory: str) -> list[str]:
        return self.client.list_files(directory, ref=self.sha)
