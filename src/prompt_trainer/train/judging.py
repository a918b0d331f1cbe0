"""Which samples judge the candidates, with which judge, and how candidates are elected.

Takes a ``TrainRequest``; ``hold_out`` returns the ``Parts`` of the run: the samples to train on,
the held-out part every candidate is judged on (``elect_on``) and, with several candidates, the
part the elected one is reported on (``report_on``), and the calls to reserve for judging before
any training call. ``training.judge`` chooses:

- ``per-edit`` (the default): ``evaluate.heldout.plan_held_out`` holds out failures per
  cluster, newest first, and PRs without a problem to check for conflicts, within the
  evaluation's share of ``max_calls`` (40%); ``train.judge.judge_edits`` asks about each edit.
- ``pairwise``: the newest ``holdout`` fraction (``evaluate.split``), two calls per sample
  (``train.pairwise.judge``), as before.

``judged`` runs the judge on one candidate; ``elect`` orders the candidates best first (per-edit:
most effective edits, then the widest gap between the rate on their own kind and on other
kinds; pairwise: the mean judge score).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from prompt_trainer.errors import NotEnoughEvidence
from prompt_trainer.evaluate.effects import edit_targets
from prompt_trainer.evaluate.heldout import (
    KEEP,
    Plan,
    evaluation_calls,
    held_out_failures,
    plan_held_out,
)
from prompt_trainer.evaluate.split import split_by_time, when
from prompt_trainer.measure.clusters import Cluster, cluster_samples
from prompt_trainer.models import Candidate, HeldOutResult, Sample
from prompt_trainer.train.judge import Share, judge_edits
from prompt_trainer.train.pairwise import judge, judge_calls
from prompt_trainer.train.shared import Budget
from prompt_trainer.train.trainer import TrainRequest

#: Calls a candidate's training needs at the least (a reflection, the curation, the check):
#: the evaluation's share never leaves training less.
TRAINING_FLOOR = 3
#: GEPA's validation set holds at least this many held-out pull requests (when there are), and
#: at most that many.
MIN_VALIDATION = 3
MAX_VALIDATION = 8


@dataclass
class Parts:
    """The run's split: what trains, what elects, what reports, and what judging costs."""

    training: list[Sample]
    elect_on: Plan
    report_on: Plan
    clusters: list[Cluster] = field(default_factory=list)
    #: The per-edit evaluation's share of the budget, across every candidate (None: pairwise).
    share: Share | None = None

    def calls(self, part: Plan) -> int:
        """LM calls judging ``part`` takes: two per sample pairwise, one per edit."""
        if self.share is None:
            return judge_calls(len(part.held_out))
        return len(part.held_out) + len(part.checked)


def hold_out(request: TrainRequest, budget: Budget, *, search: bool = False) -> Parts:
    """Split ``request.samples`` for ``request.judge`` (for GEPA's ``search``: its validation
    set and the evaluation's part, ``_search``); raise ``NotEnoughEvidence`` when held-out
    evaluation is asked for and fewer than two samples exist."""
    if request.holdout > 0 and len(request.samples) < 2:
        raise NotEnoughEvidence(
            f"{request.target.name}: held-out evaluation needs at least 2 samples of the current "
            f"prompts, there is {len(request.samples)}; nothing proposed",
            fix="collect more agent PRs (prompt-trainer collect --since ...), or set "
            "training.holdout: 0 to propose without held-out evaluation",
        )
    if search:
        parts = _search(request, budget)
        reserve = parts.calls(parts.report_on)
        budget.reserved = reserve if reserve < request.max_calls else 0
        return parts
    parts = _pairwise(request) if request.judge == "pairwise" else _per_edit(request, budget)
    n = request.candidates
    reserve = parts.calls(parts.elect_on) * n + parts.calls(parts.report_on)
    budget.reserved = reserve if reserve <= request.max_calls - n else 0
    return parts


def _pairwise(request: TrainRequest) -> Parts:
    n = request.candidates
    cap = (request.max_calls - 2 * n) // (2 * n)
    training, held_out = split_by_time(
        request.samples,
        request.holdout,
        max_held=cap if cap >= 1 else None,
        judged=request.memory.judged,
    )
    elect_on, report_on = _halves(held_out) if n > 1 and len(held_out) > 1 else (held_out, [])
    return Parts(training, Plan(training, held_out=elect_on), Plan(training, held_out=report_on))


def _per_edit(request: TrainRequest, budget: Budget) -> Parts:
    clusters = cluster_samples(request.samples, target=request.target.name)
    if request.holdout <= 0:
        return Parts(list(request.samples), Plan(list(request.samples)), Plan([]), clusters)
    calls = min(
        evaluation_calls(request.max_calls, request.candidates),
        request.max_calls - TRAINING_FLOOR * request.candidates,
    )
    plan = plan_held_out(
        request.samples,
        clusters,
        max_calls=request.max_calls,
        candidates=request.candidates,
        judged=request.memory.judged,
        calls=calls,
    )
    share = Share(budget, cap=plan.max_calls)
    if request.candidates <= 1 or len(plan.held_out) + len(plan.checked) < 2:
        return Parts(plan.training, plan, replace(plan, held_out=[], checked=[]), clusters, share)
    first, second = _halves(plan.held_out)
    clean_first, clean_second = _halves(plan.checked)
    return Parts(
        plan.training,
        _part(plan, first, clean_first),
        _part(plan, second, clean_second),
        clusters,
        share,
    )


