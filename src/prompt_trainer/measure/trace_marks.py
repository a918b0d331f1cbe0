"""Measure stage, no LLM: the two marks of an agent's trace that both the failure clusters
(``measure.clusters``) and the evidence view (``train.trace_events``) read, so that both give
them the same ids.

From a ``Trace`` (a bounded selection of steps, see ``collect.traces``): its terminal error (a
max-iteration stop, an abort, when the format says the run ended in error) and its loops (the
same tool call ``LOOP_TIMES`` or more times), each a ``Mark`` with the id
``trace:<source>#<step>`` (``#end`` for the terminal error) and its text capped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

from prompt_trainer.models import Trace

#: Characters of a terminal error's text, and of a looped call's input.
TERMINAL_CHARS = 500
CONTEXT_CHARS = 200
#: The same tool call this many times in a row of kept steps is a loop.
LOOP_TIMES = 3
LOOP_KEY_CHARS = 120


@dataclass(frozen=True)
class Mark:
    """One mark of a trace: its id as the evidence view gives it, and what it shows."""

    id: str
    kind: Literal["terminal_error", "loop"]
    text: str
    tool: str | None = None
    #: How many times a loop's call was made.
    times: int | None = None


def cap(text: str, chars: int) -> str:
    """``text`` cut to ``chars`` characters, marked with an ellipsis."""
    return text if len(text) <= chars else text[: chars - 1] + "…"


def terminal(trace: Trace) -> list[Mark]:
    """The run's own end in error (a max-iteration stop, an abort), when the format says."""
    if not trace.is_error:
        return []
    last_error = next((s for s in reversed(trace.steps) if s.is_error), None)
    text = trace.result or (last_error.text if last_error else "") or "the run ended in error"
    return [
        Mark(id=f"trace:{trace.source}#end", kind="terminal_error", text=cap(text, TERMINAL_CHARS))
    ]


def loops(trace: Trace) -> list[Mark]:
    """The same tool call (tool and the start of its input: a retried edit of one file with
    other replacement text is the same call) made ``LOOP_TIMES`` or more times."""
    calls = [
        (n, (s.tool, (s.tool_input or "")[:LOOP_KEY_CHARS]))
        for n, s in enumerate(trace.steps)
        if s.role == "assistant" and s.tool
    ]
    counted = Counter(key for _, key in calls)
    first: dict[tuple[str | None, str], int] = {}
    for n, key in calls:
        first.setdefault(key, n)
    return [
        Mark(
            id=f"trace:{trace.source}#{first[key]}",
            kind="loop",
            tool=key[0],
            text=cap(key[1], CONTEXT_CHARS),
            times=times,
        )
        for key, times in counted.most_common(5)
        if times >= LOOP_TIMES
    ]
