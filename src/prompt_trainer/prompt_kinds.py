"""The kinds of prompt files coding agents read, and the paths each one applies to.

Takes a repository-relative path (and the file's text); gives its ``Kind`` and its ``Scope``.
Used by ``setup`` (what ``init`` finds), ``targets`` and the trainer's edits layer (an edit to a
scoped file needs evidence inside its scope), and the guardrails (frontmatter a kind needs).

The formats, from each tool's documentation:

- Claude Code: ``CLAUDE.md`` at the root (every session) and in subdirectories (loaded when the
  agent reads files below that directory: scoped to it); subagents ``.claude/agents/*.md`` and
  skills ``.claude/skills/<name>/SKILL.md`` with YAML frontmatter ``name`` (lowercase letters,
  digits, hyphens) and ``description``; a skill's other Markdown files are loaded when its
  ``SKILL.md`` links to them.
- GitHub Copilot: ``.github/copilot-instructions.md`` (repository-wide), path instructions
  ``.github/instructions/**/*.instructions.md`` whose frontmatter ``applyTo`` holds
  comma-separated globs (``**``, ``*`` and ``**/*`` mean every file; no ``applyTo``: attached by
  hand only), custom agents ``.github/agents/*.agent.md`` (frontmatter ``description``, optional
  ``name``, ``tools``, ``model``); ``AGENTS.md`` (nested ones apply below their directory).
- Cursor: rules ``.cursor/rules/**/*.mdc`` with frontmatter ``description``, ``globs`` (a
  comma-separated string or a list; gitignore-style) and ``alwaysApply`` (true: every request).
- Gemini CLI: ``GEMINI.md`` at the root, and in subdirectories (loaded just in time for files
  there: scoped).

Globs follow the editors' glob syntax: ``**`` any number of directories, ``*`` and ``?`` within
one, ``{a,b}`` alternatives; a pattern without ``/`` matches a file name in any directory, as in
``.gitignore``. Evidence from CI may name absolute paths (``/home/runner/work/app/app/src/x.ts``):
those count when any trailing part of them matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

import yaml

from prompt_trainer.settings import load_yaml

#: Kind -> frontmatter keys a file of that kind must keep.
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "claude-subagent": ("name", "description"),
    "claude-skill": ("name", "description"),
    "copilot-agent": ("description",),
}
#: File names an agent reads from the root and, scoped, from subdirectories.
MEMORY_NAMES = ("CLAUDE.md", "AGENTS.md", "GEMINI.md")
#: ``applyTo`` values that mean every file.
EVERYWHERE = frozenset({"**", "*", "**/*"})


@dataclass(frozen=True)
class Scope:
    """The paths a prompt file applies to, and where that was read (for messages)."""

    globs: tuple[str, ...]
    why: str

    def covers(self, path: str) -> bool:
        """Whether ``path`` (repository-relative, or absolute from a CI runner) is in scope."""
        clean = path.strip().removeprefix("./")
        candidates = [clean] if not clean.startswith("/") else _suffixes(clean)
        return any(glob_matches(g, c) for g in self.globs for c in candidates)


def _suffixes(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    return ["/".join(parts[n:]) for n in range(len(parts))]


def kind_of(path: str) -> str:
    """The kind of prompt file at ``path`` (``prompt`` when none more specific applies)."""
    pure = PurePosixPath(path)
    parts, name = pure.parts, pure.name
    if name in MEMORY_NAMES:
        base = name.removesuffix(".md").lower()
        return base if len(parts) == 1 or parts[:-1] == (".claude",) else f"{base}-nested"
    if parts[:2] == (".claude", "agents") and name.endswith(".md"):
        return "claude-subagent"
    if parts[:2] == (".claude", "skills") and len(parts) >= 4:
        return "claude-skill" if name == "SKILL.md" and len(parts) == 4 else "skill-file"
    if parts[:2] == (".github", "instructions") and name.endswith(".instructions.md"):
        return "copilot-instructions"
    if parts[:2] == (".github", "agents") and name.endswith(".agent.md"):
        return "copilot-agent"
    if path == ".github/copilot-instructions.md":
        return "copilot"
    if parts[:2] == (".cursor", "rules") and name.endswith(".mdc"):
        return "cursor-rule"
    return "prompt"


def scope_of(path: str, text: str) -> Scope | None:
    """The paths the file applies to, or None when it applies everywhere (or where the agent
    chooses, like a skill or a rule the agent requests by its description)."""
    kind = kind_of(path)
    if kind.endswith("-nested"):
        folder = PurePosixPath(path).parent.as_posix()
        return Scope((f"{folder}/**",), f"{PurePosixPath(path).name} in {folder}/")
    meta = frontmatter(text)
    if kind == "copilot-instructions":
        globs = _glob_list(meta.get("applyTo"))
        if not globs or EVERYWHERE & set(globs):
            return None
        return Scope(globs, f"applyTo: {', '.join(globs)}")
    if kind == "cursor-rule" and meta.get("alwaysApply") is not True:
        globs = _glob_list(meta.get("globs"))
        return Scope(globs, f"globs: {', '.join(globs)}") if globs else None
    return None


def _glob_list(value: Any) -> tuple[str, ...]:
    """Globs given as a comma-separated string or a YAML list."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    return tuple(g for g in (str(i).strip().strip("'\"") for i in items) if g)


def frontmatter(text: str) -> dict[str, Any]:
    """The YAML frontmatter of ``text`` as a mapping ({} when there is none, it is invalid, or
    it expands past ``settings.MAX_YAML_NODES`` through aliases: ``settings.load_yaml``)."""
    block = frontmatter_block(text)
    if block is None:
        return {}
    try:
        meta = load_yaml(block.strip().strip("-").strip() or "{}")
    except yaml.YAMLError:  # invalid, or an alias bomb (``settings.YAMLTooLargeError``)
        return {}
    return meta if isinstance(meta, dict) else {}


def frontmatter_block(text: str) -> str | None:
    """The frontmatter exactly as written, both ``---`` lines included, or None."""
    if not text.startswith("---"):
        return None
    lines = text.splitlines(keepends=True)
    if lines[0].rstrip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].rstrip() == "---":
            return "".join(lines[: index + 1])
    return None


def frontmatter_lines(text: str) -> int:
    """How many lines the frontmatter takes at the top of ``text`` (0 without one)."""
    block = frontmatter_block(text)
    return 0 if block is None else len(block.splitlines())


def glob_matches(pattern: str, path: str) -> bool:
    """Whether ``path`` matches the editor-style glob ``pattern`` (see the module docstring)."""
    pattern = pattern.strip().removeprefix("./")
    if not pattern:
        return False
    if "/" not in pattern.rstrip("/"):
        pattern = f"**/{pattern}"
    return _compiled(pattern).fullmatch(path) is not None


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    out, n = [], 0
    while n < len(pattern):
        char = pattern[n]
        if pattern.startswith("**/", n):
            out.append("(?:.*/)?")
            n += 3
            continue
        if pattern.startswith("**", n):
            out.append(".*")
            n += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "{" and "}" in pattern[n:]:
            end = pattern.index("}", n)
            options = pattern[n + 1 : end].split(",")
            out.append("(?:" + "|".join(re.escape(o) for o in options) + ")")
            n = end
        else:
            out.append(re.escape(char))
        n += 1
    if pattern.endswith("/"):
        out.append(".*")
    return re.compile("".join(out))
