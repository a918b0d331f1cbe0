"""Recurring patterns across samples, found without an LLM.

- ``failing_test``: tests that failed (not flakily) in the most PRs.
- ``failure_message``: failure messages after ``normalize_message`` (numbers, paths, hex ids,
  UUIDs, quoted values and timestamps replaced), then clustered: signatures whose word sets
  overlap by at least ``SIMILAR`` (Jaccard) join the cluster of the most frequent one.
- ``review_file``: files trusted reviewers commented on in the most PRs.
- ``review_theme``: review comments grouped by keyword: each comment joins the cluster of its
  keyword that is most frequent across all comments.
- ``tool_error``: tools whose calls failed in the most PRs.
- ``token_hog``: PRs that used over ``HOG_FACTOR`` times the median tokens.
- ``rerun``: tests that were rerun or were flaky in the most PRs.
- ``reported_failure``: failures people reported (``report-failure``), by type.

Counts are numbers of PRs (samples), so one noisy PR cannot dominate a pattern.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prompt_trainer.measure import facts as kinds
from prompt_trainer.measure.facts import Facts

if TYPE_CHECKING:  # the index builds clusters, which read patterns: no import at run time
    from prompt_trainer.measure.index import SampleIndex

TOP = 10
SIMILAR = 0.6
HOG_FACTOR = 3.0
MAX_CLUSTERED = 500  # distinct signatures considered for clustering (most frequent first)


@dataclass(frozen=True)
class Pattern:
    kind: str
    key: str
    count: int
    examples: tuple[str, ...]


_TOKEN = re.compile(r"<\w+>|\w+")
KeyCounts = list[tuple[str, int, tuple[str, ...]]]


def find_patterns(index: SampleIndex, target: str, facts: Sequence[Facts]) -> list[Pattern]:
    """Every pattern kind for ``target``, each limited to the ``TOP`` most frequent."""
    found: list[Pattern] = []
    for kind in (
        kinds.REPORTED_FAILURE,
        kinds.FAILING_TEST,
        kinds.REVIEW_FILE,
        kinds.TOOL_ERROR,
        kinds.RERUN,
    ):
        found += [Pattern(kind, *row) for row in index.key_counts(target, kind, limit=TOP)]
    messages = index.key_counts(target, kinds.FAILURE_MESSAGE, limit=MAX_CLUSTERED, examples=1)
    for head, count, shown in cluster_messages(messages)[:TOP]:
        more = index.examples(target, kinds.FAILURE_MESSAGE, head)
        examples = tuple(dict.fromkeys((*more, *shown)))[:3]
        found.append(Pattern(kinds.FAILURE_MESSAGE, head, count, examples))
    comments = index.key_counts(target, kinds.REVIEW_KEYWORDS, examples=1)
    found += [Pattern("review_theme", *row) for row in review_themes(comments)[:TOP]]
    found += token_hogs(facts)[:TOP]
    return found


def _words(text: str) -> set[str]:
    """Word tokens of a normalized message (placeholders such as ``<n>`` count as words)."""
    return set(_TOKEN.findall(text.lower()))


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def message_heads(rows: KeyCounts) -> dict[str, str]:
    """Each normalized message -> the head of its cluster: greedy, most frequent first, a
    message joins the first head whose words it shares by at least ``SIMILAR`` (Jaccard)."""
    heads: list[tuple[str, set[str]]] = []
    found: dict[str, str] = {}
    for key, _, _ in sorted(rows, key=lambda r: (-r[1], r[0])):
        words = _words(key)
        head = next((h for h, hw in heads if jaccard(words, hw) >= SIMILAR), None)
        if head is None:
            heads.append((key, words))
            head = key
        found[key] = head
    return found


def cluster_messages(rows: KeyCounts) -> KeyCounts:
    """Greedy clustering of normalized messages, most frequent first (``message_heads``)."""
    heads = message_heads(rows)
    merged: dict[str, tuple[int, list[str]]] = {}
    for key, count, examples in sorted(rows, key=lambda r: (-r[1], r[0])):
        total, seen = merged.get(heads[key], (0, []))
        merged[heads[key]] = (total + count, seen + list(examples))
    ranked = [(h, n, tuple(dict.fromkeys(seen))[:3]) for h, (n, seen) in merged.items()]
    return sorted(ranked, key=lambda r: (-r[1], r[0]))


def theme_of(rows: KeyCounts) -> dict[str, str]:
    """Each comment's keyword list -> its theme: of its keywords, the one most frequent across
    all comments (the earlier one on a tie)."""
    frequency: Counter[str] = Counter()
    for key, count, _ in rows:
        for word in key.split():
            frequency[word] += count
    themes: dict[str, str] = {}
    for key, _, _ in rows:
        words = key.split()
        if words:
            themes[key] = max(words, key=lambda w: (frequency[w], -words.index(w)))
    return themes


def review_themes(rows: KeyCounts) -> KeyCounts:
    """Each comment (a row keyed by its keywords) joins its most frequent keyword's theme
    (``theme_of``).

    A theme's count adds up, per keyword list, the PRs with a comment of that list; themes of a
    single comment are left out.
    """
    theme = theme_of(rows)
    themes: dict[str, tuple[int, list[str]]] = {}
    for key, count, examples in rows:
        if key not in theme:
            continue
        total, seen = themes.get(theme[key], (0, []))
        themes[theme[key]] = (total + count, seen + list(examples))
    ranked = [(t, n, tuple(dict.fromkeys(ex))[:3]) for t, (n, ex) in themes.items() if n > 1]
    return sorted(ranked, key=lambda r: (-r[1], r[0]))


def token_hogs(facts: Sequence[Facts]) -> list[Pattern]:
    """PRs whose token use is over ``HOG_FACTOR`` times the median, the largest first."""
    used = [(f.tokens, f) for f in facts if f.tokens]
    if len(used) < 3:
        return []
    median = statistics.median(t for t, _ in used)
    hogs = sorted(((t, f) for t, f in used if t > HOG_FACTOR * median), key=lambda p: -p[0])
    return [Pattern("token_hog", f.sample_id, t, (f.url or f.sample_id,)) for t, f in hogs]
