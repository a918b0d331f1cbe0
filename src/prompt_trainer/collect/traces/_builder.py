"""What every trace format module shares: reading JSON records leniently (``_reader``),
sniffing heads, and ``TraceBuilder``, which folds steps and totals in bounded memory.

Steps are kept as raw tuples and redacted only when the ``Trace`` is built, and only those that
are kept: the first ``HEAD_STEPS``, the last ``TAIL_STEPS``, and every error with the step
before and after it (up to ``ERROR_STEPS``). A 200 MB transcript thus costs the memory of a few
hundred steps, and redaction runs over a few hundred texts instead of every line. Reading the
records themselves (JSONL, arrays, documents, the over-cap window) is ``_reader``'s.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from prompt_trainer.collect.traces._reader import json_records, load_document
from prompt_trainer.models import Trace, TraceStep
from prompt_trainer.redact import excerpt

__all__ = ["Head", "TraceBuilder", "json_records", "load_document"]

HEAD_STEPS = 40
TAIL_STEPS = 40
ERROR_STEPS = 160
TOOL_INPUT_CHARS = 300
#: Raw characters kept per text before redaction (so a secret is never cut in half first).
RAW_MARGIN = 512
#: Default trace cap (``limits.max_trace_bytes``): beyond it only the first and last parts are read.
DEFAULT_MAX_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Head:
    """The start of a file, decoded, with its first JSON value when there is one.

    ``container`` is ``array`` (a JSON array), ``object`` (one JSON document), ``lines`` (JSON
    values one after another, i.e. JSONL) or ``None`` (not JSON, or too big to tell).
    """

    text: str
    first: dict[str, Any] | None
    container: str | None

    @classmethod
    def of(cls, text: str, *, complete: bool) -> Head:
        stripped = text.lstrip()
        decoder = json.JSONDecoder()
        if stripped.startswith("["):
            rest = stripped[1:].lstrip()
            try:
                value, _ = decoder.raw_decode(rest)
            except ValueError:
                value = None
            return cls(text, value if isinstance(value, dict) else None, "array")
        if not stripped.startswith("{"):
            return cls(text, None, None)
        try:
            value, end = decoder.raw_decode(stripped)
        except ValueError:
            return cls(text, None, None)
        more = stripped[end:].strip()
        container = "lines" if more else ("object" if complete else "lines")
        return cls(text, value if isinstance(value, dict) else None, container)


class _Step(NamedTuple):
    seq: int
    role: str
    text: str
    tool: str | None
    tool_input: Any  # formatted only if the step is kept
    is_error: bool
    tokens: int | None


#: The totals the format modules add up, copied to the ``Trace`` under the same names.
COUNTERS = (
    "turns",
    "tool_calls",
    "tool_errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
)


class TraceBuilder:
    """Accumulates one trace while its records stream past."""

    def __init__(self, *, format: str, max_text: int, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.format = format
        self.max_text = max_text
        self.max_bytes = max_bytes
        #: What the reader could not use or left out, for ``Trace.notes``.
        self.notes: list[str] = []
        #: Position of the record being read (a line, or an array element), for reports.
        self.line = 0
        self.unit = "line"
        self.line_known = True
        self._first_bad: str | None = None
        self.model: str | None = None
        self.session_id: str | None = None
        self.turns: int | None = None
        self.tool_calls = 0
        self.tool_errors = 0
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cache_read_tokens: int | None = None
        self.cache_write_tokens: int | None = None
        self.cost_usd: float | None = None
        self.duration_s: float | None = None
        self.result: str | None = None
        self.is_error = False
        self.unknown: Counter[str] = Counter()
        self.bad_lines = 0
        self.first_time: str | float | None = None
        self.last_time: str | float | None = None
        self._count = 0
        self._head: list[_Step] = []
        self._tail: deque[_Step] = deque(maxlen=TAIL_STEPS)
        self._errors: list[_Step] = []
        self._previous: _Step | None = None
        self._after_error = False

    def step(
        self,
        role: str,
        text: str = "",
        *,
        tool: str | None = None,
        tool_input: Any = None,
        is_error: bool = False,
        tokens: int | None = None,
    ) -> None:
        """Record a step; only a bounded selection is kept (see the module docstring)."""
        limit = self.max_text + RAW_MARGIN
        step = _Step(
            self._count,
            role,
            text if len(text) <= limit else text[:limit],
            tool,
            tool_input,
            is_error,
            tokens,
        )
        self._count += 1
        if len(self._head) < HEAD_STEPS:
            self._head.append(step)
        else:
            self._tail.append(step)
        if len(self._errors) < ERROR_STEPS:
            if is_error:
                if self._previous is not None:
                    self._errors.append(self._previous)
                self._errors.append(step)
                self._after_error = True
            elif self._after_error:
                self._errors.append(step)
                self._after_error = False
        self._previous = step

    def bad_line(self, why: str) -> None:
        """Count an unusable line; the first one's position and reason go into the notes."""
        self.bad_lines += 1
        if self._first_bad is None:
            self._first_bad = f"{self.position()}: {why}"

    def position(self) -> str:
        """Where the reader is, e.g. ``line 12`` (unknown past the cut of an over-cap file)."""
        if not self.line_known:
            return f"a {self.unit} in the last part"
        return f"{self.unit} {self.line}"

    def all_notes(self) -> tuple[str, ...]:
        notes = list(self.notes)
        if self._first_bad is not None:
            notes.append(
                f"{self.bad_lines} unusable {self.unit}(s); the first at {self._first_bad}"
            )
        return tuple(notes)

    @property
    def steps_seen(self) -> int:
        return self._count

    def tool_call(self, name: str, tool_input: Any = None, *, tokens: int | None = None) -> None:
        self.tool_calls += 1
        self.step("assistant", tool=name, tool_input=tool_input, tokens=tokens)

    def tool_result(self, name: str | None, output: str, *, is_error: bool) -> None:
        self.tool_errors += is_error
        self.step("tool", output, tool=name, is_error=is_error)

    def add_tokens(
        self,
        *,
        input: int | None = None,
        output: int | None = None,
        cache_read: int | None = None,
        cache_write: int | None = None,
    ) -> None:
        """Add one response's usage to the totals (``None`` leaves a total untouched)."""
        self.input_tokens = _plus(self.input_tokens, input)
        self.output_tokens = _plus(self.output_tokens, output)
        self.cache_read_tokens = _plus(self.cache_read_tokens, cache_read)
        self.cache_write_tokens = _plus(self.cache_write_tokens, cache_write)

    def add_usage(self, usage: dict[str, Any], *keys: str | None) -> None:
        """Add a usage object's counts, read under the format's own key names (in the order
        input, output, cache read, cache write; None for one the format does not write)."""
        input, output, cache_read, cache_write = (
            as_int(usage.get(key)) if key else None for key in (*keys, None, None, None)[:4]
        )
        self.add_tokens(input=input, output=output, cache_read=cache_read, cache_write=cache_write)

    def saw_time(self, value: Any) -> None:
        """Note a record's timestamp (ISO 8601 string, or epoch seconds) for the duration."""
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            if self.first_time is None:
                self.first_time = value
            self.last_time = value

    def build(self, *, source: str) -> Trace:
        kept: dict[int, _Step] = {}
        for step in (*self._head, *self._errors, *self._tail):
            kept[step.seq] = step
        steps = tuple(self._finish(kept[i]) for i in sorted(kept))
        duration = self.duration_s
        if duration is None:
            duration = _elapsed(self.first_time, self.last_time)
        return Trace(
            source=source,
            format=self.format,
            model=self.model,
            session_id=self.session_id,
            steps=steps,
            steps_total=self._count,
            **{name: getattr(self, name) for name in COUNTERS},
            duration_s=duration,
            result=excerpt(self.result, self.max_text) if self.result is not None else None,
            is_error=self.is_error,
            unknown_records=dict(self.unknown),
            bad_lines=self.bad_lines,
            notes=self.all_notes(),
        )

    def _finish(self, step: _Step) -> TraceStep:
        return TraceStep(
            role=step.role,
            text=excerpt(step.text, self.max_text) if step.text else "",
            tool=step.tool,
            tool_input=_summary(step.tool_input),
            is_error=step.is_error,
            tokens=step.tokens,
        )


def obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (for chained lookups)."""
    return value if isinstance(value, dict) else {}


def as_int(value: Any) -> int | None:
    """An integer from an int, a float or a numeric string (OTel attributes are strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return None
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def text_of(content: Any) -> str:
    """Plain text of a message content: a string, or a list of text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict):
                value = block.get("text")
                if isinstance(value, str):
                    parts.append(value)
            elif isinstance(block, str):
                parts.append(block)
        return "\n".join(parts)
    return ""


def _summary(tool_input: Any) -> str | None:
    """A redacted, capped one-line summary of a tool's input."""
    if tool_input is None or tool_input == "":
        return None
    if isinstance(tool_input, str):
        raw = tool_input
    else:
        raw = json.dumps(tool_input, ensure_ascii=False, default=str)
    return excerpt(raw[: TOOL_INPUT_CHARS + RAW_MARGIN], TOOL_INPUT_CHARS)


def _plus(total: int | None, value: int | None) -> int | None:
    if value is None:
        return total
    return (total or 0) + value


def _elapsed(first: str | float | None, last: str | float | None) -> float | None:
    start, end = _instant(first), _instant(last)
    if start is None or end is None or end < start:
        return None
    return round(end - start, 3)


def _instant(value: str | float | None) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None
