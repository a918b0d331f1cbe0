"""Setting up the GitHub adapter: one ``GitHubClient`` from the settings.

Takes the settings (API URL, token, timeout and backoff from the environment, the bot's logins
from ``pull_request.bot_logins``) and the repository (``--repo``, else ``GITHUB_REPOSITORY``);
returns the client, or raises ``ConfigError`` when no repository is named.
"""

from __future__ import annotations

from prompt_trainer.errors import ConfigError
from prompt_trainer.github.client import GitHubClient
from prompt_trainer.settings import Settings


def connect(settings: Settings, repo: str | None = None) -> GitHubClient:
    """The client for ``repo`` (default: ``GITHUB_REPOSITORY``)."""
    repo = repo or settings.env.github_repository
    if not repo:
        raise ConfigError(
            "no repository given", fix="pass --repo OWNER/NAME or set GITHUB_REPOSITORY"
        )
    return GitHubClient(
        api_url=settings.env.github_api_url,
        token=settings.env.github_token,
        repository=repo,
        timeout_s=settings.env.http_timeout_s,
        bot_logins=settings.config.pull_request.bot_logins,
        backoff_s=settings.env.backoff_s,
    )
