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
- ``command``: ``training.eval_command``; ``replay_gate``: ``training.gate: replay``; both run
  through ``run_commands``, in a single job's run and in the Action's ``evaluate`` job
  (``loop.commands``), which holds neither the write token nor the LLM key.

The judges' LM calls stay in ``train/`` (``train.judge``, ``train.pairwise``): only ``train/``
imports DSPy, and the judge shares the run's call budget with training, which it plans first.
Nothing here imports DSPy; everything here can be tested without a model. The support rule and
the batched check (``train.support``, ``train.check``) stay in ``train/`` too: they decide which
of the curation's edits make up a candidate, on the training evidence (``train.plan``), before
there is a candidate to evaluate; this stage measures the candidate that results.

``evaluate_candidate`` takes the trained candidate (its held-out evaluation already made), the
current prompts, the target, the samples and the settings; returns ``Evaluated``: the candidate
without the edits the judge found conflicting, with its ``eval_command`` and replay results,
and the ``GateResult`` (problems that block it, reasons to open it as a draft). In the Action's
``prepare`` job it runs no command (``commands=False``): ``commands_pending`` says which
candidates wait for the ``evaluate`` job, and the ``publish`` job checks them all again
(``candidate_check``: ``check_candidate``, ``eval_problems``, ``replay_problems``, and the
commands that must have run; ``loop.publish``, ``loop.searched``).
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
    "candidate_check",
    "check_candidate",
    "commands_pending",
    "eval_problems",
    "evaluate_candidate",
    "names_command",
    "new_text",
    "replay_gate",
    "replay_problems",
    "run_commands",
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
    commands: bool = True,
) -> Evaluated:
    """The evaluate step of a run: the edits the judge found conflicting taken out, the
    guardrails, then the configured commands (``run_commands``), their problems added.
    ``shown``: outside text the model read beside the samples (``Memory.outside``). Without
    ``commands`` (the Action's ``prepare`` job, which holds the LLM key) no configured command
    runs: ``commands_pending`` then says the ``evaluate`` job must run them."""
    before = len(candidate.dropped)
    candidate, unremovable = without_conflicts(candidate, current)
    for dropped in candidate.dropped[before:]:
        log(f"evaluate: {target.name}: dropped {dropped}")
    gate = check_candidate(
        candidate, current, target, samples=samples, shown=shown,
        limits=settings.config.training,
    )  # fmt: skip
    gate = GateResult((*unremovable, *gate.problems), gate.draft)
    if not commands:
        return Evaluated(_replay_not_run(candidate, target, settings, replay_skipped, log), gate)
    ran = run_commands(
        candidate, current, target, samples=samples, settings=settings, log=log,
        replay_skipped=replay_skipped,
    )  # fmt: skip
    return Evaluated(ran.candidate, GateResult(gate.problems + ran.gate.problems, gate.draft))


def run_commands(
    candidate: Candidate,
    current: PromptSet,
    target: Target,
    *,
    samples: list[Sample],
    settings: Settings,
    log: Callable[[str], None],
    replay_skipped: str = "",
) -> Evaluated:
    """The configured commands, the one path for a single job and the Action's ``evaluate``
    job (``loop.commands``): the replay with ``training.gate: replay`` (``replay_skipped`` says
    why this run may not), then ``training.eval_command``; each only when the candidate
    changes the prompts and no earlier run measured it. The candidate with their results, and
    the problems they find."""
    training = settings.config.training
    changed = candidate.fingerprint != current.version
    problems: list[str] = []
    if training.gate == "replay" and changed and candidate.replay is None:
        candidate, found = replay_gate(
            candidate, target, samples=samples, settings=settings, not_run=replay_skipped, log=log
        )
        problems += found
    if not training.eval_command or not changed or candidate.eval_command is not None:
        return Evaluated(candidate, GateResult(tuple(problems)))
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
    problems += eval_problems(result)
    return Evaluated(
        candidate.model_copy(update={"eval_command": result}), GateResult(tuple(problems))
    )


def names_command(settings: Settings) -> str | None:
    """The configured command a run would execute (``training.eval_command``, or the replay's
    with ``training.gate: replay``), named by its key; None when there is none."""
    training = settings.config.training
    if training.eval_command:
        return "training.eval_command"
    return "training.gate: replay" if training.gate == "replay" else None


def commands_pending(candidate: Candidate, current: PromptSet, settings: Settings) -> bool:
    """Whether the candidate still needs a configured command (``evaluate_candidate`` without
    ``commands``): it changes the prompts, and eval_command or a replay that may run has not
    given its result yet."""
    if candidate.fingerprint == current.version:
        return False
    training = settings.config.training
    due_eval = bool(training.eval_command) and candidate.eval_command is None
    due_replay = training.gate == "replay" and candidate.replay is None
    return due_eval or due_replay


def candidate_check(
    settings: Settings,
    target: Target,
    candidate: Candidate,
    *,
    current: PromptSet,
    samples: list[Sample],
    shown: Sequence[tuple[str, str]] = (),
) -> GateResult:
    """Every check a candidate passes before it is proposed, made again with this job's
    configuration: the guardrails (against ``current`` and the outside text of ``samples`` and
    ``shown``), the held-out gate (``training.require_improvement``: problems, or reasons to
    open a draft), and the verdicts of the configured commands, which must have run."""
    training = settings.config.training
    checked = check_candidate(
        candidate, current, target, samples=samples, shown=shown, limits=training
    )
    problems = list(checked.problems)
    if candidate.eval_command is not None:
        problems += eval_problems(candidate.eval_command)
    if candidate.replay is not None:
        problems += replay_problems(candidate.replay)
    if commands_pending(candidate, current, settings):
        problems.append(
            f"not evaluated: the configuration names {names_command(settings)}, and "
            "the evaluate job gave no result for this candidate (run it between prepare and "
            "publish: docs/workflows.md)"
        )
    return GateResult(tuple(problems), checked.draft)


def _replay_not_run(
    candidate: Candidate,
    target: Target,
    settings: Settings,
    not_run: str,
    log: Callable[[str], None],
) -> Candidate:
    """With ``training.gate: replay`` on an event that may not replay, the note that it was not
    run (no command is involved); the candidate as it is otherwise."""
    if settings.config.training.gate != "replay" or not not_run or candidate.replay is not None:
        return candidate
    return replay_gate(candidate, target, samples=[], settings=settings, not_run=not_run,
                       log=log)[0]  # fmt: skip
