"""The ``gepa`` strategy: GEPA's reflective Pareto search over the sections of the prompt files.

Takes a ``TrainRequest``, the run's ``Evidence`` (``train.plan``), the ``Budget``, the training
pull requests GEPA validates on (``train.judging._search``) and the LMs; returns a ``Candidate``.
The search is the ``gepa`` package's own (``gepa.optimize``) through its adapter interface
(``train.gepa_adapter``): candidate selection from the Pareto front, minibatch acceptance, the
metric-call budget and the state it saves to resume. This module sets it up and reads the result:

1. **Components**: each ``##`` section of the main prompt file and each subagent file
   (``train.sections``): GEPA improves one at a time and the others stay byte-identical.
2. **Training set**: the pull requests of the current prompts that show a problem of a
   supported failure cluster, each with its failures; minibatches are the newest of one cluster.
   **Validation set**: training pull requests set aside from the minibatches, the newest of
   each failure cluster that can spare one (``train.judging._search``), not the held-out
   failures: those are kept for the per-edit evaluation, so the candidate GEPA chooses is
   measured on pull requests that played no part in choosing it. With too few pull requests, or
   ``training.holdout: 0``, it is the training set. The Pareto front is kept per failure cluster.
3. **Budget**: ``training.gepa.max_metric_calls`` (GEPA's count, across resumed runs) and the
   run's ``max_calls``/``max_usd``, checked before every call with the evaluation's calls and
   the check's kept back; a refused call ends the search with what it found.
4. **Resume**: GEPA's state lives in ``state_dir/gepa-<key>``, the key a hash of what defines the
   search (the prompts, the pull requests and their failures, the metric, the models, the
   instructions), not of its budget: an interrupted run, or a later run with the same inputs
   and a larger budget, continues it (copied from ``earlier_states``). The state is a pickle:
   before GEPA loads it, a restricted unpickler checks that it names only plain data and
   GEPA's own state classes, and a state that names anything else is discarded.
5. **Result**: the Pareto front's winner of each cluster that beats the current prompts; their
   changed sections are diffed into itemized bullet edits (``train.edits.diff_edits``), each
   citing what the reflections cited for it (an uncited change is reverted), then the support
   rule and the check (``train.check.vet_edits``) and applied like ``evolve``'s edits. Text a
   section changed outside bullets is not carried over, and the notes say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from gepa.api import optimize
from gepa.core.adapter import GEPAAdapter
from gepa.core.state import GEPAState

from prompt_trainer.errors import ConfigError
from prompt_trainer.evaluate.heldout import held_out_failures
from prompt_trainer.evaluate.per_edit import current_prompts
from prompt_trainer.measure.clusters import Cluster
from prompt_trainer.models import Candidate, Sample, SearchSummary
from prompt_trainer.train.budget import fit_budget
from prompt_trainer.train.check import vet_edits
from prompt_trainer.train.evidence import evidence_view
from prompt_trainer.train.evolve import applied
from prompt_trainer.train.gepa_adapter import SearchAdapter, State, Trace
from prompt_trainer.train.gepa_metric import (
    BudgetSpent,
    Instance,
    JudgeMetric,
    Kept,
    Metric,
    ReplayMetric,
)
from prompt_trainer.train.gepa_reflect import reviser
from prompt_trainer.train.gepa_result import analysis, search_notes, summarize, winner_edits
from prompt_trainer.train.gepa_state import key, state_dir
from prompt_trainer.train.gepa_strategies import (
    BudgetStop,
    ClusterBatches,
    FileLog,
    RelevantPart,
    SeededPareto,
)
from prompt_trainer.train.judging import MAX_VALIDATION
from prompt_trainer.train.plan import Evidence
from prompt_trainer.train.sections import Components, components
from prompt_trainer.train.shared import Budget, index_of, unchanged
from prompt_trainer.train.trainer import TrainRequest

#: Pull requests of one minibatch (GEPA's ``reflection_minibatch_size``).
MINIBATCH = 3
#: Calls kept back from the search for what follows it: the check.
KEEP = 1


def gepa_search(
    request: TrainRequest,
    evidence: Evidence,
    budget: Budget,
    *,
    validation: Sequence[Sample],
    clusters: Sequence[Cluster],
    metric_lm: Any,
    reflection_lm: Any,
) -> Candidate:
    """GEPA's search on ``request.samples`` (the training part), validated on ``validation``
    (whose failures are those of ``clusters``); the candidate of its front's winners."""
    train = instances(request, request.samples, evidence.supported, only=evidence.current)
    if not train:
        why = evidence.nothing_to_learn() or (
            "no pull request of the current prompts shows a failure with enough support"
        )
        budget.notes[:0] = evidence.describe("gepa")
        return unchanged(request, budget, evidence, why)
    val = instances(request, validation, clusters) or newest_of_each(train)
    _enough(request, len(val))
    layout = components(request.current)
    kept = Kept(budget, KEEP)
    adapter = SearchAdapter(
        layout=layout, current=request.current, instances={i.sample.id: i for i in train},
        validation={i.sample.id: i for i in val},
        clusters={c.id: c for c in [*evidence.clusters, *clusters]},
        metric=_metric(request, kept), program=reviser(), budget=kept,
        metric_lm=metric_lm, reflection_lm=reflection_lm,
    )  # fmt: skip
    search = key(request, layout, train, val, minibatch=MINIBATCH)
    with state_dir(request, search) as (folder, resumed):
        state = _optimize(request, adapter, layout, train=train, val=val, folder=folder)
    _account(evidence, adapter)
    budget.notes[:0] = evidence.describe("gepa")
    summary = summarize(request, state, adapter, val=val, resumed=resumed, clusters=clusters)
    return _candidate(request, evidence, budget, state, adapter, layout, summary)


