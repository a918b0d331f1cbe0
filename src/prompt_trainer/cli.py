"""Command line: parse arguments, load settings, call the pipeline, print, and map exit codes.

The only place that catches ``PromptTrainerError``: it prints ``diagnostics()`` (as a GitHub
``::error::`` annotation inside Actions) and exits with the error's code. Progress goes to
stderr; results (the PR body on ``--dry-run``) to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_trainer import __version__
from prompt_trainer.errors import ConfigError, PromptTrainerError
from prompt_trainer.failures import FAILURE_TYPES, failure_type
from prompt_trainer.runs import recorded
from prompt_trainer.settings import DEFAULT_CONFIG_PATH, Settings, config_schema, parse_config

if TYPE_CHECKING:
    from prompt_trainer.github import GitHubClient
    from prompt_trainer.measure.report import TargetReport
    from prompt_trainer.measure.versions import CommitLister
    from prompt_trainer.pipeline import RunOutcome
    from prompt_trainer.propose import Proposal
    from prompt_trainer.runs import RunRecord
    from prompt_trainer.store import SampleStore

EXIT_CODES = """exit codes:
  0  success, or nothing to do (the reason is printed)
  1  unexpected failure
  2  invalid configuration or arguments, or a missing prompt file
  3  GitHub API failure
  4  LLM failure"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prompt-trainer",
        description="Learn from CI evidence (JUnit results, PR reviews, agent traces) and propose "
        "better prompts for coding agents as pull requests.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"prompt-trainer {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_init(commands)
    add_doctor(commands)
    add_run(commands)
    add_collect(commands)
    add_action(commands)
    add_report_failure(commands)
    add_train(commands)
    add_respond(commands)
    add_report(commands)
    add_versions(commands)
    inspect = commands.add_parser(
        "inspect",
        help="show what prompt-trainer makes of JUnit reports and trace files",
        description="Parse each file as prompt-trainer would (JUnit XML or an agent trace, "
        "recognized by content) and print its counts. Unusable files are reported with the "
        "reason; the exit code is 0 even then.",
    )
    inspect.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    inspect.add_argument("--json", action="store_true", help="one JSON object per line")
    inspect.set_defaults(handler=cmd_inspect)
    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of .github/prompt-trainer.yml",
        description="Print the JSON Schema of the configuration file (for editors and CI).",
    )
    schema.set_defaults(handler=cmd_schema)
    add_runs(commands)
    add_completion(commands)
    add_evidence_preview(commands)
    add_output_options(parser, default=False)
    for sub in commands.choices.values():
        add_output_options(sub, default=argparse.SUPPRESS)
    return parser


