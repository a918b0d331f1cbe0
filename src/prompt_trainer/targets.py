"""Prompt targets: load a target's main prompt and subagent files into a versioned ``PromptSet``.

The same loader reads the working-tree checkout (``LocalSource``), a local clone at a past commit
(``GitSource``, through the ``git`` command) and the repository at a past commit through the
GitHub adapter (any object with ``read_text``/``list_files``), so the version a
sample is attributed to and the version being trained are hashed the same way. Subagents follow
Claude Code's format: YAML frontmatter with ``name`` and ``description``, then the prompt body.
``current_prompt_sets`` reads every target's from the checkout, once per run.

Symbolic links (``CLAUDE.md -> AGENTS.md``) are followed inside the repository, in the working tree
and at every commit alike, so a linked file has one content and one version; a link that leaves the
repository or points at nothing raises ``PromptLinkError`` naming the link. ``resolved_path`` says
which file a configured path really is, so two targets naming one file can be told apart.
``check_prompt_files`` fails, naming the key, when a configured prompt file or subagents directory
is missing (a missing prompt blocks only the commands that read it; ``missing_prompt_files``).
"""

from __future__ import annotations

import posixpath
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import yaml

from prompt_trainer.errors import MissingPromptError, PromptLinkError
from prompt_trainer.gitcmd import run_git
from prompt_trainer.models import PromptFile, PromptSet, Subagent, content_hash
from prompt_trainer.settings import ConfigFile, Target, load_yaml

DEFAULT_SUBAGENT_DIR = ".claude/agents"
KEBAB_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class PromptSource(Protocol):
    """Read access to a repository tree at one point in time."""

    def read_text(self, path: str) -> str | None:
        """The file's text, or None when it does not exist."""

    def list_files(self, directory: str) -> list[str]:
        """Repository-relative paths of the files directly inside ``directory`` (may be empty)."""


