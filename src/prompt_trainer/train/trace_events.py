"""The agent's trace in the evidence view: what it did wrong, repeated, changed and said last.

From a ``Trace`` (a bounded selection of steps, see ``collect.traces``): its terminal error (a
max-iteration stop, an abort), error steps with the step before, loops (the same tool call
``LOOP_TIMES`` or more times), the final result or, without one, the last message, the first and
last requests a person made, the edits it made and its last tool calls, each as an ``Event``
with the id ``trace:<source>#<step>``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from prompt_trainer.models import Trace, TraceStep
from prompt_trainer.train.views import Event, TraceSummary

#: Characters of a step's text, and of the context around it.
MESSAGE_CHARS = 500
CONTEXT_CHARS = 200
MAX_EDITS = 10
#: The agent's last tool calls shown (when not already shown as an error, a loop or an edit).
CLOSING_CALLS = 3
#: The same tool call this many times in a row of kept steps is a loop.
LOOP_TIMES = 3
LOOP_KEY_CHARS = 120
#: Tool names (lower case, as a substring) that change files.
EDIT_TOOLS = ("edit", "write", "patch", "create", "replace")


def cap(text: str, chars: int) -> str:
    """``text`` cut to ``chars`` characters, marked with an ellipsis."""
    return text if len(text) <= chars else text[: chars - 1] + "…"


def terminal(trace: Trace) -> list[Event]:
    """The run's own end in error (a max-iteration stop, an abort), when the format says."""
    if not trace.is_error:
        return []
    last_error = next((s for s in reversed(trace.steps) if s.is_error), None)
    text = trace.result or (last_error.text if last_error else "") or "the run ended in error"
    return [Event(id=f"trace:{trace.source}#end", kind="terminal_error", text=cap(text, 500))]


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


def loops(trace: Trace) -> list[Event]:
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
        Event(
            id=f"trace:{trace.source}#{first[key]}",
            kind="loop",
            tool=key[0],
            text=cap(key[1], CONTEXT_CHARS),
            times=times,
        )
        for key, times in counted.most_common(5)
        if times >= LOOP_TIMES
    ]


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