def add_output_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """``-q``/``-v`` before or after the command (a subcommand's default must not overwrite
    what was given before it, hence ``SUPPRESS`` there)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="print only results and errors (no progress)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="also print each GitHub request, retries, and a traceback on unexpected errors",
    )


def add_init(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "init",
        help="detect the agent setup and write the config and the workflow",
        description="Run in a repository. Detects the prompt files agents read (CLAUDE.md and "
        ".claude/agents/, AGENTS.md, .github/copilot-instructions.md, prompts/*.md) and the "
        "workflows that run the agent or the tests, then writes a commented "
        ".github/prompt-trainer.yml and .github/workflows/prompt-trainer.yml (merged-PR, "
        "review, comment, weekly and manual triggers; least-privilege permissions per job), "
        "and prints as a diff the artifact-upload steps to add to the agent's and CI's "
        "workflows (printed, not applied). Existing files are kept unless --force.",
        epilog="next: set the LLM key as a repository secret, apply the printed diff, and run "
        "`prompt-trainer doctor`.\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the files and the diff; write nothing"
    )
    parser.add_argument(
        "--action-ref",
        default="OWNER/prompt-trainer@main",
        metavar="REF",
        help="the `uses:` of the Action in the workflow (default: %(default)s, to replace)",
    )
    parser.add_argument(
        "--root", type=Path, default=Path("."), metavar="DIR", help="repository root (default: .)"
    )
    parser.set_defaults(handler=cmd_init)


def cmd_init(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from prompt_trainer import onboard  # noqa: PLC0415

    root = args.root.resolve()
    detection = onboard.detect(root)
    for target in detection.targets:
        progress(f"init: found {target.why}: target {target.name}")
    for note in detection.notes:
        progress(f"init: {note}")
    if not detection.targets:
        progress("init: no prompt file found; the config names CLAUDE.md: edit targets:")
    made = onboard.plan(root, detection, action_ref=args.action_ref)
    # The config is checked the way a run reads it, before anything is written.
    parse_config(made.files[DEFAULT_CONFIG_PATH], source=f"the generated {DEFAULT_CONFIG_PATH}")
    for relative, text in made.files.items():
        path = root / relative
        if args.dry_run:
            print(f"===== {relative} =====\n{text}")
            continue
        if path.exists() and not args.force:
            progress(f"init: {relative} exists; kept (--force overwrites it)")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        progress(f"init: wrote {relative}")
    ignore = root / ".gitignore"
    ignored = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
    if ".prompt-trainer" not in ignored:
        if args.dry_run:
            progress("init: would add .prompt-trainer/ (local ledger, cache, runs) to .gitignore")
        else:
            prefix = "" if not ignored or ignored.endswith("\n") else "\n"
            ignore.write_text(f"{ignored}{prefix}.prompt-trainer/\n", encoding="utf-8")
            progress("init: added .prompt-trainer/ (local ledger, cache, runs) to .gitignore")
    if made.diff:
        progress("init: add these upload steps to your workflows (a diff; not applied):")
        print(made.diff, end="")
    else:
        progress("init: no agent or test workflow to add upload steps to; see docs/workflows.md")
    if "OWNER/" in args.action_ref:
        progress(f"init: replace {args.action_ref} in {onboard.WORKFLOW_PATH} with your Action ref")
    return 0


def add_doctor(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "doctor",
        help="check the repository's setup and say what to fix",
        description="Check: the config is valid; every target's prompt files exist; a workflow "
        "runs prompt-trainer with the permissions it needs; the token reaches the repository "
        "and can write; the data branch; the model answers (one one-token request); the last "
        "agent PRs have JUnit and trace artifacts. Each problem comes with its fix.",
        epilog="exits 2 when a check fails, 0 otherwise (warnings included).\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--offline", action="store_true", help="skip the checks that reach GitHub or the model"
    )
    parser.add_argument(
        "--repo", metavar="OWNER/NAME", help="repository (default: $GITHUB_REPOSITORY)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per check")
    add_config_option(parser)
    parser.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from prompt_trainer.doctor import render, run_checks  # noqa: PLC0415

    def connect(settings: Settings) -> GitHubClient:
        from prompt_trainer.pipeline import RunOptions  # noqa: PLC0415
        from prompt_trainer.pipeline import connect as open_client  # noqa: PLC0415

        return open_client(settings, RunOptions(repo=args.repo))

    def ping(settings: Settings) -> str | None:
        from prompt_trainer.train.trainer import ping as ping_model  # noqa: PLC0415

        return ping_model(settings.llm())

    checks = run_checks(args.config, env, offline=args.offline, connect=connect, ping_model=ping)
    if args.json:
        for check in checks:
            print(json.dumps(check.as_json()))
    else:
        sys.stdout.write(render(checks))
    return 2 if any(c.status == "fail" for c in checks) else 0


def add_runs(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "runs",
        help="list the runs kept under .prompt-trainer/runs/ (newest first)",
        description="List the run directories under .prompt-trainer/runs/, newest first: "
        "id (its timestamp), command, state (running, done, failed), steps done, and the "
        "final message. A failed or running one is resumed by the next run with the same "
        "inputs (see runs.resume_within_hours).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per run")
    add_config_option(parser)
    parser.set_defaults(handler=cmd_runs)


def cmd_runs(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from prompt_trainer.runs import list_runs  # noqa: PLC0415

    settings = Settings.load(args.config, env)
    for record in list_runs(settings.root):
        status = record.status
        steps = sorted(status.get("steps") or {})
        if args.json:
            print(json.dumps({"path": str(record.path), **status, "steps": steps}))
            continue
        print(
            f"{record.path.name}\t{status.get('command', '?')}\t{status.get('state', '?')}\t"
            f"{len(steps)} step(s)\t{status.get('message') or ''}".rstrip()
        )
    return 0


def add_completion(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "completion",
        help="print or install shell completion for bash, zsh or fish",
        description="Print the completion script for SHELL (subcommands, options, and the "
        "values of options that have a fixed set). Load it for this session with "
        "`source <(prompt-trainer completion bash)` (zsh: the same; fish: "
        "`prompt-trainer completion fish | source`), or write it where the shell finds it "
        "with --install.",
    )
    parser.add_argument("shell", choices=("bash", "zsh", "fish"))
    parser.add_argument(
        "--install",
        action="store_true",
        help="write it to the user's completion directory (bash: ~/.local/share/"
        "bash-completion/completions; zsh: ~/.zfunc; fish: ~/.config/fish/completions)",
    )
    parser.set_defaults(handler=cmd_completion)


def cmd_completion(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from prompt_trainer.completion import install_path, script  # noqa: PLC0415

    text = script(args.shell, build_parser())
    if not args.install:
        sys.stdout.write(text)
        return 0
    home = env.get("HOME")
    if not home:
        raise ConfigError("HOME is not set", fix="print the script instead and save it yourself")
    path = install_path(args.shell, Path(home))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    hint = {
        "bash": "new bash sessions load it (with the bash-completion package)",
        "zsh": "add `fpath=(~/.zfunc $fpath)` before `compinit` in ~/.zshrc",
        "fish": "new fish sessions load it",
    }[args.shell]
    progress(f"completion written to {path}; {hint}")
    return 0


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(DEFAULT_CONFIG_PATH),
        help=f"configuration file (default: {DEFAULT_CONFIG_PATH})",
    )


def add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run_parser = commands.add_parser(
        "run",
        help="collect evidence, train, and open or update the pull request",
        description="The whole loop: collect the evidence of an agent PR (or of a local "
        "directory), store it, train a candidate per target, check it, and open or update one "
        "pull request per target on the branch prompt-trainer/<target>.",
        epilog="environment: GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL (default "
        "https://api.github.com); PROMPT_TRAINER_MODEL and PROMPT_TRAINER_API_BASE override the "
        "config; the LLM key comes from the provider's variable (OPENAI_API_KEY, "
        "ANTHROPIC_API_KEY, ...).\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run_parser.add_argument(
        "--repo", metavar="OWNER/NAME", help="repository (default: $GITHUB_REPOSITORY)"
    )
    run_parser.add_argument(
        "--pr", type=int, metavar="N", help="the agent pull request to learn from"
    )
    run_parser.add_argument(
        "--local",
        type=Path,
        metavar="DIR",
        help="learn from JUnit, trace and reviews files in DIR (no GitHub)",
    )
    add_evidence_option(run_parser)
    add_config_option(run_parser)
    run_parser.add_argument("--model", help="LiteLLM model id, e.g. openai/gpt-4.1")
    run_parser.add_argument("--api-base", metavar="URL", help="OpenAI-compatible endpoint")
    run_parser.add_argument(
        "--dry-run",
        action="store_true",
        help="write nothing to GitHub; print the PR body and the files",
    )
    run_parser.set_defaults(handler=cmd_run)


def add_collect(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "collect",
        help="collect evidence into the store, without training",
        description="Collect the evidence of agent pull requests (JUnit reports, traces, "
        "reviews) into .prompt-trainer/samples.jsonl. Each sample is stored as soon as it is "
        "collected; collecting a PR again replaces its sample. Ends with a table of what was "
        "collected and what was skipped, and why.",
        epilog="environment: GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL.\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--pr", type=int, action="append", metavar="N", help="a pull request (repeat for several)"
    )
    source.add_argument(
        "--since",
        metavar="YYYY-MM-DD",
        type=_date,
        help="every agent PR closed (merged or not) since this date",
    )
    source.add_argument(
        "--local",
        type=Path,
        metavar="DIR",
        help="JUnit, trace and reviews files in DIR (each subdirectory is a PR)",
    )
    parser.add_argument(
        "--repo", metavar="OWNER/NAME", help="repository (default: $GITHUB_REPOSITORY)"
    )
    add_evidence_option(parser)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="write nothing to GitHub: the data branch is read but not written",
    )
    add_config_option(parser)
    parser.set_defaults(handler=cmd_collect)


def add_train(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "train",
        help="train candidates from the stored samples and write them locally",
        description="For each target, train on the stored samples that ran on its current "
        "prompts (the working tree's version) and write "
        ".prompt-trainer/candidates/<target>/candidate-NNN/ with the candidate files, "
        "analysis.md, body.md, candidate.json and evaluation.json. Nothing is written to "
        "GitHub.",
        epilog="strategies: evolve (default) reflects on each sample with a problem, then turns "
        "the reflections into itemized edits; rules appends preventive rules under "
        "'## Learned rules'; rewrite returns whole files in one call.\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--target", metavar="NAME", help="only this target (default: all)")
    parser.add_argument(
        "--strategy",
        choices=("evolve", "rules", "rewrite"),
        help="override targets[].strategy from the config",
    )
    parser.add_argument("--model", help="LiteLLM model id, e.g. openai/gpt-4.1")
    parser.add_argument("--api-base", metavar="URL", help="OpenAI-compatible endpoint")
    add_config_option(parser)
    parser.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.load(args.config, env)
    from prompt_trainer.pipeline import RunOptions, train_from_store  # noqa: PLC0415

    record = open_run(
        settings,
        "train",
        key=f"train:{args.target or '*'}:{args.strategy or ''}",
        inputs={"target": args.target, "strategy": args.strategy, "model": args.model},
    )
    options = RunOptions(
        model=args.model, api_base=args.api_base, strategy=args.strategy, run=record
    )
    with recorded(record):
        outcome = train_from_store(settings, options, target=args.target, log=progress)
        close_run(record, outcome)
    report(outcome, dry_run=False)
    return 0


def add_action(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "action",
        help="what the GitHub Action runs: decide from the event what to do, and do it",
        description="Read GITHUB_EVENT_NAME and GITHUB_EVENT_PATH and act: a closed agent PR "
        "is collected (then each target with enough samples is trained and proposed); "
        "schedule and workflow_dispatch backfill, report, train and propose; reviews and "
        "comments on the bot's PRs run the review loop; anything else is explained and "
        "skipped (exit 0). PRs from forks are collected without LLM calls.",
        epilog="Outputs go to $GITHUB_OUTPUT (pull-request-number, pull-request-url, operation, "
        "candidate-dir, tokens, cost-usd, proposals) and a summary to $GITHUB_STEP_SUMMARY.\n\n"
        + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--mode",
        choices=("auto", "collect", "report", "train", "propose", "revise"),
        default="auto",
        help="override the decision taken from the event (default: auto)",
    )
    parser.add_argument("--target", metavar="NAME", help="only this target")
    parser.add_argument(
        "--backfill-days",
        type=int,
        default=30,
        metavar="N",
        help="on schedule/workflow_dispatch, collect agent PRs closed in the last N days "
        "(default: 30)",
    )
    parser.add_argument("--repo", metavar="OWNER/NAME", help="default: $GITHUB_REPOSITORY")
    parser.add_argument("--model", help="LiteLLM model id, e.g. openai/gpt-4.1")
    parser.add_argument("--api-base", metavar="URL", help="OpenAI-compatible endpoint")
    parser.add_argument("--dry-run", action="store_true", help="write nothing to GitHub")
    add_config_option(parser)
    parser.set_defaults(handler=cmd_action)


def cmd_action(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.load(args.config, env)
    from prompt_trainer.action import run_action  # noqa: PLC0415
    from prompt_trainer.pipeline import RunOptions  # noqa: PLC0415

    name = settings.env.github_event_name
    try:
        payload = read_event(settings.env.github_event_path) if name else {}
    except ConfigError as exc:
        # Without a readable event there is nothing safe to do: say so, and do not fail the job.
        progress(f"action: nothing done: {exc.diagnostics()}")
        return 0
    trusted = action_settings(settings, payload, mode=args.mode, repo=args.repo)
    if trusted is None:
        return 0
    settings = trusted
    number = pull_number(payload)
    record = open_run(
        settings,
        "action",
        # A re-run of a failed workflow keeps its run id: that is what resumes.
        key=f"action:{name}:{number}:{args.mode}:{args.target or '*'}:{args.backfill_days}:"
        f"{settings.env.github_run_id or ''}:{args.dry_run}",
        inputs={
            "event": name,
            "pull_request": number,
            "mode": args.mode,
            "target": args.target,
            "backfill_days": args.backfill_days,
            "dry_run": args.dry_run,
            "workflow_run": settings.env.github_run_id,
        },
    )
    options = RunOptions(
        repo=args.repo,
        dry_run=args.dry_run,
        model=args.model,
        api_base=args.api_base,
        target=args.target,
        run=record,
    )
    with recorded(record):
        result = run_action(
            settings,
            options,
            payload,
            mode=args.mode,
            backfill_days=args.backfill_days,
            log=progress,
        )
        close_run(record, result.outcome, did=result.did)
    report(result.outcome, dry_run=args.dry_run)
    if result.report_markdown:
        print(result.report_markdown)
    summary = settings.env.github_step_summary
    if summary:
        done = "; ".join(result.did) or "nothing"
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(f"**prompt-trainer** ({name or 'no event'}): {done}.\n\n")
            if result.outcome.message:
                handle.write(f"{result.outcome.message}\n\n")
            handle.write(result.report_markdown)
    write_step_summary(result.outcome, summary, message_fallback=False)
    write_outputs(result.outcome, settings.env.github_output)
    for line in warning_annotations(result.outcome):
        print(line, file=sys.stderr)
    return 0


def action_settings(
    settings: Settings, payload: Mapping[str, Any], *, mode: str, repo: str | None
) -> Settings | None:
    """The settings ``action`` (and ``respond`` on an event) may use on this event
    (``action.trusted_settings``), with its notice in the step summary; None when nothing may
    be done."""
    from prompt_trainer.action import trusted_settings  # noqa: PLC0415
    from prompt_trainer.pipeline import RunOptions, RunOutcome, connect  # noqa: PLC0415

    trusted = trusted_settings(
        settings,
        payload,
        mode=mode,
        connect_client=lambda: connect(settings, RunOptions(repo=repo)),
        log=progress,
    )
    summary = settings.env.github_step_summary
    if trusted.notice and summary:
        name = settings.env.github_event_name
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(f"**prompt-trainer** ({name}): {trusted.notice}.\n\n")
    if trusted.settings is None:
        write_outputs(RunOutcome(message=trusted.notice or ""), settings.env.github_output)
    return trusted.settings


#: GitHub shows at most 10 warning annotations per step.
MAX_ANNOTATIONS = 10


def warning_annotations(outcome: RunOutcome) -> list[str]:
    """``::warning`` lines for the most recurring real failures among the collected samples,
    with file and line where the report gives them."""
    counts: dict[str, list[Any]] = {}
    for sample in outcome.samples:
        for run in sample.test_runs:
            for case in run.problems:
                if not case.flaky:
                    counts.setdefault(case.id, []).append(case)
    ranked = sorted(counts.items(), key=lambda item: (-len(item[1]), item[0]))
    lines = []
    for test_id, cases in ranked[:MAX_ANNOTATIONS]:
        case = cases[0]
        where = f"file={_escape_property(case.file)}," if case.file else ""
        where += f"line={case.line}," if case.file and case.line else ""
        title = f"prompt-trainer: {case.status} in {len(cases)} run(s)"
        message = f"{test_id}: {case.message or case.type}"[:500]
        lines.append(f"::warning {where}title={_escape_property(title)}::{_escape(message)}")
    return lines


def _escape_property(text: str) -> str:
    """Escape an annotation property (``%``, CR, LF, ``:`` and ``,``)."""
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


def add_report_failure(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "report-failure",
        help="record a failure no test catches on an agent PR, as evidence",
        description="Record, on the stored sample of agent PR N, a failure that no test "
        "catches (a planning error, a duplicated system, a scope error, a wrong pattern). It "
        "is evidence like a trusted review comment: attributed to the PR's prompt version, "
        "shown by `report` (pattern reported_failure) and read by the trainer. Collect the PR "
        "first (`prompt-trainer collect --pr N`).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pr", type=int, required=True, metavar="N", help="the agent PR")
    parser.add_argument(
        "--type",
        required=True,
        type=_failure_type,
        choices=FAILURE_TYPES,
        help="the category (the _error suffix may be left out: planning, integration, ...)",
    )
    parser.add_argument("--description", required=True, help="what went wrong, one sentence")
    parser.add_argument("--context", default="", help="where, or what should have happened")
    parser.add_argument("--author", default="", help="who reports it (default: $USER)")
    add_config_option(parser)
    parser.set_defaults(handler=cmd_report_failure)


def _failure_type(text: str) -> str:
    """``--type``: a failure type, with or without its ``_error`` suffix."""
    return failure_type(text) or text  # argparse's choices= reports an unknown one


def cmd_report_failure(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.load(args.config, env)
    from prompt_trainer import failures  # noqa: PLC0415
    from prompt_trainer.store import DEFAULT_STORE, SampleStore  # noqa: PLC0415

    store = SampleStore(settings.root / DEFAULT_STORE)
    sample = failures.stored_sample(store, args.pr)
    parsed = failures.ParsedReport(
        type=args.type, description=args.description, context=args.context
    )
    report_, _ = failures.record(
        store,
        sample,
        parsed,
        author=args.author or env.get("USER", ""),
        max_chars=settings.config.limits.max_text_chars,
    )
    progress(f"recorded {report_.id} ({args.type}) on {sample.id}")
    return 0


def add_respond(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "respond",
        help="act on a review or a /prompt-trainer command on one of the bot's PRs",
        description="Handle a pull_request_review, pull_request_review_comment or "
        "issue_comment event on one of prompt-trainer's own pull requests: revise the candidate "
        "with the trusted review feedback and push a new commit, explain the evidence behind a "
        "part (/prompt-trainer explain FILE[:LINE]), or close it (/prompt-trainer close). "
        "Commands from untrusted users get a short notice. With --pr N (no event), revise "
        "that PR now.",
        epilog="environment: GITHUB_EVENT_NAME and GITHUB_EVENT_PATH (set by Actions), "
        "GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL, and the LLM key.\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pr", type=int, metavar="N", help="revise this bot PR now")
    parser.add_argument(
        "--repo", metavar="OWNER/NAME", help="repository (default: $GITHUB_REPOSITORY)"
    )
    parser.add_argument("--model", help="LiteLLM model id, e.g. openai/gpt-4.1")
    parser.add_argument("--api-base", metavar="URL", help="OpenAI-compatible endpoint")
    add_config_option(parser)
    parser.set_defaults(handler=cmd_respond)


def cmd_respond(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.load(args.config, env)
    from prompt_trainer.pipeline import RunOptions, connect  # noqa: PLC0415
    from prompt_trainer.respond import (  # noqa: PLC0415
        ReviewEvent,
        parse_event,
        respond,
    )

    if args.pr is not None:
        event: ReviewEvent | None = ReviewEvent(
            name="pull_request_review",
            number=args.pr,
            author="cli",
            association=settings.config.reviews.trusted_associations[0],
            is_bot=False,
            body="",
            comment_id=None,
            review_state="commented",
            by_operator=True,
        )
    else:
        payload = read_event(settings.env.github_event_path)
        event = parse_event(settings.env.github_event_name, payload)
    if event is None:
        progress(
            f"respond: nothing to do for event {settings.env.github_event_name or '(none)'} "
            "(only review events and comments on pull requests)"
        )
        return 0
    if args.pr is None:
        trusted = action_settings(settings, payload, mode="revise", repo=args.repo)
        if trusted is None:
            return 0
        settings = trusted
    llm = settings.llm(model=args.model, api_base=args.api_base)
    client = connect(settings, RunOptions(repo=args.repo))
    response = respond(settings, client, event, llm=llm, log=progress)
    progress(f"respond: {response.action}: {response.message.splitlines()[0]}")
    return 0


def read_event(path: str | None) -> dict[str, object]:
    """The webhook payload at ``GITHUB_EVENT_PATH``."""
    if not path:
        raise ConfigError(
            "no event payload (GITHUB_EVENT_PATH is not set)", fix="pass --pr N to revise a PR"
        )
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the event payload {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the event payload {path} is not a JSON object")
    return data


def add_measure_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", metavar="NAME", help="only this target (default: all)")
    parser.add_argument(
        "--history",
        choices=("auto", "git", "api", "none"),
        default="auto",
        help="where prompt-file history comes from to label versions: a full local clone "
        "(git), the GitHub API (api; for shallow clones), or auto (git, else api when "
        "GITHUB_TOKEN and the repository are set, else none) (default: auto)",
    )
    parser.add_argument(
        "--repo",
        metavar="OWNER/NAME",
        help="repository for --history api (default: $GITHUB_REPOSITORY)",
    )
    add_config_option(parser)


def add_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "report",
        help="measure every prompt version from the stored evidence (no LLM)",
        description="Read the samples in .prompt-trainer/samples.jsonl and report, per target: "
        "its prompt versions, metrics per version with 95%% intervals, the latest version "
        "compared with the previous one (delta, interval, p-value), and recurring patterns. "
        "Needs no LLM and, with a local clone, no network.",
        epilog="Markdown goes to stdout (or --output), and is appended to $GITHUB_STEP_SUMMARY "
        "when that is set. --format json prints a list with one object per target.\n\n"
        + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_measure_options(parser)
    parser.add_argument(
        "--compare",
        metavar="FROM..TO",
        help="versions to compare, by label or hash prefix (default: the last two versions "
        "that have samples)",
    )
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown")
    parser.add_argument(
        "--json", dest="format", action="store_const", const="json", help="same as --format json"
    )
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the report to FILE")
    parser.set_defaults(handler=cmd_report)


def add_versions(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "versions",
        help="list the prompt versions of each target and their samples",
        description="List each target's prompt versions (label: the commit that introduced the "
        "content; date; files; samples attributed to it), oldest first.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_measure_options(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per version")
    parser.set_defaults(handler=cmd_versions)


def _reports(args: argparse.Namespace, env: Mapping[str, str]) -> list[TargetReport]:
    settings = Settings.load(args.config, env)
    from prompt_trainer.measure import choose_history, load_reports  # noqa: PLC0415

    def connect() -> CommitLister:
        from prompt_trainer.pipeline import RunOptions  # noqa: PLC0415
        from prompt_trainer.pipeline import connect as open_client  # noqa: PLC0415

        return open_client(settings, RunOptions(repo=args.repo))

    history = choose_history(settings, args.history, connect)
    return load_reports(
        settings, target=args.target, compare=getattr(args, "compare", None), history=history
    )


def cmd_report(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from prompt_trainer.measure.report import to_json  # noqa: PLC0415
    from prompt_trainer.render.report import render_report  # noqa: PLC0415

    reports = _reports(args, env)
    markdown = render_report(reports)
    text = (
        json.dumps([to_json(r) for r in reports], indent=2) + "\n"
        if args.format == "json"
        else markdown
    )
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        progress(f"report written to {args.output}")
    else:
        sys.stdout.write(text)
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(markdown)
    return 0


def cmd_versions(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from prompt_trainer.measure.report import version_json  # noqa: PLC0415

    for report in _reports(args, env):
        for item in report.versions:
            if args.json:
                data = {"target": report.target, **version_json(item)}
                data.pop("metrics")
                print(json.dumps(data))
                continue
            v = item.version
            when = v.introduced_at.strftime("%Y-%m-%d") if v.introduced_at else "-"
            files = ", ".join(v.files) or "-"
            print(
                f"{report.target}\t{v.label}\t{when}\t{item.samples} sample(s)\t{files}\t"
                f"{v.subject}"
            )
    return 0


def add_evidence_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--evidence",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a JUnit report, trace, or directory of them produced by this job (not uploaded "
        "as an artifact); added to the sample of the single --pr (repeatable)",
    )


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-01-31") from None


def cmd_collect(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.load(args.config, env)
    # PyGithub (~0.7 s) is imported only by commands that talk to GitHub.
    from prompt_trainer.collect.batch import (  # noqa: PLC0415
        closing_table,
        collect_local,
    )
    from prompt_trainer.pipeline import (  # noqa: PLC0415
        RunOptions,
        busy_message,
        connect,
        exclusive,
    )
    from prompt_trainer.store import DEFAULT_STORE, SampleStore  # noqa: PLC0415

    if args.evidence and (args.pr is None or len(args.pr) != 1):
        raise ConfigError(
            "--evidence belongs to one pull request", fix="pass it with exactly one --pr N"
        )
    store = SampleStore(settings.root / DEFAULT_STORE)
    if args.local is not None:
        outcome = collect_local(args.local, settings=settings, store=store)
        print(closing_table(outcome))
        return 0
    client = connect(settings, RunOptions(repo=args.repo))
    # collect writes only the data branch: with none (or a dry run) there is nothing to lock.
    writes = not args.dry_run and bool(settings.config.store.branch)
    with exclusive(client, settings, dry_run=not writes, log=progress) as held_by:
        if held_by:
            progress(busy_message(held_by))
            return 0
        prs = ",".join(str(n) for n in args.pr or [])
        record = open_run(
            settings,
            "collect",
            key=f"collect:{prs}:{args.since or ''}:{args.dry_run}",
            inputs={"pull_requests": args.pr, "since": args.since, "dry_run": args.dry_run},
        )
        with recorded(record):
            return _collect_pulls(args, settings, client, store, record)


def _collect_pulls(
    args: argparse.Namespace,
    settings: Settings,
    client: GitHubClient,
    store: SampleStore,
    record: RunRecord,
) -> int:
    from prompt_trainer.collect.batch import closing_table, collect_pulls  # noqa: PLC0415
    from prompt_trainer.pipeline import sync_store  # noqa: PLC0415

    failed = True
    try:
        outcome = collect_pulls(
            client,
            args.pr,
            since=args.since,
            settings=settings,
            store=store,
            log=progress,
            progress=_progress_bar,
            local_paths=tuple(args.evidence),
            skip=record.collected(),
            on_stored=lambda number: record.mark(f"collect:#{number}"),
        )
        failed = False
    finally:
        # Samples stored before a failure reach the data branch too; a sync failure then must
        # not hide the error that stopped the collection.
        try:
            sync_store(store, client, settings, push=not args.dry_run, log=progress)
        except PromptTrainerError as exc:
            if not failed:
                raise
            progress(f"store: the data branch was not updated: {exc.diagnostics()}")
    record.write_json("outcome.json", {"collected": [s.id for s in outcome.samples]})
    print(closing_table(outcome))
    return 0


def _progress_bar(numbers: list[int]) -> Iterable[int]:
    """A progress bar on an interactive terminal; plain per-PR log lines otherwise."""
    from tqdm import tqdm  # type: ignore[import-untyped]  # noqa: PLC0415

    bar: Iterable[int] = tqdm(
        numbers,
        desc="collecting",
        unit="PR",
        file=sys.stderr,
        disable=True if VERBOSITY == 0 else None,
    )
    return bar


def cmd_run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    if args.local is not None and args.pr is not None:
        raise ConfigError("--pr and --local exclude each other", fix="pass only one of them")
    if args.local is not None and args.evidence:
        raise ConfigError(
            "--evidence adds files to a GitHub PR's sample",
            fix="with --local, put the files in the directory instead",
        )
    settings = Settings.load(args.config, env)
    pr = args.pr
    if args.local is None and pr is None:
        pr = pull_number_from_event(settings.env.github_event_name, settings.env.github_event_path)
    if args.local is None and pr is None:
        raise ConfigError(
            "nothing to learn from",
            fix="pass --pr N or --local DIR (or run on a pull_request event)",
        )
    # The pipeline pulls in PyGithub (~0.7 s): only commands that need it import it.
    from prompt_trainer.pipeline import RunOptions, run  # noqa: PLC0415

    record = open_run(
        settings,
        "run",
        key=f"run:{pr}:{args.local or ''}:{args.dry_run}:{settings.env.github_run_id or ''}",
        inputs={
            "pull_request": pr,
            "local": str(args.local) if args.local else None,
            "evidence": [str(p) for p in args.evidence],
            "dry_run": args.dry_run,
            "model": args.model,
        },
    )
    options = RunOptions(
        repo=args.repo,
        pr=pr,
        local=args.local,
        dry_run=args.dry_run,
        model=args.model,
        api_base=args.api_base,
        evidence=tuple(args.evidence),
        run=record,
    )
    with recorded(record):
        outcome = run(settings, options, log=progress)
        close_run(record, outcome)
    report(outcome, dry_run=args.dry_run)
    write_step_summary(outcome, settings.env.github_step_summary)
    write_outputs(outcome, settings.env.github_output)
    return 0


def open_run(settings: Settings, command: str, *, key: str, inputs: dict[str, Any]) -> RunRecord:
    """Start (or resume) this run's directory under .prompt-trainer/runs/."""
    from prompt_trainer import runs  # noqa: PLC0415

    record = runs.start(
        settings.root,
        command=command,
        key=key,
        inputs={"command": command, "config": str(settings.config_path), **inputs},
        keep_days=settings.config.runs.keep_days,
        resume_within_hours=settings.config.runs.resume_within_hours,
        log=progress,
    )
    progress(f"run directory: {record.path}")
    if settings.env.github_output:
        # Written now, so that a failing run's directory is uploaded too.
        with open(settings.env.github_output, "a", encoding="utf-8") as handle:
            handle.write(f"run-dir={record.path}\nrun-id={record.path.name}\n")
    return record


