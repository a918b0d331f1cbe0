"""The ``rewrite`` strategy: whole files from one ``PromptTrainer`` call, kept to cited edits.

Takes a ``TrainRequest``, the evidence views, the ``Budget`` and the LM; returns a
``Candidate``. The call is ``train.trainer.train_candidate``; the main file it returns is diffed
at bullet level into itemized edits (``train.edits.diff_edits``), and a removed or changed
bullet that the summary does not tie to evidence is put back.
"""

from __future__ import annotations

from typing import Any

from prompt_trainer.models import Candidate, Change
from prompt_trainer.train.edits import (
    apply_edits,
    diff_edits,
    files_of,
)
from prompt_trainer.train.evidence import (
    EvidenceSample,
)
from prompt_trainer.train.shared import (
    Budget,
    candidate,
    chars,
    index_of,
)
from prompt_trainer.train.trainer import (
    TrainRequest,
    train_candidate,
)


def rewrite(
    request: TrainRequest, views: list[EvidenceSample], budget: Budget, lm: Any
) -> Candidate:
    """One ``PromptTrainer`` call on the capped evidence, under the budget; its main file is
    diffed at bullet level into itemized edits, and a removed or changed bullet whose change
    the summary does not tie to evidence is kept as it was."""
    current = request.current
    if not budget.allows(input_chars=[chars(*views, current.main.content)]):
        note = "the budget (training.max_calls / training.max_usd) does not allow the call"
        return candidate(request, current, budget, summary=note, applied=[], dropped=[])
    proposed = train_candidate(request, lm, views=views, budget=budget)
    if proposed is None:
        note = "the model's answer was unreadable, also after a repair request; nothing changed"
        return candidate(request, current, budget, summary=note, applied=[], dropped=[])
    known = index_of(views)
    main = next(f.content for f in proposed.files if f.path == current.main.path)
    edits = diff_edits(current.main.content, main, proposed.analysis_summary, known)
    result = apply_edits(
        current,
        request.target,
        edits,
        evidence_ids=known,
        rejected=request.rejected,
        threshold=request.rejected_threshold,
        cite_for=frozenset({"modify", "remove"}),
    )
    files = {f.path: f.content for f in proposed.files} | {
        current.main.path: result.files[current.main.path]
    }
    changes = [
        Change(
            path=current.main.path,
            op=a.edit.op,
            text=a.edit.new_text or a.edit.target_text,
            evidence=a.evidence,
            reason=a.edit.reason,
        )
        for a in result.applied
    ]
    dropped = [
        f"{e.op} {e.target_text if e.op != 'add' else e.new_text!r}: "
        + (
            "kept as it was: the rewrite cites no evidence for this bullet"
            if "cites no" in why
            else why
        )
        for e, why in result.dropped
    ]
    edited = current.model_copy(update={"files": files_of(current, files)})
    return candidate(
        request, edited, budget, summary=proposed.analysis_summary, applied=changes, dropped=dropped
    )
