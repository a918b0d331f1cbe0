"""Collect one agent pull request from GitHub into a ``Sample``.

Reads the PR, its reviews and comments, the artifacts of every workflow run of its head commit in
this repository (never a fork's run, whose workflow files the fork controls; only the configured
``artifacts.workflows`` when set; filtered by the configured name globs, downloaded and extracted
safely) and of the runs comments on it started while it was open (an agent on ``issue_comment`` runs
on the default branch's commit: found by event, branch, title and time window, ``pull_runs``),
parses the JUnit reports and traces inside, and attributes the sample to the prompt versions at the
PR's base commit (``PromptVersions``: read from the checkout's git history when it holds that
commit, through the API only when it does not, as in a shallow clone; each base commit once per
run). Problems with single pieces of evidence are kept as ``Skipped`` on the sample; only failures
of the API itself raise.

A backfill passes the PR as its listing gave it (title, body, head and base: no
``GET /pulls/{n}``) and the ``RunWindow`` of every run created in its time span (no per-PR run
queries): the runs of the PR's commits and those started by comments on it are found there by
head commit, event, branch and title (``pull_runs``); ``run_fingerprint`` says which runs (and in
which state) a sample was collected from, so a later backfill can tell whether any changed.

For the trainer to see causes, the PR's body (and the issue it closes), the files it changes with
their line counts, and the patches of commits people pushed after the agent's last commit (the
human's fix) are read too (``with_change``), redacted and capped before they are stored.

Feedback is trusted when its author has write access to the repository (``trust_by_access``:
write, maintain or admin, asked once per login), never by ``author_association``, which an
organisation member or a read-only collaborator also carries; a failed lookup is untrusted, with
the reason kept as a ``Skipped``. Bots are never trusted.
"""

from __future__ import annotations

import fnmatch
import re
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prompt_trainer.collect.artifacts import ZipLimits, extract_zip
from prompt_trainer.collect.evidence import (
    Evidence,
    clean_pull,
    parse_evidence_file,
    parse_junit_file,
    parse_trace_file,
)
from prompt_trainer.collect.junit_runs import flag_flaky_across_runs
from prompt_trainer.collect.reviews import is_own_comment, keep, suggestions
from prompt_trainer.errors import PromptLinkError
from prompt_trainer.github import GitHubClient
from prompt_trainer.github.actions import ci_conclusion
from prompt_trainer.github.records import RunWindow, WorkflowRun
from prompt_trainer.models import (
    ArtifactRef,
    Feedback,
    PullRequestInfo,
    Sample,
    Skipped,
    TestRun,
)
from prompt_trainer.redact import excerpt
from prompt_trainer.settings import AgentRules, ArtifactGlobs, ConfigFile, Settings
from prompt_trainer.targets import GitSource, PromptSource, version_at


class CommitSource:
    """The repository at one commit, read through the API (a ``targets.PromptSource``)."""

    def __init__(self, client: GitHubClient, sha: str) -> None:
        self.client = client
        self.sha = sha

    def read_text(self, path: str) -> str | None:
        return self.client.read_text(path, ref=self.sha)

    def list_files(self, directory: str) -> list[str]:
        return self.client.list_files(directory, ref=self.sha)


class PromptVersions:
    """Every target's prompt version at a base commit, each commit read once per run: from the
    checkout's git history when the commit is there (no request), else through the API (a
    shallow clone, as ``actions/checkout`` makes by default, has only its own commit)."""

    def __init__(self, client: GitHubClient, settings: Settings) -> None:
        self.client, self.settings = client, settings
        self.known: dict[str, dict[str, str]] = {}

    def at(self, sha: str) -> dict[str, str]:
        if sha not in self.known:
            local = GitSource.at(self.settings.root, sha)
            try:
                self.known[sha] = self._versions(local or CommitSource(self.client, sha))
            except PromptLinkError:
                # A link that dangles at that commit: the API reads it as no file, as it did
                # before the local history was read; the PR is not lost over it.
                self.known[sha] = self._versions(CommitSource(self.client, sha))
        return self.known[sha]

    def _versions(self, source: PromptSource) -> dict[str, str]:
        return {t.name: version_at(t, source) for t in self.settings.config.targets}


def is_agent_pull(pull: PullRequestInfo, rules: AgentRules) -> bool:
    """The PR is the agent's work if its author or one of its labels matches."""
    return pull.author in rules.authors or any(label in rules.labels for label in pull.labels)


