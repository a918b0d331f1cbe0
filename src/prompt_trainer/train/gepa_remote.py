"""GEPA's search split across the Action's jobs, for ``training.gepa.metric: replay``.

A replay-scored search runs the agent, so in the Action it runs in the ``evaluate`` job (no
write token, no trainer key), and the model it reflects and checks with is the one that job may
hold: ``training.gepa.reflection_model``. The ``prepare`` job, which holds the trainer's key and
runs no command, only plans it:

- ``plan_search`` (prepare): the split the ``gepa`` strategy makes for itself
  (``train.judging.hold_out(search=True)``): the pull requests GEPA trains on, its validation
  set, the held-out pull requests (with failures, and without, checked for regressions) that
  neither the search nor its citations ever see, the earlier versions' samples the failure
  clusters read, and the supported clusters. No LM call; returns a ``SearchPlan`` of ids.
- ``run_search`` (evaluate): the same search as ``train.strategies`` runs (``gepa_search`` on
  ``fitted_request``), from that plan and the bundled samples, scored by ``request.replayer``,
  reflecting and checking with ``request.reflection_llm``, the only LM it builds. The held-out
  pull requests stay hidden from it; the caller replays them with the candidate it returns
  (``replay.replay``), which is its held-out evaluation. A plan this job would cluster
  differently (the code changed between the jobs) is refused, not searched.

Takes a ``TrainRequest`` (``train.step`` builds it); returns a ``SearchPlan`` or a
``Candidate``. Raises ``LLMError`` from the reflection model, ``ConfigError`` for a budget too
small for one step (``gepa_search``).
"""

from __future__ import annotations

from dataclasses import dataclass

import dspy

from prompt_trainer.errors import ConfigError
from prompt_trainer.evaluate.heldout import Plan
from prompt_trainer.measure.clusters import Cluster, cluster_samples
from prompt_trainer.models import Candidate, Sample
from prompt_trainer.train.gepa_search import gepa_search
from prompt_trainer.train.judging import Parts, hold_out
from prompt_trainer.train.shared import Budget
from prompt_trainer.train.strategies import fitted_request
from prompt_trainer.train.trainer import ADAPTER, TrainRequest, build_lm, translate_llm_errors


@dataclass(frozen=True)
class SearchPlan:
    """The sample ids of each part of a replay-scored search, and its supported clusters."""

    #: Every sample of the current prompts the plan was made from (the clusters are theirs).
    samples: tuple[str, ...]
    training: tuple[str, ...]
    validation: tuple[str, ...]
    #: Never shown to the search: replayed with its candidate for the held-out verdict.
    held_out: tuple[str, ...]
    #: Samples of earlier prompt versions whose problems join the training clusters.
    earlier: tuple[str, ...]
    clusters: tuple[str, ...]
    notes: tuple[str, ...] = ()


def plan_search(request: TrainRequest) -> SearchPlan:
    """The split ``train.strategies`` would search on, as ids (see the module docstring)."""
    budget = Budget(request.max_calls, request.max_usd, [], model=request.llm.model)
    parts = hold_out(request, budget, search=True)
    _, evidence = fitted_request(request, parts)
    report = parts.report_on
    training = {s.id for s in parts.training}
    return SearchPlan(
        samples=tuple(s.id for s in request.samples),
        training=tuple(s.id for s in parts.training),
        validation=tuple(s.id for s in parts.elect_on.held_out),
        held_out=tuple(s.id for s in [*report.held_out, *report.checked]),
        earlier=tuple(i for i in evidence.views if i not in training),
        clusters=tuple(c.id for c in evidence.supported),
        notes=tuple(evidence.describe("gepa", reflected=False)),
    )


def run_search(request: TrainRequest, plan: SearchPlan) -> Candidate:
    """GEPA's search on the planned parts, scored by ``request.replayer``; its candidate, not
    yet evaluated on the held-out pull requests (the caller replays them)."""
    reflection = request.reflection_llm
    if request.replayer is None or reflection is None:
        raise ConfigError("a replay-scored search needs the replay and a reflection model")
    parts, clusters = _parts(request, plan)
    fitted, evidence = fitted_request(request, parts)
    planned = tuple(c.id for c in evidence.supported)
    if planned != plan.clusters:
        raise ConfigError(
            f"the evaluate job clusters the bundled samples into {len(planned)} supported "
            f"failure cluster(s), the prepare job planned {len(plan.clusters)}: the search was "
            "not run",
            fix="run the prepare and evaluate jobs of one workflow run on the same commit",
        )
    lm = build_lm(reflection, cache_dir=request.cache_dir)
    budget = Budget(request.max_calls, request.max_usd, [lm], model=reflection.model)
    with translate_llm_errors(reflection), dspy.context(lm=lm, adapter=ADAPTER):
        candidate = gepa_search(
            fitted, evidence, budget, validation=parts.elect_on.held_out, clusters=clusters,
            metric_lm=lm, reflection_lm=lm,
        )  # fmt: skip
    return candidate.model_copy(update={"usage": budget.spent(), "strategy": "gepa"})


def _parts(request: TrainRequest, plan: SearchPlan) -> tuple[Parts, list[Cluster]]:
    """The plan's parts over the request's samples (an id it does not find is left out), and
    the failure clusters of all of them (as ``train.judging`` clusters them)."""
    by_id = {s.id: s for s in request.samples}

    def of(ids: tuple[str, ...]) -> list[Sample]:
        return [by_id[i] for i in ids if i in by_id]

    training = of(plan.training)
    clusters = cluster_samples(list(request.samples), target=request.target.name)
    validation = Plan(training, held_out=of(plan.validation))
    held = Plan(training, held_out=of(plan.held_out))
    return Parts(training, validation, held, clusters), clusters
