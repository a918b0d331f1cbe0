"""Per-sample facts: what one agent PR contributes to each metric and each pattern.

``facts_of(sample)`` reduces a stored ``Sample`` to small frozen values, computed once (they are
what the SQLite index keeps), so that measuring 100,000 samples never re-reads the evidence.
A fact is None when no evidence supports it (no test run, no trace, commits not read): metrics
then count only the samples that have it, and show "missing" rather than zero when none does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import NamedTuple, TypeVar

from prompt_trainer.models import Feedback, Sample, TestCase, Trace

#: Pattern kinds, in report order.
FAILING_TEST = "failing_test"
FAILURE_MESSAGE = "failure_message"
REVIEW_FILE = "review_file"
REVIEW_KEYWORDS = "review_keywords"
TOOL_ERROR = "tool_error"
RERUN = "rerun"
REPORTED_FAILURE = "reported_failure"

_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_HEX = re.compile(
    r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{7,}\b"
)
#: Absolute paths, and relative ones with a ``/`` and an extension. The relative form starts
#: only where a run of path characters starts (``\b`` let it start again after every ``-`` and
#: ``.`` of a run, each start reading to the run's end: quadratic on ``a-a-a-...``).
_PATH = re.compile(
    r"(?:[A-Za-z]:)?(?:[\\/][\w.@+-]+){2,}[\\/]?"
    r"|(?<![\w.-])[\w.-]++(?:/[\w.-]+)+\.\w+\b"
)
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?")
_QUOTED = re.compile(r"'[^'\n]{0,80}'|\"[^\"\n]{0,80}\"")
_SPACE = re.compile(r"\s+")
#: A word; digits belong to it (``INVOICE_V2`` is ``invoice_v2``, not ``invoice_v``).
_WORD = re.compile(r"[a-z][a-z0-9_-]{3,}")
STOPWORDS = frozenset(
    """
    adds added adding again already anything everything nothing something lgtm looks
    about above after again also because been before being below both can't change changed
    changes code could does doesn't doing don't down during each file files from further good
    have here instead into isn't it's just let's like line lines look looks made make maybe
    might more most must need needs nice only other over please same seems shall should some
    still such test tests than thank thanks that that's their them then there these they think
    this those used using very want wants were what when where which while will with would
    your yours
    """.split()  # noqa: SIM905 - a word list reads better as text
)
#: Words a review comment uses around its point (ordinals, "thing", "issue", "never"), left out
#: of its keywords beside ``STOPWORDS``; only there: in a rule or a failure, "never", "always"
#: and "different" say something (``clusters.words_of`` and ``train.restate`` keep them).
REVIEW_FILLER = frozenset(
    """
    first second third fourth fifth sixth seventh eighth ninth tenth last next previous
    three four five seven eight nine once twice
    actually agree almost always another anyway around away back best better bits case cases
    certain clear correct currently different does done easier easy either else enough even
    ever every example fine fixed fixing following general great handle handled happen happens
    hard however idea important issue issues keep kind know later less lets little long lot
    lots mean means mention minor much never nits okay part parts perhaps place point possible
    pretty probably problem quite rather really right seem small sorry start stuff sure take
    thing things though thought time times together true try trying understand unless update
    updated usually version well whole wrong work works yeah
    """.split()  # noqa: SIM905 - a word list reads better as text
)
#: Code identifiers in a comment: a `code span`, CamelCase, snake_case, dotted.names, calls().
_IDENTIFIER = re.compile(
    r"`([^`\n]{1,60})`"
    r"|\b([A-Za-z]+[a-z0-9][A-Z]\w*|[A-Za-z]\w*_\w+|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|\w+(?=\())"
)
MESSAGE_CHARS = 160
Num = TypeVar("Num", int, float)


def normalize_message(text: str) -> str:
    """A failure message with its run-specific parts replaced, so recurrences compare equal:
    timestamps, UUIDs, hex ids, paths, quoted values and numbers; first line, spaces collapsed."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    for pattern, token in (
        (_ISO_TIME, "<time>"),
        (_UUID, "<uuid>"),
        (_HEX, "<hex>"),
        (_PATH, "<path>"),
        (_QUOTED, "<str>"),
        (_NUMBER, "<n>"),
    ):
        line = pattern.sub(token, line)
    return _SPACE.sub(" ", line).strip()[:MESSAGE_CHARS]


