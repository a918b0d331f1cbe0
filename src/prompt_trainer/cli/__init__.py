"""Command line: parse the arguments, run the command, map errors to exit codes.

Takes ``argv`` and the environment mapping and returns the exit code (``main``, the
``prompt-trainer`` console script). The package: ``parser`` (the grammar, over ``options``' blocks),
``commands/`` (one module per group of commands, imported only when one of them runs),
``console`` (``-q``/``-v``), ``runner`` (``$GITHUB_OUTPUT``, the step summary, annotations),
``outcome`` (a run's record and what it prints) and
``completion``. ``main`` is where a ``PromptTrainerError`` from a command is caught: it prints
``diagnostics()`` (as a GitHub ``::error::`` annotation inside Actions) and exits with the
error's code. Progress goes to stderr; results (the PR body on ``--dry-run``) to stdout.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from prompt_trainer.cli.console import Console, Invocation
from prompt_trainer.cli.parser import build_parser
from prompt_trainer.cli.runner import RunnerIO, guarded_streams
from prompt_trainer.errors import PromptTrainerError

if TYPE_CHECKING:
    import argparse

#: What runs a command: its parsed arguments and its surroundings in, the exit code out.
CommandFunction = Callable[["argparse.Namespace", Invocation], int]


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    environ = os.environ if env is None else env
    runner = RunnerIO.from_env(environ)
    with guarded_streams(runner.in_actions):
        return _run(args, environ, runner)


def _run(args: argparse.Namespace, environ: Mapping[str, str], runner: RunnerIO) -> int:
    """Run the parsed command; a ``PromptTrainerError`` becomes its message and exit code."""
    console = Console.from_args(args)
    console.configure_logging()
    try:
        return command_function(args.handler)(args, Invocation(environ, console, runner))
    except PromptTrainerError as exc:
        text = exc.diagnostics()
        if runner.in_actions:
            runner.annotate("error", text, title="prompt-trainer")
        else:
            console.error(text)
        return exc.exit_code
    except Exception as exc:
        if console.verbose:
            raise
        console.error(
            f"unexpected {type(exc).__name__}: {exc}\n"
            "  this is a bug in prompt-trainer; rerun with --verbose for the traceback and "
            "report it with that output"
        )
        return 1


def command_function(handler: str) -> CommandFunction:
    """The function a parser's ``handler`` (``"<module>:<function>"``) names, imported now."""
    module, _, name = handler.partition(":")
    found: CommandFunction = getattr(
        importlib.import_module(f"prompt_trainer.cli.commands.{module}"), name
    )
    return found
