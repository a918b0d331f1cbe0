"""``init``'s look at the prompt files: which files of the working tree agents read, grouped into
targets the way each agent reads them together.

Takes the repository root; returns ``DetectedTarget`` values (name, main file, subagents
directory, more files, and why) and notes. One target per agent family:

- ``claude``: ``CLAUDE.md`` (or ``.claude/CLAUDE.md``), ``.claude/agents/`` as subagents, the
  skills ``.claude/skills/<name>/SKILL.md`` with the Markdown files each links to, and every
  nested ``CLAUDE.md`` (scoped to its directory);
- ``agents``: ``AGENTS.md`` and nested ones; ``gemini``: ``GEMINI.md`` and nested ones;
- ``copilot``: ``.github/copilot-instructions.md``, ``.github/agents/*.agent.md`` as subagents,
  ``.github/instructions/**/*.instructions.md``;
- ``cursor``: ``.cursor/rules/**/*.mdc`` (an ``alwaysApply`` rule first) or ``.cursorrules``;
- one target per ``prompts/*.md`` file (at most ``MAX_PROMPT_TARGETS``).

The files come from ``git ls-files`` (tracked and untracked, ignored ones left out) in a clone,
else from a walk that skips dependency and build folders. A family without its main file takes
its first file as main. A target holds at most ``MAX_TARGET_FILES`` listed files (the rest are
named in a note): every file is sent to the model on each training call. Files that are one
file under two names (``CLAUDE.md -> AGENTS.md``) become one target.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from prompt_trainer.prompt_kinds import frontmatter, kind_of, scope_of
from prompt_trainer.targets import COPILOT_AGENT_DIR, git, resolved_path

MAX_PROMPT_TARGETS = 5
MAX_TARGET_FILES = 20
#: Folders a walk (outside git) never enters.
SKIPPED_DIRS = frozenset(
    {".git", "node_modules", ".prompt-trainer", ".venv", "venv", "dist", "build", "vendor",
     "target", "__pycache__", ".next", ".turbo", "coverage"}
)  # fmt: skip
#: A Markdown link's target: ``[text](path)``.
#: A target holds no ``(`` and a fragment no ``(``, ``[`` or ``]``, so no start of a link lies
#: inside another's target: a run of ``](`` is read once, not once per start (quadratic).
LINK = re.compile(r"\]\(\s*+<?([^()\s>#]++)>?(?:#[^()\[\]]*+)?\s*\)")


@dataclass(frozen=True)
class DetectedTarget:
    name: str
    main: str
    subagents: str | None
    why: str
    files: tuple[str, ...] = ()


@dataclass
class Found:
    """What ``detect_targets`` returns: the targets and what the user should know."""

    targets: list[DetectedTarget] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def repository_files(root: Path) -> list[str]:
    """Repository-relative paths of the working tree's files (git's view when it is a clone)."""
    out = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if out is not None:
        return sorted({p for p in out.split("\0") if p and (root / p).is_file()})
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        base = Path(folder).relative_to(root)
        found += [(base / name).as_posix() for name in files]
    return sorted(found)


def detect_targets(root: Path) -> Found:
    """The targets the working tree at ``root`` holds (see the module docstring)."""
    files = repository_files(root)
    by_kind: dict[str, list[str]] = {}
    for path in files:
        by_kind.setdefault(kind_of(path), []).append(path)
    found = Found()
    for family in (_claude, _agents, _copilot, _cursor, _gemini):
        family(root, by_kind, found)
    _prompts(files, found)
    found.targets = list(merge_same_files(root, found.targets))
    return found


def _add(
    found: Found, root: Path, name: str, members: list[str], *, subagents: str | None, why: str
) -> None:
    """A target from its files in order of preference: the main file is the first that applies
    everywhere (a scoped main file would take the ``rules`` strategy's learned rules, which
    no scope checks), else the first."""
    if not members:
        return
    main = next((p for p in members if scope_of(p, _read(root, p)) is None), members[0])
    rest = [p for p in members if p != main]
    if len(rest) > MAX_TARGET_FILES:
        left = rest[MAX_TARGET_FILES:]
        found.notes.append(
            f"target {name}: {len(left)} more prompt file(s) left out of targets[].files "
            f"(at most {MAX_TARGET_FILES}): {', '.join(left[:5])}{' ...' if len(left) > 5 else ''}"
        )
        rest = rest[:MAX_TARGET_FILES]
    found.targets.append(DetectedTarget(name, main, subagents, why, tuple(rest)))


def _claude(root: Path, by_kind: dict[str, list[str]], found: Found) -> None:
    mains = [p for p in by_kind.get("claude", []) if p in ("CLAUDE.md", ".claude/CLAUDE.md")]
    skills = [f for s in by_kind.get("claude-skill", []) for f in (s, *skill_references(root, s))]
    nested = by_kind.get("claude-nested", [])
    subagents = ".claude/agents" if by_kind.get("claude-subagent") else None
    parts = [*mains[:1]]
    parts += [".claude/agents/"] if subagents else []
    parts += [_count(by_kind.get("claude-skill", []), "skills")] if skills else []
    parts += [_count(nested, "nested CLAUDE.md")] if nested else []
    if not mains and subagents and not skills and not nested:
        found.notes.append(
            ".claude/agents/ exists but no CLAUDE.md: add one to train the subagents"
        )
        return
    _add(found, root, "claude", [*mains[:1], *skills, *nested], subagents=subagents,
         why=", ".join(parts))  # fmt: skip


def skill_references(root: Path, skill: str) -> list[str]:
    """The Markdown files inside the skill's folder that its ``SKILL.md`` links to."""
    folder = PurePosixPath(skill).parent
    try:
        text = (root / skill).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for target in LINK.findall(text):
        path = PurePosixPath(os.path.normpath((folder / target).as_posix())).as_posix()
        inside = path.startswith(f"{folder.as_posix()}/")
        if inside and path.endswith(".md") and (root / path).is_file() and path not in out:
            out.append(path)
    return out