#: What varies between failing tests of one cause, for ``message_key``.
_KEY_NOISE = (
    (re.compile(r"0x[0-9a-fA-F]+"), "0x…"),
    (re.compile(r"\d+(\.\d+)?"), "N"),
    (re.compile(r"\s+"), " "),
)


def message_key(message: str) -> str:
    """A failure message without what varies between tests of one cause (numbers, addresses):
    the key failing tests are grouped by in the evidence view (``train.evidence``) and the
    ``message:`` kind of a bullet's evidence in the bullet ledger (``memory``, kept on the data
    branch: this function's output is stored, so it does not change). Not
    ``normalize_message``, whose output the clusters' ids are made from."""
    first = next((line for line in message.splitlines() if line.strip()), "")
    for pattern, replacement in _KEY_NOISE:
        first = pattern.sub(replacement, first)
    return first.strip()[:200]


def keywords(text: str, limit: int = 8) -> tuple[str, ...]:
    """Distinct content words of a review comment (code blocks dropped), lowercased: the code
    identifiers it names first (``ApiClient``, ``parse_total``, ``money.total``, a `span`), then
    its other words, without stop words, ordinals and generic words ("second", "thing", "issue").
    The theme of a comment is its most frequent keyword across comments, the earlier one on a
    tie (``patterns.review_themes``), so an identifier wins a tie."""
    prose = re.sub(r"```.*?```", " ", text, flags=re.DOTALL)
    found: list[str] = []
    for match in _IDENTIFIER.finditer(prose):
        for raw in _WORD.findall((match.group(1) or match.group(2)).lower()):
            _keep(raw, found)
    for raw in _WORD.findall(prose.lower()):
        _keep(raw, found)
    return tuple(found[:limit])


def _keep(raw: str, found: list[str]) -> None:
    word = raw.strip("-_")
    if len(word) >= 4 and word not in STOPWORDS and word not in REVIEW_FILLER and word not in found:
        found.append(word)


@dataclass(frozen=True)
class Event:
    """One occurrence of a pattern in a sample: a kind, a key and a link or id to show."""

    kind: str
    key: str
    example: str


class Facts(NamedTuple):
    """One sample, reduced to the numbers the metrics use.

    A NamedTuple rather than a frozen dataclass: it is as immutable, and the index builds
    100,000 of them per report from SQLite rows (``Facts(*row, versions)``), several times
    faster. Flags read back from SQLite are 0/1, which every use treats as booleans.
    """

    sample_id: str
    url: str | None
    #: When the PR closed (else merged, opened, or was collected), ISO 8601 in UTC: text that
    #: sorts in time order and needs no parsing when 100,000 facts are read back.
    happened_at: str | None
    tests_passed: bool | None = None
    flaky_tests: int | None = None
    first_push_passed: bool | None = None
    comments: int = 0
    changes_requested: bool = False
    merged: bool | None = None
    rework: bool | None = None
    turns: int | None = None
    tool_calls: int | None = None
    tool_errors: int | None = None
    tokens: int | None = None
    cost_usd: float | None = None
    duration_s: float | None = None
    versions: Mapping[str, str] = MappingProxyType({})
    events: tuple[Event, ...] = ()


def counted_feedback(item: Feedback) -> bool:
    """Trusted human feedback with words in it (the bot's own comments never count)."""
    return item.trusted and not item.is_bot and not item.is_own and bool(item.body.strip())


