"""The three jobs of a split workflow, as modes of ``action``: ``prepare`` (write the bundle),
``evaluate`` (run the configured commands on it) and ``publish`` (check it again and write it).

``cmd_action`` hands each mode here after reading the event. Each takes the parsed arguments,
the ``Invocation`` and what the mode needs (the event, the settings), reports through the
console and the runner's outputs and step summary, and returns the exit code. The bundle's
folder is ``--bundle`` (default ``.prompt-trainer/bundle``; the Action passes
``$RUNNER_TEMP/prompt-trainer-bundle``), its digest ``--bundle-sha256`` (``loop.bundle``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from prompt_trainer.cli.console import Invocation
from prompt_trainer.commandenv import held_secrets, on_runner
from prompt_trainer.errors import ConfigError, PromptTrainerError
from prompt_trainer.settings import Settings, parse_config
from prompt_trainer.workdir import base_dir

if TYPE_CHECKING:
    from prompt_trainer.loop.action import ActionResult
    from prompt_trainer.loop.bundle import Recorder
    from prompt_trainer.loop.contract import RunOptions


class PrepareFailed(PromptTrainerError):
    """The prepare job stopped after collecting; the publish job stored its evidence and now
    fails with its error."""

    def __init__(self, diagnostics: str, exit_code: int) -> None:
        super().__init__(f"the prepare job failed (its evidence is stored): {diagnostics}")
        self.exit_code = exit_code or 1


def bundle_folder(args: argparse.Namespace, settings_root: Path | None = None) -> Path:
    """``--bundle``, else ``.prompt-trainer/bundle`` of the checkout."""
    folder: Path | None = args.bundle
    return folder if folder is not None else base_dir(settings_root or Path.cwd()) / "bundle"


def write_prepared(
    args: argparse.Namespace,
    ctx: Invocation,
    settings: Settings,
    result: ActionResult,
    recorder: Recorder,
    *,
    failure: PromptTrainerError | None = None,
) -> None:
    """Freeze what a prepare run recorded into ``bundle.json`` and say where and its digest
    (the ``bundle-sha256`` and ``evaluate`` outputs)."""
    from prompt_trainer.loop.bundle import BundledOutcome, write_bundle  # noqa: PLC0415

    outcome = result.outcome
    bundle = recorder.bundle(
        repository=args.repo or settings.env.github_repository or "",
        event=settings.env.github_event_name,
        plan=result.plan,
        config=json.dumps(settings.config.model_dump(mode="json")),
        outcome=BundledOutcome(
            message=outcome.message, did=result.did, report_markdown=result.report_markdown,
            blocked=dict(outcome.blocked), skipped_targets=dict(outcome.skipped_targets),
            gate_failures=dict(outcome.gate_failures),
            failure=failure.diagnostics() if failure else "",
            exit_code=failure.exit_code if failure else 0,
        ),
    )  # fmt: skip
    folder = bundle_folder(args, settings.root)
    digest = write_bundle(folder, bundle)
    waits = "; the evaluate job runs the configured commands" if bundle.evaluate else ""
    if bundle.searches:
        names = ", ".join(s.target for s in bundle.searches)
        waits += f" and GEPA's replay-scored search for {names}"
    ctx.console.progress(
        f"prepare: bundle {folder / 'bundle.json'} (sha256 {digest}): {len(bundle.store)} "
        f"sample(s) to store, {len(bundle.proposals)} proposal(s){waits}"
    )
    ctx.runner.set_outputs({"bundle-sha256": digest, "evaluate": str(bundle.evaluate).lower()})


def evaluate_job(args: argparse.Namespace, ctx: Invocation, *, event_name: str | None) -> int:
    """Run the configured commands on the bundle's candidates; no token, no LLM key needed."""
    from prompt_trainer.loop.action import replay_note  # noqa: PLC0415
    from prompt_trainer.loop.bundle import read_bundle, write_evaluation  # noqa: PLC0415
    from prompt_trainer.loop.commands import evaluate_bundle  # noqa: PLC0415

    folder = bundle_folder(args)
    bundle = read_bundle(folder, sha256=args.bundle_sha256)
    config = parse_config(bundle.config, source=f"the configuration in {folder / 'bundle.json'}")
    settings = Settings.of(config, ctx.env, path=args.config)
    refuse_held_secrets(settings)
    evaluation = evaluate_bundle(
        settings, bundle, sha256=args.bundle_sha256, replay_skipped=replay_note(event_name),
        log=ctx.console.progress,
    )  # fmt: skip
    write_evaluation(folder, evaluation)
    said = f"evaluated {len(evaluation.results)} candidate(s) with the configured commands"
    for found in evaluation.searched:
        done = f"candidate {found.fingerprint}" if found.candidate else "no candidate"
        said += f"; GEPA's replay-scored search for {found.target}: {done}"
        if found.not_run:
            ctx.runner.annotate("warning", found.not_run, title="prompt-trainer evaluate")
    ctx.console.progress(f"evaluate: {said}")
    ctx.runner.summary(f"**prompt-trainer** ({event_name or 'no event'}, evaluate): {said}.\n\n")
    return 0


