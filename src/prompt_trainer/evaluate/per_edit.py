"""Evaluate stage, the per-edit judge's question: what it is shown.

No DSPy here (``train.judge`` makes the call). ``edit_views`` turns the candidate's applied
changes into the diff the judge reads, one item per edit (``D1``, ``D2``, ...: the lines removed
with ``-``, the lines added with ``+``, and the current file's line before an added bullet for
its place), not whole files: the judge cannot miss one new line among a hundred unchanged ones,
and its answer is about that edit. Not the trainer's reason for an edit either: the judge weighs
the edit, not the trainer's claim about it. ``current_prompts`` gives the prompt files the
held-out failures happened under (capped at ``CURRENT_CHARS``): an edit that only repeats them
did not prevent those failures. ``failure_views`` lists the held-out failures of one sample
(``F1``, ...) with the short evidence refs (``E3``) of the sample's view that show each. How the
answer is read: ``evaluate.verdicts``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from prompt_trainer.models import Candidate, Change, HeldOutFailure, PromptSet
from prompt_trainer.train.edits import locate
from prompt_trainer.train.views import EvidenceSample, FailureGroup

#: Lines of a new subagent's prompt shown in its diff.
SUBAGENT_LINES = 12
#: Characters of the current prompt files shown to the judge, in all.
CURRENT_CHARS = 6_000


class EditView(BaseModel):
    """One edit as the judge reads it: its ref, file, operation and diff. Not the trainer's
    reason for it: the judge weighs the edit's text, not the trainer's claim about it."""

    model_config = ConfigDict(frozen=True)

    ref: str
    file: str
    op: str
    diff: str


class PromptText(BaseModel):
    """A current prompt file as the judge reads it (the prompts the failures happened under),
    cut at ``CURRENT_CHARS`` over all files with a note."""

    model_config = ConfigDict(frozen=True)

    path: str
    text: str


class FailureView(BaseModel):
    """One held-out failure of the sample shown: its ref, kind, what failed, and the refs of
    the evidence items that show it."""

    model_config = ConfigDict(frozen=True)

    ref: str
    kind: str
    what: str
    evidence: list[str] = []


def edit_views(candidate: Candidate, current: PromptSet) -> list[EditView]:
    """The candidate's changes as diffs, ``D1`` first, in the order of ``candidate.changes``."""
    before = {f.path: f.content for f in current.files}
    after = {f.path: f.content for f in candidate.files}
    return [
        EditView(
            ref=f"D{n}",
            file=change.path,
            op=change.op,
            diff=_diff(change, before.get(change.path, ""), after.get(change.path, "")),
        )
        for n, change in enumerate(candidate.changes, start=1)
    ]


def current_prompts(current: PromptSet, *, limit: int = 0) -> list[PromptText]:
    """The current prompt files, the main one first, within ``limit`` characters in all
    (``CURRENT_CHARS`` by default): an edit that repeats what they already say did not prevent
    the failures that happened under them."""
    left = limit or CURRENT_CHARS
    shown = []
    for file in [current.main, *(f for f in current.files if f.path != current.main.path)]:
        if left <= 0 or not file.content.strip():
            continue
        text = (
            file.content
            if len(file.content) <= left
            else (
                file.content[:left]
                + f"\n[... {len(file.content) - left} more characters not shown]"
            )
        )
        shown.append(PromptText(path=file.path, text=text))
        left -= len(file.content)
    return shown


def _diff(change: Change, before: str, after: str) -> str:
    """``-`` for the lines the edit removes, ``+`` for those it adds, and for an added bullet
    the current file's line before it (unprefixed, two spaces) to show where it goes."""
    if change.op == "add_subagent":
        lines = change.text.strip().split("\n")
        shown = [f"+ {ln}" for ln in lines[:SUBAGENT_LINES]]
        more = len(lines) - SUBAGENT_LINES
        return "\n".join(shown + ([f"  ({more} more lines)"] if more > 0 else []))
    old = _bullet(before, change.replaces or change.text) if change.op != "add" else []
    new = _bullet(after, change.text) if not change.op.startswith(("remove", "retire")) else []
    if change.op in ("add", "add_rule"):
        old = []
    context = _before_line(after, change.text, known=before) if not old and new else []
    if not old and not new:
        new = [change.text]
    return "\n".join(
        [f"  {ln}" for ln in context] + [f"- {ln}" for ln in old] + [f"+ {ln}" for ln in new]
    )


def _bullet(text: str, quote: str) -> list[str]:
    """The lines of the one bullet of ``text`` that ``quote`` names; [] when none does."""
    lines = text.split("\n")
    place = locate(lines, quote)
    return [] if isinstance(place, str) else lines[place[0] : place[1]]


def _before_line(text: str, quote: str, *, known: str) -> list[str]:
    """The non-blank line of the current file (``known``) nearest before the added bullet:
    not a line another edit added, which would show the judge that edit's text too."""
    lines = text.split("\n")
    place = locate(lines, quote)
    if isinstance(place, str):
        return []
    current = set(known.split("\n"))
    earlier = [ln for ln in lines[: place[0]] if ln.strip() and ln in current]
    return earlier[-1:]


def evidence_refs(view: EvidenceSample) -> dict[str, str]:
    """Full evidence id -> the short ref the view shows beside it (a failing test's id -> its
    failure group's ref)."""
    refs: dict[str, str] = {}
    for name in type(view).model_fields:
        value = getattr(view, name)
        for item in value if isinstance(value, list) else [value]:
            ref, full = getattr(item, "ref", ""), getattr(item, "id", "")
            if ref and full:
                refs.setdefault(str(full), str(ref))
                if isinstance(item, FailureGroup):
                    refs.update({test: ref for test in item.tests if test not in refs})
    return refs


def failure_views(failures: Sequence[HeldOutFailure], view: EvidenceSample) -> list[FailureView]:
    """The failures of one held-out sample as the judge reads them, with evidence refs."""
    refs = evidence_refs(view)
    return [
        FailureView(
            ref=f.ref,
            kind=f.kind,
            what=f.label,
            evidence=sorted({refs[e] for e in f.evidence if e in refs}, key=_ref_order),
        )
        for f in failures
    ]


def _ref_order(ref: str) -> tuple[int, str]:
    digits = ref.lstrip("EeFfDd")
    return (int(digits), ref) if digits.isdigit() else (10**6, ref)
