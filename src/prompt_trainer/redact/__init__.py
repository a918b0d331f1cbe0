"""Secret redaction: replace credentials with typed placeholders before text leaves the runner.

Applied by the collectors to every piece of outside text (test output, test and suite names,
PR titles, review comments, trace steps) before a ``Sample`` is built, so nothing downstream
(the store, the LLM, the PR body) ever sees a secret; the exits mask held values once more
(``mask_held``: the GitHub adapter's writes, the LLM requests, the runner's log and files).

``redact`` does three things, in order:

1. ``normalise``: zero-width and other invisible format characters (which can split a token so
   no pattern sees it) and ANSI escape sequences (colours in test output) are removed;
2. held values: the GitHub token, the LLM key and every variable named like a secret that this
   process holds, in every form (``held.Held``), become ``[REDACTED:held-secret]``;
3. shapes: every kind in the one table ``shapes.SHAPES`` (a GitHub token, a provider key, a
   private key block, ``NAME=value`` where the name says secret...) becomes
   ``[REDACTED:<kind>]``.

The held values are a process-wide registry (``hold``), the one piece of mutable global state
here, and unavoidable: the collectors, the GitHub adapter and the LLM client all call
``redact`` or ``mask_held`` from deep inside, on text of every kind, and threading the values
through each call would leave the next call site free to forget them. ``Settings.load`` (the
only reader of the environment) sets it once per run; nothing else writes it.
``clean_name`` is the short form for names and titles: redacted, then capped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Final

from prompt_trainer.redact.held import Held
from prompt_trainer.redact.shapes import JWT_HEADER, SHAPES, Shape, looks_like_secret_name

__all__ = [
    "JWT_HEADER",
    "NAME_CHARS",
    "SHAPES",
    "WINDOW_MARGIN",
    "Shape",
    "clean_name",
    "excerpt",
    "hold",
    "looks_like_secret_name",
    "mask_held",
    "normalise",
    "redact",
]

#: A name or title longer than this is cut (``clean_name``).
NAME_CHARS: Final = 500
#: What ``excerpt`` reads beyond its cap: longer than any secret shape but a private key.
WINDOW_MARGIN: Final = 1024
#: Invisible format characters: soft hyphen, Mongolian vowel separator, zero-width space,
#: non-joiner and joiner, direction marks and embeddings, word joiner and invisible operators,
#: isolates, byte-order mark.
INVISIBLE: Final = dict.fromkeys(
    [0x00AD, 0x180E, *range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2070), 0xFEFF]
)
#: ANSI escape sequences: CSI (colours, cursor), OSC (titles, links), and two-byte escapes.
ANSI: Final = re.compile(
    r"\x1b\[[0-?]*+[ -/]*+[@-~]|\x1b\][^\x07\x1b]*+(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]"
)

_held = Held()


def hold(values: Iterable[str]) -> None:
    """Mask ``values`` (and their forms) in every text from now on; replaces what was held."""
    global _held  # noqa: PLW0603 - the process-wide registry, see the module docstring
    _held = Held.of(values)
    clean_name.cache_clear()


def mask_held(text: str) -> str:
    """``text`` with every held value masked (at the exits, whatever the text is)."""
    return _held.mask(text)


def normalise(text: str) -> str:
    """``text`` without invisible format characters and ANSI escape sequences."""
    text = text.translate(INVISIBLE)
    return ANSI.sub("", text) if "\x1b" in text else text


def redact(text: str) -> str:
    """Return ``text`` normalised, with every held value and every recognised secret shape
    replaced by ``[REDACTED:<kind>]``."""
    text = _held.mask(normalise(text))
    lowered = text.lower()
    for shape in SHAPES:
        if shape.applies(text, lowered):
            changed = shape.sub(text)
            if changed != text:
                text, lowered = changed, changed.lower()
    return text


def excerpt(text: str, limit: int) -> str:
    """Redact, then cap to ``limit`` characters, marking the cut. Only the first ``limit`` plus
    ``WINDOW_MARGIN`` characters are read (the rest is cut anyway; a secret that crosses the
    cut is still whole inside the window), so a text of any size costs the same."""
    window = text[: limit + WINDOW_MARGIN]
    clean = redact(window)
    if len(clean) <= limit and len(window) == len(text):
        return clean
    cut = len(clean) - limit + 20 + len(text) - len(window)
    return clean[: max(limit - 20, 0)] + f"… [{cut} chars cut]"


# Cached: a report repeats its class, suite and failure-type names for many cases.
@lru_cache(maxsize=4096)
def clean_name(text: str, cap: int = NAME_CHARS) -> str:
    """A name or title from outside (test, class, suite, PR title): redacted, then capped to
    ``cap`` characters. A cut name ends with ``…`` and a hash of what was redacted and of the
    length, so two long names that share their beginning stay apart. Only the first
    ``4 * cap`` characters are redacted (the rest is cut anyway), so a huge name costs little."""
    clean = redact(text[: 4 * cap] if len(text) > 4 * cap else text)
    if len(clean) <= cap:
        return clean
    whole = f"{clean}\0{len(text)}".encode("utf-8", "replace")  # the redacted part, never raw
    digest = hashlib.sha256(whole).hexdigest()[:10]
    return f"{clean[: max(cap - 11, 0)]}…{digest}"
