"""GEPA's metric: would an agent following a candidate's prompts have avoided this failure?

Takes one ``Instance`` (a pull request of the current prompts, its evidence view and its
failures: one per failure cluster it shows, ``evaluate.heldout.held_out_failures``) and a
candidate's changed components as diffs (``train.sections.section_diff``); returns a
``FailureScore`` per failure: 1 when the candidate prevents it, 0.5 partly, 0 when it is
irrelevant to it or conflicts with the pull request, with the judge's words as feedback.

- ``judge`` (``training.gepa.metric: judge``, the default): one ``JudgeEdits`` call, the per-edit
  judge of the held-out evaluation (``train.judge``, instructions ``prompts/judge_edits.md``),
  shows the pull request, the current prompts, its failures (``F1``...) and the changed
  components (``D1``...); its answer is read item by item (``evaluate.verdicts``). A failure
  scores its best verdict over the components, 0 when one of them conflicts. An answer that stays
  unreadable scores 0 and says so: a judge that cannot be read earns a candidate nothing.
- ``replay`` (``training.gepa.metric: replay``): ``Replayer`` reruns the agent on the pull
  request's task with the candidate's files and the tests decide (1 when they pass), the caller's
  function (``replay/``, passed down: ``train/`` does not import it); the feedback is the run's
  failing tests or its reason.

The current prompts need no call: the failures happened under them, so they score 0 on every
failure (``baseline``). Each call is checked against the budget first (``Kept``: the calls kept for
what follows the search are not spent); a call the budget refuses raises ``BudgetSpent``, which
ends the search cleanly with what it found (its state was saved before the iteration).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prompt_trainer.evaluate.per_edit import EditView, PromptText, failure_views
from prompt_trainer.evaluate.verdicts import Reading
from prompt_trainer.models import HeldOutFailure, PromptFile, Sample
from prompt_trainer.train.judge import judge_one, judge_program
from prompt_trainer.train.shared import Budget, chars
from prompt_trainer.train.trainer import Replayer
from prompt_trainer.train.views import EvidenceSample

#: What each verdict earns a failure.
SCORES = {"prevents": 1.0, "partly": 0.5, "irrelevant": 0.0, "conflicts": 0.0}


@dataclass(frozen=True)
class Instance:
    """A pull request GEPA trains or validates on: its evidence view and its failures."""

    sample: Sample
    view: EvidenceSample
    failures: tuple[HeldOutFailure, ...]


@dataclass(frozen=True)
class FailureScore:
    """One failure of an instance, scored: the verdict and the judge's (or the tests') words."""

    failure: HeldOutFailure
    score: float
    verdict: str
    why: str = ""


class BudgetSpent(Exception):
    """The budget refused the next call of the search (not an error: the search ends here)."""


@dataclass
class Kept:
    """The run's budget with ``keep`` calls left for what follows the search (the check)."""

    budget: Budget
    keep: int

    @property
    def notes(self) -> list[str]:
        return self.budget.notes

    def allows(self, calls: int = 1, *, input_chars: Sequence[int] = ()) -> bool:
        return self.budget.allows(calls + self.keep, input_chars=input_chars)


def baseline(instance: Instance) -> list[FailureScore]:
    """The current prompts' scores: every failure happened under them."""
    why = "it happened under these prompts"
    return [FailureScore(f, 0.0, "not prevented", why) for f in instance.failures]


#: A metric: the instance, the changed components as diffs, the candidate's files.
Metric = Callable[[Instance, list[EditView], tuple[PromptFile, ...]], list[FailureScore]]


@dataclass
class JudgeMetric:
    """``training.gepa.metric: judge``: one ``JudgeEdits`` call per instance."""

    current: list[PromptText]
    budget: Kept

    def __post_init__(self) -> None:
        self.program = judge_program()

    def __call__(
        self, instance: Instance, diffs: list[EditView], files: tuple[PromptFile, ...]
    ) -> list[FailureScore]:
        shown = failure_views(instance.failures, instance.view)
        size = chars(instance.view, *shown, *diffs, *self.current)
        if not self.budget.allows(input_chars=[size]):
            raise BudgetSpent(_refused(self.budget.budget))
        answer = judge_one(
            self.program, self.budget, view=instance.view, files=self.current, failures=shown,
            edits=diffs,
        )  # fmt: skip
        if answer is None:
            why = "the judge's answer could not be read; scored 0"
            return [FailureScore(f, 0.0, "unreadable", why) for f in instance.failures]
        return [_scored(f, answer[0], diffs) for f in instance.failures]


def _scored(failure: HeldOutFailure, read: list[Reading], diffs: list[EditView]) -> FailureScore:
    """A failure's best verdict over the changed parts; 0 when one conflicts."""
    mine = [r for r in read if r.failure == failure.ref]
    conflicts = [r for r in read if r.verdict == "conflicts" and r.failure in ("", failure.ref)]
    if conflicts:
        return FailureScore(failure, 0.0, "conflicts", _said(conflicts[0], diffs))
    if not mine:
        return FailureScore(failure, 0.0, "no verdict", "the judge gave no verdict for it")
    best = max(mine, key=lambda r: SCORES[r.verdict])
    return FailureScore(failure, SCORES[best.verdict], best.verdict, _said(best, diffs))


def _said(reading: Reading, diffs: list[EditView]) -> str:
    """The judge's words on the part it judged, named as the reflection knows it (the judge's
    ``D1`` means nothing there): ``section ## Money: names quantize``."""
    part = diffs[reading.edit - 1].op.removeprefix("edits ") if reading.edit <= len(diffs) else ""
    return ": ".join(p for p in (part, reading.why) if p)


def _refused(budget: Budget) -> str:
    limit = f"training.max_calls={budget.max_calls}" + (
        f", training.max_usd={budget.max_usd}" if budget.max_usd is not None else ""
    )
    return f"the budget ({limit}) refused the next call"


@dataclass
class ReplayMetric:
    """``training.gepa.metric: replay``: the agent reruns the task, the tests decide."""

    replay: Replayer

    def __call__(
        self, instance: Instance, diffs: list[EditView], files: tuple[PromptFile, ...]
    ) -> list[FailureScore]:
        done = self.replay(files, instance.sample)
        if done.exhausted:
            raise BudgetSpent(done.feedback)
        if done.passed is None:
            verdict, score = "not replayed", 0.0
        else:
            verdict, score = ("passed", 1.0) if done.passed else ("failed", 0.0)
        return [FailureScore(f, score, verdict, done.feedback) for f in instance.failures]


def score_of(scores: list[FailureScore]) -> float:
    """An instance's score: the mean over its failures."""
    return sum(s.score for s in scores) / len(scores) if scores else 0.0


def objectives(scores: list[FailureScore]) -> dict[str, float]:
    """Per failure cluster, the instance's score there (GEPA's Pareto front per cluster)."""
    found: dict[str, list[float]] = {}
    for s in scores:
        found.setdefault(s.failure.cluster, []).append(s.score)
    return {k: sum(v) / len(v) for k, v in found.items()}


def output_of(instance: Instance, scores: list[FailureScore]) -> dict[str, Any]:
    """What GEPA keeps of one evaluation (small, plain data: it is saved with its state)."""
    return {
        "sample": instance.sample.id,
        "verdicts": {s.failure.ref: s.verdict for s in scores},
    }
