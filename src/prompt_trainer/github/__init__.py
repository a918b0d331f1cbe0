"""GitHub adapter: the only package that imports PyGithub (and talks HTTP to GitHub).

Callers use one object, ``GitHubClient`` (``client``), whose methods delegate to small modules
that each own a group of endpoints over a shared ``Connection`` (``connection``: PyGithub, retry
with backoff, error translation): ``pulls``, ``reviews``, ``contents``, ``gitdata`` (the one
commit sequence every write uses), ``lock``, ``actions`` and ``issues``. Everything it returns
is a record from ``github.records`` or ``models``, or a plain value; PyGithub objects never leave
it, and PyGithub / ``requests`` exceptions are translated into ``GitHubError`` here.
"""

from prompt_trainer.github.client import GitHubClient
from prompt_trainer.github.gitdata import ForeignCommitsError
from prompt_trainer.github.records import (
    Access,
    ClosedPull,
    FoundIssue,
    OpenPull,
    PullHead,
    PullWrite,
    RepoInfo,
)

__all__ = [
    "Access",
    "ClosedPull",
    "ForeignCommitsError",
    "FoundIssue",
    "GitHubClient",
    "OpenPull",
    "PullHead",
    "PullWrite",
    "RepoInfo",
]
