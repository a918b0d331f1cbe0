"""After a proposal is closed: learn from the rejection, or check what the merge did.

Each run reads the bot's recently closed pull requests (their state blocks): only those one of
the bot's logins opened from ``prompt-trainer/<target>`` of this repository, for a configured
target (``GitHubClient.closed_own_pulls``); anyone else's PR, whatever its branch or body says, is
neither a rejection nor a merged proposal.

- **Closed without merge**: its edits become ``Rejection``s, which the trainer will not propose
  again unless a new edit cites at least ``training.rejected_evidence_threshold`` pieces of
  evidence the rejected one did not have.
- **Merged**: its candidate fingerprint is the content hash of the new prompt version. Once that
  version has ``report.min_samples`` samples, the bot comments once on the merged PR with the
  realized deltas (new vs previous version). If ``tests.pass_rate`` or ``pr.merge_rate`` is
  significantly worse (the 95% interval of the delta entirely below zero), it opens a revert PR
  on ``prompt-trainer/revert-<target>`` restoring the previous version's files, with the
  evidence; never more than one, and never a merge.

``before_training`` is a run's step before it trains: each target's measurement (``measured``)
and, with GitHub, the follow-up above; it returns both as one ``Known`` record, with the bullet
ledger: the merged proposals' bullets and what this run observes of every current bullet (the
version that introduced it, the clusters it targets, the PRs before it and since), written to
the data branch with GitHub (by the ``publish`` job after a ``prepare`` run, which records the
entries in its bundle), kept in memory without.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from prompt_trainer.collect.github_pr import judged_feedback
from prompt_trainer.github import ClosedPull, ForeignCommitsError, GitHubClient
from prompt_trainer.loop.bundle import Recorder, RevertIntent
from prompt_trainer.measure import measured
from prompt_trainer.measure.metrics import METRICS, columns, compare_columns
from prompt_trainer.measure.report import TargetReport, VersionReport
from prompt_trainer.memory import (
    BulletEntry,
    entries_of,
    joined,
    judged_ids,
    load_entries,
    observe,
    sync_bullets,
)
from prompt_trainer.models import Rejection
from prompt_trainer.propose import BRANCH_PREFIX, branch_name
from prompt_trainer.render.report import delta, direction, estimate
from prompt_trainer.render.state import STATE_MARKER, read_state, revert_state, state_text
from prompt_trainer.settings import ConfigFile, Settings
from prompt_trainer.store import open_ledger
from prompt_trainer.targets import LocalSource, load_prompt_set

Log = Callable[[str], None]
GUARDED = ("tests.pass_rate", "pr.merge_rate")
REVERT_PREFIX = f"{BRANCH_PREFIX}revert-"


#: Rejected proposals whose reviewers' words are read (the newest), words kept per proposal,
#: and characters kept of each.
REASON_PULLS = 10
MAX_REASONS = 3
REASON_CHARS = 300


@dataclass
class FollowUp:
    rejections: dict[str, list[Rejection]] = field(default_factory=dict)
    commented: list[int] = field(default_factory=list)
    reverts: list[int] = field(default_factory=list)
    #: The closed proposals read (for the bullet ledger and the judged samples).
    closed: list[ClosedPull] = field(default_factory=list)


def rejections_of(
    closed: list[ClosedPull], reasons: Mapping[int, tuple[str, ...]] | None = None
) -> dict[str, list[Rejection]]:
    """The edits of every bot PR closed without merge, by target, with what trusted reviewers
    wrote on that PR (``reasons``, by PR number)."""
    found: dict[str, list[Rejection]] = {}
    for pull in closed:
        state = read_state(pull.body)
        if pull.merged or state is None:
            continue
        for change in state.changes:
            if change.text:
                found.setdefault(state.target, []).append(
                    Rejection(
                        text=change.text,
                        evidence=frozenset(change.evidence),
                        pull=pull.number,
                        reasons=(reasons or {}).get(pull.number, ()),
                    )
                )
    return found


def reasons_of(
    client: GitHubClient, closed: list[ClosedPull], config: ConfigFile
) -> dict[int, tuple[str, ...]]:
    """What trusted people wrote on the newest ``REASON_PULLS`` proposals closed without merge
    (reviews, review comments, the closing comment), each redacted and capped to
    ``REASON_CHARS``, at most ``MAX_REASONS`` per PR, newest last. Trust is write access, as
    for evidence; the bot's own comments and untrusted ones are never read as reasons."""
    rejected = sorted((p.number for p in closed if not p.merged), reverse=True)[:REASON_PULLS]
    found: dict[int, tuple[str, ...]] = {}
    for number in rejected:
        judged, _ = judged_feedback(
            client, number, config=config, limit=REASON_CHARS, include_bots=False
        )
        words = [" ".join(f.body.split()) for f in judged if f.trusted and f.body.strip()]
        if words:
            found[number] = tuple(words[-MAX_REASONS:])
    return found


