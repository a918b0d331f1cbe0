"""Store stage, what this run sees of each current bullet, written into the bullet ledger
(``measure.outcomes`` computes, this module remembers).

In: the current prompt set, the run's measurement (``TargetReport``: the versions with their
bullets and samples, the failure clusters) and the ledger's entries. Out: the entries of the
current bullets with their observations: the version that introduced each bullet
(``outcomes.attribute``), the clusters it targets (a merged proposal's: those its state block
named and those holding the evidence it cited; a person's: those whose evidence names its
terms, then a ``human`` entry, ``pull`` 0), and the ids of the samples before it, since it, and
of those that showed a targeted cluster. Entries join (``BulletEntry.joined``): targets and
sample ids are unions, so the before/after accumulates across runs and runners.
"""

from __future__ import annotations

from collections.abc import Iterable

from prompt_trainer.bullets import bullets
from prompt_trainer.measure.outcomes import (
    Attribution,
    ClusterFacts,
    attribute,
    shares,
    term_targets,
)
from prompt_trainer.measure.report import TargetReport
from prompt_trainer.measure.versions import Version
from prompt_trainer.memory.ledger import HUMAN, BulletEntry, ClusterTarget, matches, merged
from prompt_trainer.models import PromptSet


def observe(
    current: PromptSet, report: TargetReport, entries: Iterable[BulletEntry]
) -> list[BulletEntry]:
    """The entries of the current bullets with what this run sees of them: the version that
    introduced each (``outcomes.attribute``), the clusters it targets and the samples before it
    and since (of the report's clusters). A bullet with a ledger entry (a merged proposal's)
    targets the clusters of the evidence its edit cited; any other is a human's and targets the
    clusters whose evidence names its terms (``outcomes.term_targets``); a human's bullet that
    targets none is left out. Entries of bullets no longer in the files are not returned."""
    mine = [e for e in entries if e.target == current.target]
    clusters = [row.cluster for row in report.clusters]
    found: list[BulletEntry] = []
    for prompt in current.files:
        for text in bullets(prompt.content):
            where = attribute([v.version for v in report.versions], prompt.path, text)
            entry = _entry(current.target, prompt.path, text, mine, clusters)
            if entry is not None and where.introduced is not None:
                found.append(_observed(entry, where.introduced, where, report))
    return found


def _entry(
    target: str, path: str, text: str, mine: list[BulletEntry], clusters: list[ClusterFacts]
) -> BulletEntry | None:
    """The bullet's own entry with the targets this run finds (a human's: a new entry)."""
    own = [e for e in mine if e.path in ("", path) and matches(e, text)]
    bot = [e for e in own if e.by == "bot"]
    if bot:
        last = max(bot, key=lambda e: (merged(e), e.pull))
        return last.joined(last.model_copy(update={"targets": _targeted(last, clusters)}))
    shared = term_targets(text, {c.id: c.text for c in clusters})
    known = [e for e in own if e.by == HUMAN]
    if not shared and not known:  # no target now, none before: no claim
        return None
    labels = {c.id: c.label for c in clusters}
    targets = tuple(
        ClusterTarget(cluster=c, label=labels[c], reason=shares(t)) for c, t in shared.items()
    )
    human = BulletEntry(
        target=target, path=path, text=text, op=HUMAN, pull=0, approved=False, by=HUMAN,
        targets=targets,
    )  # fmt: skip
    return known[0].joined(human) if known else human


def _targeted(entry: BulletEntry, clusters: list[ClusterFacts]) -> tuple[ClusterTarget, ...]:
    """The clusters the bot's edit targets as this run's clusters say: those named when it was
    proposed (the state block's), and those holding the evidence it cited, with the first id."""
    named = {t.cluster: t for t in entry.targets}
    found = []
    for cluster in clusters:
        cited = [e for e in entry.evidence if e in cluster.evidence]
        if cited or cluster.id in named:
            reason = f"cited {cited[0]}" if cited else named[cluster.id].reason
            found.append(ClusterTarget(cluster=cluster.id, label=cluster.label, reason=reason))
    return tuple(found)


def _observed(
    entry: BulletEntry, introduced: Version, where: Attribution, report: TargetReport
) -> BulletEntry:
    """``entry`` with the samples of the versions before it and of those holding it, and those
    of them that showed a cluster it targets."""
    before = {s for v in where.before for s in report.sample_ids(v.hash)}
    after = {s for v in where.holding for s in report.sample_ids(v.hash)}
    targeted = {t.cluster for t in entry.targets}
    shown = {
        s for row in report.clusters if row.cluster.id in targeted for s in row.cluster.samples
    }
    seen = entry.model_copy(
        update={
            "introduced": introduced.hash,
            "before": tuple(sorted(before)),
            "after": tuple(sorted(after)),
            "hits": tuple(sorted((before | after) & shown)),
        }
    )
    return entry.joined(seen).model_copy(update={"introduced": introduced.hash})


def joined(entries: Iterable[BulletEntry], seen: Iterable[BulletEntry]) -> list[BulletEntry]:
    """``entries`` with ``seen`` joined in (``BulletEntry.joined``), one per key."""
    ledger = {e.key: e for e in entries}
    for entry in seen:
        ledger[entry.key] = ledger[entry.key].joined(entry) if entry.key in ledger else entry
    return list(ledger.values())
