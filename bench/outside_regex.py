"""Patterns over outside text on hostile input: the shapes that were quadratic, before and after.

Run with ``.venv/bin/python bench/outside_regex.py``. For each pattern that one comment, PR body,
test message or trace step could stall (issue 24), it times the pattern as it was and as it is
on the same hostile input of 16 KiB, the current one on 64 KiB too, beside a bare baseline (a
``str.count`` over the same input). The old forms are kept here only to be measured. Tests never
time anything: ``tests/test_linear_regex.py`` and ``tests/test_reviews.py`` count work instead.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from prompt_trainer.collect.github_pr import CLOSES  # noqa: E402
from prompt_trainer.collect.reviews import suggestions  # noqa: E402
from prompt_trainer.measure.facts import _PATH  # noqa: E402
from prompt_trainer.redact import SHAPES  # noqa: E402

RULES = {shape.kind: shape.pattern for shape in SHAPES}
OLD = {
    "suggestion blocks": re.compile(
        r"^[ \t]*(`{3,}|~{3,})[ \t]*suggestion[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.M | re.S
    ),
    "closing keyword": re.compile(
        r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+#(\d+)\b", re.I
    ),
    "aws secret key": re.compile(
        r"(?i)(?P<pre>secret_?access_?key\\?[\"']?\s*[:=]?\s*\\?[\"']?)"
        r"(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
    ),
    "jwt": re.compile(
        r"(?:(?<=%3[DdAa])|(?<=%2[Ff])|(?<![A-Za-z0-9]))"
        r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    ),
    "failure-message paths": re.compile(
        r"(?:[A-Za-z]:)?(?:[\\/][\w.@+-]+){2,}[\\/]?|\b[\w.-]+(?:/[\w.-]+)+\.\w+\b"
    ),
}
NEW: dict[str, Callable[[str], object]] = {
    "suggestion blocks": suggestions,
    "closing keyword": CLOSES.findall,
    "aws secret key": RULES["aws-secret-key"].findall,
    "jwt": RULES["jwt"].findall,
    "failure-message paths": _PATH.findall,
}
HOSTILE: dict[str, Callable[[int], str]] = {
    "suggestion blocks": lambda n: "```suggestion\n" * (n // 14),
    "closing keyword": lambda n: "fixes" + " " * n,
    "aws secret key": lambda n: "secret_access_key" + " " * n,
    "jwt": lambda n: "eyJ-" * (n // 4),
    "failure-message paths": lambda n: "a-" * (n // 2),
}


def seconds(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    print(f"{'pattern':24} {'old 16K':>9} {'new 16K':>9} {'new 64K':>9} {'bare 64K':>9}")
    for name, old in OLD.items():
        small, large = HOSTILE[name](16_384), HOSTILE[name](65_536)
        before = seconds(lambda: old.findall(small))  # noqa: B023 - called at once
        after = seconds(lambda: NEW[name](small))  # noqa: B023
        big = seconds(lambda: NEW[name](large))  # noqa: B023
        bare = seconds(lambda: large.count("#"))  # noqa: B023
        print(f"{name:24} {before:9.3f} {after:9.4f} {big:9.4f} {bare:9.5f}")


if __name__ == "__main__":
    main()
