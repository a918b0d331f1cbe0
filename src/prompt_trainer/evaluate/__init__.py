"""Evaluate stage: may the trained candidate be proposed, and what is known of its effect?

One package, one step (``evaluate_candidate``), beside ``train/``:

- ``heldout`` (with ``split``, the time split the pairwise judge and the replay use): which
  samples are held out from training, per failure cluster, before any LM call;
- ``per_edit``: what the per-edit judge is shown (each edit as a diff, the held-out failures)
  and how its answers are read, item by item; ``effects``: what the verdicts mean per edit
  (Fisher's exact test against other kinds of failure), the gate, and taking a conflicting edit
  out; ``pairwise``: the scores of the earlier pairwise judge (``training.judge: pairwise``);
- ``guardrails``: what can be checked without an LLM (shape, size, secrets, copied outside
  text, kept lines), with the held-out gate added;
- ``command``: ``training.eval_command``; ``replay_gate``: ``training.gate: replay``.

The judges' LM calls stay in ``train/`` (``train.judge``, ``train.pairwise``): only ``train/``
imports DSPy, and the judge shares the run's call budget with training, which it plans first.
Nothing here imports DSPy; everything here can be tested without a model. The support rule and
the batched check (``train.support``, ``train.check``) stay in ``train/`` too: they decide which
of the curation's edits make up a candidate, on the training evidence (``train.plan``), before
there is a candidate to evaluate; this stage measures the candidate that results.

``evaluate_candidate`` takes the trained candidate (its held-out evaluation already made), the
current prompts, the target, the samples and the settings; returns ``Evaluated``: the candidate
without the edits the judge found conflicting, with its ``eval_command`` and replay results,
and the ``GateResult`` (problems that block it, reasons to open it as a draft).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prompt_trainer.evaluate.command import eval_problems, run_eval_command
from prompt_trainer.evaluate.conflicts import without_conflicts
from prompt_trainer.evaluate.guardrails import GateResult, check_candidate, new_text
from prompt_trainer.evaluate.replay_gate import replay_gate, replay_problems
from prompt_trainer.models import Candidate, PromptSet, Sample
from prompt_trainer.outside import Labelled
from prompt_trainer.settings import Settings, Target

__all__ = [
    "Evaluated",
    "GateResult",
    "check_candidate",
    "eval_problems",
    "evaluate_candidate",
    "new_text",
    "replay_gate",
    "replay_problems",
    "run_eval_command",
]


@dataclass(frozen=True)
class Evaluated:
    """The candidate (with its ``eval_command`` result, when one ran) and the verdict."""

    candidate: Candidate
    gate: GateResult


def evaluate_candidate(
    candidate: Candidate,
    current: PromptSet,
    target: Target,
    *,
    samples: list[Sample],
    settings: Settings,
    log: Callable[[str], None],
    replay_skipped: str = "",
    shown: Sequence[Labelled] = (),
) -> Evaluated:
    """The evaluate step of a run: the guardrails, then ``training.eval_command`` (when set, the
    candidate changes the prompts and no earlier run measured it), its problems added, then the
    replay with ``training.gate: replay`` (``replay_skipped`` says why this run may not).
    ``shown``: outside text the model read beside the samples (``Memory.outside``)."""
    training = settings.config.training
    before = len(candidate.dropped)
    candidate, unremovable = without_conflicts(candidate, current)
    for dropped in candidate.dropped[before:]:
        log(f"evaluate: {target.name}: dropped {dropped}")
    gate = check_candidate(
        candidate, current, target, samples=samples, shown=shown, limits=training
    )
    gate = GateResult((*unremovable, *gate.problems), gate.draft)
    changed = candidate.fingerprint != current.version
    if training.gate == "replay" and changed and candidate.replay is None:
        candidate, problems = replay_gate(
            candidate, target, samples=samples, settings=settings, not_run=replay_skipped, log=log
        )
        gate = GateResult(gate.problems + tuple(problems), gate.draft)
    if not training.eval_command or not changed or candidate.eval_command is not None:
        return Evaluated(candidate, gate)
    log(f"evaluate: running eval_command for {target.name} (current, then candidate)")
    result = run_eval_command(
        training.eval_command,
        current,
        candidate,
        root=settings.root,
        timeout_s=training.eval_timeout_s,
        max_report_bytes=settings.config.limits.max_report_bytes,
        env=settings.command_env(),
        repeat=training.eval_repeat,
    )
    return Evaluated(
        candidate.model_copy(update={"eval_command": result}),
        GateResult(gate.problems + tuple(eval_problems(result)), gate.draft),
    )
