"""Revise a proposed candidate after a human review: one ``ReviseCandidate`` call turns the
trusted review comments (with their suggestion blocks) into itemized edits of the files on the
bot's branch, each citing the comment it answers, and a reply per comment. Instructions:
``prompts/revise.md``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dspy
from pydantic import BaseModel, ConfigDict, Field

from prompt_trainer.models import Feedback, PromptSet, TokenUsage
from prompt_trainer.settings import LLMSettings, Target
from prompt_trainer.train.edits import Edit, EditResult, apply_edits
from prompt_trainer.train.shared import PromptFileView, prompt_files
from prompt_trainer.train.trainer import (
    ADAPTER,
    build_lm,
    load_instructions,
    translate_llm_errors,
    usage_of,
)


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
    edits: list[Edit] = dspy.OutputField(desc="itemized edits; [] if none")
    replies: list[Reply] = dspy.OutputField(desc="one per comment")


@dataclass(frozen=True)
class Revision:
    result: EditResult
    replies: dict[str, str]
    usage: TokenUsage


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
    # One request per call (no JSON-mode second request), so an unreadable answer is the one
    # forgotten from the cache and a retry asks again.
    with translate_llm_errors(llm, lm=lm), dspy.context(lm=lm, adapter=ADAPTER):
        answer = program(prompt_files=prompt_files(proposed), review=notes)
    ids = {n.id for n in notes}
    result = apply_edits(proposed, target, answer.edits or [], evidence_ids=ids)
    replies = {r.id: r.reply for r in answer.replies or [] if r.id in ids}
    return Revision(result=result, replies=replies, usage=usage_of(lm))
