"""Evaluate stage: an edit the per-edit judge says conflicts with a held-out PR is taken out,
and so is one measured not effective beside an edit that carries the candidate.

Takes the candidate (with its per-edit evaluation) and the current prompt set; returns the
candidate without the conflicting edits, each listed under ``dropped`` with the PR and the
judge's reason, and without the not-effective ones (``dropped_edits``), each listed with its
held-out result; and the problems of any edit that could not be taken out (the candidate is then
not proposed: an edit is never left in silently). Each change is reverted in place, by its kind:
an added bullet is removed, a modified one gets its old lines back byte for byte, a removed one
is put back after the line that preceded it, a new subagent file goes; a heading the edits added
that no longer heads anything goes with its last rule, and a file that is back to its current
text is exactly that text.
"""

from __future__ import annotations

from collections.abc import Mapping

from prompt_trainer.evaluate.effects import leniency, may_work, not_effective, other_rate
from prompt_trainer.models import (
    Candidate,
    Change,
    EditEvaluation,
    HeldOutResult,
    PromptFile,
    PromptSet,
)
from prompt_trainer.train.edits import HEADING, locate


def without_conflicts(candidate: Candidate, current: PromptSet) -> tuple[Candidate, list[str]]:
    """The candidate without the edits the judge says conflict with a held-out PR, nor those
    measured not effective beside an edit that carries it (``dropped_edits``), and the
    problems of any that could not be taken out (the candidate is then not proposed)."""
    drop = dropped_edits(candidate.evaluation)
    if not drop:
        return candidate, []
    files = {f.path: f.content for f in candidate.files}
    before = {f.path: f.content for f in current.files}
    problems, notes = [], []
    for n, change in enumerate(candidate.changes, start=1):
        if n not in drop:
            continue
        problem = _revert(change, before, files)
        edit = drop[n]
        where = edit.conflicts[0] if edit.conflicts else ""
        if edit.outcome != "conflicts":
            why = f"is not effective on held-out failures ({edit.summary})"
            if problem:
                problems.append(f"D{n} {why} and {problem}")
            else:
                notes.append(f"D{n} {change.op} {change.text[:80]!r}: {why.removeprefix('is ')}")
        elif problem:
            problems.append(f"D{n} conflicts with a held-out PR ({where}) and {problem}")
        else:
            notes.append(f"D{n} {change.op} {change.text[:80]!r}: conflicts with {where}")
    kept = tuple(c for n, c in enumerate(candidate.changes, start=1) if n not in drop)
    return candidate.model_copy(
        update={
            "files": tuple(PromptFile(path=p, content=t) for p, t in sorted(files.items())),
            "changes": kept if not problems else candidate.changes,
            "dropped": (*candidate.dropped, *notes),
        }
    ), problems


def dropped_edits(result: HeldOutResult | None) -> dict[int, EditEvaluation]:
    """Edit number -> its result, for each edit to take out: those that conflict, and, when
    another edit carries the candidate (``effects.may_work``) and the judge was not lenient,
    those measured not effective (``effects.not_effective``): a ready pull request carries no
    edit the evaluation found useless beside one it found useful."""
    edits = result.edits if result else ()
    drop = {e.edit: e for e in edits if e.outcome == "conflicts"}
    rest = [e for e in edits if e.edit not in drop]
    if result is None or leniency(result) is not None:
        return drop
    rate = other_rate(rest)
    if any(may_work(e, rate) for e in rest if not not_effective(e)):
        drop |= {e.edit: e for e in rest if not_effective(e)}
    return drop


def _revert(change: Change, before: Mapping[str, str], files: dict[str, str]) -> str | None:
    """Take ``change`` out of ``files`` in place; why not, when it cannot be found."""
    if change.op == "add_subagent":
        made = [p for p in files if p not in before and change.text.strip() in files[p]]
        if len(made) != 1:
            return "its subagent file could not be found"
        del files[made[0]]
        return None
    path = change.path
    lines = files.get(path, "").split("\n")
    old = before.get(path, "").split("\n")
    if change.op.startswith(("remove", "retire")):
        return _put_back(change, old, lines, files, path)
    place = locate(lines, change.text)
    if isinstance(place, str):
        return f"its text could not be found ({place})"
    replacement: list[str] = []
    if change.op in ("modify", "refine_rule"):
        original = locate(old, change.replaces)
        if isinstance(original, str):
            return f"the bullet it replaced could not be found ({original})"
        replacement = old[original[0] : original[1]]
    lines[place[0] : place[1]] = replacement
    files[path] = _tidy("\n".join(lines), before.get(path, ""))
    return None


def _put_back(
    change: Change, old: list[str], lines: list[str], files: dict[str, str], path: str
) -> str | None:
    """Reinsert a removed bullet after the line that preceded it in the current file."""
    place = locate(old, change.text)
    if isinstance(place, str):
        return f"the removed bullet could not be found ({place})"
    start, end = place
    anchor = old[start - 1] if start else None
    if anchor is not None and anchor not in lines:
        return "the line before the removed bullet could not be found"
    at = lines.index(anchor) + 1 if anchor is not None else 0
    lines[at:at] = old[start:end]
    files[path] = _tidy("\n".join(lines), "\n".join(old))
    return None


def _tidy(text: str, before: str) -> str:
    """``text`` without a heading the edits added that no longer heads anything (``## Learned
    rules`` after its one rule was taken out); the current text itself when what is left
    differs from it only in blank lines."""
    lines = text.split("\n")
    known = set(before.split("\n"))
    for n in reversed(range(len(lines))):
        if lines[n] not in known and HEADING.match(lines[n]) and _empty_section(lines, n):
            del lines[n]
    squeeze = [ln.rstrip() for ln in lines if ln.strip()]
    if squeeze == [ln.rstrip() for ln in before.split("\n") if ln.strip()]:
        return before
    return "\n".join(lines)


def _empty_section(lines: list[str], heading: int) -> bool:
    """Nothing but blank lines between the heading and the next heading (or the end)."""
    for line in lines[heading + 1 :]:
        if HEADING.match(line):
            return True
        if line.strip():
            return False
    return True
