"""GitHub adapter: the only package that imports PyGithub (and talks HTTP to GitHub).

Everything it returns is a record from ``models`` or a plain value; PyGithub objects never leave
it, and PyGithub / ``requests`` exceptions are translated into ``GitHubError`` here.
"""

from prompt_trainer.github.client import (
    Access,
    ForeignCommitsError,
    GitHubClient,
    PullHead,
    RepoInfo,
)

__all__ = ["Access", "ForeignCommitsError", "GitHubClient", "PullHead", "RepoInfo"]