def _agents(root: Path, by_kind: dict[str, list[str]], found: Found) -> None:
    _memory(root, "agents", "AGENTS.md", by_kind, found)


def _gemini(root: Path, by_kind: dict[str, list[str]], found: Found) -> None:
    _memory(root, "gemini", "GEMINI.md", by_kind, found)


def _memory(root: Path, name: str, file: str, by_kind: dict[str, list[str]], found: Found) -> None:
    mains = by_kind.get(name, [])
    nested = by_kind.get(f"{name}-nested", [])
    why = ", ".join([*mains[:1], *([_count(nested, f"nested {file}")] if nested else [])])
    _add(found, root, name, [*mains[:1], *nested], subagents=None, why=why)


def _copilot(root: Path, by_kind: dict[str, list[str]], found: Found) -> None:
    main = by_kind.get("copilot", [])
    agents = by_kind.get("copilot-agent", [])
    instructions = by_kind.get("copilot-instructions", [])
    parts = [*main]
    parts += [_count(agents, f"custom agents in {COPILOT_AGENT_DIR}/")] if agents else []
    parts += [_count(instructions, "path instructions")] if instructions else []
    subagents = COPILOT_AGENT_DIR if agents else None
    # The main file applies everywhere: the repository-wide instructions, else an agent.
    members = [*(main or agents[:1]), *instructions]
    _add(found, root, "copilot", members, subagents=subagents, why=", ".join(parts))


def _cursor(root: Path, by_kind: dict[str, list[str]], found: Found) -> None:
    rules = by_kind.get("cursor-rule", [])
    always = [p for p in rules if frontmatter(_read(root, p)).get("alwaysApply") is True]
    legacy = [".cursorrules"] if (root / ".cursorrules").is_file() else []
    members = list(dict.fromkeys([*always, *legacy, *rules]))
    why = ", ".join([*legacy, *([_count(rules, "rules in .cursor/rules/")] if rules else [])])
    _add(found, root, "cursor", members, subagents=None, why=why)


def _prompts(files: list[str], found: Found) -> None:
    prompts = [p for p in files if PurePosixPath(p).parent.as_posix() == "prompts"]
    prompts = [p for p in prompts if p.endswith(".md")]
    for path in prompts[:MAX_PROMPT_TARGETS]:
        stem = PurePosixPath(path).stem.lower()
        name = re.sub(r"[^a-z0-9._-]+", "-", stem).strip("-") or "prompt"
        if all(t.name != name for t in found.targets):
            found.targets.append(DetectedTarget(name, path, None, path))
    if len(prompts) > MAX_PROMPT_TARGETS:
        found.notes.append(
            f"prompts/ has {len(prompts)} files; the first {MAX_PROMPT_TARGETS} became targets"
        )


def _count(paths: list[str], what: str) -> str:
    """``2 skill(s)``-style counts read badly; the kinds are named by a noun and a count."""
    return f"{what}: {len(paths)}"


def _read(root: Path, path: str) -> str:
    try:
        return (root / path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def merge_same_files(root: Path, targets: list[DetectedTarget]) -> tuple[DetectedTarget, ...]:
    """One target per file, naming the real file: a target whose main file is a link edits
    what it points at, and targets that are one file (a link and its file) become the first of
    them, so two PRs never compete for one file."""
    merged: dict[str, tuple[DetectedTarget, list[str]]] = {}
    for target in targets:
        real = resolved_path(root, target.main)
        first, links = merged.get(real, (target, []))
        links += [target.main] if target.main != real else []
        merged[real] = (first, links)
    out = []
    for real, (first, links) in merged.items():
        if not links and first.main == real:
            out.append(first)
            continue
        why = f"{real} ({', '.join(sorted(set(links)))} links to it)"
        why += f" with {first.subagents}/" if first.subagents else ""
        out.append(DetectedTarget(first.name, real, first.subagents, why, first.files))
    return tuple(out)
