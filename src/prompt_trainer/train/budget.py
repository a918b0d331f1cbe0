"""Hold evidence views to a token cap: ranked cuts, each one noted in the view.

``fit_budget`` makes one sample's view fit ``training.max_evidence_tokens`` (a hard cap). Sections
are cut lowest rank first: the changed files, the task, the trace events (edits, then last
words, loops and error steps, from the end), failure groups (smallest first), plain review
comments, then suggestions and requests for changes, reported failures, the human fix, and last
the terminal error. A section is first shortened (texts to ``SHORT_CHARS``), then its items are
dropped from the end; every cut adds a line to ``view.cut``. Refs are given before any cut, so a
kept item keeps its ref.

``fit_request`` shares a request's budget (``REQUEST_FACTOR`` times the per-sample cap, 8,000
tokens by default) between the samples of one call that shows several, leaving out the samples
that do not fit with a note.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from prompt_trainer.train.evidence import EvidenceSample, estimate_tokens

SHORT_CHARS = 160
#: A request may carry this many times ``max_evidence_tokens`` (prompts and framing included).
REQUEST_FACTOR = 2
#: A sample is not worth sending in fewer tokens than this.
MIN_SHARE = 400
#: Text fields shortened in the first cut of a section.
TEXT_FIELDS = ("text", "before", "diff", "body", "issue", "hunk", "message", "context")

#: Cut order: the first is cut first. (section, label, keep items whose ``pointed`` is True).
CUT_ORDER: tuple[tuple[str, str], ...] = (
    ("changed_files", "changed files"),
    ("task", "the task's body"),
    ("trace_events", "trace events"),
    ("failure_groups", "failure groups"),
    ("review_feedback", "review comments"),
    ("reported_failures", "reported failures"),
    ("human_fix", "human fix files"),
    ("terminal_errors", "terminal errors"),
)


def fit_budget(view: EvidenceSample, max_tokens: int) -> EvidenceSample:
    """``view`` within ``max_tokens`` (as ``estimate_tokens`` counts), lowest-ranked cut first."""
    for section, label in CUT_ORDER:
        if estimate_tokens(view) <= max_tokens:
            return view
        view = _shorten(view, section, label)
        if estimate_tokens(view) > max_tokens:
            view = _drop(view, section, label, max_tokens)
    if estimate_tokens(view) > max_tokens:
        view = _bare(view, max_tokens)
    return view


def _shorten(view: EvidenceSample, section: str, label: str) -> EvidenceSample:
    value = getattr(view, section)
    if value is None:
        return view
    if isinstance(value, BaseModel):
        shorter: Any = _short(value)
        changed = shorter != value
    else:
        shorter = [_short(item) for item in value or []]
        changed = shorter != value
    if not changed:
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


def _drop(view: EvidenceSample, section: str, label: str, max_tokens: int) -> EvidenceSample:
    """Drop items of ``section`` from its end until the view fits (or the section is empty)."""
    value = getattr(view, section)
    if isinstance(value, BaseModel):
        ref = getattr(value, "ref", "")
        note = f"{label}: cut ({ref})"
        return view.model_copy(update={section: None, "cut": [*view.cut, note]})
    items = list(value or [])
    if not items:
        return view
    total = len(items)
    excess = estimate_tokens(view) - max_tokens
    while items and excess > 0:
        # Drop as many from the end as their size covers, then measure again.
        freed = 0
        while items and freed < excess:
            freed += estimate_tokens(items.pop()) + 2
        trial = view.model_copy(
            update={section: items, "cut": [*view.cut, _note(label, items, total)]}
        )
        excess = estimate_tokens(trial) - max_tokens
    kept = view.model_copy(update={section: items, "cut": [*view.cut, _note(label, items, total)]})
    return kept


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
