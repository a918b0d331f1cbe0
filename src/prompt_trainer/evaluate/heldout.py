"""Evaluate stage, before training: which samples the per-edit judge holds out.

Takes the samples of the current prompt version, their failure clusters
(``measure.clusters``; a held-out failure is one cluster's problems in one held-out PR), the
call budget and the samples earlier proposals were judged on; returns a ``Plan``: the samples to
train on, the held-out samples with a problem (one judge call each; their problems are the
held-out failures), the held-out samples without a problem (checked for conflicts, one call
each) and the clusters with how many of their PRs were held out.

**The budget.** The evaluation may spend ``EVALUATION_SHARE`` (40%) of ``training.max_calls``:
10 of the default 25, so training keeps 15. With several candidates the held-out samples are
split in two (every candidate is judged on one half, the elected one reported on the other), so
fewer are held out: ``2 x share / (candidates + 1)``.

**Which samples.** A fifth of the calls (at least one) go to the newest PRs without a problem,
to catch a rule that would break what worked. The rest hold out failures **per cluster, newest
first**. Pass one: each cluster, in rank order (most PRs, then most recent), up to ``MIN_OWN``
(3) of its newest PRs, the fewest that can decide an edit of its kind. Pass two: one more PR per
cluster in turn, while calls remain and it helps: while some cluster could not yet be called
effective with one miss (all but one of its failures prevented, none of the others, one-sided
p < 0.05), a cluster is added to when that adds controls or adds failures that have controls; a
single kind of failure, with no other kind held out, gains nothing from more, and its PRs train
instead. A PR held out for one cluster is a control for every other: each judge call asks about
every edit, so an edit's own-kind failures and the other kinds' failures come from the same
calls. A cluster always keeps ``KEEP`` (2) PRs to train on, the support an edit needs; a cluster
seen in one PR, without a trusted reviewer's request, can support no edit and is held out whole
as a control (with a trusted request it keeps its PR). Samples earlier proposals were judged on
are not held out again while there are others.

**Why this decides at 20 PRs.** Say 12 of 20 PRs share two clusters (6 each) and the default
budget gives 10 calls: 2 conflict checks, then 3 + 3 failures (pass one) and one more each (pass
two): 4 of each kind held out, 2 of each left to train. An edit for the first kind meets 4
failures of its kind and 4 of the other: if it prevents all of its own and none of the others,
Fisher's one-sided p = 1/C(8,4) = 0.014; 3 + 3 would have allowed at best p = 1/C(6,3) = 0.05,
never a decision.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from prompt_trainer.evaluate.effects import ALPHA, MIN_OWN
from prompt_trainer.evaluate.split import when
from prompt_trainer.measure.clusters import Cluster, clusters_of_sample
from prompt_trainer.measure.stats import fisher_exact
from prompt_trainer.models import ClusterCount, HeldOutFailure, Sample

#: The share of ``training.max_calls`` the evaluation may spend.
EVALUATION_SHARE = 0.4
#: PRs of a cluster kept for training (the support an edit needs).
KEEP = 2
#: Characters of a held-out failure's label (its problems' labels joined).
LABEL_CHARS = 400
#: One call in this many (at least one) checks a PR without a problem for conflicts.
CHECK_EVERY = 5


def evaluation_calls(max_calls: int, candidates: int = 1) -> int:
    """Samples the per-edit judge may hold out, one call each, within its share."""
    share = int(max_calls * EVALUATION_SHARE)
    return share if candidates <= 1 else 2 * share // (candidates + 1)


@dataclass(frozen=True)
class Plan:
    """The samples to train on, those held out with a problem and without, and why."""

    training: list[Sample]
    held_out: list[Sample] = field(default_factory=list)
    checked: list[Sample] = field(default_factory=list)
    failures: tuple[HeldOutFailure, ...] = ()
    clusters: tuple[ClusterCount, ...] = ()
    #: Calls the plan may spend (its share of max_calls).
    max_calls: int = 0

    def failures_of(self, sample: str) -> list[HeldOutFailure]:
        return [f for f in self.failures if f.sample == sample]


def held_out_failures(sample: Sample, clusters: Sequence[Cluster]) -> list[HeldOutFailure]:
    """The held-out failures of one sample, ``F1`` first: one per cluster it shows (in rank
    order), with the labels and evidence of its problems there. A failing test and the review
    comment that explains it are one failure, not two: counting both would count one PR's
    outcome twice."""
    found: list[HeldOutFailure] = []
    for cluster in clusters_of_sample(clusters, sample.id):
        mine = [p for p in cluster.problems if p.sample_id == sample.id]
        labels = list(dict.fromkeys(p.label for p in mine))
        found.append(
            HeldOutFailure(
                sample=sample.id,
                ref=f"F{len(found) + 1}",
                cluster=cluster.id,
                kind=cluster.kind,
                label="; ".join(labels)[:LABEL_CHARS],
                evidence=cluster.evidence_of(sample.id),
            )
        )
    return found


def plan_held_out(
    samples: Sequence[Sample],
    clusters: Sequence[Cluster],
    *,
    max_calls: int,
    candidates: int = 1,
    judged: frozenset[str] = frozenset(),
    calls: int | None = None,
) -> Plan:
    """Hold out failures per cluster, newest first, and a few PRs without a problem, within
    the evaluation's share of ``max_calls`` (or ``calls``, when the caller leaves it less);
    the rest train."""
    calls = evaluation_calls(max_calls, candidates) if calls is None else max(calls, 0)
    by_id = {s.id: s for s in samples}
    failures = {s.id: held_out_failures(s, clusters) for s in samples}
    fresh = [s for s in samples if s.id not in judged] or list(samples)
    clean = sorted((s for s in fresh if not failures[s.id]), key=_newest)
    checks = min(len(clean), max(1, calls // CHECK_EVERY)) if calls >= 2 else 0
    held = _by_cluster(clusters, failures, {s.id for s in fresh}, slots=calls - checks)
    chosen = set(held) | {s.id for s in clean[:checks]}
    counts = tuple(
        ClusterCount(
            id=c.id,
            kind=c.kind,
            label=c.label,
            prs=c.prs,
            held_out=sum(1 for s in held if any(f.cluster == c.id for f in failures[s])),
            trusted_requests=c.trusted_requests,
            reviewers=c.reviewers,
        )
        for c in clusters
    )
    return Plan(
        training=[s for s in samples if s.id not in chosen],
        held_out=[by_id[s] for s in held],
        checked=clean[:checks],
        failures=tuple(f for s in held for f in failures[s]),
        clusters=counts,
        max_calls=calls,
    )


def _newest(sample: Sample) -> tuple[float, str]:
    return (-when(sample).timestamp(), sample.id)


def _by_cluster(
    clusters: Sequence[Cluster],
    failures: Mapping[str, Sequence[HeldOutFailure]],
    fresh: set[str],
    *,
    slots: int,
) -> list[str]:
    """Sample ids held out: each cluster up to ``MIN_OWN`` in rank order, then one more per
    cluster in turn, while ``slots`` remain and every cluster keeps what it must."""
    left = {c.id: len(c.samples) for c in clusters}
    keep = {c.id: _keep(c) for c in clusters}
    held: list[str] = []

    def take(cluster: Cluster) -> bool:
        for sample in cluster.samples:  # newest first
            kinds = {f.cluster for f in failures.get(sample, ())}
            if sample in held or sample not in fresh or not kinds:
                continue
            if all(left.get(k, 0) - 1 >= keep.get(k, 0) for k in kinds):
                held.append(sample)
                for k in kinds:
                    left[k] = left.get(k, 0) - 1
                return True
        return False

    for cluster in clusters:
        while len(held) < slots and _held(cluster, held, failures) < MIN_OWN and take(cluster):
            pass
    grew = True
    while len(held) < slots and grew:
        grew = False
        for cluster in clusters:
            if len(held) < slots and _helps(cluster, held, failures) and take(cluster):
                grew = True
    return held


def _helps(
    cluster: Cluster, held: list[str], failures: Mapping[str, Sequence[HeldOutFailure]]
) -> bool:
    """Whether one more held-out failure of ``cluster`` helps decide an edit: some cluster with
    ``MIN_OWN`` held-out failures could not yet be called effective with one miss (prevents all
    but one of its kind and none of the others, one-sided p < ``ALPHA``), and ``cluster`` adds
    to its failures while it has controls, or to its controls."""
    counts = Counter(f.cluster for s in held for f in failures.get(s, ()))
    total = sum(counts.values())
    for mine, own in counts.items():
        others = total - own
        if own < MIN_OWN or fisher_exact(own - 1, 1, 0, others) < ALPHA:
            continue
        if mine != cluster.id or others > 0:
            return True
    return False


def _held(
    cluster: Cluster, held: list[str], failures: Mapping[str, Sequence[HeldOutFailure]]
) -> int:
    return sum(1 for s in held if any(f.cluster == cluster.id for f in failures.get(s, ())))


def _keep(cluster: Cluster) -> int:
    """PRs a cluster keeps for training: ``KEEP``; one with a trusted request in a single PR
    keeps that one; a single PR without one supports no edit and keeps none."""
    if cluster.prs <= 1:
        return 1 if cluster.trusted_requests else 0
    return KEEP
