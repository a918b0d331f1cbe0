"""The command line's grammar: every command, its options in help order, its help text.

Takes nothing and returns the ``argparse`` parser (``build_parser``), which ``main`` parses with
and ``completion`` describes. Each command is one ``CommandLine.add`` call over option blocks from
``options`` (shared ones in ``CommandLine``, a command's own beside it) and names the function that
runs it (``"<module>:<function>"`` under ``prompt_trainer.cli.commands``), so building the parser
imports only the standard library.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prompt_trainer import __version__
from prompt_trainer.cli.options import (
    EXIT_CODES,
    GITHUB_ENV,
    REPO_DEFAULT,
    CommandLine,
    add_output_options,
    failure_type,
    flag,
    options,
    positive_int,
    repo_option,
    since_date,
)
from prompt_trainer.failure_types import FAILURE_TYPES


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (``prompt-trainer [-q|-v] COMMAND ...``)."""
    parser = argparse.ArgumentParser(
        prog="prompt-trainer",
        description="Learn from CI evidence (JUnit results, PR reviews, agent traces) and propose "
        "better prompts for coding agents as pull requests.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"prompt-trainer {__version__}")
    cli = CommandLine.build(parser.add_subparsers(dest="command", metavar="COMMAND"))
    for add in (
        add_init,
        add_doctor,
        add_run,
        add_collect,
        add_action,
        add_report_failure,
        add_train,
        add_respond,
        add_report,
        add_versions,
        add_inspect,
        add_schema,
        add_runs,
        add_samples,
        add_completion,
        add_evidence_preview,
        add_replay,
    ):
        add(cli)
    add_output_options(parser, default=False)
    return parser


def add_init(cli: CommandLine) -> None:
    init = options()
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.add_argument(
        "--dry-run", action="store_true", help="print the files and the diff; write nothing"
    )
    init.add_argument(
        "--action-ref",
        default="OWNER/prompt-trainer@main",
        metavar="REF",
        help="the `uses:` of the Action in the workflow (default: %(default)s, to replace)",
    )
    init.add_argument(
        "--root", type=Path, default=Path("."), metavar="DIR", help="repository root (default: .)"
    )
    cli.add(
        "init",
        "setup:cmd_init",
        help="detect the agent setup and write the config and the workflow",
        description="Run in a repository. Detects the prompt files agents read (CLAUDE.md, "
        "nested CLAUDE.md files, .claude/agents/, .claude/skills/*/SKILL.md, AGENTS.md, "
        "GEMINI.md, .github/copilot-instructions.md, .github/instructions/*.instructions.md, "
        ".github/agents/*.agent.md, .cursor/rules/*.mdc, prompts/*.md), the workflows that "
        "run the agent or the tests (also `npm test` and friends: the runner behind the "
        "script, from package.json), and the agent's accounts (the bots that opened recent "
        "PRs: asked of GitHub with GITHUB_TOKEN, else read from the git history). Then writes "
        "a commented .github/prompt-trainer.yml and .github/workflows/prompt-trainer.yml "
        "(merged-PR, review, comment, weekly and manual triggers; least-privilege permissions "
        "per job), and prints as a diff the changes that make the agent's and CI's jobs upload "
        "their evidence: the test command's JUnit flags (or the runner's config), the upload "
        "steps (printed, not applied; `git apply` takes it). Existing files are kept unless "
        "--force.",
        epilog="next: set the LLM key as a repository secret, apply the printed diff, and run "
        "`prompt-trainer doctor`.",
        parents=[init, flag("--offline", "do not ask GitHub who opened recent PRs"), cli.repo],
    )


def add_doctor(cli: CommandLine) -> None:
    cli.add(
        "doctor",
        "setup:cmd_doctor",
        help="check the repository's setup and say what to fix",
        description="Check: the config is valid; every target's prompt files exist; a workflow "
        "runs prompt-trainer with the permissions it needs; some workflow uploads JUnit reports "
        "and, where an agent action runs, its trace, under names the artifacts globs match "
        "(offline); the token reaches the repository "
        "and can write; the data branch; the model answers (one one-token request); the last "
        "agent PRs have JUnit and trace artifacts. Each problem comes with its fix.",
        epilog="exits 2 when a check fails, 0 otherwise (warnings included).",
        parents=[
            flag("--offline", "skip the checks that reach GitHub or the model"),
            cli.repo,
            flag("--json", "one JSON object per check"),
            cli.config,
        ],
    )


def add_run(cli: CommandLine) -> None:
    source = options()
    source.add_argument("--pr", type=int, metavar="N", help="the agent pull request to learn from")
    source.add_argument(
        "--local",
        type=Path,
        metavar="DIR",
        help="learn from JUnit, trace and reviews files in DIR (no GitHub)",
    )
    cli.add(
        "run",
        "loop:cmd_run",
        help="collect evidence, train, and open or update the pull request",
        description="The whole loop: collect the evidence of an agent PR (or of a local "
        "directory), store it, train a candidate per target, check it, and open or update one "
        "pull request per target on the branch prompt-trainer/<target>.",
        epilog=f"environment: {GITHUB_ENV} (default "
        "https://api.github.com); PROMPT_TRAINER_MODEL and PROMPT_TRAINER_API_BASE override the "
        "config; the LLM key comes from the provider's variable (OPENAI_API_KEY, "
        "ANTHROPIC_API_KEY, ...).",
        parents=[
            cli.repo,
            source,
            cli.evidence,
            cli.config,
            cli.llm,
            flag("--dry-run", "write nothing to GitHub; print the PR body and the files"),
        ],
    )


def add_collect(cli: CommandLine) -> None:
    cli.add(
        "collect",
        "collect:cmd_collect",
        help="collect evidence into the store, without training",
        description="Collect the evidence of agent pull requests (JUnit reports, traces, "
        "reviews) into .prompt-trainer/samples.jsonl. Each sample is stored as soon as it is "
        "collected; collecting a PR again replaces its sample. Ends with a table of what was "
        "collected and what was skipped, and why.",
        epilog=f"environment: {GITHUB_ENV}.",
        parents=[
            _collect_sources(),
            cli.repo,
            cli.evidence,
            flag(
                "--dry-run",
                "write nothing, on GitHub or locally (the data branch is read, the ledger and "
                "backfill.json stay as they were; only the run log is kept): print what would "
                "be collected",
            ),
            cli.config,
        ],
    )


def _collect_sources() -> argparse.ArgumentParser:
    block = options()
    source = block.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--pr", type=int, action="append", metavar="N", help="a pull request (repeat for several)"
    )
    source.add_argument(
        "--since",
        metavar="YYYY-MM-DD",
        type=since_date,
        help="every agent PR closed (merged or not) since this date, within the token's rate "
        "budget: a backfill stopped by it keeps a cursor and goes on from there the next time",
    )
    source.add_argument(
        "--local",
        type=Path,
        metavar="DIR",
        help="JUnit, trace and reviews files in DIR (each subdirectory is a PR)",
    )
    return block