def artifact_kind(name: str, globs: ArtifactGlobs) -> str | None:
    """``junit``, ``traces`` or None, by the artifact's name."""
    if any(fnmatch.fnmatch(name, g) for g in globs.junit):
        return "junit"
    if any(fnmatch.fnmatch(name, g) for g in globs.traces):
        return "traces"
    return None


def collect_pull(
    client: GitHubClient,
    pull: int | PullRequestInfo,
    *,
    settings: Settings,
    repository: str,
    local_paths: tuple[Path, ...] = (),
    window: RunWindow | None = None,
    versions: PromptVersions | None = None,
) -> Sample:
    """Assemble the sample of PR ``pull`` (its number, or the PR as a listing gave it).

    ``local_paths`` are files or directories the same workflow job produced (JUnit reports and
    traces not uploaded as artifacts yet); they are parsed like extracted artifact files.
    ``window`` (a backfill's runs) and ``versions`` (a run's prompt versions) spare requests.
    """
    config = settings.config
    info = client.pull(pull) if isinstance(pull, int) else pull
    window = window if covers(window, info) else None
    info = with_commits(client, info, config.agent, config.artifacts.workflows, window=window)
    # with_change ends with clean_pull: the title, body, issue and patches are redacted and capped.
    info = with_change(client, info, limit=config.limits.max_text_chars)
    number = info.number or 0
    feedback, unknown = judged_feedback(
        client,
        number,
        config=config,
        limit=config.limits.max_text_chars,
        include_bots=config.reviews.include_bots,
    )
    evidence = Evidence()
    evidence.skipped.extend(unknown)
    if info.head_sha:
        runs = pull_runs(client, info, settings=settings, window=window)
        _collect_artifacts(client, info.head_sha, runs, settings=settings, evidence=evidence)
    add_local_files(local_paths, settings=settings, evidence=evidence)
    evidence.test_runs = list(flag_flaky_across_runs(evidence.test_runs))
    at_base = (
        (versions or PromptVersions(client, settings)).at(info.base_sha) if info.base_sha else {}
    )
    evidence.feedback.extend(feedback)
    return evidence.to_sample(f"{repository}#{number}", pull=info, versions=dict(at_base))


def with_commits(
    client: GitHubClient,
    pull: PullRequestInfo,
    rules: AgentRules,
    workflows: tuple[str, ...] = (),
    *,
    window: RunWindow | None = None,
) -> PullRequestInfo:
    """The PR with its commits (agent's or human rework) and the CI outcome of the agent's first
    pushed commit (from this repository's runs of ``workflows``, all when empty)."""
    if pull.number is None:
        return pull
    commits = client.commits(pull.number, agent=(pull.author, *rules.authors))
    first = next((c for c in commits if c.by_agent), None)
    first_ci = (
        ci_conclusion(client.commit_runs(first.sha, workflows=workflows, window=window))
        if first
        else None
    )
    return pull.model_copy(update={"commits": commits, "first_push_ci": first_ci})


#: GitHub's closing keywords (``Fixes #12``, ``closes #3``, ``resolved #7``).
#: ``Fixes #50``, ``closes: #50``; possessive, so a keyword before a long run of spaces is
#: read once (``\s*:?\s+`` took time quadratic in the run).
CLOSES = re.compile(r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)(?:\s*+:)?\s++#(\d+)\b", re.I)
#: Rework commits whose patches are read (the latest ones).
MAX_REWORK_COMMITS = 5


def with_change(client: GitHubClient, pull: PullRequestInfo, *, limit: int) -> PullRequestInfo:
    """The PR with its body, the issue it closes, its changed files and the patches of the
    human commits after the agent's last commit, redacted and capped."""
    if pull.number is None:
        return pull
    body = pull.body
    closes = CLOSES.search(body)
    issue = client.linked_issue(int(closes.group(1))) if closes else None
    wanted = {c.sha for c in pull.human_fix[-MAX_REWORK_COMMITS:]}
    commits = tuple(
        c.model_copy(update={"files": client.commit_patch(c.sha)}) if c.sha in wanted else c
        for c in pull.commits
    )
    changed = pull.model_copy(
        update={
            "body": body,
            "issue": issue,
            "files": client.pull_files(pull.number),
            "commits": commits,
        }
    )
    return clean_pull(changed, limit=limit)