def close_run(record: RunRecord, outcome: RunOutcome, *, did: Sequence[str] = ()) -> None:
    """What the run did, next to its status (``outcome.json``)."""
    record.status["message"] = outcome.message
    record.write_json(
        "outcome.json",
        {
            "did": list(did),
            "message": outcome.message,
            "evidence": [
                {
                    "sample": s.id,
                    "test_cases": sum(r.tests for r in s.test_runs),
                    "comments": len(s.feedback),
                    "traces": len(s.traces),
                    "reported_failures": len(s.failures),
                    "skipped": len(s.skipped),
                }
                for s in outcome.samples
            ],
            "proposals": [proposal_json(p) for p in outcome.proposals],
            "blocked": outcome.blocked,
            "guardrail_failures": {k: list(v) for k, v in outcome.gate_failures.items()},
        },
    )


def proposal_json(proposal: Proposal) -> dict[str, Any]:
    """One proposal, as the ``proposals`` output and ``outcome.json`` give it."""
    return {
        "target": proposal.target,
        "operation": proposal.operation,
        "number": proposal.number,
        "url": proposal.url,
        "candidate_dir": str(proposal.candidate_dir or ""),
    }


def write_outputs(outcome: RunOutcome, path: str | None) -> None:
    """The Action's outputs (``$GITHUB_OUTPUT``), for the first target proposed, plus
    ``proposals``: every target's, as JSON (``run-dir`` is written when the run starts)."""
    if not path:
        return
    first = outcome.proposals[0] if outcome.proposals else None
    candidate = outcome.candidates[0] if outcome.candidates else None
    usage = candidate.usage if candidate else None
    values = {
        "pull-request-number": str(first.number) if first and first.number else "",
        "pull-request-url": (first.url or "") if first else "",
        # The contract is created | updated | closed | none; a rejected, dry-run or local-only
        # candidate opened nothing.
        "operation": first.operation
        if first and first.operation in ("created", "updated", "closed")
        else "none",
        "candidate-dir": str(first.candidate_dir or "") if first else "",
        "tokens": str(usage.total_tokens) if usage else "0",
        "cost-usd": f"{usage.cost_usd:.6f}" if usage and usage.cost_usd is not None else "",
        "proposals": json.dumps([proposal_json(p) for p in outcome.proposals]),
    }
    with open(path, "a", encoding="utf-8") as handle:
        for name, value in values.items():
            handle.write(f"{name}={value}\n")


