"""The secrets this process holds (the GitHub token, the LLM key, every variable named like a
secret), masked by value in any text, whatever shape they take there.

Takes the values (``Environment.secret_values``); gives ``Held``, which replaces each value and
its other forms with ``[REDACTED:held-secret]``: the value itself, its percent-encoding, and its
base64 and base64url at each of the three alignments it can have inside a longer blob (so
``base64("x-access-token:" + token)``, a Docker ``auth`` or a Basic header holding it is masked
too), also when a log wrapped it over lines. Values shorter than ``MIN_CHARS``, and short
lowercase words (``production``), are not masked: they would blank ordinary words everywhere.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final
from urllib.parse import quote

MIN_CHARS: Final = 8
MARK: Final = "[REDACTED:held-secret]"
#: A line break and the indentation after it (a wrapped line).
BREAK: Final = re.compile(r"(?:\r\n|\r|\n)[ \t]*+")


def worth_masking(value: str) -> bool:
    """Long enough, and not a short lowercase word that ordinary text is full of."""
    return len(value) >= MIN_CHARS and not (value.isalpha() and value.islower() and len(value) < 16)


def base64_cores(value: str) -> set[str]:
    """What the base64 (and base64url) of ``value`` looks like inside any longer blob: for each
    of the three byte alignments, the characters that ``value``'s bytes alone decide."""
    data = value.encode("utf-8")
    found: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data + b"\0\0").decode()
        first = -(-8 * offset // 6)  # the first character holding none of the prefix's bits
        last = (8 * (offset + len(data))) // 6  # the first holding bits after the value
        core = encoded[first:last]
        if len(core) >= MIN_CHARS:
            found |= {core, core.replace("+", "-").replace("/", "_")}
    return found


def forms(value: str) -> set[str]:
    """Every form of ``value`` masked: itself, percent-encoded, and its base64 cores."""
    return {value, quote(value, safe="")} | base64_cores(value)


@dataclass(frozen=True)
class Held:
    """The forms of the held values, longest first (an empty ``Held`` masks nothing)."""

    forms: tuple[str, ...] = ()

    @classmethod
    def of(cls, values: Iterable[str]) -> Held:
        found: set[str] = set()
        for value in values:
            if worth_masking(value.strip()):
                found |= forms(value.strip())
        return cls(tuple(sorted(found, key=lambda f: (-len(f), f))))

    def mask(self, text: str) -> str:
        """``text`` with every held form replaced, also where a line break splits one."""
        if not self.forms:
            return text
        for form in self.forms:
            if form in text:
                text = text.replace(form, MARK)
        if "\n" in text or "\r" in text:
            squashed = BREAK.sub("", text)
            for form in self.forms:
                if form in squashed:
                    text = wrapped(form).sub(MARK, text)
        return text


@lru_cache(maxsize=256)
def wrapped(form: str) -> re.Pattern[str]:
    """``form`` with an optional line break (and indentation) between any two characters."""
    return re.compile(f"(?:{BREAK.pattern})?".join(re.escape(c) for c in form))
