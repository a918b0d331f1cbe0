"""Runner I/O: what a command hands to the GitHub Actions runner, in one place.

Takes the process environment (``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``, ``GITHUB_ACTIONS``)
and gives commands ``RunnerIO``: step outputs appended to ``$GITHUB_OUTPUT`` (``name=value``, or
the heredoc form with a random delimiter when a value has a line break, so a value can never add
an output of its own), Markdown appended to the step summary, and workflow commands
(``::warning``/``::error`` annotations) on stderr with their data and properties escaped. Outside
Actions (no files set) outputs and summaries are dropped. Standard library only: ``--help`` and
``--version`` import it.

The runner reads a workflow command from any line of a step's output that starts with ``::``
after leading spaces, and from any line holding ``##[`` (the old syntax); it splits lines at
``\n`` and at ``\r``. Everything else the project prints may hold outside text (a skipped
archive member's name, a test name, a PR title), so inside Actions ``guarded_streams`` routes
stdout and stderr through ``CommandGuard``, which passes every line through the one function
``command_safe`` (a zero-width space between the colons, and in ``##[``); only ``annotate``
writes a command, past the guard. ``Console``, the commands' results and third-party logging
all print through these streams, so no output path can forget it. The guard, the step outputs
and the summary also mask the secrets the process holds (``redact.mask_held``).
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

#: A line break as the runner splits lines (and the others ``str.splitlines`` knows).
LINE_BREAK = re.compile("(\r\n|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029])")
#: A line the runner would read as a command (``::`` after leading whitespace).
COMMAND_START = re.compile(r"\A(\s*):(?=:)")


def command_safe(text: str) -> str:
    """``text`` with no line the runner would read as a workflow command: ``::`` at the start
    of a line (after whitespace) becomes ``:\u200b:``, and ``##[`` anywhere ``##\u200b[``."""
    parts = LINE_BREAK.split(text)
    parts[::2] = [COMMAND_START.sub("\\1:\u200b", line) for line in parts[::2]]
    return "".join(parts).replace("##[", "##\u200b[")


class CommandGuard(io.TextIOBase):
    """A text stream that writes whole lines through ``command_safe`` to ``inner``. A partial
    line is held until its end, a flush, or ``close``; a flush holds back what could still
    become a command with the next write (a line of only whitespace and colons, a trailing
    ``#``)."""

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self.inner = inner
        self._pending = ""

    def write(self, text: str) -> int:
        pending = self._pending + text
        cut = max(pending.rfind("\n"), pending.rfind("\r")) + 1
        if cut:
            self.inner.write(command_safe(_masked(pending[:cut])))
        self._pending = pending[cut:]
        return len(text)

    def flush(self) -> None:
        line = self._pending
        if line.replace(":", "").strip():
            keep = len(line) - len(line.rstrip("#"))
            self.inner.write(command_safe(_masked(line[: len(line) - keep])))
            self._pending = line[len(line) - keep :]
        self.inner.flush()

    def close_line(self) -> None:
        """Write what is held (at the end of the command)."""
        self.inner.write(command_safe(_masked(self._pending)))
        self._pending = ""
        self.inner.flush()

    def command(self, line: str) -> None:
        """Write a workflow command the project means to give, on a line of its own."""
        if self._pending:
            self.write("\n")
        self.inner.write(line + "\n")

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.inner.encoding


def _masked(text: str) -> str:
    """``text`` with the secrets this process holds masked (``redact.mask_held``; imported
    here, when something is written, so ``--help`` does not load the shapes)."""
    from prompt_trainer.redact import mask_held  # noqa: PLC0415

    return mask_held(text)


@contextmanager
def guarded_streams(active: bool) -> Iterator[None]:
    """Route ``sys.stdout`` and ``sys.stderr`` through ``CommandGuard`` while the block runs
    (when ``active``: inside Actions), and put them back after."""
    if not active or isinstance(sys.stderr, CommandGuard):
        yield
        return
    saved = sys.stdout, sys.stderr
    guards = CommandGuard(sys.stdout), CommandGuard(sys.stderr)
    sys.stdout, sys.stderr = guards
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        for guard in guards:
            guard.close_line()


def escape_data(text: str) -> str:
    """Escape workflow-command data (``%``, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow-command property (``%``, CR, LF, ``:`` and ``,``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(name: str, message: str, **properties: str | int | None) -> str:
    """``::name key=value,...::message`` with everything escaped; ``None`` properties are left
    out, in the order given."""
    given = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value is not None
    )
    return f"::{name}{' ' + given if given else ''}::{escape_data(message)}"


def output_lines(name: str, value: str) -> str:
    """One ``$GITHUB_OUTPUT`` entry: ``name=value``, or the heredoc form for a multi-line value."""
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    import uuid  # noqa: PLC0415 - rare; not worth its import time on every --help

    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    while delimiter in value:  # pragma: no cover - a random UUID in the value
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


@dataclass(frozen=True)
class RunnerIO:
    """The runner's files and flags for one command (``None``: not set, nothing written)."""

    output_path: str | None = None
    summary_path: str | None = None
    in_actions: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RunnerIO:
        """Read from the environment mapping; empty strings count as unset (as in settings)."""
        return cls(
            output_path=env.get("GITHUB_OUTPUT") or None,
            summary_path=env.get("GITHUB_STEP_SUMMARY") or None,
            in_actions=env.get("GITHUB_ACTIONS") == "true",
        )

    def set_outputs(self, values: Mapping[str, str]) -> None:
        """Append step outputs, in order."""
        if not self.output_path:
            return
        with open(self.output_path, "a", encoding="utf-8") as handle:
            handle.write(
                "".join(output_lines(name, _masked(value)) for name, value in values.items())
            )

    def summary(self, markdown: str) -> None:
        """Append Markdown to the step summary."""
        if not self.summary_path:
            return
        with open(self.summary_path, "a", encoding="utf-8") as handle:
            handle.write(_masked(markdown))

    def annotate(self, name: str, message: str, **properties: str | int | None) -> None:
        """Print a workflow command (an annotation) on stderr, past the guard."""
        line = workflow_command(name, message, **properties)
        if isinstance(sys.stderr, CommandGuard):
            sys.stderr.command(line)
        else:
            print(line, file=sys.stderr)
