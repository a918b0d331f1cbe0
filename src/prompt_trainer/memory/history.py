"""Store stage, the bullet history as training reads it: what merged proposals did to each
current bullet, and whether the failures it was written for came back.

In: the current prompt set, the ledger's entries and the stored samples. Out:
``history_notes``, one line per current bullet with a history: it matches each bullet of the
current prompt files (numbered as the model sees them, ``B1``, ``B2``...) to its entries by
normalised text (or the stored prefix, as the state block caps texts), follows a ``modify`` back
to the bullet it replaced, and says when it was added, for which evidence, which later samples
(those that ran on the version the merge made, or whose PR opened after the merge) failed in
the same way (``recurrences``: the same test, the same normalised message, or a report of the
same type), where reviewers approved it, and the clusters it targets, with the reason.
"""

from __future__ import annotations

from datetime import datetime

from prompt_trainer.bullets import bullets
from prompt_trainer.measure.facts import message_key
from prompt_trainer.memory.ledger import (
    HUMAN,
    BulletEntry,
    chain_of,
    merged,
    opened,
    own_entry,
)
from prompt_trainer.models import PromptSet, Sample

#: Later samples named per bullet, and characters of a failure shown.
MAX_RECURRENCES = 3
SHOWN_CHARS = 120


def _after(sample: Sample, entry: BulletEntry) -> bool:
    """The sample ran with the bullet: on the version the merge made, or opened after it."""
    if entry.version and sample.prompt_versions.get(entry.target) == entry.version:
        return True
    return entry.merged_at is not None and opened(sample) > entry.merged_at


def recurrences(entry: BulletEntry, samples: list[Sample]) -> list[tuple[str, str]]:
    """(sample id, what failed) for each later sample that failed in a way the entry's
    evidence did: the same test, the same normalised message, or a report of the same type."""
    kinds = set(entry.kinds)
    found: list[tuple[str, str]] = []
    for sample in samples:
        if not kinds or not _after(sample, entry):
            continue
        what = _same_kind(sample, kinds)
        if what:
            found.append((sample.id, what))
    return found


def _same_kind(sample: Sample, kinds: set[str]) -> str:
    for run in sample.test_runs:
        for case in run.problems:
            message = message_key(case.message or case.text)
            if f"test:{case.id}" in kinds or (message and f"message:{message}" in kinds):
                return f"{case.id} {case.status}: {message}"[:SHOWN_CHARS]
    for report in sample.failures:
        if f"type:{report.type}" in kinds:
            return f"reported {report.type}: {' '.join(report.description.split())}"[:SHOWN_CHARS]
    return ""


def history_notes(
    current: PromptSet, entries: list[BulletEntry], samples: list[Sample]
) -> tuple[str, ...]:
    """One line per current bullet that has a history, as the model reads it: what merged
    proposals did to it (``_story``) and the clusters it targets, with the reason (its counts
    are ``outcome_notes``')."""
    mine = [e for e in entries if e.target == current.target]
    bots = [e for e in mine if e.by == "bot"]
    merges = sorted({(merged(e), e.pull) for e in bots})
    notes: list[str] = []
    for prompt in current.files:
        for n, text in enumerate(bullets(prompt.content), start=1):
            chain = [e for e in chain_of(text, bots) if e.path in ("", prompt.path)]
            parts = [_story(chain, merges, samples)] if chain else []
            own = own_entry(mine, prompt.path, text)
            if own is not None and own.by == HUMAN and own.targets:
                parts.append(f"written by a person (first in version {own.introduced or '?'})")
            if own is not None and own.targets:
                parts.append("targets " + _targets(own))
            if parts:
                notes.append(f"{prompt.path} B{n}: " + "; ".join(parts))
    return tuple(notes)


def _targets(entry: BulletEntry) -> str:
    """``<cluster> (<reason>), ...``: what the bullet targets and why."""
    return ", ".join(f"{t.label or t.cluster} ({t.reason})" for t in entry.targets[:3])


def _story(
    chain: list[BulletEntry], merges: list[tuple[datetime, int]], samples: list[Sample]
) -> str:
    first, last = chain[0], chain[-1]
    ago = len([m for m in merges if m[1] != last.pull and m > (merged(last), last.pull)])
    when = "the latest merged proposal" if not ago else f"{ago} merged proposal(s) ago"
    steps = [f"added in #{first.pull}{_for(first)}"]
    steps += [f"changed in #{e.pull}{_for(e)}" for e in chain[1:]]
    parts = [f"{'; '.join(steps)} ({when})"]
    approved = sorted({e.pull for e in chain if e.approved})
    parts.append("approved by reviewers in " + ", ".join(f"#{p}" for p in approved) + " (merged)")
    back = list(dict.fromkeys(r for e in chain[-1:] for r in recurrences(e, samples)))
    if back:
        shown = "; ".join(f"{sid} ({what})" for sid, what in back[:MAX_RECURRENCES])
        parts.append(
            f"the same kind of failure came back after it in {len(back)} later sample(s): {shown}"
            " — make this bullet sharper rather than adding another"
        )
    elif last.kinds:
        parts.append("no failure of the same kind came back since")
    return "; ".join(parts)


def _for(entry: BulletEntry) -> str:
    return f" for {', '.join(entry.evidence[:3])}" if entry.evidence else ""
