"""The ``rewrite`` strategy: whole files from one ``PromptTrainer`` call, kept to supported edits.

Takes a ``TrainRequest``, the run's ``Evidence`` (``train.plan``), the ``Budget`` and the LM;
returns a ``Candidate``. The call (``train.trainer.train_candidate``) sees the samples with a
problem, the newest of each failure cluster first. The main file it returns is diffed at bullet
level into itemized edits (``train.edits.diff_edits``), each citing the evidence the summary
gives on the lines that name it; every subagent it adds or changes becomes an edit citing the
evidence of the summary lines that name it. Each edit then passes the support rule and the
batched check (``train.check.vet_edits``) like the other strategies': a removed or changed
bullet that fails is put back as it was, an added bullet or subagent that fails is left out.
"""

from __future__ import annotations

from typing import Any

from prompt_trainer.models import Candidate, Change, PromptSet
from prompt_trainer.targets import parse_subagent
from prompt_trainer.train.budget import fit_request
from prompt_trainer.train.check import Vetted, vet_edits
from prompt_trainer.train.edits import (
    Edit,
    EvidenceIndex,
    apply_edits,
    diff_edits,
    files_of,
    summary_ids,
)
from prompt_trainer.train.plan import Evidence
from prompt_trainer.train.shared import (
    Budget,
    candidate,
    chars,
    fixed_tokens,
    index_of,
    unchanged,
)
from prompt_trainer.train.trainer import (
    TrainRequest,
    load_instructions,
    train_candidate,
)


def rewrite(request: TrainRequest, evidence: Evidence, budget: Budget, lm: Any) -> Candidate:
    """One ``PromptTrainer`` call on the capped evidence, under the budget, kept to the edits
    that pass the support rule and the check."""
    current = request.current
    why = evidence.nothing_to_learn()
    budget.notes[:0] = evidence.describe("rewrite", reflected=False)
    views, _ = fit_request(
        evidence.spread(),
        max_evidence_tokens=request.max_evidence_tokens,
        fixed_tokens=fixed_tokens(load_instructions(), *(f.content for f in current.files)),
    )
    if not why and not budget.allows(calls=2, input_chars=[chars(*views, current.main.content)]):
        why = "the budget (training.max_calls / training.max_usd) does not allow the call"
    if why:
        return unchanged(request, budget, evidence, why)
    proposed = train_candidate(request, lm, views=views, budget=budget)
    evidence.shown.update({v.id: v for v in views})
    if proposed is None:
        why = "the model's answer was unreadable, also after a repair request"
        return unchanged(request, budget, evidence, why)
    known = index_of(views)
    main = next(f.content for f in proposed.files if f.path == current.main.path)
    edits = diff_edits(current.main.content, main, proposed.analysis_summary, known)
    edits += subagent_edits(current, proposed, known)
    vetted, refused = vet_edits(
        edits, known=known, evidence=evidence, current=current, budget=budget
    )
    return _kept(request, budget, evidence, proposed=proposed, vetted=vetted, refused=refused)


def subagent_edits(current: PromptSet, proposed: Candidate, known: EvidenceIndex) -> list[Edit]:
    """Each subagent file the rewrite adds or changes, as an ``add_subagent`` edit citing the
    evidence of the summary lines that name the subagent."""
    before = {f.path: f.content for f in current.files}
    edits: list[Edit] = []
    for file in proposed.files:
        if file.path == current.main.path or before.get(file.path) == file.content:
            continue
        sub = parse_subagent(file.path, file.content)
        cited = summary_ids(proposed.analysis_summary, known, None, sub.name.replace("-", " "))
        edits.append(
            Edit(
                op="add_subagent",
                file=file.path,
                subagent_name=sub.name,
                subagent_description=sub.description,
                new_text=sub.prompt,
                evidence=list(cited),
            )
        )
    return edits


def _kept(
    request: TrainRequest,
    budget: Budget,
    evidence: Evidence,
    *,
    proposed: Candidate,
    vetted: list[Vetted],
    refused: list[str],
) -> Candidate:
    """The current files with the vetted bullet edits applied and the vetted subagents."""
    current = request.current
    bullets = [v for v in vetted if v.edit.op != "add_subagent"]
    result = apply_edits(
        current,
        request.target,
        [v.edit for v in bullets],
        evidence_ids=index_of(list(evidence.shown.values())),
        rejected=request.rejected,
        threshold=request.rejected_threshold,
    )
    subagents = [v for v in vetted if v.edit.op == "add_subagent"]
    proposed_files = {f.path: f.content for f in proposed.files}
    files = {f.path: f.content for f in current.files} | {
        current.main.path: result.files[current.main.path]
    }
    files |= {v.edit.file: proposed_files[v.edit.file] for v in subagents}
    support = {v.edit.cluster: v.supported.support for v in vetted}
    changes = [
        Change(
            path=a.edit.file or current.main.path,
            op=a.edit.op,
            text=a.edit.new_text or a.edit.target_text,
            evidence=a.evidence,
            reason=a.edit.reason,
            cluster=a.edit.cluster,
            support=support.get(a.edit.cluster, ""),
        )
        for a in result.applied
    ] + [
        Change(
            path=v.edit.file,
            op="add_subagent",
            text=f"{v.edit.subagent_name}: {v.edit.subagent_description}",
            evidence=tuple(v.edit.evidence),
            cluster=v.edit.cluster,
            support=v.supported.support,
        )
        for v in subagents
    ]
    dropped = [_kept_as_it_was(d) for d in refused] + [
        f"{e.op} {e.target_text if e.op != 'add' else e.new_text!r}: {why}"
        for e, why in result.dropped
    ]
    edited = current.model_copy(update={"files": files_of(current, files)})
    return candidate(
        request,
        edited,
        budget,
        summary=proposed.analysis_summary if changes else "",
        applied=changes,
        dropped=dropped,
        evidence=evidence,
    )


def _kept_as_it_was(dropped: str) -> str:
    """A refused rewrite edit, saying what became of the text: a changed or removed bullet is
    kept as it was, an added bullet or subagent is left out."""
    op = dropped.split(" ", 1)[0]
    outcome = "kept as it was" if op in ("modify", "remove") else "left out"
    return f"{dropped} ({outcome})"