def add_action(cli: CommandLine) -> None:
    cli.add(
        "action",
        "action:cmd_action",
        help="what the GitHub Action runs: decide from the event what to do, and do it",
        description="Read GITHUB_EVENT_NAME and GITHUB_EVENT_PATH and act: a closed agent PR "
        "is collected (then each target with enough samples is trained and proposed); "
        "schedule and workflow_dispatch backfill, report, train and propose; reviews and "
        "comments on the bot's PRs run the review loop; anything else is explained and "
        "skipped (exit 0). PRs from forks are collected without LLM calls. Split in jobs: "
        "--mode prepare does the same with a read-only token and writes a bundle instead of "
        "writing to GitHub; --mode evaluate runs the configured commands on the bundle's "
        "candidates (no token, no LLM key); --mode publish checks the bundle again and writes "
        "it (no command, no LLM).",
        epilog="Outputs go to $GITHUB_OUTPUT (pull-request-number, pull-request-url, operation, "
        "candidate-dir, tokens, cost-usd, proposals; prepare: bundle-sha256, evaluate) and a "
        "summary to $GITHUB_STEP_SUMMARY.",
        parents=[
            _action_options(),
            repo_option(REPO_DEFAULT),
            cli.llm,
            flag("--dry-run", "write nothing to GitHub"),
            cli.config,
        ],
    )


