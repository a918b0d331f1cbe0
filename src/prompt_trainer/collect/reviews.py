"""What a review comment says beyond its text, and which comments count as feedback.

GitHub writes a suggested change as a fenced block whose info string is ``suggestion``; the
block's body is the replacement for the commented lines. prompt-trainer's own comments and PR
bodies carry an HTML marker (``<!-- prompt-trainer``); they are never feedback on themselves.
Anyone can type the marker, so from GitHub a comment is the bot's own only when one of the bot's
logins wrote it too (``is_own_comment``); local evidence files are judged by the marker alone.
"""

from __future__ import annotations

import re

from prompt_trainer.models import Feedback

SUGGESTION = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[ \t]*suggestion[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.M | re.S
)
OWN_MARKER = "<!-- prompt-trainer"


def suggestions(body: str) -> tuple[str, ...]:
    """The replacement text of every ```suggestion block in a comment, in order."""
    return tuple(match.group(2).rstrip("\n") for match in SUGGESTION.finditer(body))


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
