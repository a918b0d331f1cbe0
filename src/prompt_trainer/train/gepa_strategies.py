"""The pieces of GEPA's search this project chooses, for the ``gepa`` strategy.

Given to ``gepa.optimize`` beside the adapter (``train.gepa_adapter``):

- ``ClusterBatches``: each minibatch is the newest pull requests of one failure cluster, the
  clusters in rank order, every cluster before any gets a second batch (issue 25's "reflect on
  every kind of failure, newest first");
- ``RelevantPart``: the component whose words the minibatch's failures and their quoted evidence
  share the most; ties, and no shared word, in turn (GEPA's round robin);
- ``SeededPareto``: GEPA's Pareto candidate selection, its random choice seeded by the iteration,
  so a resumed search makes the same choices as one never interrupted;
- ``BudgetStop``: stops before an iteration the budgets cannot pay for, or once the search has
  converged; ends it by raising after a refused call or an LM error inside an iteration, so that
  iteration is not saved as done;
- ``FileLog``: GEPA's log, to a file in its state directory.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gepa.core.data_loader import DataLoader
from gepa.gepa_utils import select_program_candidate_from_pareto_front

from prompt_trainer.measure.clusters import overlap, words_of
from prompt_trainer.train.gepa_adapter import SearchAdapter, State
from prompt_trainer.train.gepa_metric import BudgetSpent, Instance
from prompt_trainer.train.sections import Components
from prompt_trainer.train.support import excerpts


@dataclass
class ClusterBatches:
    """Minibatches of the newest pull requests of one failure cluster each: iteration ``i``
    takes cluster ``i mod K`` (in rank order), its ``i div K``-th batch of ``size``."""

    members: list[list[int]]
    size: int

    def next_minibatch_ids(self, loader: DataLoader[int, Instance], state: State) -> list[int]:
        turn = max(state.i, 0)
        ids = self.members[turn % len(self.members)]
        if len(ids) <= self.size:
            return list(ids)
        start = (turn // len(self.members) * self.size) % len(ids)
        return (ids + ids)[start : start + self.size]


@dataclass
class RelevantPart:
    """The component the minibatch's failures share the most words with; ties, and no shared
    word at all, in turn (GEPA's round robin)."""

    layout: Components

    def __call__(
        self,
        state: State,
        trajectories: list[Any],
        subsample_scores: list[float],
        candidate_idx: int,
        candidate: dict[str, str],
    ) -> list[str]:
        names = list(state.list_of_named_predictors)
        turn = state.named_predictor_id_to_update_next_for_program_candidate[candidate_idx]
        state.named_predictor_id_to_update_next_for_program_candidate[candidate_idx] = (
            turn + 1
        ) % len(names)
        wanted = words_of(*(text for t in trajectories for text in _failure_texts(t.instance)))
        order = names[turn:] + names[:turn]
        best = max(order, key=lambda n: overlap(wanted, words_of(candidate[n])))
        return [best]


def _failure_texts(instance: Instance) -> list[str]:
    """The labels of an instance's failures and the quoted evidence that shows them."""
    cited = [e for f in instance.failures for e in f.evidence]
    views = {instance.view.id: instance.view}
    return [*(f.label for f in instance.failures), *(e.text for e in excerpts(views, cited))]


@dataclass
class SeededPareto:
    """GEPA's Pareto candidate selection, its random choice seeded by the iteration."""

    seed: int = 0

    def select_candidate_idx(self, state: State) -> int:
        rng = random.Random(f"{self.seed}:{state.i}")  # noqa: S311 - a choice, not a secret
        return int(
            select_program_candidate_from_pareto_front(
                state.get_pareto_front_mapping(), state.per_program_tracked_scores, rng
            )
        )


@dataclass
class BudgetStop:
    """Stops the search before an iteration its budgets cannot pay for: ``step`` metric calls
    at most (the minibatch twice, the validation set) within ``max_metric_calls`` (GEPA's own
    stopper checks only that some are left), ``least`` LM calls (a reflection, the minibatch,
    the validation set) within the run's budget; or once the adapter stopped or failed."""

    adapter: SearchAdapter
    least: int
    step: int
    max_metric_calls: int
    #: Iterations without a new candidate after which the search has converged (every
    #: cluster's minibatch had its turns); scorings made before cost nothing, so without this
    #: a search whose candidates are all perfect on their minibatches would never end.
    patience: int = 12

    def __call__(self, gepa_state: State) -> bool:
        """Whether to stop before the next iteration; raises when the last one was cut short
        (an LM error, a refused reflection), so GEPA does not save it as done: its state stays
        as saved when that iteration began, and a resumed search makes it again."""
        if self.adapter.error is not None:
            raise self.adapter.error
        if self.adapter.refused:
            raise BudgetSpent(self.adapter.refused)
        if gepa_state.total_num_evals + self.step > self.max_metric_calls:
            return True
        found = [t["i"] for t in gepa_state.full_program_trace if "new_program_idx" in t]
        if gepa_state.i - max(found, default=0) >= self.patience:
            self.adapter.stopped = (
                f"converged: no new candidate in {self.patience} iterations (every failure "
                "cluster's minibatches had their turn)"
            )
            return True
        if not self.adapter.budget.allows(calls=self.least):
            self.adapter.stopped = (
                f"the budget has no room for another iteration (up to {self.least} calls)"
            )
            return True
        return False


@dataclass
class FileLog:
    """GEPA's log, to a file in its state directory (GEPA's own logger tees stdout)."""

    path: Path

    def log(self, message: str) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(f"{message}\n")
