"""One error base for every systemic failure, each able to explain what to check.

Per-item problems (a malformed report, an expired artifact) are not errors: they become
``models.Skipped`` values and the run goes on. What raises is what stops the run: an invalid
configuration, a missing prompt file, a GitHub or LLM call that cannot succeed. Foreign exceptions
are translated into these at the module boundary that owns the dependency; the CLI is the only
place that catches them, prints ``diagnostics()`` and maps ``exit_code``.
"""

from __future__ import annotations


class PromptTrainerError(Exception):
    """A failure that stops the run, with a message and a concrete fix."""

    exit_code = 1

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def diagnostics(self) -> str:
        """Say what went wrong and what to change, in one or two lines."""
        if self.fix:
            return f"{self.message}\n  fix: {self.fix}"
        return self.message


class ConfigError(PromptTrainerError):
    """The configuration file or the command line is invalid."""

    exit_code = 2


class MissingPromptError(ConfigError):
    """A prompt file named in the configuration does not exist."""


class PromptLinkError(MissingPromptError):
    """A prompt file is a symbolic link that leaves the repository or points at nothing."""


class GitHubError(PromptTrainerError):
    """A GitHub API call failed in a way that stops the run. ``status`` is the HTTP status GitHub
    answered with, None when no answer came (the host unreachable, 5xx until the retries ran
    out): a backfill tells a problem of one PR from one of GitHub itself by it."""

    exit_code = 3

    def __init__(self, message: str, *, fix: str | None = None, status: int | None = None) -> None:
        super().__init__(message, fix=fix)
        self.status = status


class LLMError(PromptTrainerError):
    """The language model could not be reached or gave no usable answer."""

    exit_code = 4


class NotEnoughEvidence(PromptTrainerError):
    """Training cannot be trusted with the samples at hand; nothing is proposed (exit 0)."""

    exit_code = 0
