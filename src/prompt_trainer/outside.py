"""Evaluate stage, its input from outside: every text the trainer's model was shown that was
written outside the trusted circle, for the guardrails that refuse copies of it.

Takes the samples a candidate was trained on (with those the memory quoted) and the other lines
shown beside them (the bullet ledger's evidence, reviewers' words on rejected proposals); gives
``(label, text)`` pairs, the label saying where the text came from (``task.issue of o/r#7``).

The texts are derived, not listed: every string field of each sample's evidence view (what the
model read: the task with the PR body and the issue it closes, the human's fix, hunks, failure
groups, trace events, reported failures...) and every string field of the sample itself (what
the view caps or leaves out: untrusted comments, full test output, every trace step), found by
walking the records. A field added to a record later is read without a change here; only
fields excluded from serialisation (``TestRun.passed_ids``, hashes of passing tests) are not.

The one exception is a trusted reviewer's own words (the body and suggestion blocks of feedback
from someone with write access, not the diff hunk it sits on): the product adopts a trusted
reviewer's request as written, and such a person can edit the prompts anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pydantic import BaseModel

from prompt_trainer.models import Feedback, Sample
from prompt_trainer.train.evidence import evidence_view
from prompt_trainer.train.views import ReviewNote

Labelled = tuple[str, str]
#: Fields of a trusted reviewer's record that hold their own words (see the module docstring).
ADOPTABLE = frozenset({"body", "text", "suggestions"})


def outside_texts(samples: Iterable[Sample], *, shown: Iterable[Labelled] = ()) -> list[Labelled]:
    """Every outside string of ``samples`` (their evidence views, then the records), then
    ``shown``; each distinct text once, with the first label it was found under."""
    found: dict[str, str] = {}
    for sample in samples:
        for path, text in (*strings(evidence_view(sample)), *strings(sample)):
            found.setdefault(text, f"{path} of {sample.id}")
    for label, text in shown:
        if text:
            found.setdefault(text, label)
    return [(label, text) for text, label in found.items()]


def strings(value: object, path: str = "") -> Iterator[Labelled]:
    """``(path, text)`` for every non-empty string in ``value``: a record's serialised fields,
    list and tuple items, mapping keys and values."""
    if isinstance(value, str):
        if value.strip():
            yield path, value
    elif isinstance(value, BaseModel):
        skip = ADOPTABLE if _trusted_words(value) else frozenset()
        for name, info in type(value).model_fields.items():
            if name not in skip and not info.exclude:
                yield from strings(getattr(value, name), f"{path}.{name}".lstrip("."))
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            yield from strings(item, f"{path}[{n}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key, path)
            yield from strings(item, f"{path}.{key}")


def _trusted_words(record: BaseModel) -> bool:
    """Feedback from someone with write access (a view's review notes are only theirs)."""
    return isinstance(record, ReviewNote) or (isinstance(record, Feedback) and record.trusted)
