"""Store stage, realized outcomes read from the bullet ledger: what each bullet did to the
failure clusters it targets.

In: ledger entries (with the before/since ``memory.observe`` accumulated), the current prompt
set, the stored samples and the ids held out. Out: ``outcome_of`` an entry's counts
(``BulletOutcome``, without held-out samples); ``outcome_notes`` what training reads of each
current bullet (``BulletOutcomeNote``: its counts and verdict and, for a bullet whose clusters
did not fall, the evidence of the PRs since it, which the bullet history offers to sharpen or
retire it); ``merge_outcomes`` what each earlier merged proposal did, for the PR body and the
dashboard; ``bullet_rows`` every current bullet as ``report`` shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from prompt_trainer.bullets import bullets
from prompt_trainer.measure.clusters import Cluster, cluster_samples
from prompt_trainer.measure.outcomes import BulletOutcome, BulletRow, MergeOutcome, Rate, attribute
from prompt_trainer.measure.report import TargetReport
from prompt_trainer.memory.ledger import HUMAN, BulletEntry, opened, own_entry, when
from prompt_trainer.memory.observe import joined, observe
from prompt_trainer.models import PromptSet, Sample

#: PRs that must have run with a bullet before its clusters are said to have fallen or not
#: (``report.min_samples`` where the settings are known).
MIN_AFTER = 5
#: Recurrences (PRs since the bullet that showed its clusters) shown per bullet, and evidence
#: ids per recurrence.
MAX_SHOWN_RECURRENCES = 4
MAX_RECURRENCE_IDS = 3
#: Verdicts that propose sharpening or retiring a bullet.
UNFALLEN = ("did not fall", "still occurs")


def outcome_of(entry: BulletEntry, *, hidden: Iterable[str] = ()) -> BulletOutcome | None:
    """The entry's before/after rate of the clusters it targets, leaving out ``hidden``
    (held-out) samples; None when it targets none."""
    if not entry.targets:
        return None
    out = set(hidden)
    before = [s for s in entry.before if s not in out]
    after = [s for s in entry.after if s not in out]
    return BulletOutcome(Rate.of(before, entry.hits), Rate.of(after, entry.hits))


def merge_outcomes(entries: Iterable[BulletEntry]) -> list[MergeOutcome]:
    """One row per merged proposal whose bullets target a cluster, newest first."""
    by_pull: dict[int, list[BulletEntry]] = {}
    for entry in entries:
        if entry.by == "bot" and entry.pull and entry.targets:
            by_pull.setdefault(entry.pull, []).append(entry)
    rows = []
    for pull, group in by_pull.items():
        labels = dict.fromkeys(t.label or t.cluster for e in group for t in e.targets)
        before = {s for e in group for s in e.before}
        after = {s for e in group for s in e.after}
        hits = {s for e in group for s in e.hits}
        outcome = BulletOutcome(Rate.of(before, hits), Rate.of(after, hits))
        rows.append(MergeOutcome(pull, group[0].merged_at, len(group), tuple(labels), outcome))
    return sorted(rows, key=lambda r: (when(r.merged_at), r.pull), reverse=True)


def bullet_rows(
    current: PromptSet, report: TargetReport, entries: Iterable[BulletEntry]
) -> tuple[BulletRow, ...]:
    """Every bullet of the current files as ``report`` shows it, from the ledger ``entries``
    joined with what ``observe`` sees now."""
    mine = [e for e in entries if e.target == current.target]
    ledger = {e.key: e for e in joined(mine, observe(current, report, mine))}
    labels = {v.version.hash: v.version.label for v in report.versions}
    rows = []
    for prompt in current.files:
        for n, text in enumerate(bullets(prompt.content), start=1):
            where = attribute([v.version for v in report.versions], prompt.path, text)
            entry = own_entry(ledger.values(), prompt.path, text)
            rows.append(
                BulletRow(
                    path=prompt.path,
                    number=n,
                    text=text,
                    introduced=labels.get(where.introduced.hash) if where.introduced else None,
                    by=_by(entry) if entry else HUMAN,
                    targets=tuple((t.label or t.cluster, t.reason) for t in entry.targets)
                    if entry
                    else (),
                    outcome=outcome_of(entry) if entry else None,
                )
            )
    return tuple(rows)


def _by(entry: BulletEntry) -> str:
    """``#<pull>`` for a merged proposal's bullet, ``human`` for a person's."""
    return f"#{entry.pull}" if entry.by == "bot" else HUMAN