def add_local_files(paths: tuple[Path, ...], *, settings: Settings, evidence: Evidence) -> None:
    """Parse local evidence files (``--evidence``): ``*.xml`` as JUnit, other text as traces."""
    limits = settings.config.limits
    for root in paths:
        if not root.exists():
            evidence.skipped.append(Skipped(source=str(root), reason="path does not exist"))
            continue
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            evidence.add(parse_evidence_file(path, source=path.as_posix(), limits=limits))


def trust_by_access(
    client: GitHubClient, items: list[Feedback]
) -> tuple[list[Feedback], list[Skipped]]:
    """The feedback with ``trusted`` set from its author's write access (bots: never), and a
    ``Skipped`` per login whose access could not be read (its feedback stays untrusted)."""
    judged: list[Feedback] = []
    unknown: dict[str, Skipped] = {}
    for item in items:
        access = None if item.is_bot else client.write_access(item.author)
        if access is not None and access.problem and item.author not in unknown:
            unknown[item.author] = Skipped(
                source=f"write access of @{item.author}",
                reason=f"permission lookup failed ({access.problem}); treated as untrusted",
            )
        judged.append(item.model_copy(update={"trusted": bool(access and access.trusted)}))
    return judged, list(unknown.values())


def judged_feedback(
    client: GitHubClient, number: int, *, config: ConfigFile, limit: int, include_bots: bool
) -> tuple[list[Feedback], list[Skipped]]:
    """The feedback of #``number`` worth reading (not the bot's own; other bots only with
    ``include_bots``), its trust judged by write access (``trust_by_access``) before anything
    else is read from it, then redacted and capped (``clean_feedback``), and the ``Skipped``
    lookups."""
    bots = config.pull_request.bot_logins
    items = [
        item.model_copy(update={"is_own": is_own_comment(item.body, item.author, bot_logins=bots)})
        for item in client.feedback(number, trusted=config.reviews.trusted_associations)
    ]
    judged, unknown = trust_by_access(
        client, [f for f in items if keep(f, include_bots=include_bots)]
    )
    return [clean_feedback(f, limit) for f in judged], unknown


def clean_feedback(item: Feedback, limit: int) -> Feedback:
    """Redact and cap every text before it is stored or sent anywhere; read suggestion blocks
    only from a trusted comment (nobody else's suggestions are used, so an outsider's comment
    is never parsed)."""
    found = suggestions(item.body) if item.trusted else ()
    return item.model_copy(
        update={
            "body": excerpt(item.body, limit),
            "suggestions": tuple(excerpt(s, limit) for s in found),
            "diff_hunk": excerpt(item.diff_hunk, limit) if item.diff_hunk else None,
        }
    )


#: Events whose runs are not runs of the PR's head commit: an agent answering a comment on the
#: PR (on the default branch's commit for ``issue_comment``), or started from an issue.
COMMENT_EVENTS = ("issue_comment", "pull_request_review_comment", "pull_request_review", "issues")
#: How long before the PR opened an agent started from an issue may have started.
ISSUE_LEAD = timedelta(days=1)
#: How long after a PR closed a run of it may still start (a workflow on its ``closed`` event,
#: one another run's ``workflow_run`` starts): a backfill's window reaches this far past them.
AFTER_CLOSE = timedelta(days=1)


#: Events whose runs are on the PR's branch (a review of it), the others on the default branch.
REVIEW_EVENTS = ("pull_request_review_comment", "pull_request_review")


def started_for(pull: PullRequestInfo) -> Callable[[str, str, str], bool]:
    """Whether a run (event, head branch, display title) answered ``pull``: a review event's
    run is on the PR's branch; an ``issue_comment`` run is on the default branch and titled by
    the PR; an ``issues`` run is titled by its issue, found when the PR kept that title."""

    def match(event: str, branch: str, title: str) -> bool:
        if event in REVIEW_EVENTS:
            return bool(pull.head_ref) and branch == pull.head_ref
        return bool(pull.title) and title == pull.title

    return match


def covers(window: RunWindow | None, pull: PullRequestInfo) -> bool:
    """Whether ``window`` holds every run of ``pull``'s time span (from a day before it opened,
    for an agent started from an issue, to ``AFTER_CLOSE`` after it closed)."""
    return (
        window is not None
        and pull.created_at is not None
        and pull.closed_at is not None
        and window.covers(pull.created_at - ISSUE_LEAD, pull.closed_at + AFTER_CLOSE)
    )


