"""Itemized edits to prompt files, applied so that untouched text stays byte-identical.

The ``evolve`` and ``rules`` strategies do not let the model rewrite a file: it returns edits
(add, modify or remove one bullet, add a subagent, add a learned rule), each citing the evidence
that motivated it. ``apply_edits`` applies them line by line: a bullet is found by its text
(whitespace-insensitive, marker and case ignored), and only its own lines change. An edit that
cites no known evidence id, whose bullet cannot be found, or that adds a subagent whose name is
not kebab-case (a ``/``, ``..`` or absolute path would write outside the subagents directory)
is dropped with the reason, and the rest still apply. No DSPy here: this module is plain text
processing, tested on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from prompt_trainer.models import PromptFile, PromptSet, Rejection, Subagent
from prompt_trainer.settings import Target
from prompt_trainer.targets import render_subagent, subagent_name_problem, subagent_path

LEARNED_RULES = "## Learned rules"
BULLET = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+(.*)$")
WORDS = re.compile(r"[a-z0-9]+")
DUPLICATE = 0.7  # word-set overlap (Jaccard) at which a new rule repeats an existing bullet

Op = Literal["add", "modify", "remove", "add_subagent"]


class Edit(BaseModel):
    """One change, as the model proposes it (``train.strategies`` signatures output these)."""

    model_config = ConfigDict(frozen=True)

    op: Op
    file: str = Field(default="", description="path of the prompt file; empty for the main file")
    target_text: str = Field(
        default="",
        description="modify/remove: the existing bullet's text; add: the bullet or heading to "
        "insert after (empty: end of the file)",
    )
    new_text: str = Field(default="", description="add/modify: the new bullet's text, one line")
    subagent_name: str = Field(default="", description="add_subagent: kebab-case name")
    subagent_description: str = Field(default="", description="add_subagent: when to use it")
    evidence: list[str] = Field(description="ids of the evidence that motivated this edit")
    reason: str = Field(default="", description="one sentence: why")


@dataclass(frozen=True)
class Applied:
    edit: Edit
    evidence: tuple[str, ...]


@dataclass
class EditResult:
    """The edited files, and what was applied or dropped (with why)."""

    files: dict[str, str]
    applied: list[Applied] = field(default_factory=list)
    dropped: list[tuple[Edit, str]] = field(default_factory=list)


def normalize(text: str) -> str:
    return " ".join(WORDS.findall(text.lower()))


def _bullet_blocks(lines: list[str]) -> list[tuple[int, int, str]]:
    """(first line, end line exclusive, normalized text) of every bullet, continuation lines
    (more indented, non-blank, not a bullet) included."""
    blocks = []
    n = 0
    while n < len(lines):
        match = BULLET.match(lines[n])
        if not match:
            n += 1
            continue
        indent = len(match.group(1))
        end = n + 1
        while (
            end < len(lines)
            and lines[end].strip()
            and not BULLET.match(lines[end])
            and len(lines[end]) - len(lines[end].lstrip()) > indent
        ):
            end += 1
        text = " ".join([match.group(3), *(ln.strip() for ln in lines[n + 1 : end])])
        blocks.append((n, end, normalize(text)))
        n = end
    return blocks


def bullets(text: str) -> list[str]:
    """The bullets of a file, each as one line of text (continuation lines joined)."""
    lines = text.split("\n")
    return [
        " ".join(BULLET.sub(r"\3", ln).strip() for ln in lines[a:b])
        for a, b, _ in _bullet_blocks(lines)
    ]


def _find(lines: list[str], text: str) -> tuple[int, int] | None:
    wanted = normalize(BULLET.sub(r"\3", text.strip()))
    if not wanted:
        return None
    for start, end, found in _bullet_blocks(lines):
        if found == wanted:
            return start, end
    return None


def _marker(line: str) -> tuple[str, str]:
    match = BULLET.match(line)
    if not match:
        return "", "-"
    marker = match.group(2)
    return match.group(1), "-" if marker[0].isdigit() else marker


def _one_line(text: str) -> str:
    return " ".join(BULLET.sub(r"\3", text.strip()).split())


def rejected_reason(
    edit: Edit, cited: tuple[str, ...], rejected: Iterable[Rejection], *, threshold: int
) -> str | None:
    """Why ``edit`` may not be proposed again: it repeats a rejected edit and cites fewer than
    ``threshold`` pieces of evidence that the rejected one did not already have."""
    words = set(normalize(edit.new_text or edit.target_text).split())
    for old in rejected:
        if words and _jaccard(words, set(normalize(old.text).split())) >= DUPLICATE:
            new = [e for e in cited if e not in old.evidence]
            if len(new) < threshold:
                return (
                    f"repeats an edit rejected in #{old.pull} and cites {len(new)} new piece(s) "
                    f"of evidence (training.rejected_evidence_threshold={threshold})"
                )
    return None


def apply_edits(
    current: PromptSet,
    target: Target,
    edits: Iterable[Edit],
    *,
    evidence_ids: set[str],
    rejected: Iterable[Rejection] = (),
    threshold: int = 2,
) -> EditResult:
    """Apply every edit that cites known evidence, is not a rejected one repeated without new
    evidence, and finds its place; drop the others with the reason."""
    files = {f.path: f.content for f in current.files}
    result = EditResult(files=files)
    rejected = list(rejected)
    for edit in edits:
        cited = tuple(e for e in edit.evidence if e in evidence_ids)
        if not cited:
            result.dropped.append((edit, "cites no evidence id from the samples"))
            continue
        refused = rejected_reason(edit, cited, rejected, threshold=threshold)
        if refused:
            result.dropped.append((edit, refused))
            continue
        problem = _apply(edit, current, target, files)
        if problem:
            result.dropped.append((edit, problem))
        else:
            result.applied.append(Applied(edit, cited))
    return result


def _apply(edit: Edit, current: PromptSet, target: Target, files: dict[str, str]) -> str | None:
    if edit.op == "add_subagent":
        return _add_subagent(edit, current, target, files)
    path = edit.file or current.main.path
    if path not in files:
        return f"no prompt file {path!r} in target {target.name!r}"
    text = files[path]
    lines = text.split("\n")
    new = _one_line(edit.new_text)
    if edit.op in ("add", "modify") and not new:
        return "no new text"
    if edit.op == "add":
        inserted = _insert(lines, edit.target_text, new)
        if inserted is None:
            return f"anchor not found in {path}: {edit.target_text[:80]!r}"
        lines = inserted
    else:
        place = _find(lines, edit.target_text)
        if place is None:
            return f"bullet not found in {path}: {edit.target_text[:80]!r}"
        start, end = place
        indent, marker = _marker(lines[start])
        replacement = [f"{indent}{marker} {new}"] if edit.op == "modify" else []
        lines = lines[:start] + replacement + lines[end:]
    files[path] = "\n".join(lines)
    return None


def _insert(lines: list[str], anchor: str, new: str) -> list[str] | None:
    """Insert a bullet after the anchor bullet, after the list under an anchor heading, or at
    the end of the file."""
    anchor = anchor.strip()
    if anchor:
        place = _find(lines, anchor)
        if place is not None:
            start, end = place
            indent, marker = _marker(lines[start])
            return [*lines[:end], f"{indent}{marker} {new}", *lines[end:]]
        heading = next((n for n, ln in enumerate(lines) if ln.strip() == anchor), None)
        if heading is None:
            return None
        return _after_section(lines, heading, new)
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return [*lines, f"- {new}", ""]


def _after_section(lines: list[str], heading: int, new: str) -> list[str]:
    """After the last bullet of the section that starts at ``heading``."""
    end = heading + 1
    last = heading
    while end < len(lines) and not lines[end].startswith("#"):
        if lines[end].strip():
            last = end
        end += 1
    gap = [""] if last == heading else []
    return [*lines[: last + 1], *gap, f"- {new}", *lines[last + 1 :]]


def _add_subagent(
    edit: Edit, current: PromptSet, target: Target, files: dict[str, str]
) -> str | None:
    name = edit.subagent_name.strip()
    if not target.subagents:
        return f"target {target.name!r} has no subagents directory"
    if not name or not edit.subagent_description.strip() or not edit.new_text.strip():
        return "a subagent needs a name, a description and a prompt"
    problem = subagent_name_problem(name)
    if problem:
        return problem
    if any(s.name == name for s in current.subagents):
        return f"subagent {name!r} exists already"
    path = subagent_path(target, name)
    if path in files:
        return f"{path} exists already"
    sub = Subagent(
        name=name, description=edit.subagent_description.strip(), prompt=edit.new_text, path=path
    )
    files[path] = render_subagent(sub)
    return None


def add_learned_rules(text: str, rules: Iterable[str]) -> tuple[str, list[str], list[str]]:
    """Append rules under the ``## Learned rules`` section (created at the end when missing),
    skipping any that repeat a bullet already in the file. Returns the text, the rules added
    and the rules skipped as duplicates."""
    lines = text.split("\n")
    existing = [set(found.split()) for _, _, found in _bullet_blocks(lines)]
    added: list[str] = []
    skipped: list[str] = []
    for rule in rules:
        words = set(normalize(rule).split())
        if not words or any(_jaccard(words, old) >= DUPLICATE for old in existing):
            skipped.append(rule)
            continue
        existing.append(words)
        added.append(_one_line(rule))
    if not added:
        return text, added, skipped
    heading = next((n for n, ln in enumerate(lines) if ln.strip() == LEARNED_RULES), None)
    if heading is None:
        while lines and not lines[-1].strip():
            lines = lines[:-1]
        lines += ["", LEARNED_RULES, ""] + [f"- {rule}" for rule in added] + [""]
        return "\n".join(lines), added, skipped
    for rule in added:
        lines = _after_section(lines, heading, rule)
    return "\n".join(lines), added, skipped


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def files_of(current: PromptSet, files: dict[str, str]) -> tuple[PromptFile, ...]:
    """The candidate's files in path order (every current file, edited or not, and new ones)."""
    return tuple(PromptFile(path=p, content=c) for p, c in sorted(files.items()))
