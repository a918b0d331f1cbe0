"""GitHub adapter, pull requests: reading them, the bot's own, and the bot's writes to them.

Takes a ``Connection`` and a PR number or branch; returns ``PullRequestInfo`` (an agent's PR, as
evidence, with its body: from ``GET /pulls/{n}`` or, for a backfill, from the listing of closed PRs,
100 to a request), ``PullHead`` (who opened a PR and from where), the bot's own open PR of a branch
(``OpenPull``) and its recently closed ones (``ClosedPull``). A PR is the bot's own only when one of
``bot_logins`` opened it from a branch of this repository. Writes: one PR per branch (looked up
before it is created, and after a 5xx or a 422 "already exists", because a POST may have gone
through), labels, the body, closing, and a comment posted once per key (the key is a hidden marker,
looked for only in the bot's own comments).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from github import GithubException
from github.PullRequest import PullRequest

from prompt_trainer.github import fetch
from prompt_trainer.github.connection import PER_PAGE, Connection, listed, translate_errors
from prompt_trainer.github.fetch import timestamp
from prompt_trainer.github.records import ClosedPull, OpenPull, PullAuthor, PullHead, PullWrite
from prompt_trainer.models import PullRequestInfo


def pull(conn: Connection, number: int) -> PullRequestInfo:
    """#``number`` with its body (one ``GET /pulls/{n}``)."""
    answer = fetch.get(conn, f"{_pulls(conn)}/{number}", action=f"reading pull request #{number}")
    return pull_info(answer.data)


def closed_pulls_since(
    conn: Connection, since: datetime, *, afford: fetch.Afford | None = None
) -> list[PullRequestInfo]:
    """Pull requests closed (merged or not) at or after ``since``, newest update first, each with
    its body: everything a backfill needs of them, at 100 per request.

    Listed by last update, descending, so the walk stops at the first page that reaches a PR
    updated before ``since``: a PR closed after ``since`` was necessarily updated after it too.
    ``afford`` is asked before each page with the pages still expected (``pages_left``).
    """
    found: list[PullRequestInfo] = []
    params: dict[str, str | int] = {"state": "closed", "sort": "updated", "direction": "desc"}
    url: str | None = fetch.path_with(_pulls(conn), {**params, "per_page": PER_PAGE})
    updated: list[datetime] = []
    left, read = 1, 0
    while url is not None:
        if afford is not None:
            afford(max(1, left))
        answer = fetch.get(conn, url, action="listing closed pull requests", log=False)
        pulls = [pull_info(d) for d in answer.data or [] if isinstance(d, dict)]
        found += [p for p in pulls if p.closed_at is not None and p.closed_at >= since]
        page = [timestamp(d.get("updated_at")) for d in answer.data or [] if isinstance(d, dict)]
        updated += [u for u in page if u is not None]
        read += 1
        url = None if any(u < since for u in updated) else answer.next_url
        left = pages_left(updated, since, read=read, last=answer.last_page)
    return found


