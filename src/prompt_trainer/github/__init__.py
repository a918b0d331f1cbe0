"""GitHub adapter: the only package that imports PyGithub (and talks HTTP to GitHub).

Callers use one object, ``GitHubClient`` (``client``): a ``Connection`` (``connection``: PyGithub,
retry with backoff, error translation) whose methods hand it to small modules that each own a group
of endpoints: ``pulls``, ``reviews``, ``contents``, ``gitdata`` (the one commit sequence every write
uses), ``lock``, ``actions`` and ``issues``; ``fetch`` reads JSON by path with ETags (what a
backfill asks again conditionally: a 304 costs no rate budget). Everything it returns is a record
from ``github.records`` or ``models``, or a plain value; PyGithub objects never leave it, and
PyGithub / ``requests`` exceptions are translated into ``GitHubError`` here.
"""

from prompt_trainer.github.client import GitHubClient
from prompt_trainer.github.gitdata import ForeignCommitsError
from prompt_trainer.github.records import ClosedPull, OpenPull, PullHead

__all__ = ["ClosedPull", "ForeignCommitsError", "GitHubClient", "OpenPull", "PullHead"]
