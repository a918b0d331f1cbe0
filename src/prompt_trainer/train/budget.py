"""Hold evidence views to a token cap: ranked cuts, each one noted in the view.

``fit_budget`` makes one sample's view fit ``training.max_evidence_tokens`` (a hard cap). Items
are cut by rank, lowest first, across sections (``LEVELS``): the changed files; the trace's tool
calls and edits; the person's requests in the trace; the agent's last words; the task; the
trace's errors and loops; failure groups (smallest first); plain review comments; suggestions and
requests for changes; reported failures; the human fix; and last the terminal error. So a short
task survives while dozens of tool calls go, and problem evidence outlasts context. At each rank
the items' texts are first shortened (to ``SHORT_CHARS``), then items are dropped from the end;
every cut adds a line to ``view.cut``. Items the view names in ``focus`` (the evidence of the
failure a reflection is about) are shortened, and dropped only when everything else is gone.
Refs are given before any cut, so a kept item keeps its ref.

``fit_request`` shares a request's budget (``REQUEST_FACTOR`` times the per-sample cap, 8,000
tokens by default) between the samples of one call that shows several, leaving out the samples
that do not fit with a note.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from prompt_trainer.train.evidence import EvidenceSample, estimate_tokens
from prompt_trainer.train.views import Event, ReviewNote

SHORT_CHARS = 160
#: A request may carry this many times ``max_evidence_tokens`` (prompts and framing included).
REQUEST_FACTOR = 2
#: A sample is not worth sending in fewer tokens than this.
MIN_SHARE = 400
#: Text fields shortened in the first cut of a section.
TEXT_FIELDS = ("text", "before", "diff", "body", "issue", "hunk", "message", "context")

Pick = Callable[[BaseModel], bool]


def _kinds(*kinds: str) -> Pick:
    return lambda item: isinstance(item, Event) and item.kind in kinds


def _pointed(item: BaseModel) -> bool:
    return isinstance(item, ReviewNote) and (
        bool(item.suggestions) or item.state == "CHANGES_REQUESTED"
    )


def _any(_: BaseModel) -> bool:
    return True


#: Cut order, lowest rank first: (section, which of its items, label in ``view.cut``).
LEVELS: tuple[tuple[str, Pick, str], ...] = (
    ("changed_files", _any, "changed files"),
    ("trace_events", _kinds("call", "edit"), "trace events (tool calls and edits)"),
    ("trace_events", _kinds("prompt"), "trace events (the person's requests)"),
    ("trace_events", _kinds("result", "last_message"), "trace events (last words)"),
    ("task", _any, "the task"),
    ("trace_events", _any, "trace events (errors and loops)"),
    ("failure_groups", _any, "failure groups"),
    ("review_feedback", lambda i: not _pointed(i), "review comments"),
    ("review_feedback", _pointed, "suggestions and requests for changes"),
    ("reported_failures", _any, "reported failures"),
    ("human_fix", _any, "human fix files"),
    ("terminal_errors", _any, "terminal errors"),
)


def fit_budget(view: EvidenceSample, max_tokens: int) -> EvidenceSample:
    """``view`` within ``max_tokens`` (as ``estimate_tokens`` counts), lowest-ranked cut first;
    the items of ``view.focus`` go last."""
    # A second pass drops focus items too: the cap is hard, whatever the focus holds.
    for keep in (frozenset(view.focus), frozenset()):
        for section, pick, label in LEVELS:
            if estimate_tokens(view) <= max_tokens:
                return view
            view = _shorten(view, section, pick, label)
            if estimate_tokens(view) > max_tokens:
                view = _drop(view, section, pick, label, max_tokens, keep)
    if estimate_tokens(view) > max_tokens:
        view = _bare(view, max_tokens)
    return view


def _shorten(view: EvidenceSample, section: str, pick: Pick, label: str) -> EvidenceSample:
    value = getattr(view, section)
    if value is None:
        return view
    if isinstance(value, BaseModel):
        shorter: Any = _short(value) if pick(value) else value
    else:
        shorter = [_short(item) if pick(item) else item for item in value or []]
    if shorter == value:
        return view
    note = f"{label}: texts shortened to {SHORT_CHARS} characters"
    return view.model_copy(update={section: shorter, "cut": [*view.cut, note]})


def _short(item: BaseModel) -> BaseModel:
    update: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = getattr(item, name, None)
        if isinstance(value, str) and len(value) > SHORT_CHARS:
            update[name] = value[: SHORT_CHARS - 1] + "…"
    if getattr(item, "suggestions", None):
        update["suggestions"] = [s[:SHORT_CHARS] for s in item.suggestions]  # type: ignore[attr-defined]
    return item.model_copy(update=update) if update else item


def _drop(  # noqa: PLR0917 - one level of LEVELS, and the cap
    view: EvidenceSample,
    section: str,
    pick: Pick,
    label: str,
    max_tokens: int,
    keep: frozenset[str],
) -> EvidenceSample:
    """Drop the picked items of ``section`` (not those in ``keep``) from its end until the view
    fits or none is left."""
    value = getattr(view, section)
    if isinstance(value, BaseModel):
        if not pick(value) or getattr(value, "ref", "") in keep:
            return view
        note = f"{label}: cut ({getattr(value, 'ref', '')})"
        return view.model_copy(update={section: None, "cut": [*view.cut, note]})
    items = list(value or [])
    level = [n for n, i in enumerate(items) if pick(i)]
    droppable = [n for n in level if getattr(items[n], "ref", "") not in keep]
    if not droppable:
        return view
    gone: set[int] = set()
    excess = estimate_tokens(view) - max_tokens
    while droppable and excess > 0:
        # Drop as many from the end as their size covers, then measure again.
        freed = 0
        while droppable and freed < excess:
            n = droppable.pop()
            gone.add(n)
            freed += estimate_tokens(items[n]) + 2
        excess = estimate_tokens(_without(view, section, items, gone)) - max_tokens
    kept = [items[n] for n in level if n not in gone]
    note = _note(label, kept, len(level))
    return _without(view, section, items, gone).model_copy(update={"cut": [*view.cut, note]})


def _without(
    view: EvidenceSample, section: str, items: list[BaseModel], gone: set[int]
) -> EvidenceSample:
    return view.model_copy(update={section: [i for n, i in enumerate(items) if n not in gone]})


def _note(label: str, kept: list[BaseModel], total: int) -> str:
    refs = [str(getattr(i, "ref", "")) for i in kept]
    shown = f"; kept {', '.join(refs)}" if refs and len(refs) <= 6 else ""
    return f"{label}: {total - len(kept)} of {total} cut{shown}"


def _bare(view: EvidenceSample, max_tokens: int) -> EvidenceSample:
    """The last resort: the id, a shortened title, the counts and what was cut."""
    bare = view.model_copy(
        update={
            "title": view.title[:SHORT_CHARS],
            "traces": [],
            "notes": view.notes[:3],
            "cut": [*view.cut[-4:], "trace summaries and notes cut"],
        }
    )
    if estimate_tokens(bare) > max_tokens:
        bare = bare.model_copy(update={"notes": [], "cut": ["everything but the counts cut"]})
    return bare


def fit_request(
    views: list[EvidenceSample], *, max_evidence_tokens: int, fixed_tokens: int
) -> tuple[list[EvidenceSample], str | None]:
    """The views one call can carry: each fitted to an equal share of the request's budget
    (``REQUEST_FACTOR * max_evidence_tokens`` minus ``fixed_tokens`` for prompts and framing),
    at least ``MIN_SHARE``; the views beyond are left out, said in the returned note."""
    room = REQUEST_FACTOR * max_evidence_tokens - fixed_tokens
    if not views:
        return [], None
    share = min(max_evidence_tokens, max(MIN_SHARE, room // len(views)))
    fitted: list[EvidenceSample] = []
    used = 0
    for view in views:
        small = fit_budget(view, share)
        size = estimate_tokens(small)
        if fitted and used + size > room:
            break
        fitted.append(small)
        used += size
    left = len(views) - len(fitted)
    note = (
        f"{left} of {len(views)} samples left out of one call to keep it within "
        f"{REQUEST_FACTOR * max_evidence_tokens:,} tokens"
        if left
        else None
    )
    return fitted, note
