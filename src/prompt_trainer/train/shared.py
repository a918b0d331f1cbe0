"""What the three strategies share: the budget of LM calls and dollars, and the views and ids.

Takes a ``TrainRequest``'s parts; returns ``Budget`` (calls and dollars a run may spend, checked
before each call, priced from LiteLLM's bundled table by ``projection.price_per_token``, which
reads it without importing LiteLLM), ``PromptFileView`` (a prompt file with its bullets numbered,
as the model sees it), ``index_of`` (every citable id of
the evidence views with their short aliases, ``E3`` and ``<sample id>/E3``), ``cited_ids`` (the
ids in a model's answer) and ``candidate`` (the ``Candidate`` with the budget's notes and the
dropped items appended to its analysis, the run's failure clusters, and why it changes nothing
when it does not).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from prompt_trainer.models import Candidate, Change, PromptSet, TokenUsage
from prompt_trainer.prompt_kinds import scope_of
from prompt_trainer.train.edits import (
    EvidenceIndex,
    load_list,
    numbered,
)
from prompt_trainer.train.evidence import (
    EvidenceSample,
    evidence_ids,
    evidence_paths,
)
from prompt_trainer.train.plan import Evidence
from prompt_trainer.train.projection import price_per_token
from prompt_trainer.train.trainer import (
    TrainRequest,
    usage_of,
)
from prompt_trainer.train.views import View


class PromptFileView(View):
    """A prompt file as the model sees it; ``applies_to`` names the paths a scoped file is
    for (``prompt_kinds.scope_of``), where an edit must be about (``edits.out_of_scope``)."""

    path: str
    text: str
    applies_to: str = ""


#: The descriptions of the input fields the reflection and the curation share.
FILES_DESC = "the current prompt files; each bullet carries its id, [B1], [B2], ..."
OUTCOMES_DESC = (
    "per bullet: how often the failures it targets fell (helpful) or not (harmful) after it "
    "was merged; [] when none is known yet"
)

#: Output tokens assumed for a call when estimating its price before it is made.
EXPECTED_OUTPUT_TOKENS = 1500
#: Characters DSPy adds around the inputs (field descriptions, format instructions).
PROMPT_OVERHEAD_CHARS = 3000


@dataclass
class Budget:
    """LM calls and dollars a run may spend; checked before each call.

    The price of a call is known only after it is made, so before each call its cost is
    estimated from the size of its inputs (about four characters a token, plus DSPy's framing)
    and ``EXPECTED_OUTPUT_TOKENS``, at the model's prices in LiteLLM's table. With no known price
    only ``max_calls`` applies, and ``max_usd`` is checked against the cost reported so far.
    """

    max_calls: int
    max_usd: float | None
    lms: list[Any]
    model: str = ""
    notes: list[str] = field(default_factory=list)
    #: Calls kept for the held-out judge: training may not spend them.
    reserved: int = 0

    def spent(self) -> TokenUsage:
        """Usage over every LM of the run (one per candidate)."""
        parts = [usage_of(lm) for lm in self.lms]
        costs = [p.cost_usd for p in parts if p.cost_usd is not None]
        return TokenUsage(
            calls=sum(p.calls for p in parts),
            input_tokens=sum(p.input_tokens for p in parts),
            output_tokens=sum(p.output_tokens for p in parts),
            cost_usd=sum(costs) if costs else None,
        )

    def sent(self) -> int:
        """Requests sent so far: every answered one, and every failed one that was retried."""
        return sum(len(lm.history) + getattr(lm, "failed", 0) for lm in self.lms)

    def estimate(self, input_chars: int) -> float | None:
        price = price_per_token(self.model)
        if price is None:
            return None
        tokens_in = (input_chars + PROMPT_OVERHEAD_CHARS) / 4
        return tokens_in * price[0] + EXPECTED_OUTPUT_TOKENS * price[1]

    def allows(self, calls: int = 1, *, input_chars: Sequence[int] = ()) -> bool:
        """Whether ``calls`` more calls (of the given input sizes, when known) fit."""
        if self.sent() + calls + self.reserved > self.max_calls:
            return False
        if self.max_usd is None:
            return True
        cost = self.spent().cost_usd or 0.0
        sizes = list(input_chars) + [0] * (calls - len(input_chars))
        estimates = [self.estimate(size) for size in sizes]
        if any(e is None for e in estimates):
            return cost < self.max_usd
        return cost + sum(e or 0.0 for e in estimates) <= self.max_usd


def chars(*values: Any) -> int:
    return sum(
        len(v.model_dump_json()) if isinstance(v, BaseModel) else len(str(v)) for v in values
    )


def fixed_tokens(instructions: str, *texts: str) -> int:
    """Tokens of a call besides its evidence: instructions, prompt files, DSPy's framing."""
    return (len(instructions) + PROMPT_OVERHEAD_CHARS + sum(len(t) for t in texts)) // 4


def prompt_files(current: PromptSet) -> list[PromptFileView]:
    """The prompt files as the model sees them: every bullet numbered (``[B1]``) per file."""
    return [
        PromptFileView(path=f.path, text=numbered(f.content), applies_to=_scope(f.path, f.content))
        for f in current.files
        if f.content
    ]


def _scope(path: str, text: str) -> str:
    scope = scope_of(path, text)
    return f"only {', '.join(scope.globs)}: change it only for evidence there" if scope else ""


def index_of(views: list[EvidenceSample]) -> EvidenceIndex:
    """Every citable id of the views, with the short ids the views show beside them: each
    ``<sample id>/E3``, and a bare ``E3`` only where one view alone has it (every sample numbers
    its items from ``E1``, so a bare ref cited in a call about several samples is ambiguous)."""
    aliases: dict[str, str] = {}
    bare: dict[str, set[str]] = {}
    for view in views:
        found: dict[str, str] = {}
        _aliases(view.model_dump(mode="json"), found)
        for short, full in found.items():
            aliases[f"{view.id}/{short}"] = full
            bare.setdefault(short, set()).add(full)
    aliases.update({short: next(iter(fulls)) for short, fulls in bare.items() if len(fulls) == 1})
    return EvidenceIndex(evidence_ids(views), aliases, paths=evidence_paths(views))


def _aliases(value: Any, found: dict[str, str]) -> None:
    """Short ids like ``E3`` held next to a full ``id`` anywhere in a view."""
    if isinstance(value, dict):
        full = value.get("id")
        for key, short in value.items():
            if key != "id" and isinstance(full, str) and _short_id(short):
                found[str(short)] = full
        for item in value.values():
            _aliases(item, found)
    elif isinstance(value, list):
        for item in value:
            _aliases(item, found)


def _short_id(value: Any) -> bool:
    return (
        isinstance(value, str) and 1 < len(value) <= 6 and value[0] in "Ee" and value[1:].isdigit()
    )


def cited_ids(answer: Any) -> list[str]:
    """Evidence ids in a model's answer: a JSON list, or ids separated by commas or spaces."""
    if isinstance(answer, list | tuple):
        return [str(e) for e in answer]
    items = load_list(str(answer or ""))
    if items is not None:
        return [str(e) for e in items]
    return [e for e in re.split(r"[\s,;]+", str(answer or "")) if e]


def unchanged(request: TrainRequest, budget: Budget, evidence: Evidence, why: str) -> Candidate:
    """The current prompts as the candidate, saying ``why`` nothing changed."""
    return candidate(
        request, request.current, budget, summary="", applied=[], dropped=[], evidence=evidence,
        no_change=why,
    )  # fmt: skip


def candidate(
    request: TrainRequest,
    edited: PromptSet,
    budget: Budget,
    *,
    summary: str,
    applied: list[Change],
    dropped: list[str],
    evidence: Evidence | None = None,
    no_change: str = "",
) -> Candidate:
    """The candidate, its analysis ending with the run's notes and the edits dropped (and why).
    One that changes nothing says why in ``no_change`` (given, else from what was dropped)."""
    notes = [*budget.notes, *(f"dropped: {d}" for d in dropped)]
    if not applied:
        no_change = no_change or (
            f"{len(dropped)} edit(s) proposed, none kept (see dropped)"
            if dropped
            else "the model proposed no edit"
        )
    else:
        no_change = ""
    analysis = summary.strip() or (f"No change: {no_change}." if no_change else "")
    if notes:
        analysis += "\n\n" + "\n".join(f"- {n}" for n in notes)
    return Candidate(
        target=request.target.name,
        base_version=request.current.version,
        files=edited.files,
        analysis_summary=analysis,
        usage=budget.spent(),
        sample_ids=tuple(s.id for s in request.samples),
        changes=tuple(applied),
        dropped=tuple(dropped),
        clusters=tuple(evidence.notes()) if evidence is not None else (),
        no_change=no_change,
    )
