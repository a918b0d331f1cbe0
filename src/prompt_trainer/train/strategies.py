"""train(): run one of the three training strategies, judge the candidates, elect the best.

- ``rewrite``: one ``PromptTrainer`` call returns whole files (``train.trainer``); the main file
  is diffed at bullet level into itemized edits (``train.edits.diff_edits``), and a removed or
  changed bullet that the summary does not tie to evidence is put back.
- ``rules``: one ``RootCauses`` call returns categorized root causes, each with a preventive rule
  (rule, when, why) and its evidence; one ``MergeRules`` pass says for each whether a bullet
  already says it (dropped), it sharpens a bullet (refined in place) or it is new (appended under
  "## Learned rules" in the main file); it may retire a learned rule, citing evidence.
- ``evolve``: one ``Reflect`` call per sample that shows a problem (what went wrong, the
  implicated instruction, the evidence ids), then one ``Curate`` call that turns the reflections
  into itemized edits (``train.edits``) applied so untouched text stays byte-identical; it also
  sees the edits of proposals people closed without merging with the reviewers' words, each
  bullet's history across versions (``memory``; the reflections see it too) and a few samples
  of earlier versions as context.

The model sees bullets numbered (``[B3]``) and lists are read item by item. Every rule and edit
must cite evidence ids found in the samples (in any form ``EvidenceIndex`` resolves: the short
ref ``E3`` of the sample shown, ``<sample id>/E3`` when several are, the full id, a URL's
fragment, ``#9002``, a test id); the others are dropped and listed in the analysis. Calls are
counted against ``training.max_calls`` and ``training.max_usd`` before they are made: the
held-out judge's calls are reserved first (``train``), ``evolve`` keeps one call for curation and
reflects on as many samples as the budget allows, saying how many it skipped. Each sample's
evidence is shrunk to ``training.max_evidence_tokens`` first (``train.budget``), and a call that
shows several samples (``rules``, ``rewrite``) shares twice that between them.

Takes a ``TrainRequest`` and a strategy name; returns the candidates best first. The
strategies live in ``train.evolve``, ``train.rules`` and ``train.rewrite``; what they share
(``Budget``, the prompt-file view, the evidence index) in ``train.shared``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import dspy

from prompt_trainer.errors import LLMError, NotEnoughEvidence
from prompt_trainer.models import Candidate, Sample
from prompt_trainer.train.budget import fit_budget
from prompt_trainer.train.evidence import (
    EvidenceSample,
    evidence_view,
)
from prompt_trainer.train.evolve import evolve
from prompt_trainer.train.heldout import judge, judge_calls, split_by_time
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


def train(request: TrainRequest, strategy: str) -> list[Candidate]:
    """Run ``strategy`` (``evolve``, ``rules`` or ``rewrite``) on the older samples
    ``request.candidates`` times, judge them on the newest samples (``request.holdout``), and
    return them best first (the first is the elected one).

    The judge's calls are planned first: the held-out set is capped so that judging fits in
    ``max_calls`` with room for training, and those calls are reserved before any reflection.
    With several candidates the held-out set is split in two: every candidate is judged on the
    first part and the best is elected there; the elected one is reported on the second part,
    which played no part in electing it (no winner's curse)."""
    if strategy not in ("evolve", "rules", "rewrite"):
        raise LLMError(f"unknown strategy {strategy!r}", fix="use evolve, rules or rewrite")
    n = request.candidates
    cap = (request.max_calls - 2 * n) // (2 * n)
    training, held_out = split_by_time(
        request.samples,
        request.holdout,
        max_held=cap if cap >= 1 else None,
        judged=request.memory.judged,
    )
    if request.holdout > 0 and not held_out:
        raise NotEnoughEvidence(
            f"{request.target.name}: held-out evaluation needs at least 2 samples of the current "
            f"prompts, there is {len(request.samples)}; nothing proposed",
            fix="collect more agent PRs (prompt-trainer collect --since ...), or set "
            "training.holdout: 0 to propose without held-out evaluation",
        )
    elect_on, report_on = (
        (held_out[0::2], held_out[1::2]) if n > 1 and len(held_out) > 1 else (held_out, [])
    )
    lm = build_lm(request.llm, cache_dir=request.cache_dir)
    budget = Budget(request.max_calls, request.max_usd, [lm], model=request.llm.model)
    reserve = judge_calls(len(elect_on)) * n + judge_calls(len(report_on))
    budget.reserved = reserve if reserve <= request.max_calls - n else 0
    hidden = [s.id for s in held_out]
    fitted = replace(
        request, samples=training, history=request.memory.history(request.current, hidden=hidden)
    )
    views = [fit_budget(evidence_view(s), request.max_evidence_tokens) for s in training]
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
                candidate = _one(strategy, fitted, views, budget, this_lm)
                budget.reserved = max(0, budget.reserved - judge_calls(len(elect_on)))
                found.append(_judged(request, candidate, elect_on, budget))
        ranked = elect(found)
        if report_on and len(ranked) > 1:
            with dspy.context(lm=lm, adapter=ADAPTER):
                ranked[0] = _reported(
                    request, ranked[0], report_on, budget, elect_on=elect_on, made=len(ranked)
                )
    usage = budget.spent()
    return [with_losses(c.model_copy(update={"usage": usage}), budget.lms) for c in ranked]


def _judged(
    request: TrainRequest, candidate: Candidate, held_out: list[Sample], budget: Budget
) -> Candidate:
    if not held_out or candidate.fingerprint == request.current.version:
        return candidate
    result = judge(
        request.current,
        candidate,
        held_out,
        max_evidence_tokens=request.max_evidence_tokens,
        budget=budget,
    )
    return candidate.model_copy(update={"evaluation": result})


def _reported(
    request: TrainRequest,
    winner: Candidate,
    report_on: list[Sample],
    budget: Budget,
    *,
    elect_on: list[Sample],
    made: int,
) -> Candidate:
    """The elected candidate judged again on samples that did not elect it."""
    budget.reserved = 0
    election = winner.evaluation
    reported = _judged(request, winner, report_on, budget)
    if reported.evaluation is None or reported.evaluation is election:
        return reported
    score = election.candidate_mean if election else None
    note = (
        f"elected among {made} candidates on {len(elect_on)} held-out sample(s)"
        + (f" (mean judge score {score:.2f})" if score is not None else "")
        + f"; reported here on the other {len(report_on)}, which played no part in the election"
    )
    return reported.model_copy(
        update={"evaluation": reported.evaluation.model_copy(update={"election": note})}
    )


def _one(
    strategy: str,
    request: TrainRequest,
    views: list[EvidenceSample],
    budget: Budget,
    lm: Any,
) -> Candidate:
    if strategy == "rewrite":
        return rewrite(request, views, budget, lm)
    if strategy == "rules":
        return rules(request, views, budget)
    return evolve(request, views, budget)


def elect(candidates: list[Candidate]) -> list[Candidate]:
    """Best first: by the held-out mean score of the candidate (unevaluated last), then in the
    order made. The others are kept for the run's artifacts."""

    def key(pair: tuple[int, Candidate]) -> tuple[float, int]:
        n, candidate = pair
        score = candidate.evaluation.candidate_mean if candidate.evaluation else None
        return (-(score if score is not None else -1.0), n)

    return [c for _, c in sorted(enumerate(candidates), key=key)]
