"""Evaluate stage, the per-edit judge's answer: read item by item, in the forms models write.

``parse_verdicts`` reads a JSON list of objects (``{"edit": "D1", "failure": "F2", "verdict":
"prevents", "why": "..."}``, with the usual synonyms for each key), a JSON object keyed by edit
(``{"D1": {"F1": "partly"}}``, or ``{"D1/F1": ...}``), or plain lines and Markdown table rows
(``D1 F2: prevents - ...``, ``| D1 | F2 | partly | ... |``). ``read_verdict`` reads verdicts from
their usual words (``prevented``, ``partially``, ``not relevant``, ``would break``; a negated
"prevent" is irrelevant). An item whose edit, failure or verdict cannot be read is left out and
listed with the reason; so is an edit and failure the answer gives no verdict for. A failure may
be named as ``all`` or as a list; an item that names no failure counts only on a sample with a
single failure (or for a conflict, which is about the edit), never spread over several: a
lenient reading would be the judge's leniency again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prompt_trainer.models import Effect
from prompt_trainer.train.edits import load_list

#: Characters of one judge's "why" kept.
WHY_CHARS = 300


@dataclass(frozen=True)
class Reading:
    """One verdict read from an answer: edit number, failure ref ("" on a PR without a
    problem, or for a conflict named without a failure), the verdict and why."""

    edit: int
    failure: str
    verdict: Effect
    why: str = ""


KEYS = {
    "edit": ("edit", "edit_id", "edit_ref", "edits", "change", "diff", "d", "id", "ref"),
    "failure": ("failure", "failure_id", "failure_ref", "failures", "problem", "f", "issue"),
    "verdict": (
        "verdict", "answer", "effect", "result", "judgement", "judgment", "label",
        "assessment", "rating", "decision",
    ),
    "why": ("why", "reason", "because", "explanation", "rationale", "comment", "feedback"),
}  # fmt: skip
EDIT_REF = re.compile(r"(?<![A-Za-z0-9])(?:edit(?:\s*#)?|d)\s*(\d{1,3})(?![0-9])", re.I)
FAILURE_REF = re.compile(r"(?<![A-Za-z0-9])(?:failure(?:\s*#)?|f)\s*(\d{1,3})(?![0-9])", re.I)
NEGATED = re.compile(
    r"\b(?:not|no|never|doesn'?t|does not|wouldn'?t|would not|won'?t|cannot|can'?t|fails? to)"
    r"\b[^.;]{0,30}\bprevent",
    re.I,
)
#: What separates a line's verdict from its reason, and what leads up to the verdict.
#: Starts only where a run of spaces starts (``(?<!\s)``), which it reads once: unpinned, each
#: space of a long run was a start that read the run to its end (quadratic in judge output).
SEPARATOR = re.compile(r"(?<!\s)\s++[-–—]\s+|:\s|\.\s|;\s|,\s|(?<!\s)\s++because\s+")
PUNCTUATION = re.compile(r"^[\W_]*")
WORDS: tuple[tuple[Effect, re.Pattern[str]], ...] = (
    ("conflicts", re.compile(r"\b(?:conflict\w*|contradict\w*|break\w*|harm\w*|hurts?|worse)\b")),
    ("partly", re.compile(r"\b(?:partl\w*|partial\w*|somewhat|mitigat\w*|reduc\w*|helps?)\b")),
    (
        "irrelevant",
        re.compile(r"\b(?:irrelevant|not relevant|unrelated|no effect|none|n/?a|neutral|no)\b"),
    ),
    ("prevents", re.compile(r"\b(?:prevent\w*|fix\w*|yes|solves?|avoids?|stops?)\b")),
)


def read_verdict(text: object) -> Effect | None:
    """The verdict in ``text`` as models write it; None when there is none."""
    flat = re.sub(r"[*_`\"']", "", str(text or "")).strip().lower()
    if not flat:
        return None
    if NEGATED.search(flat):
        return "irrelevant"
    found = [(m.start(), effect) for effect, word in WORDS if (m := word.search(flat))]
    return min(found)[1] if found else None


def parse_verdicts(
    answer: object, *, edits: int, failures: Sequence[str]
) -> tuple[list[Reading], list[str]]:
    """The verdicts in ``answer`` for edits ``D1..D<edits>`` and ``failures`` (refs; none on a
    PR without a problem), item by item, and why each other item was left out; verdicts
    missing for an edit and failure are listed too."""
    items = _items(answer)
    if items is None:
        return [], [f"the answer holds no verdicts: {str(answer)[:80]!r}"]
    found: dict[tuple[int, str], Reading] = {}
    problems: list[str] = []
    for n, item in enumerate(items, start=1):
        readings = _reading(item, edits=edits, failures=failures)
        if isinstance(readings, str):
            problems.append(f"item {n}: {readings}")
            continue
        for reading in readings:
            found.setdefault((reading.edit, reading.failure), reading)
    return list(found.values()), problems + _missing(found, edits=edits, failures=failures)


def _missing(
    found: Mapping[tuple[int, str], Reading], *, edits: int, failures: Sequence[str]
) -> list[str]:
    """Edit-and-failure pairs without a verdict (an edit's conflict answers all its pairs)."""
    conflicting = {e for (e, _), r in found.items() if r.verdict == "conflicts"}
    missing = []
    for edit in range(1, edits + 1):
        for failure in failures or [""]:
            if (edit, failure) not in found and edit not in conflicting:
                on = f" on {failure}" if failure else ""
                missing.append(f"no verdict for D{edit}{on}")
    return missing


def _items(answer: object) -> list[Any] | None:
    """The answer's items: a JSON list (or an object holding one), an object keyed by edit,
    or its non-empty lines."""
    if isinstance(answer, list | tuple):
        return list(answer)
    text = str(answer or "").strip()
    if not text:
        return None
    listed = load_list(text) if text[:1] in "[{`" else None
    if listed is not None:
        return listed
    keyed = _keyed(text)
    if keyed is not None:
        return keyed
    lines = [ln for ln in text.split("\n") if EDIT_REF.search(ln)]
    return lines or None


def _keyed(text: str) -> list[Any] | None:
    """``{"D1": {"F1": "prevents"}}``, ``{"D1": "conflicts"}`` or ``{"D1/F2": ...}`` as items."""
    fenced = re.search(r"```(?:json)?\s*\n(.*?)(?:```|$)", text, re.DOTALL)
    try:
        data = json.loads(fenced.group(1) if fenced else text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not all(EDIT_REF.search(str(k)) for k in data):
        return None
    items: list[Any] = []
    for key, value in data.items():
        if isinstance(value, dict) and value and all(FAILURE_REF.search(str(k)) for k in value):
            items += [{"edit": key, "failure": f, "verdict": v} for f, v in value.items()]
        else:
            items.append({"edit": key, "verdict": value})
    return items


def _reading(item: object, *, edits: int, failures: Sequence[str]) -> list[Reading] | str:
    fields = _fields(item)
    if isinstance(fields, str):
        return fields
    edit_text, failure_text, verdict_text, why = fields
    edit = _edit(edit_text, edits)
    if isinstance(edit, str):
        return edit
    verdict = read_verdict(verdict_text)
    if verdict is None:
        return f"D{edit}: no verdict in {str(verdict_text)[:60]!r}"
    named = _failures(failure_text, failures)
    if isinstance(named, str):
        return f"D{edit}: {named}"
    if not named:
        if verdict != "conflicts" and len(failures) > 1:
            return f"D{edit}: names no failure (the PR has {', '.join(failures)})"
        named = list(failures[:1]) if verdict != "conflicts" else [""]
    return [Reading(edit, f, verdict, why.strip(" -–—")[:WHY_CHARS]) for f in named or [""]]


def _fields(item: object) -> tuple[str, str, str, str] | str:
    """(edit, failure, verdict, why) texts of an object or a line."""
    if isinstance(item, dict):
        lowered = {str(k).strip().lower(): v for k, v in item.items()}
        value = {
            name: next((lowered[k] for k in keys if k in lowered), "")
            for name, keys in KEYS.items()
        }
        if isinstance(value["verdict"], dict):  # {"edit": "D1", "verdict": {"verdict": ..}}
            inner = {str(k).lower(): v for k, v in value["verdict"].items()}
            value["why"] = value["why"] or inner.get("why", "")
            value["verdict"] = next((inner[k] for k in KEYS["verdict"] if k in inner), "")
        failure = value["failure"]
        if isinstance(failure, list | tuple):
            failure = ", ".join(str(f) for f in failure)
        return str(value["edit"]), str(failure), str(value["verdict"]), str(value["why"])
    if not isinstance(item, str):
        return f"not an object or a line: {str(item)[:60]!r}"
    return _line_fields(item)


def _line_fields(line: str) -> tuple[str, str, str, str]:
    """``D1 F2: prevents - why``, ``edit 1 on failure 2 - partly``, or a table row
    ``| D1 | F2 | prevents | why |``."""
    cells = [c.strip("*` ") for c in line.strip().strip("|").split("|")]
    if len(cells) >= 3:
        edit_cell = next((c for c in cells if EDIT_REF.fullmatch(c)), cells[0])
        failure_cell = next((c for c in cells if FAILURE_REF.fullmatch(c)), "")
        rest = [c for c in cells if c not in (edit_cell, failure_cell)]
        return edit_cell, failure_cell, rest[0] if rest else "", " ".join(rest[1:])
    edit = EDIT_REF.search(line)
    if not edit:
        return line, "", line, ""
    after = line[edit.end() :]
    failure = FAILURE_REF.search(after[:24])
    if failure:
        after = after[failure.end() :]
    verdict, *why = SEPARATOR.split(PUNCTUATION.sub("", after, count=1), maxsplit=1)
    return edit.group(0), failure.group(0) if failure else "", verdict, "".join(why).strip()


def _edit(text: str, edits: int) -> int | str:
    match = EDIT_REF.search(text) or re.fullmatch(r"\s*#?(\d{1,3})\s*", text)
    if not match:
        return f"names no edit: {text[:40]!r}"
    number = int(match.group(1))
    if not 1 <= number <= edits:
        return f"no edit D{number} (there are {edits})"
    return number


def _failures(text: str, failures: Sequence[str]) -> list[str] | str:
    """The failure refs ``text`` names: none, ``all``/``both``, one or several."""
    flat = text.strip().strip("*` ").lower()
    if flat in ("", "-", "none", "n/a", "null", "no failure", "no problem"):
        return []
    if flat in ("all", "both", "every", "*", "all failures"):
        return list(failures)
    named = [f"F{m.group(1)}" for m in FAILURE_REF.finditer(text)]
    if not named and re.fullmatch(r"\d{1,3}", flat):
        named = [f"F{flat}"]
    unknown = [f for f in named if f not in failures]
    if not named or unknown:
        shown = ", ".join(failures) or "no failures"
        return f"names no failure of this PR ({text[:40]!r}; it has {shown})"
    return list(dict.fromkeys(named))
