"""Prompt versions: which content each target had, when it appeared, and which samples ran on it.

A version is the content hash of a target's prompt files (``PromptSet.version``), the same hash
collection attributes each sample to at its PR's base commit. It is labelled by the commit that
introduced it: the history of the target's paths is read from a local clone (``git log``) or,
when the clone is shallow (as ``actions/checkout`` makes it by default) or absent, through the
API. Hashes per commit are cached in ``.prompt-trainer/versions.json`` so that the API is asked
about each commit once. Linked prompt files (``CLAUDE.md -> AGENTS.md``) are read through their
links, and the history of the files they point at is read too. A sample's version that no commit
explains is labelled ``unknown-<hash>`` and says why (no commit has that content, the history is
unavailable in a shallow clone, the checkout is not a git repository); a sample taken when the
target's main file did not exist is labelled ``absent``; the working tree's version, if
uncommitted, ``working-tree``. Versions are ordered by the date they appeared, oldest first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Protocol

from prompt_trainer.bullets import bullets, normalize
from prompt_trainer.models import CommitRef, PromptSet
from prompt_trainer.settings import Target
from prompt_trainer.targets import (
    GitSource,
    PromptSource,
    absent_hash,
    git,
    load_prompt_set,
    resolved_path,
)
from prompt_trainer.workdir import atomic_write

WORKING_TREE = "working-tree"
ABSENT = "absent"
NO_COMMIT = "no commit in the history has this content"


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
    #: (path, normalised text) of every bullet of its files, when its contents are known (a
    #: commit's, the working tree's): what attributes a bullet to the version that introduced it.
    bullets: frozenset[tuple[str, str]] = frozenset()

    @property
    def known(self) -> bool:
        """Whether the version is a real content the repository had (a commit's, the working
        tree's), not one only samples name."""
        return self.commit is not None or self.label == WORKING_TREE


class History(Protocol):
    """Where the commits of a target's prompt paths come from."""

    def commits(self, paths: tuple[str, ...]) -> list[CommitRef]:
        """Commits that touched any of ``paths``, oldest first."""
        ...

    def source_at(self, sha: str) -> PromptSource:
        """The repository tree at ``sha``."""
        ...


def target_paths(target: Target) -> tuple[str, ...]:
    """Every path whose commits may change the target's version."""
    return (target.main, *([target.subagents] if target.subagents else []), *target.files)


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
        real = dict.fromkeys([*paths, *(resolved_path(self.root, p) for p in paths)])
        out = git(
            self.root,
            "log",
            "--reverse",
            "--format=%H%x1f%cI%x1f%s",
            "--",
            *[f"./{p}" for p in real],
        )
        refs = []
        for line in (out or "").splitlines():
            sha, date, subject = [*line.split("\x1f"), "", ""][:3]
            refs.append(CommitRef(sha=sha, date=datetime.fromisoformat(date), subject=subject))
        return refs

    def source_at(self, sha: str) -> PromptSource:
        return GitSource(self.root, sha)


#: Bumped when the hash of a commit's prompts is computed differently (2: links followed), so
#: that hashes cached by an older release are computed again rather than trusted.
CACHE_FORMAT = 2
FORMAT_KEY = "_format"


class HashCache:
    """``.prompt-trainer/versions.json``: {target: {commit sha: version hash}}, and its format."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        current = isinstance(data, dict) and data.pop(FORMAT_KEY, None) == CACHE_FORMAT
        self.data: dict[str, dict[str, str]] = data if current else {}
        self.dirty = False

    def get(self, target: str, sha: str, compute: Callable[[], str]) -> str:
        known = self.data.setdefault(target, {})
        if sha not in known:
            known[sha] = compute()
            self.dirty = True
        return known[sha]

    def save(self) -> None:
        if self.dirty:
            data = {FORMAT_KEY: CACHE_FORMAT, **self.data}
            atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True))
            self.dirty = False


EMPTY = "(none)"


def cache_key(target: Target) -> str:
    """The target's name, and its paths when it lists more than its main file and subagents:
    a commit's hash changes with the files the target holds, so adding one to
    ``targets[].files`` computes the hashes again."""
    return target.name + (f"|{'|'.join(target.files)}" if target.files else "")


def _hash_at(target: Target, source: PromptSource) -> str:
    prompt_set = load_prompt_set(target, source, required=False)
    return prompt_set.version if prompt_set.main.content else EMPTY


def why_no_history(root: Path) -> str:
    """Why versions cannot be labelled by commit when no history was chosen for ``root``."""
    out = git(root, "rev-parse", "--is-shallow-repository")
    if out is None:
        return "not a git repository"
    if out.strip() == "true":
        return "history unavailable (shallow clone)"
    return "history not read (--history none, or no GitHub token for the API)"


def _order(version: Version) -> tuple[bool, bool, datetime]:
    """Oldest first; versions of unknown date, then the working tree, last."""
    when = version.introduced_at or datetime.max.replace(tzinfo=UTC)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return (version.label == WORKING_TREE, version.introduced_at is None, when)


def resolve_versions(
    target: Target,
    *,
    history: History | None,
    cache: HashCache,
    current: PromptSet | None,
    seen: Iterable[str],
    first_seen: dict[str, datetime] | None = None,
    unavailable: str | None = None,
) -> list[Version]:
    """Every version of ``target``, ordered by the date it appeared (a commit's date, or its
    first sample's), then the uncommitted working tree. ``unavailable`` says why there is no
    history, for the versions only samples know."""
    versions = _resolve(
        target,
        history=history,
        cache=cache,
        current=current,
        seen=seen,
        order=first_seen or {},
        unavailable=unavailable,
    )
    return sorted(versions, key=_order)


def _resolve(
    target: Target,
    *,
    history: History | None,
    cache: HashCache,
    current: PromptSet | None,
    seen: Iterable[str],
    order: dict[str, datetime],
    unavailable: str | None,
) -> list[Version]:
    versions: dict[str, Version] = {}
    for ref in history.commits(target_paths(target)) if history is not None else []:
        source = history.source_at(ref.sha)  # type: ignore[union-attr]
        digest = cache.get(cache_key(target), ref.sha, partial(_hash_at, target, source))
        if digest != EMPTY and digest not in versions:
            files, held = _contents(load_prompt_set(target, source, required=False))
            versions[digest] = Version(
                target=target.name,
                hash=digest,
                label=ref.sha[:7],
                introduced_at=ref.date,
                commit=ref.sha,
                subject=ref.subject,
                files=files,
                bullets=held,
            )
    absent = absent_hash(target)
    for digest in sorted(set(seen) - set(versions)):
        versions[digest] = Version(
            target=target.name,
            hash=digest,
            label=ABSENT if digest == absent else f"unknown-{digest[:7]}",
            introduced_at=order.get(digest),
            commit=None,
            subject="absent at the base commit"
            if digest == absent
            else (NO_COMMIT if history is not None else unavailable or NO_COMMIT),
            files=(),
        )
    if current is not None and current.main.content and current.version not in versions:
        files, held = _contents(current)
        versions[current.version] = Version(
            target=target.name,
            hash=current.version,
            label=WORKING_TREE,
            introduced_at=None,
            commit=None,
            subject="uncommitted changes in the working tree",
            files=files,
            bullets=held,
        )
    cache.save()
    return list(versions.values())


def _contents(prompt_set: PromptSet) -> tuple[tuple[str, ...], frozenset[tuple[str, str]]]:
    """A version's files and bullets (``Version.files``, ``Version.bullets``)."""
    present = [f for f in prompt_set.files if f.content]
    held = frozenset((f.path, normalize(b)) for f in present for b in bullets(f.content))
    return tuple(f.path for f in present), held


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
