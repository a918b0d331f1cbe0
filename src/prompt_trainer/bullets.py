"""The bullets of a prompt file's text, shared by every stage that reads them (no stage of its
own, no dependency): where each bullet is (``bullet_spans``, ``bullet_lines``), its text on one
line (``bullets``), the normalised form bullets are compared in (``normalize``: lower case,
words only), and when a quote names a bullet (``names_bullet``: equal, or a prefix of at least
``PREFIX_WORDS`` words, as a state block's capped text is).

A bullet is a Markdown list item (``-``, ``*``, ``+`` or ``1.``) after the file's YAML
frontmatter, with its continuation lines (more indented, non-blank, not a bullet themselves).
``measure`` (which version holds a bullet), ``memory`` (the bullet ledger) and ``train.edits``
(the itemized edits) read bullets alike through this module, so a lower stage never imports
``train/`` for them.
"""

from __future__ import annotations

import re

from prompt_trainer.prompt_kinds import frontmatter_lines

BULLET = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+(.*)$")
WORDS = re.compile(r"[a-z0-9]+")
#: A quote this many words long or longer names the one bullet it is a prefix of.
PREFIX_WORDS = 5


def normalize(text: str) -> str:
    return " ".join(WORDS.findall(text.lower()))


def names_bullet(wanted: str, found: str) -> bool:
    """Whether the normalised quote ``wanted`` names the normalised bullet ``found``: equal, or
    a prefix of ``PREFIX_WORDS`` words or more (a capped or a partly quoted text)."""
    long_enough = len(wanted.split()) >= PREFIX_WORDS
    return found == wanted or (long_enough and found.startswith(wanted + " "))


def bullet_blocks(lines: list[str]) -> list[tuple[int, int, str]]:
    """(first line, end line exclusive, normalized text) of every bullet after the
    frontmatter, continuation lines (more indented, non-blank, not a bullet) included."""
    blocks = []
    n = frontmatter_lines("\n".join(lines))
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


def bullet_spans(text: str) -> list[tuple[int, int]]:
    """(first line, end line exclusive) of every bullet of ``text``, continuation lines in, in
    order: ``B3`` is the third."""
    return [(a, b) for a, b, _ in bullet_blocks(text.split("\n"))]


def bullet_lines(text: str) -> set[int]:
    """The indices of the lines of ``text`` that belong to a bullet (continuation lines too)."""
    return {n for a, b, _ in bullet_blocks(text.split("\n")) for n in range(a, b)}


def bullets(text: str) -> list[str]:
    """The bullets of a file, each as one line of text (continuation lines joined)."""
    lines = text.split("\n")
    return [
        " ".join(BULLET.sub(r"\3", ln).strip() for ln in lines[a:b])
        for a, b, _ in bullet_blocks(lines)
    ]
