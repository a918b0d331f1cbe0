"""The environment of a command prompt-trainer runs for the user, and which names are secrets.

``training.eval_command``, the replay's ``agent_command`` and ``test_command`` (and any later
command prompt-trainer runs) get an allow-list of the process environment that ``Settings.load``
was given: what a shell and a build need (``PATH``, ``HOME``, locale, temporary directory), the
runner's variables that are not secrets (``CI``, ``GITHUB_WORKSPACE``, ``GITHUB_SHA``,
``RUNNER_OS``, ...), and the names ``training.eval_pass_env`` lists. Nothing else: a variable a
workflow maps from a secret (``GH_PAT``, ``PGPASSWORD``, ``DATABASE_URL``, a provider key) does
not reach the command unless the configuration names it, whatever it is called. The token
(``GITHUB_TOKEN``, ``GH_TOKEN``) and the runner's ``ACTIONS_*`` variables are never passed, even
when named (``training.eval_pass_env`` refuses them).

An allow-list only decides what the command's own environment holds; the command can still read
the environment of its parent (``/proc/$PPID/environ``). What keeps the write token and the
trainer's key away from a command is where it runs: a job of its own (``docs/security.md``).

This module reads no environment itself: it filters the mapping ``settings.Environment`` holds
(``settings.py`` stays the only reader of the environment).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from prompt_trainer.redact.shapes import looks_like_secret_name

if TYPE_CHECKING:
    from prompt_trainer.settings import Environment

#: Environment variables that carry the API key of each LiteLLM provider prefix.
PROVIDER_KEY_VARS: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "azure": "AZURE_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "xai": "XAI_API_KEY",
}

#: What a shell, a build and a test runner need.
BASE_NAMES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TZ", "LANG", "LANGUAGE",
        "TMPDIR", "TEMP", "TMP", "CI",
    }
)  # fmt: skip
#: The GitHub runner's variables that hold no secret (the run, the repository, the machine).
#: Not ``GITHUB_OUTPUT``, ``GITHUB_ENV``, ``GITHUB_PATH`` or ``GITHUB_STEP_SUMMARY``: a command
#: that could write them could set the step's outputs or the environment of later steps.
RUNNER_NAMES = frozenset(
    {
        "GITHUB_ACTIONS", "GITHUB_WORKSPACE", "GITHUB_REPOSITORY", "GITHUB_REPOSITORY_OWNER",
        "GITHUB_SHA", "GITHUB_REF", "GITHUB_REF_NAME", "GITHUB_REF_TYPE", "GITHUB_HEAD_REF",
        "GITHUB_BASE_REF", "GITHUB_RUN_ID", "GITHUB_RUN_NUMBER", "GITHUB_RUN_ATTEMPT",
        "GITHUB_JOB", "GITHUB_WORKFLOW", "GITHUB_EVENT_NAME", "GITHUB_ACTOR",
        "GITHUB_SERVER_URL", "GITHUB_API_URL", "GITHUB_GRAPHQL_URL", "RUNNER_OS",
        "RUNNER_ARCH", "RUNNER_TEMP", "RUNNER_TOOL_CACHE", "RUNNER_NAME", "RUNNER_ENVIRONMENT",
        "ImageOS", "ImageVersion",
    }
)  # fmt: skip
#: Locale variables (``LC_ALL``, ``LC_CTYPE``, ...).
ALLOWED_PREFIXES = ("LC_",)
#: Never given to a command, even when ``training.eval_pass_env`` names them.
NEVER_NAMES = frozenset({"GITHUB_TOKEN", "GH_TOKEN", "GITHUB_PAT", "GH_ENTERPRISE_TOKEN"})
NEVER_PREFIXES = ("ACTIONS_",)


#: Names of variables that may hold a credential (exact, prefixes, suffixes): not a filter for
#: commands (they get the allow-list above) but what ``settings.Environment.secret_values``
#: masks by value in every outgoing text (``redact.hold``).
SECRET_NAMES = ("GITHUB_TOKEN", "GH_TOKEN")
SECRET_PREFIXES = ("ACTIONS_",)
SECRET_SUFFIXES = (
    "_API_KEY", "APIKEY", "_KEY", "_TOKEN", "_SECRET", "_PASSWORD", "_PASS", "_PWD", "_DSN",
    "_CREDENTIALS",
)  # fmt: skip


def is_secret_name(name: str) -> bool:
    """A variable that may hold a credential: the token, a provider key, ``ACTIONS_*``, or a
    name ending like ``_TOKEN`` or holding ``SECRET``."""
    upper = name.upper()
    return (
        upper in SECRET_NAMES
        or upper in PROVIDER_KEY_VARS.values()
        or upper.startswith(SECRET_PREFIXES)
        or upper.endswith(SECRET_SUFFIXES)
        or "SECRET" in upper
    )


#: How to run the configured commands on a runner: in a job that holds no secret.
SPLIT_JOBS = (
    "split the jobs so the commands run in the evaluate job, which holds no secret (see "
    "docs/workflows.md, 'Three jobs when you configure a command')"
)


def on_runner(variables: Mapping[str, str]) -> bool:
    """A CI runner: ``GITHUB_ACTIONS`` or ``CI`` is ``true`` or ``1`` (any case). There, jobs
    are what keeps secrets apart; in a developer's shell every process can read them already."""
    return any(
        variables.get(name, "").strip().lower() in ("true", "1")
        for name in ("GITHUB_ACTIONS", "CI")
    )