def validation_size(clusters: int) -> int:
    """Held-out pull requests GEPA validates every kept candidate on: one per failure cluster,
    at least ``MIN_VALIDATION``, at most ``MAX_VALIDATION`` (every kept candidate costs that
    many metric calls). Not a share of the budget: a run with a larger budget continues the
    same search (``train.gepa_state``)."""
    return min(MAX_VALIDATION, max(MIN_VALIDATION, clusters))


def _search(request: TrainRequest, budget: Budget) -> Parts:
    """GEPA's split. The per-edit evaluation holds out failures first, as for the other
    strategies (``plan_held_out`` within the evaluation's share: ``report_on``, which plays no
    part in choosing the candidate). GEPA's validation set (``elect_on``, scored by its metric
    on every kept candidate) is then the newest training PR of each failure cluster in turn,
    from the clusters that keep ``KEEP`` PRs to train on without it, at most
    ``validation_size``. With too few PRs for that (or ``holdout: 0``) it is empty: GEPA then
    validates on its training set."""
    clusters = cluster_samples(request.samples, target=request.target.name)
    if request.holdout <= 0:
        return Parts(list(request.samples), Plan(list(request.samples)), Plan([]), clusters)
    share = evaluation_calls(request.max_calls)
    plan = plan_held_out(
        request.samples,
        clusters,
        max_calls=request.max_calls,
        judged=request.memory.judged,
        calls=share,
    )
    size = validation_size(sum(1 for c in clusters if c.prs > 1))
    chosen = _validation(plan.training, clusters, size)
    ids = {s.id for s in chosen}
    training = [s for s in plan.training if s.id not in ids]
    failures = tuple(f for s in chosen for f in held_out_failures(s, clusters))
    return Parts(
        training,
        Plan(training, held_out=chosen, failures=failures),
        replace(plan, training=training),
        clusters,
        Share(budget, cap=plan.max_calls) if request.judge != "pairwise" else None,
    )


def _validation(training: list[Sample], clusters: list[Cluster], size: int) -> list[Sample]:
    """Up to ``size`` training PRs with a failure, the newest of each cluster in turn, each
    leaving every cluster it shows ``KEEP`` PRs to train on."""
    left = {c.id: sum(1 for s in training if s.id in c.samples) for c in clusters}
    chosen: list[Sample] = []
    grew = True
    while len(chosen) < size and grew:
        grew = False
        for cluster in clusters:
            found = next(
                (
                    s
                    for s in _newest_first(training)
                    if s.id in cluster.samples
                    and s not in chosen
                    and all(left[c.id] > KEEP for c in clusters if s.id in c.samples)
                ),
                None,
            )
            if found is not None and len(chosen) < size:
                chosen.append(found)
                grew = True
                for c in clusters:
                    left[c.id] -= 1 if found.id in c.samples else 0
    return chosen


def _newest_first(samples: list[Sample]) -> list[Sample]:
    return sorted(samples, key=lambda s: (when(s), s.id), reverse=True)


def _halves(samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    return samples[0::2], samples[1::2]


def _part(plan: Plan, held_out: list[Sample], checked: list[Sample]) -> Plan:
    ids = {s.id for s in held_out}
    failures = tuple(f for f in plan.failures if f.sample in ids)
    return replace(plan, held_out=held_out, checked=checked, failures=failures)


def judged(
    request: TrainRequest, candidate: Candidate, part: Plan, budget: Budget, parts: Parts
) -> Candidate:
    """``candidate`` with its held-out evaluation on ``part`` (unchanged when there is none,
    or when the candidate changes nothing)."""
    if candidate.fingerprint == request.current.version:
        return candidate
    if parts.share is None:
        if not part.held_out:
            return candidate
        result = judge(
            request.current,
            candidate,
            part.held_out,
            max_evidence_tokens=request.max_evidence_tokens,
            budget=budget,
        )
    elif request.holdout <= 0:
        return candidate
    else:
        targets = edit_targets(candidate.changes, [(c.id, c.evidence()) for c in parts.clusters])
        result = judge_edits(
            request.current,
            candidate,
            part,
            targets=targets,
            max_evidence_tokens=request.max_evidence_tokens,
            share=parts.share,
        )
    return candidate.model_copy(update={"evaluation": result})


def score(result: HeldOutResult | None) -> float | None:
    """How good a candidate's evaluation is, for the election (higher is better)."""
    if result is None:
        return None
    if result.judge == "pairwise":
        return result.candidate_mean
    gaps = [
        e.prevented / e.own - (e.other_prevented / e.others if e.others else 0.0)
        for e in result.edits
        if e.own and e.outcome != "conflicts"
    ]
    effective = sum(e.outcome == "effective" for e in result.edits)
    return effective + (sum(gaps) / len(gaps) / 2 if gaps else 0.0)


def elect(candidates: list[Candidate]) -> list[Candidate]:
    """Best first: by ``score`` (unevaluated last), then in the order made. The others are
    kept for the run's artifacts."""

    def key(pair: tuple[int, Candidate]) -> tuple[float, int]:
        n, candidate = pair
        value = score(candidate.evaluation)
        return (-(value if value is not None else -1e9), n)

    return [c for _, c in sorted(enumerate(candidates), key=key)]


def election_note(result: HeldOutResult | None, *, made: int, elect_on: int, report_on: int) -> str:
    """How the reported candidate was elected, for ``HeldOutResult.election``."""
    value = score(result)
    if result is not None and result.judge == "pairwise":
        how = f" (mean judge score {value:.2f})" if value is not None else ""
    else:
        how = f" (election score {value:.2f})" if value is not None else ""
    return (
        f"elected among {made} candidates on {elect_on} held-out sample(s){how}; reported here "
        f"on the other {report_on}, which played no part in the election"
    )
