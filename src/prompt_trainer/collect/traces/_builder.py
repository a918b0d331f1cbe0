"""What every trace format module shares: reading JSON records leniently, sniffing heads, and
``TraceBuilder``, which folds steps and totals in bounded memory.

Steps are kept as raw tuples and redacted only when the ``Trace`` is built, and only those that
are kept: the first ``HEAD_STEPS``, the last ``TAIL_STEPS``, and every error with the step
before and after it (up to ``ERROR_STEPS``). A 200 MB transcript thus costs the memory of a few
hundred steps, and redaction runs over a few hundred texts instead of every line.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from prompt_trainer.models import Trace, TraceStep
from prompt_trainer.redact import excerpt

HEAD_STEPS = 40
TAIL_STEPS = 40
ERROR_STEPS = 160
TOOL_INPUT_CHARS = 300
#: Raw characters kept per text before redaction (so a secret is never cut in half first).
RAW_MARGIN = 512


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

    def __init__(self, *, format: str, max_text: int) -> None:
        self.format = format
        self.max_text = max_text
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


def json_records(path: Path, builder: TraceBuilder) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file, a JSON array, or a single (pretty-printed) document.

    Lines that are not JSON (a truncated last line, log noise) are counted in
    ``builder.bad_lines`` and skipped; JSON values that are not objects are counted as unknown.
    """
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        start = handle.read(1)
        while start.isspace():
            start = handle.read(1)
        handle.seek(0)
        if start == "[":
            data = json.load(handle)
            values = data if isinstance(data, list) else [data]
            yield from _objects(values, builder)
            return
        loads = json.loads
        first_line = True
        for line in handle:
            try:
                value = loads(line)
            except ValueError:
                stripped = line.strip()
                if not stripped:
                    continue
                if first_line and stripped.startswith("{"):  # one pretty-printed document
                    handle.seek(0)
                    yield from _objects([json.load(handle)], builder)
                    return
                builder.bad_lines += 1
                continue
            first_line = False
            if type(value) is dict:
                yield value
            else:
                builder.unknown[f"non-object {type(value).__name__}"] += 1


def load_document(path: Path) -> Any:
    """A whole JSON document (for formats written as one object, such as SWE-agent's)."""
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        return json.load(handle)


def _objects(values: list[Any], builder: TraceBuilder) -> Iterator[dict[str, Any]]:
    for value in values:
        if isinstance(value, dict):
            yield value
        else:
            builder.unknown[f"non-object {type(value).__name__}"] += 1


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
