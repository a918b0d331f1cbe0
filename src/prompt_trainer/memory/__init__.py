"""Store stage, what the loop remembers across prompt versions, and what of it one target's
training is shown (``memory_for`` -> ``Memory``).

In: the current prompt set, every stored sample, the bullet ledger's entries and, by target,
the samples closed proposals were judged on. Out: a frozen ``Memory``: the target's ledger
entries and the stored samples (for the bullet history and the realized outcomes, each read
without the held-out samples), the earlier-version context, the judged samples (trained on,
never held out again), and what the copy check reads of it (``quoted``, ``outside``).

One module per concern:

- ``ledger``: the per-bullet ledger (``bullets.jsonl``, ``BulletEntry``), its merge and its
  sync to the data branch, and finding a bullet's entries;
- ``observe``: what this run sees of each current bullet (the version that introduced it, the
  clusters it targets, the samples before it and since), joined into the ledger;
- ``realized``: what each bullet did to its clusters (``outcome_notes`` for training,
  ``merge_outcomes`` for the PR body and the dashboard, ``bullet_rows`` for ``report``);
- ``history``: the bullet history the model reads (``history_notes``);
- ``earlier``: the earlier-version context, and the samples closed proposals were judged on;
- ``quoted``: the samples and outside texts the guardrails' copy check reads.

The names other modules use are importable from this package too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prompt_trainer.memory.earlier import earlier_context, judged_ids, summary
from prompt_trainer.memory.history import history_notes
from prompt_trainer.memory.ledger import (
    BULLETS,
    BulletEntry,
    ClusterTarget,
    bullets_path,
    dumps,
    entries_of,
    load_entries,
    sync_bullets,
)
from prompt_trainer.memory.observe import joined, observe
from prompt_trainer.memory.quoted import outside_texts, quoted_samples
from prompt_trainer.memory.realized import (
    MIN_AFTER,
    BulletOutcomeNote,
    bullet_rows,
    merge_outcomes,
    outcome_notes,
    outcome_of,
)
from prompt_trainer.models import PromptSet, Rejection, Sample

__all__ = [
    "BULLETS",
    "BulletEntry",
    "BulletOutcomeNote",
    "ClusterTarget",
    "Memory",
    "bullet_rows",
    "bullets_path",
    "dumps",
    "entries_of",
    "history_notes",
    "joined",
    "judged_ids",
    "load_entries",
    "memory_for",
    "merge_outcomes",
    "observe",
    "outcome_of",
    "sync_bullets",
]


@dataclass(frozen=True)
class Memory:
    """What a target's training is shown from before its current version."""

    #: The bullet ledger of the target, and every stored sample (``history`` reads them).
    entries: tuple[BulletEntry, ...] = ()
    stored: tuple[Sample, ...] = ()
    #: Summaries of samples of earlier versions: context, never training targets.
    earlier: tuple[str, ...] = ()
    #: Samples a closed proposal was judged on: trained on, never held out again.
    judged: frozenset[str] = field(default_factory=frozenset)
    #: The samples whose words the history and the context may quote: the guardrails'
    #: anti-copy check reads them too.
    quoted: tuple[Sample, ...] = ()
    #: PRs a bullet must have run on before its clusters are said to have fallen or not.
    min_after: int = MIN_AFTER

    def with_quoted(self, samples: list[Sample]) -> list[Sample]:
        """``samples`` and the quoted ones not among them: what the anti-copy check reads."""
        return samples + [s for s in self.quoted if s not in samples]

    def outside(self, rejected: Iterable[Rejection] = ()) -> tuple[tuple[str, str], ...]:
        """Outside text shown beside the evidence, for the anti-copy check (the quoted samples
        are read whole by ``with_quoted``): ``quoted.outside_texts`` of the earlier-version
        context, the bullet ledger's entries and what reviewers wrote on rejected proposals."""
        return outside_texts(self.earlier, self.entries, rejected)

    def history(self, current: PromptSet, *, hidden: Iterable[str] = ()) -> tuple[str, ...]:
        """The bullet history, counting no ``hidden`` (held-out) sample as a recurrence: the
        trainer never sees what the judge will."""
        out = set(hidden)
        seen = [s for s in self.stored if s.id not in out]
        return history_notes(current, list(self.entries), seen)

    def outcomes(
        self, current: PromptSet, *, hidden: Iterable[str] = ()
    ) -> tuple[BulletOutcomeNote, ...]:
        """What each current bullet did to its clusters (``outcome_notes``), without the
        ``hidden`` samples; the unfallen ones carry the evidence to sharpen or retire them."""
        return outcome_notes(
            current, self.entries, self.stored, hidden=hidden, min_after=self.min_after
        )


def memory_for(
    current: PromptSet,
    stored: list[Sample],
    entries: list[BulletEntry],
    judged_by_target: Mapping[str, frozenset[str]] | None = None,
    *,
    min_after: int = MIN_AFTER,
) -> Memory:
    """The bullet ledger, the earlier-version context and the judged samples of one target
    (``judged_by_target``: each target's samples a closed proposal was judged on)."""
    judged = (judged_by_target or {}).get(current.target, frozenset())
    mine = [e for e in entries if e.target == current.target]
    earlier = earlier_context(current, stored, mine, judged=judged)
    return Memory(
        entries=tuple(mine),
        stored=tuple(stored),
        earlier=tuple(summary(s, current.target) for s in earlier),
        judged=judged,
        quoted=quoted_samples(current, stored, mine, earlier),
        min_after=min_after,
    )