def instances(
    request: TrainRequest,
    samples: Sequence[Sample],
    clusters: Sequence[Cluster],
    *,
    only: frozenset[str] | None = None,
) -> list[Instance]:
    """The pull requests with a failure of ``clusters`` (of ``only``, when given), in the
    clusters' rank order, newest first."""
    by_id = {s.id: s for s in samples if only is None or s.id in only}
    order = [i for c in clusters for i in c.samples if i in by_id]
    found: list[Instance] = []
    for sample_id in dict.fromkeys(order):
        sample = by_id[sample_id]
        failures = tuple(held_out_failures(sample, clusters))
        view = fit_budget(evidence_view(sample), request.max_evidence_tokens)
        found.append(Instance(sample, view, failures))
    return found


def newest_of_each(train: list[Instance]) -> list[Instance]:
    """Without held-out PRs to validate on, the newest training PR of each failure cluster
    (the training set is in cluster rank order, newest first), at most ``MAX_VALIDATION``."""
    firsts: dict[str, str] = {}
    for instance in train:
        for failure in instance.failures:
            firsts.setdefault(failure.cluster, instance.sample.id)
    chosen = set(list(dict.fromkeys(firsts.values()))[:MAX_VALIDATION])
    return [i for i in train if i.sample.id in chosen]


def _enough(request: TrainRequest, validation: int) -> None:
    """Raise when ``max_metric_calls`` cannot pay for one step of the search."""
    need = 2 * MINIBATCH + validation
    have = request.gepa.max_metric_calls
    if have < need:
        raise ConfigError(
            f"training.gepa.max_metric_calls is {have}: GEPA's search needs at least {need} "
            f"metric calls for one step (its minibatch of {MINIBATCH} twice, and the "
            f"{validation} validation pull request(s) once); nothing was trained",
            fix=f"set training.gepa.max_metric_calls to {max(need, 30)} or more, or use "
            "another strategy (training.strategy: evolve)",
        )


