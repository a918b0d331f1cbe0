"""Setting up the GitHub adapter: one ``GitHubClient`` from the settings.

Takes the settings (API URL, token, timeout and backoff from the environment, the bot's logins
from ``pull_request.bot_logins``) and the repository (``--repo``, else ``GITHUB_REPOSITORY``);
returns the client, or raises ``ConfigError`` when no repository is named.
"""

from __future__ import annotations

from prompt_trainer.errors import ConfigError
from prompt_trainer.github.client import GitHubClient
from prompt_trainer.settings import DEFAULT_BOT_LOGINS, Environment, Settings


def connect(settings: Settings, repo: str | None = None) -> GitHubClient:
    """The client for ``repo`` (default: ``GITHUB_REPOSITORY``)."""
    return connect_env(settings.env, repo, bot_logins=settings.config.pull_request.bot_logins)


def connect_env(
    env: Environment, repo: str | None = None, *, bot_logins: tuple[str, ...] = DEFAULT_BOT_LOGINS
) -> GitHubClient:
    """The client from the environment alone (before a configuration is read: the default
    branch's, ``config_trust``), with the default bot logins unless given."""
    repo = repo or env.github_repository
    if not repo:
        raise ConfigError(
            "no repository given", fix="pass --repo OWNER/NAME or set GITHUB_REPOSITORY"
        )
    return GitHubClient(
        api_url=env.github_api_url,
        token=env.github_token,
        repository=repo,
        timeout_s=env.http_timeout_s,
        bot_logins=bot_logins,
        backoff_s=env.backoff_s,
    )
