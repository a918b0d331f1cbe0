"""What a training run learns from: failure clusters and the evidence views of their samples.

Takes the training samples (the current prompt version's, none held out), every stored sample
(``memory``, for the samples of earlier versions) and the current prompt set; returns
``Evidence``:

- ``clusters``: the failure clusters (``measure.clusters``) of the training samples and of the
  earlier versions' samples, kept when they still occur under the current version (a cluster
  seen only before it is left out: the current prompts may have fixed it), ranked by PRs, then
  the newest occurrence. A sample of an earlier version thus counts as evidence for a kind of
  failure that still happens, and a merged proposal no longer resets what the loop learns from.
- ``left_out``: the clusters no reflection will see, and why (no longer occurs; too little
  support: seen in one PR and asked for by no trusted reviewer).
- ``views``: each sample's view, an earlier version's labelled with it (``earlier_version``).
- ``batch(cluster, n)``: the n-th batch of ``BATCH`` samples of a cluster, newest first, each
  naming in ``focus`` the items that show the cluster's problem (the last a cut removes: the
  caller fits the batch into one request with ``train.budget.fit_request``).
- ``spread()``: the views with a problem, the newest of each cluster first, for the strategies
  that show many samples in one call (``rules``, ``rewrite``), so every cluster is represented
  before any gets a second sample.

No DSPy here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from prompt_trainer.measure.clusters import Cluster, cluster_samples
from prompt_trainer.models import ClusterNote, PromptSet, Sample
from prompt_trainer.train.evidence import EvidenceSample, cited_items, evidence_view
from prompt_trainer.train.views import FailureGroup

#: Samples one reflection sees: the newest of its cluster.
BATCH = 3
#: Reflection calls per cluster at most (the second sees the next-newest batch).
MAX_CALLS_PER_CLUSTER = 2
#: Clusters named one by one in the run's notes; the rest are counted.
NAMED_IN_NOTES = 8


@dataclass(frozen=True)
class Evidence:
    """The clusters a run learns from, those it leaves out, and the views of their samples."""

    clusters: tuple[Cluster, ...]
    left_out: tuple[tuple[Cluster, str], ...]
    views: Mapping[str, EvidenceSample]
    #: Ids of the training samples (the current version's).
    current: frozenset[str]
    #: Reflection calls each cluster got, and the supported clusters the budget left without
    #: one (filled in by the reflection loop, ``train.reflect``).
    calls: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[Cluster, str]] = field(default_factory=list)
    #: The views the model was shown, as shown (capped), by sample id.
    shown: dict[str, EvidenceSample] = field(default_factory=dict)

    def fresh(self) -> Evidence:
        """The same evidence with nothing spent on it yet (for another candidate)."""
        return replace(self, calls={}, skipped=[], shown={})

    @property
    def supported(self) -> list[Cluster]:
        """The clusters an edit may be proposed for, ranked."""
        return [c for c in self.clusters if c.supported]

    def nothing_to_learn(self) -> str:
        """Why no LM call can support an edit ("" when one can): no cluster, or none with
        enough support."""
        total = len(self.clusters)
        if not total:
            return "no sample of the current prompts showed a problem"
        if not self.supported:
            return f"{total} cluster{'s' if total != 1 else ''}, none with enough support"
        return ""

    def batch(self, cluster: Cluster, n: int = 0) -> list[EvidenceSample]:
        """The ``n``-th batch of ``BATCH`` samples of ``cluster``, newest first, each with the
        refs of the items that show its problem in ``focus``."""
        ids = [i for i in cluster.samples if i in self.views][n * BATCH : (n + 1) * BATCH]
        return [focused(self.views[i], cluster.evidence_of(i)) for i in ids]

    def batches(self, cluster: Cluster) -> int:
        """How many batches the cluster's samples fill."""
        shown = sum(1 for i in cluster.samples if i in self.views)
        return min(MAX_CALLS_PER_CLUSTER, -(-shown // BATCH))

    def spread(self) -> list[EvidenceSample]:
        """The views with a problem: the newest sample of each supported cluster, then the
        second-newest of each..., then those of unsupported clusters."""
        ranked = self.supported + [c for c in self.clusters if not c.supported]
        order: list[str] = []
        depth = max((len(c.samples) for c in ranked), default=0)
        for n in range(depth):
            order += [c.samples[n] for c in ranked if n < len(c.samples)]
        return [self.views[i] for i in dict.fromkeys(order) if i in self.views]

    def notes(self) -> list[ClusterNote]:
        """Every cluster as the run saw it: reflected on (how often) or left out, and why."""
        left = {c.id: why for c, why in [*self.left_out, *self.skipped]}
        return [
            note_of(c, reflected=self.calls.get(c.id, 0), left_out=left.get(c.id, ""))
            for c in [*self.clusters, *(c for c, _ in self.left_out if c not in self.clusters)]
        ]

    def describe(self, label: str, *, reflected: bool = True) -> list[str]:
        """The run's notes: what was reflected on (``reflected``; else how many clusters had
        support), and each cluster left out with why."""
        notes = self.notes()
        done = [n for n in notes if n.reflected]
        lines = [
            f"{label}: reflected on {len(done)} of {len(notes)} failure cluster(s) "
            f"({sum(n.reflected for n in done)} call(s))"
            if reflected
            else f"{label}: {len(self.supported)} of {len(notes)} failure cluster(s) with support"
        ]
        left = [n for n in notes if n.left_out]
        lines += [f"left out: {n.label} [{n.support}]: {n.left_out}" for n in left[:NAMED_IN_NOTES]]
        if len(left) > NAMED_IN_NOTES:
            lines.append(f"left out: {len(left) - NAMED_IN_NOTES} more cluster(s)")
        return lines


def note_of(cluster: Cluster, *, reflected: int = 0, left_out: str = "") -> ClusterNote:
    return ClusterNote(
        id=cluster.id,
        kind=cluster.kind,
        label=cluster.label,
        prs=cluster.prs,
        trusted_requests=cluster.trusted_requests,
        support=cluster.support,
        versions=cluster.versions,
        reflected=reflected,
        left_out=left_out,
    )


def gather(
    training: Sequence[Sample],
    stored: Sequence[Sample],
    current: PromptSet,
    *,
    hidden: frozenset[str] = frozenset(),
) -> Evidence:
    """The clusters of ``training`` and of the earlier versions' samples in ``stored`` (none of
    ``hidden``, the held-out samples), kept when they still occur in ``training``."""
    mine = {s.id for s in training}
    earlier = [
        s
        for s in stored
        if s.id not in mine
        and s.id not in hidden
        and s.prompt_versions.get(current.target) not in (None, current.version)
    ]
    found = cluster_samples([*training, *earlier], target=current.target)
    active = [c for c in found if mine & set(c.samples)]
    left = [(c, gone_reason(c)) for c in found if not mine & set(c.samples)]
    left += [(c, support_reason(c)) for c in active if not c.supported]
    used = {i for c in active for i in c.samples}
    views = {
        s.id: _labelled(s, current) for s in [*training, *earlier] if s.id in mine or s.id in used
    }
    return Evidence(tuple(active), tuple(left), views, frozenset(mine))


def gone_reason(cluster: Cluster) -> str:
    return (
        "not seen under the current prompts, only under earlier versions (they may have fixed it)"
    )


def support_reason(cluster: Cluster) -> str:
    return (
        f"seen in {cluster.prs} PR and asked for by no trusted reviewer: not enough support "
        "for an edit (2 PRs, or one trusted reviewer's explicit request)"
    )


def _labelled(sample: Sample, current: PromptSet) -> EvidenceSample:
    view = evidence_view(sample)
    version = sample.prompt_versions.get(current.target)
    if version in (None, current.version):
        return view
    return view.model_copy(update={"earlier_version": version})


def focused(view: EvidenceSample, evidence: Sequence[str]) -> EvidenceSample:
    """``view`` naming in ``focus`` the refs of its items with these evidence ids (a failure
    group by any of its tests)."""
    wanted = set(evidence)
    refs = [
        str(getattr(item, "ref", ""))
        for item in cited_items(view)
        if str(getattr(item, "id", "")) in wanted
        or (isinstance(item, FailureGroup) and wanted & set(item.tests))
    ]
    return view.model_copy(update={"focus": [r for r in refs if r]})
