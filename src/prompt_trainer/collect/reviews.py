"""What a review comment says beyond its text, and which comments count as feedback.

GitHub writes a suggested change as a fenced block whose info string is ``suggestion``; the
block's body is the replacement for the commented lines. The blocks are read by one pass over
the lines (``suggestion_blocks``), each line looked at once, so a comment of any size costs time
in proportion to its length (a regular expression spanning lines took seconds on one 64 KiB
comment of unclosed fences); the collectors read them only from trusted comments.
prompt-trainer's own comments and PR bodies carry an HTML marker (``<!-- prompt-trainer``);
they are never feedback on themselves. Anyone can type the marker, so from GitHub a comment is
the bot's own only when one of the bot's logins wrote it too (``is_own_comment``); local
evidence files are judged by the marker alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from prompt_trainer.models import Feedback

#: The opening line of a suggestion block (matched at the start of one line; possessive, so a
#: line of backticks is read once).
OPENING = re.compile(r"[ \t]*+(`{3,}+|~{3,}+)[ \t]*+suggestion")
OWN_MARKER = "<!-- prompt-trainer"


def suggestions(body: str) -> tuple[str, ...]:
    """The replacement text of every ```suggestion block in a comment, in order."""
    return tuple(suggestion_blocks(body.split("\n")))


def suggestion_blocks(lines: Iterable[str]) -> Iterator[str]:
    """The body of each suggestion block in ``lines``, reading each line once: a block opens
    with a fence of three or more backticks or tildes and the info string ``suggestion``, and
    closes at a line holding only a fence of the same character at least as long; a block
    left open is not a suggestion."""
    fence: str | None = None
    block: list[str] = []
    for raw in lines:
        line = raw.removesuffix("\r")
        if fence is None:
            opening = OPENING.match(line)
            fence, block = (opening.group(1), []) if opening else (None, block)
        elif _closes(line, fence):
            yield "\n".join(block).rstrip("\n")
            fence = None
        else:
            block.append(line)


def _closes(line: str, fence: str) -> bool:
    bare = line.strip(" \t")
    return len(bare) >= len(fence) and bare == fence[0] * len(bare)


def is_own(body: str) -> bool:
    """A comment prompt-trainer wrote itself (it always embeds its marker)."""
    return OWN_MARKER in body


def is_own_comment(body: str, author: str, *, bot_logins: tuple[str, ...]) -> bool:
    """A comment the bot wrote: one of its logins, and its marker (the same login may be other
    workflows' too, whose comments are not its own)."""
    return author in bot_logins and is_own(body)


def keep(item: Feedback, *, include_bots: bool) -> bool:
    """Feedback worth storing: never the bot's own words; other bots only when configured."""
    return not item.is_own and (include_bots or not item.is_bot)
