"""GEPA's adapter for prompt files (strategy ``gepa``).

Takes the prompt set's components (``train.sections``), the instances (``train.gepa_metric``),
a metric, the reflection's program and the LMs; gives GEPA (``gepa.optimize``) what its
``GEPAAdapter`` interface asks for:

- ``evaluate``: each instance scored by the metric on the candidate's changed components (the
  current prompts, which change nothing, score 0 without a call); per instance the mean over its
  failures, and per failure cluster an objective score, so GEPA's Pareto front is kept per
  cluster (``frontier_type="objective"``). A candidate and pull request scored once are not asked
  again (the scorings are saved with GEPA's state).
- ``make_reflective_dataset``: per pull request of the minibatch, its failures, the evidence
  quoted (reviewers' words, failing messages, the human fix, the trace's error:
  ``train.support.excerpts``), the score and the judge's words.
- ``propose_new_texts``: ``train.gepa_reflect.revise`` on the part GEPA chose, under the budget;
  the evidence each changed bullet cites is kept (``citations``, saved with GEPA's state).
  GEPA catches a proposer's exceptions and goes on; an LM error is therefore kept in ``error``
  and raised by ``train.gepa_strategies.BudgetStop`` before GEPA saves the iteration as done.

The strategies plugged into GEPA's search beside it are in ``train.gepa_strategies``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dspy
from gepa.core.adapter import EvaluationBatch
from gepa.core.state import GEPAState

from prompt_trainer.evaluate.per_edit import EditView, PromptText, current_prompts
from prompt_trainer.measure.clusters import Cluster
from prompt_trainer.models import PromptFile, PromptSet
from prompt_trainer.train.gepa_metric import (
    FailureScore,
    Instance,
    Kept,
    Metric,
    baseline,
    objectives,
    output_of,
    score_of,
)
from prompt_trainer.train.gepa_reflect import FeedbackRecord, revise
from prompt_trainer.train.sections import Components, section_diff
from prompt_trainer.train.shared import chars, index_of
from prompt_trainer.train.support import excerpts
from prompt_trainer.train.trainer import ADAPTER

#: Quoted evidence items per pull request the reflection reads.
EXCERPTS = 6
#: GEPA's state over this adapter: its outputs are small dicts, its data ids list indices.
State = GEPAState[dict[str, Any], int]


@dataclass(frozen=True)
class Trace:
    """One instance's evaluation, for the reflective dataset (not saved with the state)."""

    instance: Instance
    scores: tuple[FailureScore, ...]