def pull_number(payload: Mapping[str, Any]) -> int | None:
    """The PR (or issue) number an event payload is about, if any."""
    for key in ("pull_request", "issue"):
        item = payload.get(key)
        if isinstance(item, dict) and isinstance(item.get("number"), int):
            return int(item["number"])
    return None


def pull_number_from_event(name: str | None, path: str | None) -> int | None:
    """The PR number of a ``pull_request*`` event payload (``GITHUB_EVENT_PATH``), if any."""
    if not path or not (name or "").startswith("pull_request"):
        return None
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the event payload {path}: {exc}", fix="pass --pr N explicitly"
        ) from None
    pull = payload.get("pull_request") if isinstance(payload, dict) else None
    number = pull.get("number") if isinstance(pull, dict) else None
    return number if isinstance(number, int) else None


def cmd_inspect(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from prompt_trainer.collect.inspect import inspect_file  # noqa: PLC0415
    from prompt_trainer.settings import Limits  # noqa: PLC0415

    for path in args.paths:
        info = inspect_file(path, limits=Limits())
        if args.json:
            print(json.dumps(info))
        elif "skipped" in info and "kind" not in info:
            print(f"{info['path']}: skipped: {info['skipped']}")
        else:
            details = ", ".join(f"{k}={v}" for k, v in info.items() if k not in ("path", "kind"))
            print(f"{info['path']}: {info['kind']}: {details}")
    return 0


def cmd_schema(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    print(json.dumps(config_schema(), indent=2))
    return 0


#: 0 quiet, 1 normal, 2 verbose; set by ``main`` from ``-q``/``-v``.
VERBOSITY = 1


def progress(message: str) -> None:
    """A progress line on stderr (not with ``--quiet``)."""
    if VERBOSITY > 0:
        print(f"prompt-trainer: {message}", file=sys.stderr, flush=True)


def set_verbosity(args: argparse.Namespace) -> None:
    """Apply ``-q``/``-v``; verbose also shows PyGithub's requests and urllib3's retries."""
    global VERBOSITY  # noqa: PLW0603 - one setting for the whole process, like logging's
    VERBOSITY = 0 if getattr(args, "quiet", False) else 2 if getattr(args, "verbose", False) else 1
    import logging  # noqa: PLC0415

    for name in ("github", "urllib3"):
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if getattr(h, "prompt_trainer", False)]:
            logger.removeHandler(handler)
        if VERBOSITY == 2:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("prompt-trainer: debug: %(name)s: %(message)s"))
            handler.prompt_trainer = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)


