"""The evaluate job (``prompt-trainer action --mode evaluate``): run the configured commands on
a bundle's candidates, in a job that holds neither the write token nor the trainer's LLM key.

Takes the settings made from the configuration the bundle carries (the ``prepare`` job read it,
from the default branch on guarded events; this job holds no token to read it again), the bundle
(checked against the ``prepare`` job's sha256) and the bundle's digest; returns the
``Evaluation``: for each candidate that waits for them, the results of ``training.eval_command``
and of the replay (``training.gate: replay``; on events that may not replay, it is recorded as
not run, as in a single job): ``evaluate.run_commands``, the path a single job's evaluate step
takes too. The commands get the allow-listed environment only
(``Settings.command_env``), and nothing they write is trusted beyond these results: the
``publish`` job reads the candidates from the bundle, whose digest a job output carries, and
takes only the results from here (escaped where the PR body shows them).

A target whose GEPA search is scored by replay (``loop.bundle.SearchIntent``) gets its search
run here (``loop.replay_search.run_search``), on ``workflow_dispatch`` and ``schedule`` only,
with the reflection model whose key ``training.eval_pass_env`` names; its candidate goes back
in ``Evaluation.searched``, which the ``publish`` job checks as outside data (``loop.searched``).
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_trainer.evaluate import run_commands
from prompt_trainer.loop.bundle import Bundle, CommandResult, Evaluation
from prompt_trainer.loop.replay_search import run_search
from prompt_trainer.settings import Settings

Log = Callable[[str], None]


def evaluate_bundle(
    settings: Settings, bundle: Bundle, *, sha256: str, replay_skipped: str, log: Log
) -> Evaluation:
    """Run the commands on every bundled candidate that waits for them (``evaluate``)."""
    results = []
    for intent in bundle.proposals:
        if not intent.evaluate:
            continue
        candidate = intent.candidate
        target = settings.target(candidate.target)
        checked = run_commands(
            candidate, intent.current, target, samples=bundle.samples_of(intent.samples),
            settings=settings, log=log, replay_skipped=replay_skipped,
        )  # fmt: skip
        done = checked.candidate
        result = CommandResult(
            target=target.name, fingerprint=candidate.fingerprint,
            eval_command=done.eval_command, replay=done.replay,
        )  # fmt: skip
        results.append(result)
    searched = tuple(
        run_search(settings, bundle, intent, not_run=replay_skipped, log=log)
        for intent in bundle.searches
    )
    if not results and not searched:
        log("evaluate: no candidate in the bundle waits for a configured command")
    return Evaluation(bundle_sha256=sha256.lower(), results=tuple(results), searched=searched)