@dataclass
class SearchAdapter:
    """The ``GEPAAdapter`` over a target's prompt files (see the module docstring)."""

    layout: Components
    current: PromptSet
    instances: dict[str, Instance]
    #: The validation set's pull requests (a scoring of one is restored on resume too).
    validation: dict[str, Instance]
    clusters: dict[str, Cluster]
    metric: Metric
    program: Any
    budget: Kept
    metric_lm: Any
    reflection_lm: Any
    #: Normalised bullet text -> the evidence ids the reflections cited for it.
    citations: dict[str, list[str]] = field(default_factory=dict)
    #: Reflection calls per failure cluster, and the pull requests they were shown.
    reflected: dict[str, int] = field(default_factory=dict)
    shown: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Why the search stops early ("" while it may go on); why the budget refused a reflection
    #: in the middle of an iteration, and an LM error there (both end the search before GEPA
    #: saves that iteration: ``BudgetStop``).
    stopped: str = ""
    refused: str = ""
    error: BaseException | None = None
    _memo: dict[tuple[str, str], tuple[FailureScore, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.propose_new_texts = self.propose

    # -- evaluate ---------------------------------------------------------------------------

    def evaluate(
        self, batch: list[Instance], candidate: dict[str, str], capture_traces: bool = False
    ) -> EvaluationBatch[Trace, dict[str, Any]]:
        diffs = self.diffs(candidate)
        files = self.files(candidate)
        key = _hash(candidate)
        scored: list[tuple[FailureScore, ...]] = []
        asked = 0
        for instance in batch:
            memo = (key, instance.sample.id)
            if memo not in self._memo:
                found = self._score(instance, diffs, files)
                self._memo[memo] = tuple(found)
                asked += 1 if diffs else 0
            scored.append(self._memo[memo])
        return EvaluationBatch(
            outputs=[output_of(i, list(s)) for i, s in zip(batch, scored, strict=True)],
            scores=[score_of(list(s)) for s in scored],
            trajectories=[Trace(i, s) for i, s in zip(batch, scored, strict=True)]
            if capture_traces
            else None,
            objective_scores=[objectives(list(s)) for s in scored],
            # what GEPA counts of a minibatch: the scorings that asked the metric (those of the
            # current prompts, and any made before, cost nothing)
            num_metric_calls=asked,
        )

    def _score(
        self, instance: Instance, diffs: list[EditView], files: tuple[PromptFile, ...]
    ) -> list[FailureScore]:
        if not diffs:
            return baseline(instance)
        with dspy.context(lm=self.metric_lm, adapter=ADAPTER):
            return self.metric(instance, diffs, files)

    def diffs(self, candidate: Mapping[str, str]) -> list[EditView]:
        """The candidate's changed components as the judge reads them, ``D1`` first."""
        return [
            EditView(
                ref=f"D{n}",
                file=self.layout.path_of(name),
                op=f"edits {self.layout.describe(name)}",
                diff=section_diff(self.layout.texts[name], candidate[name]),
            )
            for n, name in enumerate(self.layout.changed(candidate), start=1)
        ]

    def files(self, candidate: Mapping[str, str]) -> tuple[PromptFile, ...]:
        joined = self.layout.joined(candidate)
        return tuple(PromptFile(path=p, content=t) for p, t in joined.items())

    # -- reflect ----------------------------------------------------------------------------

    def make_reflective_dataset(
        self,
        candidate: dict[str, str],
        eval_batch: EvaluationBatch[Trace, dict[str, Any]],
        components_to_update: list[str],
    ) -> dict[str, list[dict[str, Any]]]:
        records = [self.record(t).model_dump(mode="json") for t in eval_batch.trajectories or []]
        return {name: records for name in components_to_update}

    def record(self, trace: Trace) -> FeedbackRecord:
        instance = trace.instance
        views = {instance.view.id: instance.view}
        cited = [e for f in instance.failures for e in f.evidence]
        return FeedbackRecord(
            pull_request=instance.sample.id,
            title=instance.view.title,
            failures=[self._failure(f.ref, f.cluster, f.label) for f in instance.failures],
            evidence=excerpts(views, cited, limit=EXCERPTS),
            score=score_of(list(trace.scores)),
            feedback="; ".join(_said(s) for s in trace.scores),
        )

    def _failure(self, ref: str, cluster: str, label: str) -> str:
        known = self.clusters.get(cluster)
        return f"{ref} {label}" + (f" [seen in {known.support}]" if known else "")

    def propose(
        self,
        candidate: dict[str, str],
        reflective_dataset: Mapping[str, Sequence[Mapping[str, Any]]],
        components_to_update: list[str],
    ) -> dict[str, str]:
        """New texts for the components GEPA chose (an empty answer when the budget refuses,
        or after an LM error: both stop the search)."""
        proposed: dict[str, str] = {}
        for name in components_to_update:
            records = [FeedbackRecord.model_validate(r) for r in reflective_dataset.get(name, [])]
            if not records or self.refused or self.error is not None:
                break
            text = self._revised(name, candidate, records)
            if text is not None and text != candidate[name]:
                proposed[name] = text
        return proposed

    def _revised(
        self, name: str, candidate: dict[str, str], records: list[FeedbackRecord]
    ) -> str | None:
        files = self.context(candidate)
        if not self.budget.allows(input_chars=[chars(*records, *files, candidate[name])]):
            self.refused = "the budget refused the next reflection call"
            return None
        known = self.instances
        shown = [known[r.pull_request] for r in records if r.pull_request in known]
        try:
            with dspy.context(lm=self.reflection_lm, adapter=ADAPTER):
                revised = revise(
                    self.program, self.budget, part=name, current=candidate[name],
                    files=files, records=records, known=index_of([i.view for i in shown]),
                )  # fmt: skip
        except Exception as exc:  # GEPA swallows a proposer's errors: kept, raised after
            self.error = exc
            return None
        self._count(shown)
        if revised is None:
            self.notes.append(f"{name}: the reflection's answer was unreadable")
            return None
        for bullet, ids in revised.citations.items():
            self.citations[bullet] = list(dict.fromkeys([*self.citations.get(bullet, []), *ids]))
        self.notes += [f"{name}: {d}" for d in revised.dropped]
        return revised.text

    def _count(self, shown: list[Instance]) -> None:
        for cluster in dict.fromkeys(f.cluster for i in shown for f in i.failures):
            self.reflected[cluster] = self.reflected.get(cluster, 0) + 1
        self.shown = list(dict.fromkeys([*self.shown, *(i.sample.id for i in shown)]))

    def context(self, candidate: Mapping[str, str]) -> list[PromptText]:
        """The candidate's files (capped), as the reflection reads them for context."""
        files = self.files(candidate)
        main = next(f for f in files if f.path == self.current.main.path)
        return current_prompts(self.current.model_copy(update={"main": main, "files": files}))

    # -- state kept with GEPA's ------------------------------------------------------------

    def get_adapter_state(self) -> dict[str, Any]:
        """What the adapter keeps with GEPA's state (plain data): the citations, the
        reflections counted, and every scoring made, so a resumed search asks none again."""
        return {
            "citations": {k: list(v) for k, v in self.citations.items()},
            "reflected": dict(self.reflected),
            "shown": list(self.shown),
            "notes": list(self.notes),
            "scored": {
                f"{key}\n{sample}": [[s.failure.ref, s.score, s.verdict, s.why] for s in found]
                for (key, sample), found in self._memo.items()
            },
        }

    def set_adapter_state(self, state: dict[str, Any]) -> None:
        cited = state.get("citations", {})
        self.citations = {str(k): [str(i) for i in v] for k, v in cited.items()}
        self.reflected = {str(k): int(v) for k, v in state.get("reflected", {}).items()}
        self.shown = [str(s) for s in state.get("shown", [])]
        self.notes = [str(n) for n in state.get("notes", [])]
        for memo, found in state.get("scored", {}).items():
            key, _, sample = str(memo).partition("\n")
            scores = self._restored(sample, found)
            if scores is not None:
                self._memo[(key, sample)] = scores

    def _restored(self, sample: str, found: list[list[Any]]) -> tuple[FailureScore, ...] | None:
        """Scorings of ``sample`` as saved, or None when its failures are not these."""
        instance = self.instances.get(sample) or self.validation.get(sample)
        if instance is None:
            return None
        failures = {f.ref: f for f in instance.failures}
        if sorted(failures) != sorted(str(f[0]) for f in found):
            return None
        return tuple(
            FailureScore(failures[str(ref)], float(score), str(verdict), str(why))
            for ref, score, verdict, why in found
        )


def _said(score: FailureScore) -> str:
    """``F1: prevents (D1: names quantize, as E2 asks)``, as the reflection reads it."""
    return f"{score.failure.ref}: {score.verdict}" + (f" ({score.why})" if score.why else "")


def _hash(candidate: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(candidate.items())).encode()).hexdigest()