def report(outcome: RunOutcome, *, dry_run: bool) -> None:
    """Print what happened; on a dry run, the PR body and files that would be committed."""
    if outcome.message:
        progress(outcome.message)
    for sk in outcome.skipped:
        progress(f"skipped {sk.source}: {sk.reason}")
    for target, problems in outcome.gate_failures.items():
        progress(f"{target}: candidate rejected by guardrails: " + "; ".join(problems))
    for candidate in outcome.candidates:
        usage = candidate.usage
        cost = f", ${usage.cost_usd:.4f}" if usage.cost_usd is not None else ""
        progress(
            f"{candidate.target}: {usage.calls} LLM call(s), {usage.input_tokens} input + "
            f"{usage.output_tokens} output = {usage.total_tokens} tokens{cost}"
        )
    for proposal in outcome.proposals:
        where = proposal.url or proposal.candidate_dir
        progress(f"{proposal.target}: {proposal.operation} {where or ''}".rstrip())
    if dry_run:
        for candidate in outcome.candidates:
            print(outcome.bodies.get(candidate.target, ""))
            for file in candidate.files:
                print(f"\n===== {file.path} =====\n{file.content}", end="")


def write_step_summary(
    outcome: RunOutcome, path: str | None, *, message_fallback: bool = True
) -> None:
    """Append the rendered bodies (or the reason nothing happened) to the step summary."""
    if not path:
        return
    fallback = [f"**prompt-trainer:** {outcome.message}\n"] if message_fallback else []
    parts = list(outcome.bodies.values()) or fallback
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n\n".join(parts))


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    environ = os.environ if env is None else env
    in_actions = environ.get("GITHUB_ACTIONS") == "true"
    set_verbosity(args)
    try:
        code: int = args.handler(args, environ)
    except PromptTrainerError as exc:
        text = exc.diagnostics()
        if in_actions:
            print("::error title=prompt-trainer::" + _escape(text), file=sys.stderr)
        else:
            print(f"prompt-trainer: error: {text}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        if VERBOSITY == 2:
            raise
        print(
            f"prompt-trainer: error: unexpected {type(exc).__name__}: {exc}\n"
            "  this is a bug in prompt-trainer; rerun with --verbose for the traceback and "
            "report it with that output",
            file=sys.stderr,
        )
        return 1
    return code


def _escape(text: str) -> str:
    """Escape workflow-command data (``%``, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def add_evidence_preview(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "evidence",
        help="print what training shows the model about each stored sample (no LLM needed)",
        description="Print each sample's evidence view exactly as training sends it (fitted to "
        "training.max_evidence_tokens), with its token count and what the budget cut. With no "
        "SAMPLE_ID, every stored sample of the target's current prompts.",
    )
    parser.add_argument(
        "samples", nargs="*", metavar="SAMPLE_ID", help="a sample id, or its end (pr-101, 101)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per sample")
    parser.add_argument("--target", metavar="NAME", help="the target (default: the first)")
    add_config_option(parser)
    parser.set_defaults(handler=cmd_evidence_preview)


def cmd_evidence_preview(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from prompt_trainer.train.preview import previews  # noqa: PLC0415

    found = previews(Settings.load(args.config, env), args.samples, target=args.target)
    for item in found:
        print(json.dumps(item.to_json()) if args.json else item.to_text())
    if not found:
        progress("no stored sample ran on the current prompts; collect some first")
    return 0