def add_report_failure(cli: CommandLine) -> None:
    cli.add(
        "report-failure",
        "local:cmd_report_failure",
        help="record a failure no test catches on an agent PR, as evidence",
        description="Record, on the stored sample of agent PR N, a failure that no test "
        "catches (a planning error, a duplicated system, a scope error, a wrong pattern). It "
        "is evidence like a trusted review comment: attributed to the PR's prompt version, "
        "shown by `report` (pattern reported_failure) and read by the trainer. Collect the PR "
        "first (`prompt-trainer collect --pr N`).",
        parents=[_report_failure_options(), cli.config],
    )


def add_train(cli: CommandLine) -> None:
    train = options()
    train.add_argument("--target", metavar="NAME", help="only this target (default: all)")
    train.add_argument(
        "--strategy",
        choices=("evolve", "rules", "rewrite", "gepa"),
        help="override targets[].strategy and training.strategy from the config",
    )
    cli.add(
        "train",
        "loop:cmd_train",
        help="train candidates from the stored samples and write them locally",
        description="For each target, train on the stored samples that ran on its current "
        "prompts (the working tree's version) and write "
        ".prompt-trainer/candidates/<target>/candidate-NNN/ with the candidate files, "
        "analysis.md, body.md, candidate.json and evaluation.json. Nothing is written to "
        "GitHub.",
        epilog="strategies: evolve (default) reflects on each failure cluster, then turns "
        "the reflections into itemized edits; rules appends preventive rules under "
        "'## Learned rules'; rewrite returns whole files in one call; gepa runs GEPA's "
        "reflective Pareto search over the prompt files' sections (a larger budget: "
        "training.max_calls, training.gepa.max_metric_calls; see docs/training.md).",
        parents=[train, cli.llm, cli.config],
    )


def add_respond(cli: CommandLine) -> None:
    pr = options()
    pr.add_argument("--pr", type=int, metavar="N", help="revise this bot PR now")
    cli.add(
        "respond",
        "action:cmd_respond",
        help="act on a review or a /prompt-trainer command on one of the bot's PRs",
        description="Handle a pull_request_review, pull_request_review_comment or "
        "issue_comment event on one of prompt-trainer's own pull requests: revise the candidate "
        "with the trusted review feedback and push a new commit, explain the evidence behind a "
        "part (/prompt-trainer explain FILE[:LINE]), or close it (/prompt-trainer close). "
        "Commands from untrusted users get a short notice. With --pr N (no event), revise "
        "that PR now.",
        epilog="environment: GITHUB_EVENT_NAME and GITHUB_EVENT_PATH (set by Actions), "
        f"{GITHUB_ENV}, and the LLM key.",
        parents=[pr, cli.repo, cli.llm, cli.config],
    )


def _action_options() -> argparse.ArgumentParser:
    block = options()
    block.add_argument(
        "--mode",
        choices=(
            "auto", "collect", "report", "train", "propose", "revise",
            "prepare", "evaluate", "publish",
        ),
        default="auto",
        help="override the decision taken from the event (default: auto): collect (store "
        "the evidence only), report (measure the store), train (candidates written locally), "
        "propose (collect, train and propose), revise (the review loop); prepare, evaluate "
        "and publish are the three jobs of a split workflow (docs/workflows.md)",
    )  # fmt: skip
    block.add_argument(
        "--bundle",
        type=Path,
        metavar="DIR",
        help="prepare writes DIR/bundle.json, evaluate writes DIR/evaluation.json, publish "
        "reads both (default: $RUNNER_TEMP/prompt-trainer-bundle, else "
        ".prompt-trainer/bundle)",
    )
    block.add_argument(
        "--bundle-sha256",
        default="",
        metavar="HEX",
        help="evaluate and publish: the sha256 prepare printed (its bundle-sha256 output); a "
        "bundle with another digest is refused",
    )
    block.add_argument("--target", metavar="NAME", help="only this target")
    block.add_argument(
        "--backfill-days",
        type=int,
        default=30,
        metavar="N",
        help="on schedule/workflow_dispatch, collect agent PRs closed in the last N days "
        "(default: 30)",
    )
    return block