def pull_runs(
    client: GitHubClient,
    pull: PullRequestInfo,
    *,
    settings: Settings,
    window: RunWindow | None,
) -> list[WorkflowRun]:
    """The runs whose artifacts are ``pull``'s evidence: those of its head commit and those
    started by comments on it (or by its issue) while it was open, found by event, title and
    time window, as they are not runs of its head commit."""
    workflows = settings.config.artifacts.workflows
    runs = client.commit_runs(pull.head_sha or "", workflows=workflows, window=window)
    if pull.created_at is not None:
        runs += client.event_runs(
            events=COMMENT_EVENTS,
            since=pull.created_at - ISSUE_LEAD,
            until=pull.closed_at or datetime.now(UTC),
            match=started_for(pull),
            workflows=workflows,
            window=window,
        )
    return runs


def run_fingerprint(
    client: GitHubClient, pull: PullRequestInfo, *, settings: Settings, window: RunWindow
) -> tuple[str, ...]:
    """Which runs a sample of ``pull`` reads (its evidence and its commits' CI), each as
    ``id:attempt:conclusion``, read from ``window`` alone: a run re-run or finished later, or a
    new one, changes it."""
    workflows = settings.config.artifacts.workflows
    runs = pull_runs(client, pull, settings=settings, window=window)
    for commit in pull.commits:
        runs += client.commit_runs(commit.sha, workflows=workflows, window=window)
    return tuple(sorted({f"{r.id}:{r.attempt}:{r.conclusion}" for r in runs}))


def _collect_artifacts(
    client: GitHubClient,
    sha: str,
    runs: list[WorkflowRun],
    *,
    settings: Settings,
    evidence: Evidence,
) -> None:
    """The artifacts of ``runs`` (each artifact once) whose names match the configured globs."""
    refs = [
        (r, artifact_kind(r.name, settings.config.artifacts)) for r in client.artifacts_of(runs)
    ]
    wanted = [(r, kind) for r, kind in refs if kind]
    if not wanted:
        names = ", ".join(sorted(r.name for r, _ in refs)) or "none"
        evidence.skipped.append(
            Skipped(
                source=f"commit {sha[:12]}",
                reason=f"no artifact matches the configured globs (artifacts found: {names})",
            )
        )
    if not wanted:
        return
    with tempfile.TemporaryDirectory(prefix="prompt-trainer-") as tmp:
        for ref, kind in wanted:
            _collect_artifact(
                client, ref, kind=kind or "", tmp=Path(tmp), settings=settings, evidence=evidence
            )


def _collect_artifact(
    client: GitHubClient,
    ref: ArtifactRef,
    *,
    kind: str,
    tmp: Path,
    settings: Settings,
    evidence: Evidence,
) -> None:
    limits = settings.config.limits
    label = f"artifact {ref.name} (run {ref.run_id})"
    downloaded = client.download_artifact(
        ref, tmp / f"{ref.id}.zip", max_bytes=limits.max_artifact_bytes
    )
    if isinstance(downloaded, Skipped):
        evidence.skipped.append(downloaded)
        return
    zip_limits = ZipLimits(
        max_total_bytes=limits.max_extracted_bytes, max_files=limits.max_extracted_files
    )
    extracted = extract_zip(downloaded, tmp / str(ref.id), limits=zip_limits, label=label)
    evidence.skipped.extend(extracted.skipped)
    for path in extracted.files:
        source = f"{ref.name}/{path.relative_to(tmp / str(ref.id)).as_posix()}"
        if kind == "junit" and path.suffix.lower() == ".xml":
            report = parse_junit_file(path, source=source, limits=limits)
            if not isinstance(report, Skipped):
                report = _with_run(report, ref)
            evidence.add(report)
        elif kind == "traces":
            evidence.add(parse_trace_file(path, source=source, limits=limits))


def _with_run(report: TestRun, ref: ArtifactRef) -> TestRun:
    """Tie a report to its workflow run. Its attempt is known only when the run had one: the
    API does not say which attempt of a re-run uploaded an artifact."""
    if ref.run_attempts == 1:
        return report.model_copy(update={"run_id": ref.run_id, "run_attempt": 1})
    note = (
        f"run {ref.run_id} had {ref.run_attempts} attempts; the API does not say which one "
        "uploaded this report"
    )
    return report.model_copy(update={"run_id": ref.run_id, "notes": (*report.notes, note)})
