"""Runner I/O: what a command hands to the GitHub Actions runner, in one place.

Takes the process environment (``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``, ``GITHUB_ACTIONS``)
and gives commands ``RunnerIO``: step outputs appended to ``$GITHUB_OUTPUT`` (``name=value``, or
the heredoc form with a random delimiter when a value has a line break, so a value can never add
an output of its own), Markdown appended to the step summary, and workflow commands
(``::warning``/``::error`` annotations) on stderr with their data and properties escaped. Outside
Actions (no files set) outputs and summaries are dropped. Standard library only: ``--help`` and
``--version`` import it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass


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
            handle.write("".join(output_lines(name, value) for name, value in values.items()))

    def summary(self, markdown: str) -> None:
        """Append Markdown to the step summary."""
        if not self.summary_path:
            return
        with open(self.summary_path, "a", encoding="utf-8") as handle:
            handle.write(markdown)

    def annotate(self, name: str, message: str, **properties: str | int | None) -> None:
        """Print a workflow command (an annotation) on stderr."""
        print(workflow_command(name, message, **properties), file=sys.stderr)
