"""Render stage, the PR state block: what a later run reads back from the bot's own PR body.

The block is one hidden HTML comment, ``<!-- prompt-trainer-state {json} -->``, at the end of
the body. ``state_of`` makes a ``ProposalState`` from a candidate; ``state_text`` writes its
JSON exactly as the bot always has (keys sorted, ``--`` escaped so the comment stays one
comment; a revert PR's block keeps its ``revert, target, commit`` order); ``read_state`` parses
it back (None for a body without a valid block); ``replace_state`` swaps it in a body. Read by
``propose`` (is this candidate already proposed?), ``followup`` (rejected edits, merged
versions), ``respond`` (explain, revise) and the body template; ``restated`` writes it again
with the commit pushed.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, ValidationError

from prompt_trainer.models import Candidate, Change

STATE_MARKER = "prompt-trainer-state"
#: The state block keeps at most this many changes, each text cut to ``CHANGE_TEXT`` characters.
MAX_CHANGES = 50
CHANGE_TEXT = 200


class StateChange(BaseModel):
    """One edit the PR made, and the evidence it cites."""

    model_config = ConfigDict(frozen=True)

    path: str = ""
    op: str = ""
    text: str = ""
    evidence: tuple[str, ...] = ()
    #: The bullet a ``modify`` replaced (set only then; read by the bullet ledger, ``memory``).
    replaces: str = ""
    #: The failure clusters of the evidence it cites, when proposed (set only when it cites a
    #: problem of one): what the bullet targets in the bullet ledger once merged.
    clusters: tuple[str, ...] = ()


class ProposalState(BaseModel):
    """The state block of one of the bot's PRs: a proposal (``fingerprint`` and the rest), or a
    revert (``revert``, ``target``, ``commit``).

    Only the keys a block had (or a writer set) are written back, so a block read from an older
    body and written again keeps its shape; keys this version does not know are dropped."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    revert: bool = False
    target: str
    #: The commit the bot last pushed to the branch (None before the first push).
    commit: str | None = None
    #: The candidate's content hash: the prompt version it becomes once merged.
    fingerprint: str | None = None
    base_version: str | None = None
    sample_ids: tuple[str, ...] = ()
    changes: tuple[StateChange, ...] = ()
    #: Review comments (URLs, or ids) a revision has answered.
    answered: tuple[str, ...] = ()
    #: The held-out samples the candidate was judged on (set only when it was judged): once the
    #: proposal is closed or merged, the next run trains on them (``memory.judged_ids``).
    held_out_ids: tuple[str, ...] = ()


def revised(
    state: ProposalState,
    *,
    fingerprint: str,
    commit: str,
    answered: tuple[str, ...],
    changes: tuple[StateChange, ...],
) -> ProposalState:
    """``state`` after a revision: the new version and commit, the comments answered so far, and
    the revision's changes after the earlier ones."""
    return state.model_copy(
        update={
            "fingerprint": fingerprint,
            "commit": commit,
            "answered": answered,
            "changes": state.changes + changes,
        }
    )


def state_of(
    candidate: Candidate,
    *,
    commit: str | None = None,
    clusters: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None,
) -> ProposalState:
    """The machine-readable state a later run reads back from the PR body; ``clusters`` gives
    the failure clusters of a change's cited evidence."""
    result = candidate.evaluation
    judged = (*result.sample_ids, *result.checked) if result else ()
    return ProposalState(
        target=candidate.target,
        fingerprint=candidate.fingerprint,
        base_version=candidate.base_version,
        sample_ids=candidate.sample_ids,
        commit=commit,
        changes=tuple(_change(c, clusters) for c in candidate.changes[:MAX_CHANGES]),
        **({"held_out_ids": tuple(judged)} if judged else {}),
    )


def restated(body: str, candidate: Candidate, *, commit: str | None) -> ProposalState:
    """The state block of ``body`` once ``commit`` is pushed: made again from ``candidate``
    (``state_of``), each change keeping the failure clusters the body's own block named for its
    evidence. The clusters come from the samples the body was rendered from (``ProposalView``);
    the Action's ``publish`` job, which parses no evidence, does not cluster them again."""
    named = read_state(body)
    known = {c.evidence: c.clusters for c in named.changes} if named else {}
    return state_of(candidate, commit=commit, clusters=lambda evidence: known.get(evidence, ()))


def _change(
    change: Change, clusters: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None
) -> StateChange:
    """One change as the block keeps it; ``replaces`` only when the change replaced a bullet,
    ``clusters`` only when its evidence is a problem of one."""
    extra: dict[str, object] = (
        {"replaces": change.replaces[:CHANGE_TEXT]} if change.replaces else {}
    )
    found = clusters(change.evidence) if clusters else ()
    if found:
        extra["clusters"] = found
    return StateChange(
        path=change.path,
        op=change.op,
        text=change.text[:CHANGE_TEXT],
        evidence=change.evidence,
        **extra,
    )


def revert_state(*, target: str, commit: str) -> ProposalState:
    """The state block of a revert PR."""
    return ProposalState(revert=True, target=target, commit=commit)


def state_text(state: ProposalState) -> str:
    """JSON safe inside an HTML comment (no ``--``)."""
    data = state.model_dump(mode="json", exclude_unset=True)
    return json.dumps(data, sort_keys=not state.revert).replace("--", "\\u002d\\u002d")


def read_state(body: str | None) -> ProposalState | None:
    """The state block of a PR body written by ``render_body``, or None.

    Anyone who opens a PR writes its body: read it only from the bot's own PRs (``PullHead.by_bot``
    and the ``prompt-trainer/<target>`` branch: ``propose.own_target``)."""
    if not body:
        return None
    start = body.rfind(f"<!-- {STATE_MARKER} ")
    end = body.find(" -->", start)
    if start < 0 or end < 0:
        return None
    try:
        return ProposalState.model_validate_json(body[start + len(STATE_MARKER) + 6 : end])
    except ValidationError:
        return None


def replace_state(body: str, state: ProposalState) -> str:
    """The body with its state block replaced (or appended)."""
    block = f"<!-- {STATE_MARKER} {state_text(state)} -->"
    start = body.rfind(f"<!-- {STATE_MARKER} ")
    if start < 0:
        return f"{body}\n\n{block}\n"
    end = body.find(" -->", start) + len(" -->")
    return body[:start] + block + body[end:]