def _metric(request: TrainRequest, kept: Kept) -> Metric:
    if request.gepa.metric == "replay" and request.replayer is not None:
        return ReplayMetric(request.replayer)
    return JudgeMetric(current_prompts(request.current), kept)


# -- running GEPA ---------------------------------------------------------------------------


def _optimize(
    request: TrainRequest,
    adapter: SearchAdapter,
    layout: Components,
    *,
    train: list[Instance],
    val: list[Instance],
    folder: Path,
) -> State:
    """GEPA's search; its state afterwards, also when the budget ended it (as saved at the
    start of the iteration the refused call was in)."""
    members = _members(train)
    least = 1 + MINIBATCH + len(val)
    step = 2 * MINIBATCH + len(val)
    try:
        optimize(
            seed_candidate=dict(layout.texts), trainset=train, valset=val, adapter=as_gepa(adapter),
            candidate_selection_strategy=SeededPareto(), frontier_type="objective",
            batch_sampler=ClusterBatches(members, MINIBATCH), module_selector=RelevantPart(layout),
            perfect_score=1.0, skip_perfect_score=True, use_merge=False,
            max_metric_calls=request.gepa.max_metric_calls,
            stop_callbacks=[
                BudgetStop(adapter, least, step, request.gepa.max_metric_calls, 2 * len(members))
            ],
            logger=FileLog(folder / "gepa.log"),
            run_dir=str(folder), cache_evaluation=True, track_best_outputs=False,
            display_progress_bar=False, raise_on_exception=True, seed=0,
        )  # fmt: skip
    except BudgetSpent as exc:
        adapter.stopped = str(exc)
    state: State = GEPAState.load(str(folder))
    return state


def as_gepa(adapter: SearchAdapter) -> GEPAAdapter[Instance, Trace, dict[str, Any]]:
    """The adapter as GEPA's protocol types it (its ``propose_new_texts`` is set per
    instance, which mypy's protocol check does not see)."""
    return cast("GEPAAdapter[Instance, Trace, dict[str, Any]]", adapter)


def _members(train: list[Instance]) -> list[list[int]]:
    """Per failure cluster (in rank order), the indices of its instances, newest first."""
    by_cluster: dict[str, list[int]] = {}
    for n, instance in enumerate(train):
        for failure in instance.failures:
            by_cluster.setdefault(failure.cluster, []).append(n)
    return list(by_cluster.values())


def _account(evidence: Evidence, adapter: SearchAdapter) -> None:
    """The reflections as the run's cluster notes count them, and the views they showed."""
    for cluster, calls in adapter.reflected.items():
        evidence.calls[cluster] = evidence.calls.get(cluster, 0) + calls
    evidence.shown.update({i: adapter.instances[i].view for i in adapter.shown})


def _candidate(  # noqa: PLR0917 - the search's parts, passed on once
    request: TrainRequest,
    evidence: Evidence,
    budget: Budget,
    state: State,
    adapter: SearchAdapter,
    layout: Components,
    summary: SearchSummary,
) -> Candidate:
    """The winners' edits, cited, vetted and applied; the search summary with it."""
    budget.notes += [*search_notes(summary, request), *adapter.notes]
    if not summary.winners:
        why = (
            f"GEPA's search found no candidate better than the current prompts on the "
            f"validation failures ({summary.tried} tried, {summary.metric_calls} metric calls)"
        )
        same = unchanged(request, budget, evidence, why)
        return same.model_copy(update={"search": summary})
    programs = [state.program_candidates[i] for i in summary.winners]
    found = winner_edits(layout, programs, adapter.citations)
    budget.notes += found.notes
    known = index_of([i.view for i in adapter.instances.values()])
    vetted, refused = vet_edits(
        found.edits, known=known, evidence=evidence, current=request.current, budget=budget
    )
    made = applied(
        request, budget, evidence, vetted=vetted, dropped=found.dropped + refused,
        summary=analysis(summary, vetted_texts=[v.edit for v in vetted]),
    )  # fmt: skip
    return made.model_copy(update={"search": summary})