def _report_failure_options() -> argparse.ArgumentParser:
    block = options()
    block.add_argument("--pr", type=int, required=True, metavar="N", help="the agent PR")
    block.add_argument(
        "--type",
        required=True,
        type=failure_type,
        choices=FAILURE_TYPES,
        help="the category (the _error suffix may be left out: planning, integration, ...)",
    )
    block.add_argument("--description", required=True, help="what went wrong, one sentence")
    block.add_argument("--context", default="", help="where, or what should have happened")
    block.add_argument("--author", default="", help="who reports it (default: $USER)")
    return block


def add_report(cli: CommandLine) -> None:
    report = options()
    report.add_argument(
        "--compare",
        metavar="FROM..TO",
        help="versions to compare, by label or hash prefix (default: the last two versions "
        "that have samples)",
    )
    report.add_argument("--format", choices=("markdown", "json"), default="markdown")
    report.add_argument(
        "--json", dest="format", action="store_const", const="json", help="same as --format json"
    )
    report.add_argument("--output", type=Path, metavar="FILE", help="write the report to FILE")
    cli.add(
        "report",
        "measure:cmd_report",
        help="measure every prompt version from the stored evidence (no LLM)",
        description="Read the samples in .prompt-trainer/samples.jsonl and report, per target: "
        "its prompt versions, metrics per version with 95% intervals, the latest version "
        "compared with the previous one (delta, interval, p-value), and recurring patterns. "
        "Needs no LLM and, with a local clone, no network.",
        epilog="Markdown goes to stdout (or --output), and is appended to $GITHUB_STEP_SUMMARY "
        "when that is set. --format json prints a list with one object per target.",
        parents=[cli.measure, report],
    )


def add_versions(cli: CommandLine) -> None:
    cli.add(
        "versions",
        "measure:cmd_versions",
        help="list the prompt versions of each target and their samples",
        description="List each target's prompt versions (label: the commit that introduced the "
        "content; date; files; samples attributed to it), oldest first.",
        parents=[cli.measure, flag("--json", "one JSON object per version")],
    )


def add_inspect(cli: CommandLine) -> None:
    inspect = cli.add(
        "inspect",
        "local:cmd_inspect",
        help="show what prompt-trainer makes of JUnit reports and trace files",
        description="Parse each file as prompt-trainer would (JUnit XML or an agent trace, "
        "recognized by content) and print its counts. Unusable files are reported with the "
        "reason; the exit code is 0 even then.",
        parents=[flag("--json", "one JSON object per line")],
        exit_codes=False,
    )
    inspect.add_argument("paths", nargs="+", type=Path, metavar="PATH")


def add_schema(cli: CommandLine) -> None:
    block = options()
    block.add_argument(
        "--bundle",
        action="store_true",
        help="the schema of the bundle the Action's jobs pass on (bundle.json, evaluation.json)",
    )
    cli.add(
        "schema",
        "setup:cmd_schema",
        help="print the JSON Schema of .github/prompt-trainer.yml",
        description="Print the JSON Schema of the configuration file (for editors and CI), "
        "or with --bundle of the bundle the Action's prepare, evaluate and publish jobs pass "
        "on.",
        exit_codes=False,
        parents=[block],
    )


def add_runs(cli: CommandLine) -> None:
    cli.add(
        "runs",
        "loop:cmd_runs",
        help="list the runs kept under .prompt-trainer/runs/ (newest first)",
        description="List the run directories under .prompt-trainer/runs/, newest first: "
        "id (its timestamp), command, state (running, done, failed), steps done, and the "
        "final message. A failed or running one is resumed by the next run with the same "
        "inputs (see runs.resume_within_hours).",
        parents=[flag("--json", "one JSON object per run"), cli.config],
    )


