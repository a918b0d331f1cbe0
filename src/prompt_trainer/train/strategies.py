"""train(): run one of the three training strategies, judge the candidates, elect the best.

Before any LM call, the problems of the training samples and of the samples of earlier prompt
versions are grouped into failure clusters (``train.plan.gather`` over ``measure.clusters``);
clusters that still occur under the current version are what every strategy learns from.

- ``rewrite``: one ``PromptTrainer`` call returns whole files (``train.trainer``) from the
  newest sample of each cluster first; the main file is diffed at bullet level into itemized
  edits (``train.edits.diff_edits``): a removed or changed bullet that the summary does not tie
  to evidence is put back, and an added bullet or subagent it does not tie to evidence is left
  out.
- ``rules``: one ``RootCauses`` call over the newest sample of each cluster first returns
  categorized root causes, each with a preventive rule (rule, when, why) and its evidence; one
  ``MergeRules`` pass says for each whether a bullet already says it (dropped), it sharpens a
  bullet (refined in place) or it is new (appended under "## Learned rules" in the main file);
  it may retire a learned rule, citing evidence.
- ``evolve``: one ``ReflectCluster`` call per supported cluster on its newest samples
  (``train.reflect``), then one ``Curate`` call that reads each cluster's support and the cited
  evidence itself and returns itemized edits (``train.edits``) applied so untouched text stays
  byte-identical; it also sees the edits of proposals people closed without merging with the
  reviewers' words, each bullet's history across versions (``memory``) and a few samples of
  earlier versions as context.

The model sees bullets numbered (``[B3]``) and lists are read item by item. Every rule and edit
must cite evidence ids found in the samples (in any form ``EvidenceIndex`` resolves: the short
ref ``E3`` of the sample shown, ``<sample id>/E3`` when several are, the full id, a URL's
fragment, ``#9002``, a test id), and pass the support rule and the batched check
(``train.check.vet_edits``: problem evidence, a cluster of 2 PRs or a trusted reviewer's
request, about what it cites, specific to the repository); the others are dropped and listed in
the analysis with the reason. Calls are counted against ``training.max_calls`` and
``training.max_usd`` before they are made: the held-out judge's calls are reserved first
(``train``), ``evolve`` keeps two calls for the curation and the check and reflects on as many
clusters as the budget allows, naming those it leaves out and why. Each sample's evidence is
shrunk to ``training.max_evidence_tokens`` (``train.budget``), and a call that shows several
samples shares twice that between them.

Takes a ``TrainRequest`` and a strategy name; returns the candidates best first. The
strategies live in ``train.evolve``, ``train.rules`` and ``train.rewrite``; what they share
(``Budget``, the prompt-file view, the evidence index) in ``train.shared``; which samples are
held out, which judge runs (``training.judge``) and how candidates are elected in
``train.judging``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import dspy

from prompt_trainer.errors import LLMError
from prompt_trainer.models import Candidate
from prompt_trainer.train.evolve import evolve
from prompt_trainer.train.gepa_search import gepa_search
from prompt_trainer.train.judging import Parts, elect, election_note, hold_out, judged
from prompt_trainer.train.plan import Evidence, gather
from prompt_trainer.train.rewrite import rewrite
from prompt_trainer.train.rules import rules
from prompt_trainer.train.shared import (
    Budget,
)
from prompt_trainer.train.trainer import (
    ADAPTER,
    TrainRequest,
    build_lm,
    translate_llm_errors,
    with_losses,
)
from prompt_trainer.train.views import BulletOutcome

#: The strategies ``train`` runs (``settings.Strategy``).
STRATEGIES = ("evolve", "rules", "rewrite", "gepa")


def train(request: TrainRequest, strategy: str) -> list[Candidate]:
    """Run ``strategy`` (``evolve``, ``rules`` or ``rewrite``) on the samples not held out
    ``request.candidates`` times, judge them on the held-out ones (``train.judging``: per edit
    on held-out failures by default, or pairwise), and return them best first (the first is
    the elected one).

    The judge's calls are planned first: the held-out set fits the evaluation's share of
    ``max_calls``, and those calls are reserved before any reflection.
    With several candidates the held-out set is split in two: every candidate is judged on the
    first part and the best is elected there; the elected one is reported on the second part,
    which played no part in electing it (no winner's curse)."""
    if strategy not in STRATEGIES:
        raise LLMError(f"unknown strategy {strategy!r}", fix=f"use {', '.join(STRATEGIES)}")
    n = request.candidates
    lm = build_lm(request.llm, cache_dir=request.cache_dir)
    budget = Budget(request.max_calls, request.max_usd, [lm], model=request.llm.model)
    if strategy == "gepa":
        return [_searched(request, lm, budget)]
    parts = hold_out(request, budget)
    elect_on, report_on = parts.elect_on, parts.report_on
    fitted, evidence = fitted_request(request, parts)
    found: list[Candidate] = []
    with translate_llm_errors(request.llm):
        for attempt in range(n):
            if attempt and not budget.allows():
                budget.notes.append(f"made {attempt} of {n} candidates within the budget")
                break
            # Later candidates sample at temperature 1 under their own cache key (rollout_id),
            # so they differ from the first and reruns still hit the cache.
            this_lm = lm if not attempt else lm.copy(rollout_id=attempt, temperature=1.0)
            if attempt:
                this_lm.failed = 0
                budget.lms.append(this_lm)
            with dspy.context(lm=this_lm, adapter=ADAPTER):
                candidate = _one(strategy, fitted, evidence.fresh(), budget, this_lm)
                budget.reserved = max(0, budget.reserved - parts.calls(elect_on))
                found.append(judged(request, candidate, elect_on, budget, parts))
        ranked = elect(found)
        if report_on.held_out and len(ranked) > 1:
            with dspy.context(lm=lm, adapter=ADAPTER):
                ranked[0] = _reported(request, ranked[0], budget, parts, made=len(ranked))
    usage = budget.spent()
    return [
        with_losses(c.model_copy(update={"usage": usage, "strategy": strategy}), budget.lms)
        for c in ranked
    ]


def fitted_request(request: TrainRequest, parts: Parts) -> tuple[TrainRequest, Evidence]:
    """The request on the training part (the held-out samples hidden from the history and the
    outcomes), and the evidence gathered from it."""
    elect_on, report_on = parts.elect_on, parts.report_on
    held_out = [*elect_on.held_out, *elect_on.checked, *report_on.held_out, *report_on.checked]
    hidden = [s.id for s in held_out]
    fitted = replace(
        request,
        samples=parts.training,
        history=request.memory.history(request.current, hidden=hidden),
        bullet_outcomes=outcome_views(request, hidden),
    )
    evidence = gather(
        parts.training, request.memory.stored, request.current, hidden=frozenset(hidden)
    )
    return fitted, evidence


def _searched(request: TrainRequest, lm: Any, budget: Budget) -> Candidate:
    """GEPA's search (``train.gepa_search``), validated on one held-out part, its candidate
    judged on the other, which played no part in choosing it."""
    parts = hold_out(request, budget, search=True)
    fitted, evidence = fitted_request(request, parts)
    if request.candidates > 1:
        budget.notes.append(
            f"training.candidates={request.candidates} does not apply to gepa: its search makes "
            "and keeps its own candidates"
        )
    reflection_lm = lm
    chosen = request.reflection_llm
    if chosen is not None and chosen.model != request.llm.model:
        reflection_lm = build_lm(chosen, cache_dir=request.cache_dir)
        budget.lms.append(reflection_lm)
    with translate_llm_errors(request.llm), dspy.context(lm=lm, adapter=ADAPTER):
        candidate = gepa_search(
            fitted, evidence, budget, validation=parts.elect_on.held_out,
            clusters=parts.clusters, metric_lm=lm, reflection_lm=reflection_lm,
        )  # fmt: skip
        budget.reserved = 0
        candidate = judged(request, candidate, parts.report_on, budget, parts)
    spent = {"usage": budget.spent(), "strategy": "gepa"}
    return with_losses(candidate.model_copy(update=spent), budget.lms)


def _reported(
    request: TrainRequest, winner: Candidate, budget: Budget, parts: Parts, *, made: int
) -> Candidate:
    """The elected candidate judged again on samples that did not elect it."""
    budget.reserved = 0
    election = winner.evaluation
    reported = judged(request, winner, parts.report_on, budget, parts)
    if reported.evaluation is None or reported.evaluation is election:
        return reported
    note = election_note(
        election,
        made=made,
        elect_on=len(parts.elect_on.held_out) + len(parts.elect_on.checked),
        report_on=len(parts.report_on.held_out) + len(parts.report_on.checked),
    )
    return reported.model_copy(
        update={"evaluation": reported.evaluation.model_copy(update={"election": note})}
    )


def _one(
    strategy: str,
    request: TrainRequest,
    evidence: Evidence,
    budget: Budget,
    lm: Any,
) -> Candidate:
    if strategy == "rewrite":
        return rewrite(request, evidence, budget, lm)
    if strategy == "rules":
        return rules(request, evidence, budget)
    return evolve(request, evidence, budget)


def outcome_views(request: TrainRequest, hidden: list[str]) -> tuple[BulletOutcome, ...]:
    """What realized outcomes say of each current bullet (``memory.outcome_notes``, without the
    held-out samples), as reflections and the curation read it."""
    notes = request.memory.outcomes(request.current, hidden=hidden)
    return tuple(
        BulletOutcome(
            bullet=n.bullet,
            helpful=n.outcome.helpful,
            harmful=n.outcome.harmful,
            note=n.note(),
            sharpen_or_retire=n.unfallen,
        )
        for n in notes
    )