def follow_up(
    client: GitHubClient,
    reports: dict[str, TargetReport],
    *,
    labels: tuple[str, ...],
    write: bool,
    log: Log,
    targets: tuple[str, ...] | None = None,
    config: ConfigFile | None = None,
    recorder: Recorder | None = None,
) -> FollowUp:
    """Read the closed proposals of ``targets`` (default: those of ``reports``), with the
    reviewers' reasons for rejecting them when ``config`` is given; comment realized deltas
    and open reverts when ``write`` (into ``recorder`` in a ``prepare`` run)."""
    names = tuple(reports) if targets is None else targets
    own = client.closed_own_pulls(tuple(branch_name(t) for t in names))
    closed = [c for c in own if not _is_revert(c.body) and _target_of(c.body) in names]
    reasons = reasons_of(client, closed, config) if config is not None else None
    outcome = FollowUp(rejections=rejections_of(closed, reasons), closed=closed)
    for pull in closed:
        number, state = pull.number, read_state(pull.body)
        if not pull.merged or not state:
            continue
        report = reports.get(state.target)
        realized = _realized(report, state.fingerprint or "") if report else None
        if realized is None or report is None or not write:
            continue
        before, after = realized
        text, worse = _deltas_comment(report, before, after)
        post = recorder.comment if recorder else client.comment_once
        if post(number, text, key=f"realized:{after.version.hash}"):
            outcome.commented.append(number)
            done = "bundled for" if recorder else "commented on"
            log(f"follow-up: realized deltas {done} #{number}")
        intent = revert_intent(client, report, before, after, number, worse) if worse else None
        if intent is not None and recorder is not None:
            recorder.reverts.append(intent)
            log(f"follow-up: revert of {report.target} bundled for the publish job")
        elif intent is not None and (reverted := open_revert(client, intent, labels=labels)):
            outcome.reverts.append(reverted)
            log(f"follow-up: revert PR #{reverted} for {report.target}")
    return outcome


def _target_of(body: str) -> str | None:
    state = read_state(body)
    return state.target if state else None


def _is_revert(body: str) -> bool:
    state = read_state(body)
    return bool(state and state.revert)


def _realized(report: TargetReport, fingerprint: str) -> tuple[VersionReport, VersionReport] | None:
    """(previous, merged) versions, once the merged one has enough samples."""
    measured = list(report.measured)
    for n, version in enumerate(measured):
        if version.version.hash == fingerprint and n > 0 and version.samples >= report.min_samples:
            return measured[n - 1], version
    return None


def _deltas_comment(
    report: TargetReport, before: VersionReport, after: VersionReport
) -> tuple[str, list[str]]:
    a, b = columns(before.facts), columns(after.facts)
    lines = [
        f"**Realized effect** of this change on `{report.target}`, measured on agent PRs: "
        f"`{before.version.label}` ({before.samples} PRs) → `{after.version.label}` "
        f"({after.samples} PRs), 95% intervals.",
        "",
        "| metric | before | after | change | |",
        "|---|---|---|---|---|",
    ]
    worse = []
    for metric in METRICS:
        c = compare_columns(metric, a, b, min_samples=report.min_samples)
        verdict = direction(metric.name, c)
        lines.append(
            f"| {metric.name} | {estimate(metric.name, before.metrics[metric.name])} | "
            f"{estimate(metric.name, after.metrics[metric.name])} | "
            f"{delta(metric.name, c, report.min_samples)} | {verdict} |"
        )
        if metric.name in GUARDED and verdict == "worse":
            worse.append(metric.name)
    if worse:
        lines += ["", f"Significantly worse: {', '.join(worse)}. A revert PR is proposed."]
    return "\n".join(lines), worse


