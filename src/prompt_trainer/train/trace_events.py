"""The agent's trace in the evidence view: what it did wrong, repeated, changed and said last.

From a ``Trace`` (a bounded selection of steps, see ``collect.traces``): its terminal error (a
max-iteration stop, an abort), error steps with the step before, loops (the same tool call
``LOOP_TIMES`` or more times; these two from ``measure.trace_marks``, which the failure clusters
read too), the final result or, without one, the last message, the first and
last requests a person made, the edits it made and its last tool calls, each as an ``Event``
with the id ``trace:<source>#<step>``.
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_trainer.measure import trace_marks as marks
from prompt_trainer.measure.trace_marks import CONTEXT_CHARS, cap
from prompt_trainer.models import Trace, TraceStep
from prompt_trainer.train.views import Event, TraceSummary

#: Characters of a step's text (those of the context around it: ``trace_marks.CONTEXT_CHARS``).
MESSAGE_CHARS = 500
MAX_EDITS = 10
#: The agent's last tool calls shown (when not already shown as an error, a loop or an edit).
CLOSING_CALLS = 3
#: Tool names (lower case, as a substring) that change files.
EDIT_TOOLS = ("edit", "write", "patch", "create", "replace")


def terminal(trace: Trace) -> list[Event]:
    """The run's own end in error (a max-iteration stop, an abort), when the format says."""
    return [_event(mark) for mark in marks.terminal(trace)]


def loops(trace: Trace) -> list[Event]:
    """The same tool call made ``LOOP_TIMES`` or more times (``measure.trace_marks.loops``)."""
    return [_event(mark) for mark in marks.loops(trace)]


def _event(mark: marks.Mark) -> Event:
    return Event(id=mark.id, kind=mark.kind, tool=mark.tool, text=mark.text, times=mark.times)


def events(trace: Trace, notes: list[str]) -> list[Event]:
    steps = trace.steps
    errors = [
        Event(
            id=f"trace:{trace.source}#{n}",
            kind="error",
            tool=step.tool,
            text=cap(step.text, MESSAGE_CHARS),
            before=_step_line(steps[n - 1]) if n else "",
        )
        for n, step in enumerate(steps)
        if step.is_error
    ]
    events = [
        *errors,
        *loops(trace),
        *_last_words(trace, notes),
        *_prompt(trace),
        *_edits(trace, notes),
    ]
    return events + _closing(trace, {e.id for e in events})


def _prompt(trace: Trace) -> list[Event]:
    """The first and the last thing a person asked in the transcript: the task as the agent
    saw it, and the request its last words answer."""
    asked = [(n, s) for n, s in enumerate(trace.steps) if s.role == "user" and s.text.strip()]
    chosen = asked[:1] + asked[-1:] if len(asked) > 1 else asked
    return [
        Event(id=f"trace:{trace.source}#{n}", kind="prompt", text=cap(step.text, 300))
        for n, step in chosen
    ]


def _closing(trace: Trace, shown: set[str]) -> list[Event]:
    """The last ``CLOSING_CALLS`` tool calls not shown otherwise: what the agent did last."""
    calls = _tool_calls(trace, kind="call", chars=CONTEXT_CHARS)
    return [c for c in calls if c.id not in shown][-CLOSING_CALLS:]


def _last_words(trace: Trace, notes: list[str]) -> list[Event]:
    """The final result, or for a transcript without one the agent's last message."""
    if trace.result and not trace.is_error:
        text = cap(trace.result, MESSAGE_CHARS)
        return [Event(id=f"trace:{trace.source}#result", kind="result", text=text)]
    if trace.is_error:
        return []  # its end is the terminal error
    last = next(
        (
            (n, s)
            for n, s in reversed(list(enumerate(trace.steps)))
            if s.role in ("assistant", "transcript") and s.text.strip() and not s.tool
        ),
        None,
    )
    if last is None:
        notes.append(f"trace {trace.source}: no final result or last message")
        return []
    n, step = last
    return [
        Event(
            id=f"trace:{trace.source}#{n}", kind="last_message", text=cap(step.text, MESSAGE_CHARS)
        )
    ]


def _edits(trace: Trace, notes: list[str]) -> list[Event]:
    """The agent's file changes (Edit, Write, apply_patch...) with what they wrote."""
    found = _tool_calls(
        trace, kind="edit", chars=CONTEXT_CHARS * 2, only=lambda t: any(w in t for w in EDIT_TOOLS)
    )
    if len(found) > MAX_EDITS:
        notes.append(f"trace {trace.source}: {len(found) - MAX_EDITS} more edit(s) not shown")
    return found[:MAX_EDITS]


def _tool_calls(
    trace: Trace, *, kind: str, chars: int, only: Callable[[str], bool] = lambda _: True
) -> list[Event]:
    """The trace's tool calls as ``kind`` events, their input capped at ``chars``; ``only``
    (given the lower-cased tool name) picks some."""
    return [
        Event(
            id=f"trace:{trace.source}#{n}",
            kind=kind,
            tool=s.tool,
            text=cap(s.tool_input or "", chars),
        )
        for n, s in enumerate(trace.steps)
        if s.role == "assistant" and s.tool and only(s.tool.lower())
    ]


def _step_line(step: TraceStep) -> str:
    what = f"{step.role}/{step.tool}" if step.tool else step.role
    detail = step.tool_input or step.text
    return f"{what}: {detail}"[:CONTEXT_CHARS]


def summary(trace: Trace) -> TraceSummary:
    shared = trace.model_dump(include={"source", "format", "turns", "tool_calls", "tool_errors"})
    return TraceSummary(steps=trace.steps_total, ended_in_error=trace.is_error, **shared)
