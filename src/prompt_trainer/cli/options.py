"""The parser's building blocks: option blocks, the one way to add a command, argument types.

Takes nothing heavy and gives ``parser`` what every command is made of. A command's options are
a list of blocks given as argparse ``parents=``, in the order its help lists them: the shared
ones (``--repo``, ``--config``, ``--model``/``--api-base``, ``--evidence``, the measure options,
``-q``/``-v``) are built once per parser in ``CommandLine``, whose ``add`` appends ``-q``/``-v``,
the exit codes to the epilog and keeps the text as written. Standard library only, so that
``--help`` and ``--version`` import no pydantic: the defaults shown in help are constants here
(``DEFAULT_CONFIG_PATH``; a test ties it to ``settings``); the failure types come from the
pydantic-free ``failure_types``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime
    from typing import TypeAlias

    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

#: ``settings.DEFAULT_CONFIG_PATH`` (not imported: settings needs pydantic).
DEFAULT_CONFIG_PATH = ".github/prompt-trainer.yml"

EXIT_CODES = """exit codes:
  0  success, or nothing to do (the reason is printed)
  1  unexpected failure
  2  invalid configuration or arguments, or a missing prompt file
  3  GitHub API failure
  4  LLM failure
  141  the reader of the output went away (a closed pipe, as in `| head`)"""
GITHUB_ENV = "GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL"
REPO_DEFAULT = "default: $GITHUB_REPOSITORY"
REPO_HELP = f"repository ({REPO_DEFAULT})"


def options() -> argparse.ArgumentParser:
    """An empty block of options, to be given as one of a command's ``parents``."""
    return argparse.ArgumentParser(add_help=False)


def flag(name: str, help: str) -> argparse.ArgumentParser:
    """A block of one ``store_true`` option (``--json``, ``--dry-run``, ...)."""
    block = options()
    block.add_argument(name, action="store_true", help=help)
    return block


def repo_option(help: str = REPO_HELP) -> argparse.ArgumentParser:
    """A block of ``--repo`` (its help differs where it means more than the repository)."""
    block = options()
    block.add_argument("--repo", metavar="OWNER/NAME", help=help)
    return block


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


@dataclass(frozen=True)
class CommandLine:
    """The subcommands being built, and the option blocks several of them take."""

    subparsers: Commands
    repo: argparse.ArgumentParser
    config: argparse.ArgumentParser
    llm: argparse.ArgumentParser
    evidence: argparse.ArgumentParser
    measure: argparse.ArgumentParser
    output: argparse.ArgumentParser

    @classmethod
    def build(cls, subparsers: Commands) -> CommandLine:
        config = options()
        config.add_argument(
            "--config",
            type=Path,
            default=Path(DEFAULT_CONFIG_PATH),
            help=f"configuration file (default: {DEFAULT_CONFIG_PATH})",
        )
        llm = options()
        llm.add_argument("--model", help="LiteLLM model id, e.g. openai/gpt-4.1")
        llm.add_argument("--api-base", metavar="URL", help="OpenAI-compatible endpoint")
        output = options()
        add_output_options(output, default=argparse.SUPPRESS)
        measure = _measure(config)
        return cls(subparsers, repo_option(), config, llm, _evidence(), measure, output)

    def add(
        self,
        name: str,
        handler: str,
        *,
        help: str,
        description: str,
        epilog: str = "",
        parents: Sequence[argparse.ArgumentParser] = (),
        exit_codes: bool = True,
    ) -> argparse.ArgumentParser:
        """A command whose options are ``parents`` then ``-q``/``-v``, run by ``handler``
        (``"<module>:<function>"`` in ``prompt_trainer.cli.commands``, imported when it runs).
        With ``exit_codes``, the description and epilog are kept as written and the epilog
        ends with the exit codes."""
        parser = self.subparsers.add_parser(
            name,
            help=help,
            description=description,
            parents=[*parents, self.output],
            epilog=(f"{epilog}\n\n{EXIT_CODES}" if epilog else EXIT_CODES) if exit_codes else None,
            formatter_class=argparse.RawDescriptionHelpFormatter
            if exit_codes
            else argparse.HelpFormatter,
        )
        parser.set_defaults(handler=handler)
        return parser


def _evidence() -> argparse.ArgumentParser:
    block = options()
    block.add_argument(
        "--evidence",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a JUnit report, trace, or directory of them produced by this job (not "
        "uploaded as an artifact); added to the sample of the single --pr (repeatable)",
    )
    return block


def _measure(config: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``report``'s and ``versions``' leading options."""
    block = options()
    block.add_argument("--target", metavar="NAME", help="only this target (default: all)")
    block.add_argument(
        "--history",
        choices=("auto", "git", "api", "none"),
        default="auto",
        help="where prompt-file history comes from to label versions: a full local clone "
        "(git), the GitHub API (api; for shallow clones), or auto (git, else api when "
        "GITHUB_TOKEN and the repository are set, else none) (default: auto)",
    )
    return argparse.ArgumentParser(
        add_help=False,
        parents=[block, repo_option(f"repository for --history api ({REPO_DEFAULT})"), config],
    )


def since_date(text: str) -> datetime:
    """``--since``: a date like 2026-01-31 (UTC midnight)."""
    from datetime import UTC, datetime  # noqa: PLC0415 - only when --since is given

    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-01-31") from None


def failure_type(text: str) -> str:
    """``--type``: a failure type, with or without its ``_error`` suffix."""
    from prompt_trainer.loop.failures import failure_type as normalized  # noqa: PLC0415

    return normalized(text) or text  # argparse's choices= reports an unknown one


def positive_int(text: str) -> int:
    """A whole number of at least 1 (``replay --tasks``, ``--repeat``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value
