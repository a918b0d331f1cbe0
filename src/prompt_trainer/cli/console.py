"""What a command is given besides its arguments: the console, the runner's I/O, the environment.

``Console`` takes ``-q``/``-v`` (the parsed arguments) and owns what they change: progress lines
on stderr (dropped with ``--quiet``; ``Console.progress`` is the ``log`` callable the rest of the
package takes), errors (always printed), whether a progress bar may show, and, with
``--verbose``, PyGithub's and urllib3's debug logging on stderr. ``Invocation`` bundles it with
``RunnerIO`` and the environment mapping for a command function. Standard library only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from prompt_trainer.cli.runner import RunnerIO

QUIET, NORMAL, VERBOSE = 0, 1, 2
#: The loggers ``--verbose`` shows: each GitHub request, and urllib3's retries.
DEBUG_LOGGERS = ("github", "urllib3")


@dataclass(frozen=True)
class Console:
    """Progress and errors on stderr, at one verbosity (``QUIET``, ``NORMAL`` or ``VERBOSE``)."""

    verbosity: int = NORMAL

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Console:
        """``-q``/``-v``, given before or after the command."""
        if getattr(args, "quiet", False):
            return cls(QUIET)
        return cls(VERBOSE if getattr(args, "verbose", False) else NORMAL)

    @property
    def quiet(self) -> bool:
        return self.verbosity == QUIET

    @property
    def verbose(self) -> bool:
        return self.verbosity == VERBOSE

    def progress(self, message: str) -> None:
        """A progress line on stderr (not with ``--quiet``)."""
        if not self.quiet:
            print(f"prompt-trainer: {message}", file=sys.stderr, flush=True)

    def error(self, message: str) -> None:
        """An error line on stderr, even with ``--quiet``."""
        print(f"prompt-trainer: error: {message}", file=sys.stderr)

    def configure_logging(self) -> None:
        """Verbose shows PyGithub's requests and urllib3's retries; the handler of an earlier
        command in this process is removed first, so it does not outlive its command."""
        if not self.verbose and "logging" not in sys.modules:
            return  # no handler of ours can exist yet; a quick command need not load logging
        import logging  # noqa: PLC0415 - only commands need it, not --help or --version

        for name in DEBUG_LOGGERS:
            logger = logging.getLogger(name)
            for handler in [h for h in logger.handlers if getattr(h, "prompt_trainer", False)]:
                logger.removeHandler(handler)
            if self.verbose:
                handler = logging.StreamHandler(sys.stderr)
                handler.setFormatter(
                    logging.Formatter("prompt-trainer: debug: %(name)s: %(message)s")
                )
                handler.prompt_trainer = True  # type: ignore[attr-defined]
                logger.addHandler(handler)
                logger.setLevel(logging.DEBUG)


@dataclass(frozen=True)
class Invocation:
    """One command's surroundings: the environment mapping, the console and the runner's I/O."""

    env: Mapping[str, str]
    console: Console
    runner: RunnerIO
