"""Store stage, the samples of earlier prompt versions a target's training is shown, and the
samples closed proposals were judged on.

In: the current prompt set, every stored sample, the ledger's entries and the bot's closed
proposals. Out: ``earlier_context``, a few samples of earlier prompt versions (those the
current bullets' evidence came from first, then the held-out samples of merged proposals, then
the newest with a problem) as context for the curation, and ``summary`` of each as the model
reads it; ``earlier_problems``, every earlier sample with a problem (the trainer itself counts
those as evidence of a failure that still occurs under the current version, ``train.plan``);
``judged_ids``, from the bot's closed proposals (their state blocks) the samples each one was
judged on: the next run trains on them.
"""

from __future__ import annotations

from collections.abc import Iterable

from prompt_trainer.bullets import bullets
from prompt_trainer.github.records import ClosedPull
from prompt_trainer.measure.facts import message_key
from prompt_trainer.memory.ledger import BulletEntry, chain_of, opened
from prompt_trainer.models import PromptSet, Sample
from prompt_trainer.render.state import read_state

#: Earlier-version samples shown as context, and characters of each.
MAX_EARLIER = 3
EARLIER_CHARS = 600


def judged_ids(closed: Iterable[ClosedPull]) -> dict[str, frozenset[str]]:
    """The held-out samples each closed proposal (merged or not) was judged on, by target."""
    found: dict[str, set[str]] = {}
    for pull in closed:
        state = read_state(pull.body)
        if state is not None and not state.revert and state.held_out_ids:
            found.setdefault(state.target, set()).update(state.held_out_ids)
    return {target: frozenset(ids) for target, ids in found.items()}


def earlier_problems(current: PromptSet, stored: Iterable[Sample]) -> list[Sample]:
    """The stored samples of earlier versions of the target's prompts that show a problem."""
    return [
        s
        for s in stored
        if s.prompt_versions.get(current.target) not in (None, current.version) and _problem(s)
    ]


def earlier_context(
    current: PromptSet,
    stored: list[Sample],
    entries: list[BulletEntry],
    *,
    judged: frozenset[str] = frozenset(),
) -> tuple[Sample, ...]:
    """A few samples of earlier versions of the target's prompts, summarised, for what the
    current bullets were meant to fix: those holding evidence the current bullets cite first,
    then samples judged for a proposal, then the newest with a problem."""
    cited = {
        ev
        for prompt in current.files
        for text in bullets(prompt.content)
        for e in chain_of(text, [x for x in entries if x.target == current.target])
        for ev in e.evidence
    }

    def rank(sample: Sample) -> tuple[int, float]:
        holds = bool(cited & _ids(sample))
        return (0 if holds else 1 if sample.id in judged else 2, -opened(sample).timestamp())

    return tuple(sorted(earlier_problems(current, stored), key=rank)[:MAX_EARLIER])


def _problem(sample: Sample) -> bool:
    return bool(
        any(run.problems for run in sample.test_runs)
        or sample.failures
        or any(f.trusted and f.state != "APPROVED" and f.body.strip() for f in sample.feedback)
    )


def _ids(sample: Sample) -> set[str]:
    ids = {c.id for run in sample.test_runs for c in run.problems}
    ids |= {f.id for f in sample.failures} | {f.url or f.id for f in sample.feedback}
    return ids


def summary(sample: Sample, target: str) -> str:
    """``<id> (earlier version <v>; context, not a training target): ...``."""
    parts = [
        f"{c.id} {c.status}: {message_key(c.message or c.text)}"
        for run in sample.test_runs
        for c in run.problems[:2]
    ][:2]
    parts += [f"reported {f.type}: {f.description}" for f in sample.failures[:1]]
    said = [f for f in sample.feedback if f.trusted and f.body.strip() and f.state != "APPROVED"]
    parts += [f"reviewer {f.author}: {f.body}" for f in said[:1]]
    version = sample.prompt_versions.get(target, "?")[:12]
    text = " | ".join(" ".join(p.split()) for p in parts)
    head = f"{sample.id} (earlier version {version}; context, not a training target): "
    return (head + text)[:EARLIER_CHARS]