def held_secrets(variables: Mapping[str, str], *, passed: tuple[str, ...] = ()) -> list[str]:
    """The names of the non-empty variables that may hold a credential (``is_secret_name`` or
    ``redact.looks_like_secret_name``: ``GH_TOKEN``, ``GITHUB_PAT``, ``AZURE_OPENAI_KEY``,
    ``AWS_SECRET_ACCESS_KEY``, ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``), except those ``passed``
    names on purpose (``training.eval_pass_env``; never the token or ``ACTIONS_*``). An
    ``ACTIONS_*`` name counts when it names a credential (``..._TOKEN``), not the runner's
    URLs and switches (``ACTIONS_ID_TOKEN_REQUEST_URL``, ``ACTIONS_STEP_DEBUG``). Names only."""
    held = []
    for name, value in variables.items():
        if not value or (name in passed and not never_passed(name)):
            continue
        if name.upper().startswith(NEVER_PREFIXES) and not looks_like_secret_name(name):
            continue
        if is_secret_name(name) or looks_like_secret_name(name):
            held.append(name)
    return sorted(held)


def barred(variables: Mapping[str, str], *, passed: tuple[str, ...] = ()) -> str:
    """Why a process with these ``variables`` may run no configured command, or "" when it
    may: on a runner (``on_runner``), the secrets it holds (``held_secrets``), which a command it
    starts could read from ``/proc/$PPID/environ``."""
    if not on_runner(variables):
        return ""
    held = held_secrets(variables, passed=passed)
    if not held:
        return ""
    return (
        f"this process holds {', '.join(held)}, which a command it starts could read from "
        "/proc/$PPID/environ on this CI runner (GITHUB_ACTIONS or CI is true)"
    )


def never_passed(name: str) -> bool:
    """The token or a runner credential: never in a command's environment."""
    upper = name.upper()
    return upper in NEVER_NAMES or upper.startswith(NEVER_PREFIXES)


def allowed(name: str) -> bool:
    """A variable every command gets (``BASE_NAMES``, ``RUNNER_NAMES``, ``LC_*``)."""
    return name in BASE_NAMES or name in RUNNER_NAMES or name.startswith(ALLOWED_PREFIXES)


def command_environment(
    env: Environment, *, passed: tuple[str, ...] = (), extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a command run for the user (``training.eval_command``, the replay's
    commands): the allow-listed variables of the process environment and those ``passed``
    names (``training.eval_pass_env``), never the token or ``ACTIONS_*``, plus ``extra``."""
    kept = {
        name: value
        for name, value in env.variables.items()
        if (allowed(name) or name in passed) and not never_passed(name)
    }
    return {**kept, **(extra or {})}
