"""Store stage, what of the loop's memory the guardrails' copy check reads: the outside words
the model was shown beside the evidence, so that a candidate that copies them is caught.

In: the current prompt set, every stored sample, the target's ledger entries, the earlier-version
context (samples and their summaries) and the rejected proposals. Out: ``quoted_samples``, the
samples whose words the bullet history and the context may quote (the context's samples, those
the history names, and every earlier-version sample with a problem, which ``train.plan`` may
show as evidence of a failure that still occurs), read whole by the check; ``outside_texts``,
the other outside strings with where each was shown: the earlier-version context, the evidence,
kinds and targeted clusters' labels of the ledger's entries (test ids, failure messages,
reviewers' words: the outcome notes show the labels, and an entry outlives the samples they
came from), and what reviewers wrote on rejected proposals.
"""

from __future__ import annotations

from collections.abc import Iterable

from prompt_trainer.memory.earlier import earlier_problems
from prompt_trainer.memory.history import history_notes
from prompt_trainer.memory.ledger import BulletEntry
from prompt_trainer.models import PromptSet, Rejection, Sample


def quoted_samples(
    current: PromptSet,
    stored: list[Sample],
    entries: list[BulletEntry],
    earlier: tuple[Sample, ...],
) -> tuple[Sample, ...]:
    """The context's samples, those the bullet history names, then every earlier-version sample
    with a problem: the samples whose words training may be shown."""
    notes = history_notes(current, entries, stored)
    named = {sid for line in notes for sid in _named(line, stored)}
    quoted = earlier + tuple(s for s in stored if s.id in named and s not in earlier)
    return quoted + tuple(s for s in earlier_problems(current, stored) if s not in quoted)


def _named(line: str, stored: list[Sample]) -> list[str]:
    return [s.id for s in stored if f"{s.id} (" in line]


def outside_texts(
    earlier: Iterable[str], entries: Iterable[BulletEntry], rejected: Iterable[Rejection] = ()
) -> tuple[tuple[str, str], ...]:
    """(where it was shown, the text) for the earlier-version context's lines, the ledger
    entries' evidence, kinds and targets' labels, and what reviewers wrote on ``rejected``."""
    found = [("the earlier-version context", line) for line in earlier]
    for e in entries:
        labels = tuple(t.label for t in e.targets if t.label)
        found += [(f"the bullet ledger (#{e.pull})", t) for t in (*e.evidence, *e.kinds, *labels)]
    for r in rejected:
        found += [(f"what reviewers wrote on rejected #{r.pull}", t) for t in r.reasons]
    return tuple(found)