def facts_of(sample: Sample) -> Facts:
    """The facts of one sample."""
    pull = sample.pull
    link = pull.url or sample.id
    cases = [c for run in sample.test_runs for c in run.cases]
    real_failures = [c for c in cases if c.status in ("failed", "error") and not c.flaky]
    feedback = [f for f in sample.feedback if counted_feedback(f)]
    traces = sample.traces
    return Facts(
        sample_id=sample.id,
        url=pull.url,
        happened_at=_utc(happened(sample)),
        versions=MappingProxyType(dict(sample.prompt_versions)),
        tests_passed=(not real_failures) if sample.test_runs else None,
        flaky_tests=len({c.id for c in cases if c.flaky}) if sample.test_runs else None,
        first_push_passed=None if pull.first_push_ci is None else pull.first_push_ci == "success",
        comments=sum(1 for f in feedback if f.kind != "review" or f.body.strip()),
        changes_requested=any(
            (f.state or "").upper() == "CHANGES_REQUESTED" and f.trusted and not f.is_bot
            for f in sample.feedback  # a review, or a line comment given with its state
        ),
        merged=_merged(sample),
        rework=bool(pull.rework) if pull.commits else None,
        turns=_total([t.turns for t in traces]),
        tool_calls=_total([t.tool_calls for t in traces]) if traces else None,
        tool_errors=_total([t.tool_errors for t in traces]) if traces else None,
        tokens=_total([trace_tokens(t) for t in traces]),
        cost_usd=_total([t.cost_usd for t in traces]),
        duration_s=_total([t.duration_s for t in traces]),
        events=tuple(_events(sample, cases, feedback, link)),
    )


#: Formats whose ``input_tokens`` leave out the cached prompt (Anthropic's usage): their cache
#: reads and writes are added, so ``agent.tokens`` is every token the model processed in every
#: format (OpenAI-family formats count cached tokens inside ``input_tokens`` already).
CACHE_APART = frozenset({"claude-code"})


def trace_tokens(trace: Trace) -> int | None:
    """Input + output tokens of a trace, cached prompt tokens included; None when unknown."""
    if trace.input_tokens is None and trace.output_tokens is None:
        return None
    total = (trace.input_tokens or 0) + (trace.output_tokens or 0)
    if trace.format in CACHE_APART:
        total += (trace.cache_read_tokens or 0) + (trace.cache_write_tokens or 0)
    return total


def happened(sample: Sample) -> datetime:
    """When the sample's PR closed (else merged, opened, or was collected), timezone-aware."""
    pull = sample.pull
    moment = pull.closed_at or pull.merged_at or pull.created_at or sample.collected_at
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _utc(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


def _merged(sample: Sample) -> bool | None:
    """Merged or not, for a closed PR; None for one still open (or of unknown state)."""
    pull = sample.pull
    if pull.merged:
        return True
    if pull.closed_at is not None or (pull.number is not None and pull.created_at is None):
        return False  # closed on GitHub, or a local pr.json that says it was not merged
    return None


def _total(values: list[Num | None]) -> Num | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return sum(present[1:], present[0])


def _events(
    sample: Sample, cases: list[TestCase], feedback: list[Feedback], link: str
) -> list[Event]:
    events: list[Event] = []
    for case in cases:
        if case.status in ("failed", "error") and not case.flaky:
            events.append(Event(FAILING_TEST, case.id, link))
            message = normalize_message(case.message or case.text or case.type)
            if message:
                events.append(Event(FAILURE_MESSAGE, message, f"{link} ({case.id})"))
        if case.flaky or case.attempt > 1:
            events.append(Event(RERUN, case.id, link))
    for item in feedback:
        where = item.url or f"{link} ({item.id})"
        if item.path:
            events.append(Event(REVIEW_FILE, item.path, where))
        words = keywords(item.body)
        if words:
            events.append(Event(REVIEW_KEYWORDS, " ".join(words), where))
    for failure in sample.failures:
        events.append(Event(REPORTED_FAILURE, failure.type, f"{link} ({failure.description[:80]})"))
    for trace in sample.traces:
        for step in trace.steps:
            if step.is_error and step.tool:
                events.append(Event(TOOL_ERROR, step.tool, f"{link} ({trace.source})"))
    return events