def revert_intent(  # noqa: PLR0917 - one call site, every value distinct
    client: GitHubClient,
    report: TargetReport,
    before: VersionReport,
    after: VersionReport,
    merged_pr: int,
    worse: list[str],
) -> RevertIntent | None:
    """The revert PR restoring the previous version's files (read at the commit that introduced
    it); None when it cannot be made or one is open already."""
    if before.version.commit is None or client.find_open_pull(revert_branch(report.target)):
        return None
    files: dict[str, str | None] = {}
    for path in before.version.files:
        files[path] = client.read_text(path, ref=before.version.commit)
    for path in after.version.files:
        files.setdefault(path, None)  # files the merged version added
    if not files:
        return None
    return RevertIntent(
        target=report.target,
        merged_pull=merged_pr,
        files=files,
        message=f"prompt-trainer: revert {report.target} to {before.version.label}\n\n"
        f"#{merged_pr} made {', '.join(worse)} significantly worse.",
        title=f"prompt-trainer: revert {report.target} to {before.version.label}",
        body=f"Restores the prompts of `{report.target}` to version `{before.version.label}`: "
        f"since #{merged_pr} was merged, {', '.join(worse)} got significantly worse "
        f"({after.samples} PRs on the new version, {before.samples} before; see the comment on "
        f"#{merged_pr} for the numbers). Merge to revert, close to keep the change.",
    )


def revert_branch(target: str) -> str:
    return f"{REVERT_PREFIX}{target}"


def open_revert(
    client: GitHubClient, intent: RevertIntent, *, labels: tuple[str, ...]
) -> int | None:
    """Commit the revert on its branch (never over someone else's commits) and open its PR, the
    state block recording the commit; the PR's number, or None when nothing was opened."""
    branch = revert_branch(intent.target)
    if client.find_open_pull(branch):
        return None
    try:
        sha = client.commit_files(branch=branch, files=dict(intent.files), message=intent.message)
    except ForeignCommitsError:
        return None  # someone else's work is on the revert branch: it is not force-moved
    state = state_text(revert_state(target=intent.target, commit=sha))
    body = f"{intent.body}\n\n<!-- {STATE_MARKER} {state} -->\n"
    made = client.open_or_update_pull(branch=branch, title=intent.title, body=body, labels=labels)
    return made.number


@dataclass(frozen=True)
class Known:
    """What a run knows before it trains: each target's measurement, the rejected edits, the
    bullet ledger (``memory``) and the samples closed proposals were judged on."""

    reports: dict[str, TargetReport] = field(default_factory=dict)
    rejections: dict[str, list[Rejection]] = field(default_factory=dict)
    bullets: list[BulletEntry] = field(default_factory=list)
    judged: dict[str, frozenset[str]] = field(default_factory=dict)


def before_training(
    settings: Settings,
    client: GitHubClient | None,
    *,
    write: bool,
    log: Log,
    recorder: Recorder | None = None,
) -> Known:
    """Measure every target (for the follow-up and the PR bodies), then follow up on the bot's
    closed proposals when there is GitHub (commenting and reverting when ``write``; a
    ``prepare`` run records those writes and the new bullet-ledger entries in ``recorder``)."""
    names = tuple(t.name for t in settings.config.targets)
    reports = {
        name: report
        for name in names
        if (report := measured(settings, name, client, log=log)) is not None
    }
    if client is None:
        known = load_entries(settings.root)
        return Known(reports, bullets=joined(known, observed(settings, reports, known)))
    labels = settings.config.pull_request.labels
    follow = follow_up(
        client, reports, labels=labels, write=write, log=log, targets=names,
        config=settings.config, recorder=recorder,
    )  # fmt: skip
    new = entries_of(follow.closed, open_ledger(settings.root).load())
    branch = settings.config.store.branch
    known = sync_bullets(settings.root, new, client, branch, push=False, log=log)
    seen = observed(settings, reports, known)  # the branch's entries included: a fresh runner
    push = write and recorder is None
    ledger = sync_bullets(settings.root, seen, client, branch, push=push, log=log)
    if recorder is not None:  # the publish job merges them into the data branch
        recorder.bullets.extend((*new, *seen))
    return Known(reports, follow.rejections, ledger, judged_ids(follow.closed))


def observed(
    settings: Settings, reports: Mapping[str, TargetReport], entries: list[BulletEntry]
) -> list[BulletEntry]:
    """What this run sees of each target's current bullets (``memory.observe``): the version
    that introduced each, the clusters it targets, the samples before it and since."""
    found: list[BulletEntry] = []
    for name, report in reports.items():
        current = load_prompt_set(settings.target(name), LocalSource(settings.root), required=False)
        if current.main.content:
            found += observe(current, report, entries)
    return found
