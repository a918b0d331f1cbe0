"""GEPA's text components: a prompt set split into sections, and a candidate joined back into files.

Takes a ``PromptSet``; returns its ``Components``: each ``##`` section of the main prompt file is
one component (the text before its first ``##`` heading is one too, when there is any) and every
other file of the target (each subagent) is one, in file order, each under a stable name
(``CLAUDE.md``, ``CLAUDE.md ## Testing``, ``.claude/agents/test-runner.md``). The split is a
partition of the file's characters: ``join(split(text)) == text`` byte for byte, so a candidate
that changes one section changes only those bytes and every untouched component stays
byte-identical. A ``##`` line inside a fenced code block is not a heading; ``###`` and deeper
headings stay inside their section. ``section_diff`` shows one changed component as the judge
reads a diff (``-`` removed, ``+`` added, two spaces for context). No DSPy, no gepa.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from prompt_trainer.models import PromptSet

HEADING = re.compile(r"^##(?!#)[ \t]+\S")
FENCE = re.compile(r"^\s{0,3}(```|~~~)")
#: Lines of one component's diff shown to the judge; the rest are counted.
DIFF_LINES = 60


def split(text: str) -> list[str]:
    """``text`` cut before each ``##`` heading outside a code fence; the pieces join back to it."""
    pieces: list[str] = []
    current: list[str] = []
    fence = ""
    for line in text.splitlines(keepends=True):
        opened = FENCE.match(line)
        if opened and (not fence or opened.group(1) == fence):
            fence = "" if fence else opened.group(1)
        elif not fence and HEADING.match(line) and current:
            pieces.append("".join(current))
            current = []
        current.append(line)
    if current or not pieces:
        pieces.append("".join(current))
    return pieces


def join(pieces: list[str]) -> str:
    return "".join(pieces)


@dataclass(frozen=True)
class Components:
    """A prompt set's components: ``texts`` by name (in file order) and, per file, the names of
    its components in order (``files``)."""

    texts: dict[str, str]
    files: tuple[tuple[str, tuple[str, ...]], ...]

    def path_of(self, name: str) -> str:
        return next(path for path, names in self.files if name in names)

    def describe(self, name: str) -> str:
        """``section ## Testing``, ``the text before the first ## heading``, ``the file``."""
        path = self.path_of(name)
        if name != path:
            return f"section {name[len(path) + 1 :]}"
        whole = len(dict(self.files)[path]) == 1
        return "the file" if whole else "the text before the first ## heading"

    def joined(self, candidate: Mapping[str, str]) -> dict[str, str]:
        """Each file's text with the candidate's components (missing ones as they were)."""
        return {
            path: join([candidate.get(n, self.texts[n]) for n in names])
            for path, names in self.files
        }

    def changed(self, candidate: Mapping[str, str]) -> list[str]:
        """The names of the components ``candidate`` changes, in file order."""
        return [n for n, text in self.texts.items() if candidate.get(n, text) != text]


def components(prompts: PromptSet) -> Components:
    """The components of ``prompts``: the main file's sections, then each other file whole."""
    texts: dict[str, str] = {}
    files: list[tuple[str, tuple[str, ...]]] = []
    for file in [prompts.main, *(f for f in prompts.files if f.path != prompts.main.path)]:
        pieces = split(file.content) if file.path == prompts.main.path else [file.content]
        names = []
        for piece in pieces:
            name = _unique(section_name(file.path, piece), texts)
            texts[name] = piece
            names.append(name)
        files.append((file.path, tuple(names)))
    return Components(texts, tuple(files))


def section_name(path: str, piece: str) -> str:
    """``CLAUDE.md ## Testing`` for a section, ``CLAUDE.md`` for the text before the first."""
    first = piece.split("\n", 1)[0].strip()
    return f"{path} {' '.join(first.split())}" if HEADING.match(first) else path


def _unique(name: str, taken: Mapping[str, str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name} ({n})" in taken:
        n += 1
    return f"{name} ({n})"


def heading_of(piece: str) -> str:
    """The ``## heading`` line a section starts with ("" for the text before the first)."""
    first = piece.split("\n", 1)[0]
    return first if HEADING.match(first) else ""


def section_diff(before: str, after: str) -> str:
    """The lines ``after`` removes (``- ``) and adds (``+ ``) with one line of context
    (two spaces), at most ``DIFF_LINES`` of them."""
    lines = [
        _marked(line)
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), n=1, lineterm="")
        if not line.startswith(("---", "+++", "@@"))
    ]
    more = len(lines) - DIFF_LINES
    return "\n".join(lines[:DIFF_LINES] + ([f"  ({more} more lines)"] if more > 0 else []))


def _marked(line: str) -> str:
    return f"{line[0]} {line[1:]}" if line[:1] in "+-" else f"  {line[1:]}"