def add_samples(cli: CommandLine) -> None:
    samples = cli.add(
        "samples",
        "local:cmd_samples",
        help="list the stored samples, or remove one",
        description="`samples ls` lists the samples of the local ledger; `samples rm ID...` "
        "removes them from it (a data branch holding them merges them back on its next sync).",
    )
    actions = samples.add_subparsers(dest="samples_command", metavar="ACTION", required=True)
    actions.add_parser(
        "ls",
        help="one line per stored sample",
        parents=[flag("--json", "one JSON object per sample"), cli.config, cli.output],
    )
    removing = actions.add_parser(
        "rm", help="remove stored samples by id", parents=[cli.config, cli.output]
    )
    removing.add_argument("ids", nargs="+", metavar="ID", help="e.g. local:pr-12 or owner/repo#12")


def add_evidence_preview(cli: CommandLine) -> None:
    evidence = cli.add(
        "evidence",
        "local:cmd_evidence_preview",
        help="print what training shows the model about each stored sample (no LLM needed)",
        description="Print each sample's evidence view exactly as training sends it (fitted to "
        "training.max_evidence_tokens), with its token count and what the budget cut. With no "
        "SAMPLE_ID, every stored sample of the target's current prompts.",
        parents=[
            flag("--json", "one JSON object per sample"),
            _target_option("the target (default: the first)"),
            cli.config,
        ],
    )
    evidence.add_argument(
        "samples", nargs="*", metavar="SAMPLE_ID", help="a sample id, or its end (pr-101, 101)"
    )


def add_replay(cli: CommandLine) -> None:
    replay = options()
    replay.add_argument("--target", required=True, metavar="NAME", help="the target to replay")
    replay.add_argument(
        "--candidate",
        type=Path,
        metavar="DIR",
        help="candidate folder, its files at their repository paths (default: the target's "
        "newest .prompt-trainer/candidates/<target>/candidate-NNN)",
    )
    replay.add_argument(
        "--tasks",
        type=positive_int,
        metavar="N",
        help="tasks to replay, at most (default: replay.tasks)",
    )
    replay.add_argument(
        "--repeat",
        type=positive_int,
        metavar="K",
        help="runs per task and prompt set (replay.repeat)",
    )
    cli.add(
        "replay",
        "replay:cmd_replay",
        help="rerun the agent on held-out tasks with the current and the candidate prompts",
        description="For each stored held-out sample of the target's current prompts that has "
        "a task (its PR title and body) and a base commit: in a fresh git worktree at that "
        "commit, with each prompt set's files written in, run replay.agent_command, then "
        "replay.test_command (it writes JUnit to $PROMPT_TRAINER_JUNIT); a run passes when the "
        "report has tests and no failures. Prints a paired comparison per task with an exact "
        "sign test. Your checkout and branches are not touched; what the runs leave is kept "
        "under .prompt-trainer/replay/.",
        epilog="On a CI runner (GITHUB_ACTIONS or CI true) it refuses to start while the "
        "process holds a secret training.eval_pass_env does not name (GITHUB_TOKEN, an API "
        "key): run it in a job that maps only the agent's key. See docs/replay.md for agent "
        "recipes (Claude Code, Codex, a DSPy agent) and their cost.",
        parents=[replay, flag("--json", "print the result as one JSON object"), cli.config],
    )


def _target_option(help: str) -> argparse.ArgumentParser:
    block = options()
    block.add_argument("--target", metavar="NAME", help=help)
    return block


def add_completion(cli: CommandLine) -> None:
    install = flag(
        "--install",
        "write it to the user's completion directory (bash: ~/.local/share/"
        "bash-completion/completions; zsh: ~/.zfunc; fish: ~/.config/fish/completions)",
    )
    completion = cli.add(
        "completion",
        "setup:cmd_completion",
        help="print or install shell completion for bash, zsh or fish",
        description="Print the completion script for SHELL (subcommands, options, and the "
        "values of options that have a fixed set). Load it for this session with "
        "`source <(prompt-trainer completion bash)` (zsh: the same; fish: "
        "`prompt-trainer completion fish | source`), or write it where the shell finds it "
        "with --install.",
        parents=[install],
        exit_codes=False,
    )
    completion.add_argument("shell", choices=("bash", "zsh", "fish"))