class LocalSource:
    """A checkout on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read_text(self, path: str) -> str | None:
        file = self.root / local_resolved(self.root, path)
        return file.read_text(encoding="utf-8") if file.is_file() else None

    def list_files(self, directory: str) -> list[str]:
        folder = self.root / local_resolved(self.root, directory)
        if not folder.is_dir():
            return []
        return sorted(
            str(PurePosixPath(directory) / p.name) for p in folder.iterdir() if p.is_file()
        )


class GitSource:
    """The tree of a local clone at one commit (a ``targets.PromptSource``)."""

    def __init__(self, root: Path, sha: str) -> None:
        self.root, self.sha = root, sha

    def read_text(self, path: str) -> str | None:
        real = self.resolve(path)
        return None if real is None else git(self.root, "show", f"{self.sha}:./{real}")

    def list_files(self, directory: str) -> list[str]:
        real = self.resolve(directory.rstrip("/"))
        if real is None:
            return []
        out = git(self.root, "ls-tree", "--name-only", self.sha, f"./{real}/")
        base = PurePosixPath(directory)
        return sorted(str(base / PurePosixPath(line).name) for line in (out or "").splitlines())

    @classmethod
    def at(cls, root: Path, sha: str) -> GitSource | None:
        """The clone's tree at ``sha``, or None when the commit is not in the clone (a shallow
        clone, a commit never fetched) or ``root`` is not a clone."""
        known = git(root, "cat-file", "-e", f"{sha}^{{commit}}") is not None
        return cls(root, sha) if known else None

    def resolve(self, path: str) -> str | None:
        """The path with every symbolic link of the tree at this commit followed, or None when
        nothing is there; a link that leaves the repository or dangles raises."""
        parts, hops, link = _split(path), 0, None
        while True:
            entries = self._entries(parts)
            for depth in range(1, len(parts) + 1):
                entry = entries.get("/".join(parts[:depth]))
                if entry is None and depth < len(parts):
                    continue  # ls-tree lists what is inside a folder, not the folder
                if entry is None:
                    if link is not None:
                        raise _dangling(link, "/".join(parts))
                    return None
                if entry[0] == "120000":
                    hops += 1
                    link = link or "/".join(parts[:depth])
                    text = git(self.root, "cat-file", "blob", entry[1]) or ""
                    parts = _follow(link, parts[: depth - 1], text, parts[depth:], hops)
                    break
            else:
                return "/".join(parts)

    def _entries(self, parts: list[str]) -> dict[str, tuple[str, str]]:
        """{path: (mode, object)} of each prefix of ``parts`` in the tree at this commit."""
        prefixes = ["/".join(parts[:d]) for d in range(1, len(parts) + 1)]
        out = git(self.root, "ls-tree", "-z", self.sha, "--", *prefixes)
        entries = {}
        for record in (out or "").split("\0"):
            meta, _, name = record.partition("\t")
            fields = meta.split()
            if len(fields) == 3:
                entries[name] = (fields[0], fields[2])
        return entries


def _split(path: str) -> list[str]:
    return [p for p in PurePosixPath(path).parts if p not in ("", ".")]


def _follow(link: str, parent: list[str], text: str, rest: list[str], hops: int) -> list[str]:
    """The parts a link's text points at (relative to the link's folder), kept in the tree."""
    joined = posixpath.normpath(posixpath.join("/".join(parent) or ".", text.strip()))
    if hops > 40 or text.startswith("/") or joined == ".." or joined.startswith("../"):
        raise PromptLinkError(
            f"symbolic link {link!r} points at {text.strip()!r}, outside the repository"
            if hops <= 40
            else f"symbolic link {link!r} is part of a loop of links",
            fix=f"make {link} a regular file, or a relative link to a file inside the repository",
        )
    return [*_split(joined), *rest]


def _dangling(link: str, target: str) -> PromptLinkError:
    return PromptLinkError(
        f"symbolic link {link!r} points at {target!r}, which does not exist",
        fix=f"restore {target}, or point {link} at an existing file",
    )


def local_resolved(root: Path, path: str) -> str:
    """``path`` with the working tree's links followed, relative to ``root``; links that
    leave the checkout or dangle raise ``PromptLinkError``."""
    base = root.resolve()
    file = root / path
    try:
        real = file.resolve()
    except (OSError, RuntimeError):
        raise _dangling(path, path) from None
    try:
        relative = real.relative_to(base).as_posix()
    except ValueError:
        raise PromptLinkError(
            f"symbolic link {path!r} points at {real}, outside the repository",
            fix=f"make {path} a regular file, or a relative link to a file inside the repository",
        ) from None
    if relative != PurePosixPath(path).as_posix() and not real.exists():
        raise _dangling(path, relative)
    return relative


def resolved_path(root: Path, path: str) -> str:
    """Which file of the checkout ``path`` really is (links followed), for overlap checks;
    a broken link gives the path itself (it is reported where it is read)."""
    try:
        return local_resolved(root, path)
    except PromptLinkError:
        return PurePosixPath(path).as_posix()


def git(root: Path, *args: str) -> str | None:
    """``git -C root args`` (``gitcmd.run_git``: no hooks, a minimal environment): its stdout,
    or None when it fails or git is not installed."""
    try:
        done = run_git(root, *args)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def load_prompt_set(target: Target, source: PromptSource, *, required: bool = True) -> PromptSet:
    """Read the target's files; a missing main file raises when ``required``, else is empty."""
    text = source.read_text(target.main)
    if text is None:
        if required:
            raise MissingPromptError(
                f"prompt file {target.main!r} of target {target.name!r} not found",
                fix="create it or fix targets[].main in the configuration",
            )
        text = ""
    main = PromptFile(path=target.main, content=text)
    raw = load_subagent_files(target, source)
    subagents = tuple(parse_subagent(f.path, f.content) for f in raw)
    return PromptSet(target=target.name, main=main, subagents=subagents, files=(main, *raw))


def absent_hash(target: Target) -> str:
    """The version a sample is attributed to when the target's main file did not exist."""
    return content_hash((PromptFile(path=target.main, content=""),))


def version_at(target: Target, source: PromptSource) -> str:
    """The target's version in ``source``, or ``absent_hash`` when its main file is not there."""
    prompt_set = load_prompt_set(target, source, required=False)
    return prompt_set.version if prompt_set.main.content else absent_hash(target)