def refuse_held_secrets(settings: Settings) -> None:
    """The evaluate job runs commands steered from outside (a PR's task, candidates trained on
    outside evidence) that can reach the network: it must hold no secret beyond those
    ``training.eval_pass_env`` hands them on purpose (at most two of outside input, secrets
    and a way out). ``action.yml`` blanks the token; a secret a workflow maps in its
    workflow-level ``env:`` (an ``OPENAI_API_KEY``, a ``GH_TOKEN`` PAT) reaches this job too,
    so it stops here, before any command, naming the variables (never their values)."""
    variables = settings.env.variables
    held = held_secrets(variables, passed=settings.config.training.eval_pass_env)
    if not held or not on_runner(variables):
        return
    raise ConfigError(
        f"the evaluate job holds {', '.join(held)}, which the configured commands it runs "
        "could read from /proc/$PPID/environ; no command was run",
        fix="move these to the env: of the train (prepare) or publish job instead of the "
        "workflow's or the evaluate job's env:, or, for a key a command needs on purpose (the "
        "replayed agent's), name it in training.eval_pass_env (docs/workflows.md, 'Three jobs "
        "when you configure a command')",
    )


def publish_job(
    args: argparse.Namespace, ctx: Invocation, settings: Settings, options: RunOptions
) -> tuple[ActionResult | None, PromptTrainerError | None]:
    """Check the bundle (and the evaluate job's results) again and write it; no result when
    there is nothing to write (no bundle: the prepare job failed before writing one, and says
    why itself), and the error to raise once this job has reported: the prepare job's, or why
    the evaluate job's results were refused (another bundle's, invalid: the bundle's evidence
    is stored all the same, and nothing waiting for those results is proposed)."""
    from prompt_trainer.loop.bundle import BUNDLE_FILE, read_bundle, read_evaluation  # noqa: PLC0415
    from prompt_trainer.loop.publish import publish_bundle  # noqa: PLC0415

    folder = bundle_folder(args, settings.root)
    if not (folder / BUNDLE_FILE).is_file():
        ctx.console.progress(f"publish: nothing to publish: no {folder / BUNDLE_FILE}")
        return None, None
    bundle = read_bundle(folder, sha256=args.bundle_sha256)
    refused: PromptTrainerError | None = None
    try:
        evaluation = read_evaluation(folder, sha256=args.bundle_sha256)
    except PromptTrainerError as exc:
        ctx.console.progress(f"publish: the evaluate job's results are refused: {exc.message}")
        evaluation, refused = None, exc
    failed = bundle.outcome.failure
    failure = PrepareFailed(failed, bundle.outcome.exit_code) if failed else refused
    if bundle.empty:
        ctx.console.progress(f"publish: nothing to write ({bundle.outcome.message or 'empty'})")
        return None, failure
    return publish_bundle(settings, options, bundle, evaluation, log=ctx.console.progress), failure
