"""``prompt-trainer evidence``: the offline preview of what a training run shows the model.

Reads the stored samples (``.prompt-trainer/samples.jsonl``), picks those named (by full id, or
by the end of it: ``pr-101``, ``101``) or, with none named, every sample of the target's current
prompt version, and builds each one's view exactly as training does (``evidence_view``, then
``fit_budget`` at ``training.max_evidence_tokens``). Prints each view with its token count and
what the budget cut, as text or JSON. Needs no LLM key and never imports DSPy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from prompt_trainer.errors import ConfigError
from prompt_trainer.models import Sample
from prompt_trainer.settings import Settings
from prompt_trainer.store import open_ledger
from prompt_trainer.targets import LocalSource, load_prompt_set
from prompt_trainer.train.budget import fit_budget
from prompt_trainer.train.evidence import EvidenceSample, estimate_tokens, evidence_view


@dataclass(frozen=True)
class Preview:
    """One sample's view as training would send it."""

    view: EvidenceSample
    tokens: int
    full_tokens: int

    def to_json(self) -> dict[str, object]:
        return {
            "sample": self.view.id,
            "tokens": self.tokens,
            "tokens_before_cuts": self.full_tokens,
            "cut": self.view.cut,
            "view": self.view.model_dump(mode="json"),
        }

    def to_text(self) -> str:
        cut = "; ".join(self.view.cut) or "nothing"
        head = f"== {self.view.id}: {self.tokens:,} tokens (of {self.full_tokens:,}); cut: {cut}"
        return head + "\n" + json.dumps(self.view.model_dump(mode="json"), indent=2) + "\n"


def matches(sample_id: str, wanted: str) -> bool:
    """``wanted`` is the sample's id or its end after ``:``, ``#`` or ``/``."""
    return sample_id == wanted or any(sample_id.endswith(sep + wanted) for sep in ":#/-")


def choose(samples: list[Sample], wanted: list[str], *, version: str, target: str) -> list[Sample]:
    """The samples named in ``wanted``, or every sample of ``version`` when none is named."""
    if not wanted:
        return [s for s in samples if s.prompt_versions.get(target) == version]
    chosen = [s for s in samples if any(matches(s.id, w) for w in wanted)]
    missing = [w for w in wanted if not any(matches(s.id, w) for s in samples)]
    if missing:
        raise ConfigError(
            f"no stored sample matches {', '.join(missing)}",
            fix="collect it first (prompt-trainer collect --pr N, or run --local DIR), or "
            "give an id as `prompt-trainer versions` and the store show it",
        )
    return chosen


def previews(settings: Settings, wanted: list[str], *, target: str | None) -> list[Preview]:
    """The view of each chosen sample, fitted to ``training.max_evidence_tokens``."""
    chosen_target = settings.target(target) if target else settings.config.targets[0]
    current = load_prompt_set(chosen_target, LocalSource(settings.root), required=False)
    stored = open_ledger(settings.root).load()
    budget = settings.config.training.max_evidence_tokens
    found = []
    for sample in choose(stored, wanted, version=current.version, target=chosen_target.name):
        full = evidence_view(sample)
        fitted = fit_budget(full, budget)
        found.append(Preview(fitted, estimate_tokens(fitted), estimate_tokens(full)))
    return found
