"""Which environment variables are secrets, and the environment of a command run for the user.

``training.eval_command`` (and any later command prompt-trainer runs) gets the process environment
that ``Settings.load`` was given, without the variables that may hold a credential: the GitHub
token, every provider's API key, ``ACTIONS_*`` and anything named like a secret, except those
``training.eval_pass_env`` names. This module reads no environment itself: it filters the
mapping ``settings.Environment`` holds (``settings.py`` stays the only reader of the environment).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

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

#: Variables never given to a command prompt-trainer runs for the user (``command_environment``)
#: unless ``training.eval_pass_env`` names them: exact names, prefixes and suffixes.
SECRET_NAMES = ("GITHUB_TOKEN", "GH_TOKEN")
SECRET_PREFIXES = ("ACTIONS_",)
SECRET_SUFFIXES = ("_API_KEY", "_KEY", "_TOKEN", "_SECRET", "_PASSWORD", "_CREDENTIALS")


def is_secret_name(name: str) -> bool:
    """A variable that may hold a credential: the token, a provider key, ``ACTIONS_*``."""
    upper = name.upper()
    return (
        upper in SECRET_NAMES
        or upper in PROVIDER_KEY_VARS.values()
        or upper.startswith(SECRET_PREFIXES)
        or upper.endswith(SECRET_SUFFIXES)
        or "SECRET" in upper
    )


def command_environment(
    env: Environment, *, passed: tuple[str, ...] = (), extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a command run for the user (``training.eval_command``, and any
    later one): the process environment without what ``is_secret_name`` matches, except the
    names in ``passed``, plus ``extra``."""
    kept = {k: v for k, v in env.variables.items() if k in passed or not is_secret_name(k)}
    return {**kept, **(extra or {})}
