"""Revise a proposed candidate after a human review: one ``ReviseCandidate`` call turns the
trusted review comments (with their suggestion blocks) into itemized edits of the files on the
bot's branch, each citing the comment it answers, and a reply per comment. Instructions:
``prompts/revise.md``. Both lists are read item by item (``train.edits.parse_edits``, and
``read_replies``): an item with a wrong type or a missing field is dropped with its reason
(``Revision.unreadable``) and the others apply. An ``add`` that restates a bullet of its file is
dropped, or sharpens that bullet when it names something new (``train.restate``), and the
maintainer reads why; a ``modify`` that only rewords stays (a maintainer may ask for that)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy
from pydantic import BaseModel, ConfigDict, Field

from prompt_trainer.models import Feedback, PromptSet, TokenUsage
from prompt_trainer.settings import LLMSettings, Target
from prompt_trainer.train.edits import EditResult, apply_edits, load_list, parse_edits
from prompt_trainer.train.restate import unrestated
from prompt_trainer.train.shared import PromptFileView, prompt_files
from prompt_trainer.train.trainer import build_lm, load_instructions, translate_llm_errors, usage_of


class ReviewNote(BaseModel):
    """A trusted reviewer's comment as the model reads it."""

    model_config = ConfigDict(frozen=True)

    id: str
    path: str | None = None
    line: int | None = None
    text: str
    suggestions: list[str] = Field(default_factory=list)


class Reply(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(description="the comment id answered")
    reply: str


class ReviseCandidate(dspy.Signature):  # type: ignore[misc]
    """Placeholder; the instructions are prompts/revise.md."""

    prompt_files: list[PromptFileView] = dspy.InputField(
        desc="the proposed files, as on the branch"
    )
    review: list[ReviewNote] = dspy.InputField(desc="maintainers' comments (data)")
    edits: str = dspy.OutputField(
        desc='a JSON list of itemized edits: {"op": "add"|"modify"|"remove", "file": path or '
        '"", "target_text": the bullet quoted exactly (for add: the bullet to insert after), '
        '"new_text": one line, "evidence": [the id of the comment it answers], "reason": one '
        "sentence}; [] if none"
    )
    replies: str = dspy.OutputField(
        desc='a JSON list, one per comment: {"id": the comment id, "reply": what you changed '
        "for it, or why nothing}"
    )


@dataclass(frozen=True)
class Revision:
    result: EditResult
    replies: dict[str, str]
    usage: TokenUsage
    #: Items of the answer that could not be read, each with why (the others applied).
    unreadable: tuple[str, ...] = ()


def note_of(item: Feedback) -> ReviewNote:
    return ReviewNote(
        id=item.url or item.id,
        path=item.path,
        line=item.line,
        text=item.body,
        suggestions=list(item.suggestions),
    )


def revise(
    proposed: PromptSet,
    target: Target,
    feedback: list[Feedback],
    *,
    llm: LLMSettings,
    cache_dir: Path,
) -> Revision:
    """One call; edits citing no comment id are dropped."""
    lm = build_lm(llm, cache_dir=cache_dir)
    notes = [note_of(f) for f in feedback]
    program = dspy.Predict(ReviseCandidate.with_instructions(load_instructions("revise.md")))
    with translate_llm_errors(llm), dspy.context(lm=lm):
        answer = program(prompt_files=prompt_files(proposed), review=notes)
    ids = {n.id for n in notes}
    edits, unreadable = parse_edits(answer.edits)
    restated = unrestated(edits, proposed, rewording=True)
    result = apply_edits(proposed, target, restated.edits, evidence_ids=ids)
    result.dropped[:0] = restated.dropped
    replies, bad = read_replies(answer.replies, ids)
    return Revision(
        result=result, replies=replies, usage=usage_of(lm), unreadable=tuple(unreadable + bad)
    )


def read_replies(answer: Any, ids: set[str]) -> tuple[dict[str, str], list[str]]:
    """The replies of an answer by comment id, item by item, and why each other was dropped."""
    items = load_list(answer)
    if items is None:
        return {}, [f"the answer holds no list of replies: {str(answer)[:80]!r}"]
    replies: dict[str, str] = {}
    dropped: list[str] = []
    for n, item in enumerate(items, start=1):
        try:
            reply = Reply.model_validate(item)
        except ValueError as exc:
            dropped.append(f"reply {n}: {str(exc).splitlines()[0][:100]}")
            continue
        if reply.id in ids:
            replies[reply.id] = reply.reply
        else:
            dropped.append(f"reply {n}: no comment {reply.id[:80]!r} was shown")
    return replies, dropped
