"""Train stage, as one step of a run: the elected candidate for one target.

Takes the settings (``training`` budgets, the cache directory), the target, its current prompt
set, the samples that ran on it, the model, the edits people rejected and what the loop
remembers from earlier versions (``memory.Memory``), and what the run's record knows, passed
down by the caller (``inputs``: the hash of what it trains on; ``stored``: the candidate an
interrupted run trained on those inputs; ``keep``: where to record a new one at once). This
module does not reach up into ``loop/``: the record is the loop's. Returns ``Trained``: the
elected candidate and the hash of its inputs. The candidate is ``stored``, or a new one from
``train``, handed to ``keep`` at once (a failure later costs no LLM work); those not elected are
written under ``.prompt-trainer/candidates/`` too. Raises ``NotEnoughEvidence`` when the
evidence is held out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prompt_trainer import propose, workdir
from prompt_trainer.memory import Memory
from prompt_trainer.models import Candidate, PromptSet, Rejection, Sample
from prompt_trainer.settings import LLMSettings, Settings, Target
from prompt_trainer.train.strategies import train
from prompt_trainer.train.trainer import Replayer, TrainRequest


@dataclass(frozen=True)
class Trained:
    """The elected candidate, and the hash of what it was trained on (``training_inputs``)."""

    candidate: Candidate
    inputs: str


def train_target(
    settings: Settings,
    target: Target,
    current: PromptSet,
    samples: list[Sample],
    *,
    llm: LLMSettings,
    strategy: str,
    rejected: tuple[Rejection, ...],
    log: Callable[[str], None],
    memory: Memory | None = None,
    inputs: str = "",
    stored: Candidate | None = None,
    keep: Callable[[Candidate], None] | None = None,
    search: Search | None = None,
) -> Trained:
    """The elected candidate for ``target``: ``stored`` when an interrupted run trained it on
    the same ``inputs``, else a new one, handed to ``keep``."""
    log(f"train: {target.name} with {llm.model} ({strategy}) on {len(samples)} sample(s)")
    if stored is not None:
        log(f"train: {target.name}: reusing the candidate the earlier attempt of this run trained")
        return Trained(stored, inputs)
    request = train_request(
        settings, target, current, samples, llm=llm, rejected=rejected, memory=memory,
        search=search,
    )  # fmt: skip
    candidate, *others = train(request, strategy)
    for note in candidate.lost:
        log(f"train: {target.name}: {note}")
    if candidate.lost:
        log(f"train: {target.name}: {len(candidate.lost)} LLM call(s) lost; the analysis and "
            "the PR body list them")  # fmt: skip
    if keep is not None:
        keep(candidate)
    _keep_others(others, settings, log=log)
    return Trained(candidate, inputs)


def train_request(
    settings: Settings,
    target: Target,
    current: PromptSet,
    samples: list[Sample],
    *,
    llm: LLMSettings,
    rejected: tuple[Rejection, ...] = (),
    memory: Memory | None = None,
    search: Search | None = None,
) -> TrainRequest:
    """What ``train`` is asked for one target: the samples, the model, the budgets and the
    options of ``training``, and the search's state and replay (``Search``)."""
    budget = settings.config.training
    return TrainRequest(
        target=target,
        current=current,
        samples=samples,
        llm=llm,
        cache_dir=workdir.cache_dir(settings.root),
        max_calls=budget.max_calls,
        max_usd=budget.max_usd,
        max_evidence_tokens=budget.max_evidence_tokens,
        holdout=budget.holdout,
        judge=budget.judge,
        candidates=budget.candidates,
        rejected=rejected,
        rejected_threshold=budget.rejected_evidence_threshold,
        memory=memory or Memory(),
        **_search_fields(settings, llm, search or Search()),
    )


@dataclass(frozen=True)
class Search:
    """What the ``gepa`` strategy needs from the caller: where this run keeps its search state
    and where earlier runs kept theirs (``loop.runs.RunRecord.search_dirs``), and, for
    ``training.gepa.metric: replay``, the replay of one task (None where the agent may not run;
    ``replay_note`` says why)."""

    state_dir: Path | None = None
    earlier: tuple[Path, ...] = ()
    replayer: Replayer | None = None
    replay_note: str = ""


def _search_fields(settings: Settings, llm: LLMSettings, search: Search) -> dict[str, Any]:
    gepa = settings.config.training.gepa
    chosen = gepa.reflection_model
    return {
        "gepa": gepa,
        "reflection_llm": settings.llm(model=chosen, api_base=llm.api_base) if chosen else None,
        "state_dir": search.state_dir,
        "earlier_states": search.earlier,
        "replayer": search.replayer,
        "replay_note": search.replay_note,
    }


def _keep_others(
    others: list[Candidate], settings: Settings, *, log: Callable[[str], None]
) -> None:
    """Write the candidates not elected, so that a person can still read them."""
    for other in others:
        folder = propose.write_candidate(
            other, root=settings.root, body="", gate_problems=("not elected",)
        )
        log(f"candidate (not elected, kept): {folder}")