def load_subagent_files(target: Target, source: PromptSource) -> tuple[PromptFile, ...]:
    """Every ``*.md`` file of the target's subagent directory, as written, sorted by path."""
    if not target.subagents:
        return ()
    files = []
    for path in source.list_files(target.subagents):
        text = source.read_text(path) if path.endswith(".md") else None
        if text is not None:
            files.append(PromptFile(path=path, content=text))
    return tuple(files)


def split_frontmatter(text: str) -> tuple[dict[str, Any], str]:
    """Split ``---`` YAML frontmatter from the body; invalid frontmatter (or an alias bomb,
    ``settings.load_yaml``) is left in the body."""
    if not text.startswith("---"):
        return {}, text
    lines = text.splitlines(keepends=True)
    for index in range(1, len(lines)):
        if lines[index].rstrip() == "---":
            try:
                meta = load_yaml("".join(lines[1:index])) or {}
            except yaml.YAMLError:
                return {}, text
            if not isinstance(meta, dict):
                return {}, text
            return meta, "".join(lines[index + 1 :]).lstrip("\n")
    return {}, text


def parse_subagent(path: str, text: str) -> Subagent:
    """A subagent record; the name falls back to the file stem when frontmatter lacks one."""
    meta, body = split_frontmatter(text)
    name = str(meta.get("name") or PurePosixPath(path).stem)
    description = str(meta.get("description") or "")
    extra = {k: v for k, v in meta.items() if k not in ("name", "description")}
    return Subagent(name=name, description=description, prompt=body, path=path, frontmatter=extra)


def render_subagent(subagent: Subagent) -> str:
    """The subagent file text: frontmatter (name, description, then other keys) and body."""
    meta: dict[str, Any] = {"name": subagent.name, "description": subagent.description}
    meta.update(subagent.frontmatter)
    header = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1_000).strip()
    body = subagent.prompt if subagent.prompt.endswith("\n") else subagent.prompt + "\n"
    return f"---\n{header}\n---\n\n{body}"


def subagent_name_problem(name: str) -> str | None:
    """Why ``name`` may not name a subagent file, or None: it must be kebab-case (lowercase
    letters and digits in hyphen-separated words), so it holds no ``/``, ``..`` or absolute
    path and ``subagent_path`` stays inside the subagents directory."""
    if "/" in name or "\\" in name or ".." in name or name.startswith("~"):
        return f"subagent name {name[:80]!r} is a path (no '/', '..' or absolute paths)"
    if not KEBAB_NAME.match(name):
        return f"subagent name {name[:80]!r} is not kebab-case"
    return None


def subagent_path(target: Target, name: str) -> str:
    """Where a subagent called ``name`` lives for this target."""
    return str(PurePosixPath(target.subagents or DEFAULT_SUBAGENT_DIR) / f"{name}.md")


def current_prompt_sets(root: Path, targets: Iterable[Target]) -> dict[str, PromptSet]:
    """Every target's prompt set in the checkout at ``root`` (a run reads them once)."""
    return {t.name: load_prompt_set(t, LocalSource(root)) for t in targets}


def check_prompt_files(config: ConfigFile, root: Path, *, only: str | None = None) -> None:
    """Fail, naming the key, when a target's prompt file or directory is not there (only the
    target called ``only`` when given): for the commands that read or edit the prompts."""
    for index, target in enumerate(config.targets):
        main = root / target.main
        if only is not None and target.name != only:
            continue
        if not main.is_file():
            raise MissingPromptError(
                f"targets[{index}].main: prompt file {target.main!r} not found under {root}",
                fix="create the file, or point targets[].main at an existing file "
                "(paths are relative to the repository root)",
            )
        if target.subagents and not (root / target.subagents).is_dir():
            raise MissingPromptError(
                f"targets[{index}].subagents: directory {target.subagents!r} "
                f"not found under {root}",
                fix="create the directory or remove the subagents key",
            )


def missing_prompt_files(config: ConfigFile, root: Path) -> dict[str, str]:
    """{target name: why it cannot be read} for the targets whose prompt files are missing."""
    missing = {}
    for target in config.targets:
        try:
            check_prompt_files(config, root, only=target.name)
        except MissingPromptError as exc:
            missing[target.name] = exc.message
    return missing