@dataclass(frozen=True)
class BulletOutcomeNote:
    """What one current bullet did to the clusters it targets, as training reads it: the
    counts (``helpful``/``harmful``, before/after, the one-sided p) and, for a bullet whose
    clusters did not fall, the evidence of the PRs since it that still showed them, which an
    edit sharpening or retiring it can cite."""

    path: str
    number: int
    text: str
    by: str
    clusters: tuple[str, ...]
    outcome: BulletOutcome
    verdict: str
    #: (sample id, evidence ids of its targeted clusters' problems), newest first.
    recurrences: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def unfallen(self) -> bool:
        """Its clusters did not fall (or still occur with nothing before it to compare), and
        there is evidence to show for it."""
        return self.verdict in UNFALLEN and bool(self.recurrences)

    @property
    def evidence(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e for _, ids in self.recurrences for e in ids))

    @property
    def bullet(self) -> str:
        return f"{self.path} B{self.number}"

    def note(self) -> str:
        """What training reads beside the counts: by whom, its clusters before and since, the
        verdict, and for an unfallen bullet the evidence since it and what to do with it."""
        return (
            f"by {self.by}; its clusters ({'; '.join(self.clusters)}) showed in "
            f"{self.outcome.counts}: {self.verdict}{self.proposal()}"
        )

    def proposal(self) -> str:
        """For an unfallen bullet, the evidence since it and what to do with it ("" else)."""
        if not self.unfallen:
            return ""
        shown = "; ".join(f"{sid}: {', '.join(ids)}" for sid, ids in self.recurrences)
        return (
            f". PRs since it that still showed them: {shown}. Sharpen it (modify "
            f"B{self.number}, naming what these failures show) or retire it (remove "
            f"B{self.number}), citing this evidence."
        )


def outcome_notes(
    current: PromptSet,
    entries: Iterable[BulletEntry],
    stored: Sequence[Sample],
    *,
    hidden: Iterable[str] = (),
    min_after: int = MIN_AFTER,
) -> tuple[BulletOutcomeNote, ...]:
    """Each current bullet that targets a cluster, with its outcome (without the ``hidden``
    samples) and, when it did not fall, the evidence of the stored PRs since it that showed
    its clusters (those are clustered again here, so the ids are the ones training views give)."""
    out = set(hidden)
    mine = [e for e in entries if e.target == current.target]
    shown = [s for s in stored if s.id not in out and current.target in s.prompt_versions]
    clusters = {c.id: c for c in cluster_samples(shown, target=current.target)}
    notes = []
    for prompt in current.files:
        for n, text in enumerate(bullets(prompt.content), start=1):
            entry = own_entry(mine, prompt.path, text)
            outcome = outcome_of(entry, hidden=out) if entry else None
            if entry is None or outcome is None:
                continue
            notes.append(
                BulletOutcomeNote(
                    path=prompt.path,
                    number=n,
                    text=text,
                    by=_by(entry),
                    clusters=tuple(t.label or t.cluster for t in entry.targets),
                    outcome=outcome,
                    verdict=outcome.verdict(min_after=min_after),
                    recurrences=_recurrences(entry, clusters, shown),
                )
            )
    return tuple(notes)


def _recurrences(
    entry: BulletEntry, clusters: Mapping[str, Cluster], shown: Sequence[Sample]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    since = set(entry.after) & set(entry.hits)
    targeted = [clusters[t.cluster] for t in entry.targets if t.cluster in clusters]
    found = []
    for sample in sorted((s for s in shown if s.id in since), key=opened, reverse=True):
        ids = [e for c in targeted for e in c.evidence_of(sample.id)]
        if ids:
            found.append((sample.id, tuple(dict.fromkeys(ids))[:MAX_RECURRENCE_IDS]))
    return tuple(found[:MAX_SHOWN_RECURRENCES])