def pages_left(updated: list[datetime], since: datetime, *, read: int, last: int | None) -> int:
    """How many more pages of closed PRs, newest update first, reach ``since``: at the pace of
    the pages read so far (``updated``: every PR's last update on them), and at most to the
    list's ``last`` page when GitHub said which it is. GitHub does not count the PRs a listing
    holds, so this is an estimate; the walk asks again before each page."""
    bound = None if last is None else max(0, last - read)
    if len(updated) < 2 or max(updated) <= min(updated):
        return 1 if bound is None else bound
    per_page = (max(updated) - min(updated)) / read
    pace = -(-(min(updated) - since) // per_page)
    return int(pace) if bound is None else min(int(pace), bound)


def recent_pull_authors(conn: Connection, *, limit: int) -> list[PullAuthor]:
    """Who opened the ``limit`` most recently created pull requests (any state), newest first:
    ``init``'s guess of the agent's accounts."""
    found: list[PullAuthor] = []
    with translate_errors("listing recent pull requests"):
        for seen, each in enumerate(
            conn.repo.get_pulls(state="all", sort="created", direction="desc")
        ):
            if seen >= limit:
                break
            if each.user:
                found.append(PullAuthor(login=each.user.login, bot=each.user.type == "Bot"))
    return found


def pull_head(conn: Connection, number: int) -> PullHead:
    """Who opened #``number``, from which branch of which repository, and its body."""
    with translate_errors(f"reading pull request #{number}"):
        data = listed(conn.repo.get_pull(number))
    head, base = data.get("head") or {}, data.get("base") or {}
    return PullHead(
        number=number,
        author=str((data.get("user") or {}).get("login") or ""),
        head_ref=str(head.get("ref") or ""),
        head_repo=(head.get("repo") or {}).get("full_name"),
        base_repo=str((base.get("repo") or {}).get("full_name") or ""),
        body=str(data.get("body") or ""),
        merged=bool(data.get("merged_at")),
        url=str(data.get("html_url") or ""),
        by_bot=conn.by_bot(data),
    )


def closed_own_pulls(
    conn: Connection, branches: tuple[str, ...], *, limit: int = 30
) -> list[ClosedPull]:
    """The most recently updated closed PRs the bot opened from one of ``branches`` of this
    repository; anyone else's PR is left out, whatever its branch is called or its body says."""
    found: list[ClosedPull] = []
    with translate_errors("listing closed pull requests"):
        pulls = conn.repo.get_pulls(state="closed", sort="updated", direction="desc")
        for n, each in enumerate(pulls):
            if n >= limit * 5 or len(found) >= limit:
                break
            data = listed(each)
            if (data.get("head") or {}).get("ref") in branches and conn.by_bot(data):
                found.append(
                    ClosedPull(
                        number=each.number,
                        merged=bool(data.get("merged_at")),
                        body=data.get("body") or "",
                        url=each.html_url,
                        merged_at=timestamp(data.get("merged_at")),
                    )
                )
    return found


def find_open_pull(conn: Connection, branch: str) -> OpenPull | None:
    """The bot's open PR whose head is ``branch`` in this repository, if any."""
    info = conn.info()
    with translate_errors(f"looking up the open pull request of {branch}"):
        pulls = conn.repo.get_pulls(
            state="open", head=f"{info.owner}:{branch}", base=info.default_branch
        )
        for each in pulls:
            if each.head.ref == branch and conn.by_bot(listed(each)):
                return OpenPull(number=each.number, url=each.html_url)
    return None


def open_or_update_pull(
    conn: Connection,
    *,
    branch: str,
    title: str,
    body: str,
    labels: tuple[str, ...],
    draft: bool = False,
) -> PullWrite:
    """Edit the open PR of ``branch`` or create one (a draft when ``draft``), and add the
    labels it is missing. An open PR is not turned into a draft: the REST API cannot (only
    GraphQL's ``convertPullRequestToDraft`` can); its body says why it should not be merged."""
    existing = find_open_pull(conn, branch)
    with translate_errors(f"opening or updating the pull request of {branch}"):
        if existing:
            made = conn.repo.get_pull(existing.number)
            made.edit(title=title, body=body)
        else:
            made = _create_pull(conn, branch=branch, title=title, body=body, draft=draft)
        _add_missing_labels(made, labels)
    return PullWrite(
        number=made.number, url=made.html_url, operation="updated" if existing else "created"
    )


def _create_pull(
    conn: Connection, *, branch: str, title: str, body: str, draft: bool
) -> PullRequest:
    base = conn.info().default_branch
    try:
        return conn.repo.create_pull(title=title, body=body, head=branch, base=base, draft=draft)
    except GithubException as exc:
        # A retried or concurrent POST already created it, or the answer was lost after
        # GitHub created it (a 5xx): find it instead of failing or creating a second one.
        created = exc.status >= 500 or (exc.status == 422 and "already exists" in str(exc.data))
        found = find_open_pull(conn, branch) if created else None
        if found is None:
            raise
        made = conn.repo.get_pull(found.number)
        made.edit(title=title, body=body)
        return made


def _add_missing_labels(made: PullRequest, labels: tuple[str, ...]) -> None:
    missing = [label for label in labels if label not in {lb.name for lb in made.labels}]
    if missing:
        made.add_to_labels(*missing)


def ensure_labels(conn: Connection, number: int, labels: tuple[str, ...]) -> None:
    """Add the labels #``number`` is missing (a run stopped before adding them)."""
    with translate_errors(f"labelling #{number}"):
        _add_missing_labels(conn.repo.get_pull(number), labels)


def pull_body(conn: Connection, number: int) -> str:
    with translate_errors(f"reading pull request #{number}"):
        return conn.repo.get_pull(number).body or ""


def edit_pull_body(conn: Connection, number: int, body: str) -> None:
    with translate_errors(f"editing pull request #{number}"):
        conn.repo.get_pull(number).edit(body=body)


def close_pull(conn: Connection, number: int) -> None:
    with translate_errors(f"closing pull request #{number}"):
        conn.repo.get_pull(number).edit(state="closed")


def comment_once(conn: Connection, number: int, body: str, *, key: str) -> bool:
    """Post ``body`` on #``number`` unless a comment with ``key`` is there already (a POST
    that PyGithub retried, or a rerun). The key travels as a hidden HTML comment. Returns
    whether a comment was posted."""
    marker = f"<!-- prompt-trainer comment:{key} -->"
    with translate_errors(f"commenting on #{number}"):
        target = conn.repo.get_pull(number)
        if _has_own_comment(conn, target, marker):
            return False
        try:
            target.create_issue_comment(f"{body}\n\n{marker}")
        except GithubException as exc:
            # The answer failed, but the comment may exist: look before calling it lost.
            if exc.status < 500 or not _has_own_comment(conn, target, marker):
                raise
    return True


def _has_own_comment(conn: Connection, target: PullRequest, marker: str) -> bool:
    """A comment by the bot holding ``marker`` is on the PR (anyone else's does not count)."""
    return any(
        marker in str(data.get("body") or "") and conn.is_bot_login(data.get("user"))
        for data in (listed(c) for c in target.get_issue_comments())
    )


def _pulls(conn: Connection) -> str:
    return f"/repos/{conn.repo.full_name}/pulls"


def pull_info(data: dict[str, Any]) -> PullRequestInfo:
    """A PR's JSON (``GET /pulls/{n}`` or an item of ``GET /pulls``: the same fields), with its
    body as written (``collect`` redacts and caps it)."""
    head, base = data.get("head") or {}, data.get("base") or {}
    return PullRequestInfo(
        number=int(data["number"]),
        title=str(data.get("title") or ""),
        author=str((data.get("user") or {}).get("login") or ""),
        url=data.get("html_url"),
        merged=bool(data.get("merged_at")),
        base_sha=base.get("sha"),
        head_sha=head.get("sha"),
        head_ref=head.get("ref"),
        labels=tuple(
            str(label.get("name")) for label in data.get("labels") or [] if isinstance(label, dict)
        ),
        created_at=timestamp(data.get("created_at")),
        closed_at=timestamp(data.get("closed_at")),
        merged_at=timestamp(data.get("merged_at")),
        body=str(data.get("body") or ""),
    )
