"""Render stage: the only links the bot writes, built by the project itself.

Takes the server URL (``GITHUB_SERVER_URL``, ``Settings``) and the repository (``owner/name``);
gives ``RepoLinks``, which builds the address of one of this repository's pull requests, and
rebuilds a URL read from elsewhere (a GitHub API answer, an evidence id, a local evidence file)
only when it is a pull request or issue page of this repository, with at most a comment or
review anchor. Anything else (a test class named ``https://...``, a URL a model cited, another
repository's page) is not a link: the templates show it as escaped text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: A page of a pull request or an issue, with a review comment, comment or review anchor.
PAGE = re.compile(
    r"/(pull|issues)/([0-9]{1,10})(?:#(discussion_r|issuecomment-|pullrequestreview-)([0-9]{1,20}))?"
)


@dataclass(frozen=True)
class RepoLinks:
    """Links to pages of one repository on one GitHub server."""

    server: str
    repository: str

    @property
    def base(self) -> str:
        return f"{self.server.rstrip('/')}/{self.repository}"

    def pull(self, number: int) -> str:
        return f"{self.base}/pull/{number}"

    def own(self, url: str | None) -> str | None:
        """``url`` rebuilt from its parts when it is a pull request or issue page of this
        repository (GitHub's names are case-insensitive); None for anything else."""
        prefix = self.base + "/"
        if not url or len(url) > len(prefix) + 80 or url[: len(prefix)].lower() != prefix.lower():
            return None
        match = PAGE.fullmatch(url, len(prefix) - 1)
        if match is None:
            return None
        kind, number, anchor, item = match.groups()
        page = f"{self.base}/{kind}/{int(number)}"
        return f"{page}#{anchor}{int(item)}" if anchor else page


def repo_links(server: str | None, repository: str | None) -> RepoLinks | None:
    """The links of ``repository`` on ``server``; None when either is unknown (no links)."""
    if not server or not repository or repository.count("/") != 1:
        return None
    return RepoLinks(server, repository)
