"""Collect stage, a backfill: every agent PR closed since a date, within GitHub's rate budget and
resumable across runs (``collect --since``, the Action's scheduled and dispatched runs).

Takes the GitHub client, the settings, the store and the date; stores each PR's sample as it is
collected and returns what it did (``Backfilled``). What it reads, it reads once: the data branch's
ledger and state (``store.BackfillState``) first, the closed PRs 100 to a request (each PR as the
listing gave it: no ``GET /pulls/{n}``), the workflow runs of the time span of the PRs left to do
once (``RunWindow``, none without PRs; matched to each PR by head commit, event, branch and title),
each base commit's prompt files once (from the checkout's git history when it has them). A PR an
earlier backfill read is not read again when the listing and the runs say what they said and every
read answers 304 to its stored ETag (free): its stored sample stands.

The budget: before each page of a listing (``Budget``), the requests left must cover the pages it
still expects (the runs' ``total_count``, the closed PRs' pace) and one PR (``FIRST_COST``) with
``limits.rate_reserve`` to spare, else the backfill stops before the request with its cursor and
what the listing needs; before each PR, the requests GitHub says are left
(``X-RateLimit-Remaining``) must cover the dearest PR of this run so far with
``limits.rate_reserve`` to spare for the run's own writes. When they do not, or GitHub answers a
rate limit anyway (the budget is the repository's, shared with other jobs), the backfill stops and
keeps a ``Cursor`` (the PRs done) in the state, which the store writes to the data branch with the
samples; the next run lists the PRs closed since the same date again and goes on with those not
done. An error from one PR skips it with the reason (``failure_reason``); one of GitHub itself
(``stops_the_run``) goes up after the cursor is saved.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prompt_trainer.backfill_state import BackfillState, Cursor, PullState
from prompt_trainer.collect.github_pr import (
    AFTER_CLOSE,
    ISSUE_LEAD,
    PromptVersions,
    collect_pull,
    covers,
    is_agent_pull,
    run_fingerprint,
)
from prompt_trainer.errors import GitHubError, PromptTrainerError
from prompt_trainer.models import PullRequestInfo, Sample, Skipped
from prompt_trainer.settings import Settings
from prompt_trainer.store import SampleStore, line_id, sync_with_branch

if TYPE_CHECKING:
    from prompt_trainer.github import GitHubClient
    from prompt_trainer.github.records import Rate, RunWindow

Log = Callable[[str], None]
Progress = Callable[[list[int]], Iterable[int]]
#: What one PR is assumed to cost before this run has collected one (requests).
FIRST_COST = 10
#: The run window reaches at most this far before the backfill's date; PRs opened earlier
#: have their runs listed on their own.
MAX_WINDOW_LEAD = timedelta(days=60)
#: The local state is saved every this many PRs (and at the end, however it ends).
SAVE_EVERY = 25
#: Statuses that are GitHub's answer to every PR alike: the token refused, a permission
#: missing, a rate limit.
SYSTEMIC_STATUSES = frozenset({401, 403, 429})


@dataclass
class Backfilled:
    """What a backfill did: the samples stored, the PRs found unchanged, those skipped with a
    reason, the agent PRs of the whole backfill, and the cursor when it stopped before the end."""

    not_agent: list[str]
    total: int
    samples: list[Sample] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    failed: list[Skipped] = field(default_factory=list)
    cursor: Cursor | None = None
    #: Samples new to the ledger, and samples that replaced one stored before.
    added: int = 0
    replaced: int = 0


@dataclass
class Pass:
    """The backfill under way: its date, when it started, the PRs done, what each was read from
    (``PullState`` by PR number) and when the last backfill finished."""

    since: datetime
    started_at: datetime
    done: set[int]
    pulls: dict[str, PullState]
    finished_at: datetime | None
    #: Whether an earlier run started this backfill (the state had a cursor).
    resumed: bool = False

    @classmethod
    def open(cls, state: BackfillState, since: datetime) -> Pass:
        """The unfinished backfill the state names (from the earlier of its date and ``since``,
        so no PR slides out of a later window unread), or a new one from ``since``."""
        pulls, finished = dict(state.pulls), state.finished_at
        if state.cursor is None:
            return cls(since, datetime.now(UTC), set(), pulls, finished)
        cursor = state.cursor
        return cls(
            min(since, cursor.since), cursor.started_at, set(cursor.done), pulls, finished, True
        )

    def cursor(self, total: int, reason: str) -> Cursor:
        done = tuple(sorted(self.done))
        return Cursor(
            since=self.since, started_at=self.started_at, done=done, total=total, reason=reason
        )

    def state(self, cursor: Cursor | None) -> BackfillState:
        """The state to keep: with ``cursor``; without, the backfill finished (and when it
        finished a cursor, it says when: another runner's copy of that cursor is then void)."""
        finished = datetime.now(UTC) if cursor is None and self.resumed else self.finished_at
        return BackfillState(cursor=cursor, finished_at=finished, pulls=self.pulls)


def backfill(
    client: GitHubClient,
    *,
    since: datetime,
    settings: Settings,
    store: SampleStore,
    log: Log,
    progress: Progress,
    skip: frozenset[int] = frozenset(),
    on_stored: Callable[[int], None] | None = None,
) -> Backfilled:
    """Collect the agent PRs closed since ``since`` (or since the unfinished backfill's date)
    that no run of this backfill did yet, while the budget lasts."""
    if settings.config.store.branch:  # the stored samples and the state, before reading GitHub
        sync_with_branch(store, client, settings.config.store.branch, push=False, state=True)
    state = store.state()
    run = Pass.open(state, since)
    budget = Budget(client, settings.config.limits.rate_reserve)
    try:
        closed = client.closed_pulls_since(run.since, afford=budget.listing("the closed PRs"))
    except TooDear as short:
        total = max(state.cursor.total if state.cursor else 0, len(run.done))
        return _stop_listing(store, run, Backfilled(not_agent=[], total=total), short, log)
    agent = {p.number: p for p in closed if p.number and is_agent_pull(p, settings.config.agent)}
    result = Backfilled(
        not_agent=[f"#{p.number} by {p.author}" for p in closed if p.number not in agent],
        total=len(set(agent) | run.done),
    )
    todo = {n: p for n, p in agent.items() if n not in run.done | skip}
    _say_what(log, run, result.total, skip & set(agent))
    try:
        window = _window(
            client, list(todo.values()), run.since, budget.listing("the workflow runs")
        )
    except TooDear as short:
        return _stop_listing(store, run, result, short, log)
    work = Work(client, settings, store, window, log)
    try:
        result.cursor = _each(work, todo, run, result, progress=progress, on_stored=on_stored)
    except Exception:
        store.save_state(run.state(run.cursor(result.total, "stopped by an error of GitHub")))
        raise
    store.save_state(run.state(result.cursor))
    return result


def _each(
    work: Work,
    todo: dict[int, PullRequestInfo],
    run: Pass,
    result: Backfilled,
    *,
    progress: Progress,
    on_stored: Callable[[int], None] | None,
) -> Cursor | None:
    """Each PR of ``todo`` while the budget lasts; the cursor when it did not."""
    for count, number in enumerate(progress(list(todo)), start=1):
        if not work.affordable():
            return _stop(run, result.total, work, why="")
        try:
            stored = work.one(todo[number], run, result)
        except GitHubError as exc:
            if not rate_limited(exc):
                raise
            return _stop(run, result.total, work, why=exc.message)
        if stored and on_stored is not None:
            on_stored(number)
        if count % SAVE_EVERY == 0:
            work.store.save_state(run.state(run.cursor(result.total, "")))
    return None


class TooDear(Exception):
    """A listing's next pages would leave less than one PR and ``limits.rate_reserve``; raised
    by ``Budget``'s check before the request and caught in ``backfill`` (it never leaves this
    module, so it is not a ``PromptTrainerError``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Budget:
    """The check a backfill's listings ask before each page: the requests GitHub says are left
    must pay the pages still expected and one PR (``FIRST_COST``) with the reserve to spare;
    a listing that cannot be finished and followed by a PR is not begun."""

    client: GitHubClient
    reserve: int

    def listing(self, what: str) -> Callable[[int], None]:
        def afford(pages: int) -> None:
            rate = self.client.rate()
            if rate is None or rate.remaining - pages - FIRST_COST >= self.reserve:
                return
            raise TooDear(
                f"listing {what} needs "
                + ("at least 1 more request" if pages == 1 else f"about {pages} more requests")
                + f"; {rate.remaining} of {rate.limit} requests left, the budget resets "
                f"at {rate.reset_at:%H:%M} UTC; {self.reserve} kept for this run's writes "
                f"(limits.rate_reserve) and one PR costs about {FIRST_COST}"
            )

        return afford


def _stop_listing(
    store: SampleStore, run: Pass, result: Backfilled, short: TooDear, log: Log
) -> Backfilled:
    """Stop before a listing the budget cannot pay: the cursor (the PRs done so far) and the
    reason kept, nothing else written."""
    result.cursor = run.cursor(result.total, short.reason)
    log(f"collect: stopping at the rate budget before listing ({short.reason})")
    store.save_state(run.state(result.cursor))
    return result


def _say_what(log: Log, run: Pass, total: int, resumed: frozenset[int]) -> None:
    log(f"collect: {total} agent PR(s) closed since {run.since:%Y-%m-%d}")
    if run.done:
        log(
            f"collect: continuing the backfill started {run.started_at:%Y-%m-%d %H:%M} UTC: "
            f"{len(run.done)} PR(s) done by earlier runs"
        )
    if resumed:
        log(f"collect: {len(resumed)} PR(s) already collected by the resumed run")


def _window(
    client: GitHubClient,
    pulls: list[PullRequestInfo],
    since: datetime,
    afford: Callable[[int], None],
) -> RunWindow | None:
    """Every run created while ``pulls`` (the PRs still to do) were open: from a day before the
    earliest opened (for agents started from an issue), at most ``MAX_WINDOW_LEAD`` before
    ``since``, to ``AFTER_CLOSE`` after the latest closed. None without PRs: nothing listed."""
    opened = [p.created_at for p in pulls if p.created_at is not None]
    if not opened:
        return None
    start = max(min(opened) - ISSUE_LEAD, since - MAX_WINDOW_LEAD)
    closed = [p.closed_at for p in pulls if p.closed_at is not None]
    end = max(closed) + AFTER_CLOSE if len(closed) == len(pulls) else datetime.now(UTC)
    return client.run_window(start, end, afford=afford)


class Work:
    """One backfill run's PRs, one at a time, and what they cost."""

    def __init__(
        self,
        client: GitHubClient,
        settings: Settings,
        store: SampleStore,
        window: RunWindow | None,
        log: Log,
    ) -> None:
        self.client, self.settings, self.store, self.window, self.log = (
            client, settings, store, window, log,
        )  # fmt: skip
        self.versions = PromptVersions(client, settings)
        self.repository = client.info().full_name
        self.stored = {key: line for line in store.lines() if (key := line_id(line))}
        self.dearest = FIRST_COST
        self.reserve = settings.config.limits.rate_reserve

    def affordable(self) -> bool:
        """Whether the budget left covers the dearest PR so far with the reserve to spare."""
        rate = self.client.rate()
        return rate is None or rate.remaining - self.dearest >= self.reserve

    def one(self, pull: PullRequestInfo, run: Pass, result: Backfilled) -> bool:
        """Collect ``pull``, find it unchanged or skip it with the reason, and mark it done;
        whether a sample was stored. GitHub's own errors go up, the PR not done."""
        number = pull.number or 0
        before = self.client.rate()
        try:
            stored = self._collect(pull, run, result)
        except Exception as exc:
            if stops_the_run(exc, self.client):
                raise
            result.failed.append(Skipped(source=f"#{number}", reason=failure_reason(exc)))
            self.log(f"collect: #{number}: skipped: {result.failed[-1].reason}")
            stored = False
        finally:
            self.client.memo.clear()
        run.done.add(number)
        self._spent(before, self.client.rate())
        return stored

    def _collect(self, pull: PullRequestInfo, run: Pass, result: Backfilled) -> bool:
        number = pull.number or 0
        sample_id = f"{self.repository}#{number}"
        window = self.window if covers(self.window, pull) else None
        if window is not None and self._unchanged(pull, run.pulls.get(str(number)), window):
            result.unchanged.append(number)
            self.log(f"collect: {sample_id}: unchanged since it was collected")
            return False
        mark = self.client.mark()
        sample = collect_pull(
            self.client, pull, settings=self.settings, repository=self.repository,
            window=self.window, versions=self.versions,
        )  # fmt: skip
        upserted = self.store.upsert([sample])
        result.added, result.replaced = (
            result.added + upserted.added, result.replaced + upserted.replaced,
        )  # fmt: skip
        result.samples.append(sample)
        self.log(f"collect: {sample.id}: stored")
        read = self.client.validators_since(mark)
        if read is not None and window is not None:
            runs = self._runs(pull, sample.pull, window)
            run.pulls[str(number)] = PullState(etags=read, runs=runs, listing=listing_hash(pull))
        else:
            run.pulls.pop(str(number), None)
        return True

    def _unchanged(self, pull: PullRequestInfo, prior: PullState | None, window: RunWindow) -> bool:
        """Whether the stored sample still says everything: the same listing and runs, and a
        304 for every read it came from (which costs no budget)."""
        line = self.stored.get(f"{self.repository}#{pull.number}")
        if prior is None or line is None or prior.listing != listing_hash(pull):
            return False
        stored = Sample.model_validate_json(line).pull
        if prior.runs != self._runs(pull, stored, window):
            return False
        return self.client.still_current(prior.etags)

    def _runs(
        self, pull: PullRequestInfo, stored: PullRequestInfo, window: RunWindow
    ) -> tuple[str, ...]:
        """The runs a sample of ``pull`` reads, with the commits ``stored`` holds."""
        with_commits = pull.model_copy(update={"commits": stored.commits})
        return run_fingerprint(self.client, with_commits, settings=self.settings, window=window)

    def _spent(self, before: Rate | None, after: Rate | None) -> None:
        """Note what one PR cost, when both reports are of the same window."""
        if before is not None and after is not None and before.reset_at == after.reset_at:
            self.dearest = max(self.dearest, before.remaining - after.remaining)


def listing_hash(pull: PullRequestInfo) -> str:
    """What the PR listing says of a PR that its sample holds (title, body, labels, commits,
    state): a change of any of it means the PR is read again."""
    fields = (
        pull.title, pull.body, ",".join(pull.labels), pull.head_sha, pull.base_sha, pull.head_ref,
        pull.merged, pull.closed_at, pull.created_at,
    )  # fmt: skip
    return hashlib.sha256("\x1f".join(str(f) for f in fields).encode("utf-8")).hexdigest()[:16]


def _stop(run: Pass, total: int, work: Work, *, why: str) -> Cursor:
    rate = work.client.rate()
    left = (
        f"{rate.remaining} of {rate.limit} requests left until {rate.reset_at:%H:%M} UTC"
        if rate
        else "no budget left"
    )
    reason = why or f"{left}; {work.reserve} kept for this run's writes (limits.rate_reserve)"
    cursor = run.cursor(total, reason)
    work.log(f"collect: stopping at the rate budget ({reason}): {cursor.progress}")
    return cursor


def rate_limited(exc: GitHubError) -> bool:
    """GitHub refused a request at its rate limit (primary or secondary), not for a permission."""
    return exc.status in (403, 429) and "rate limit" in exc.message.lower()


def stops_the_run(exc: Exception, client: GitHubClient) -> bool:
    """Whether an error met while collecting one PR is GitHub's own (stop the backfill) rather
    than that PR's (skip it). Without an answer (5xx until the retries ran out, a connection
    error), GitHub is asked whether it answers at all, with the free ``GET /rate_limit``."""
    if not isinstance(exc, GitHubError):
        return False
    if exc.status in SYSTEMIC_STATUSES:
        return True
    if exc.status is None or exc.status >= 500:
        return not client.reachable()
    return False


def failure_reason(exc: Exception) -> str:
    """One line saying why a PR could not be collected."""
    if isinstance(exc, PromptTrainerError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
