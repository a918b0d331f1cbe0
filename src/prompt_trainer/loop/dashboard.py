"""The dashboard issue: one per repository, kept up to date by the bot, edited in place.

Found again by its label (``dashboard.label``) and a hidden marker in its body, open or closed,
and only among issues the bot's logins opened (anyone can type the marker), so it is never
duplicated; created on the first run with GitHub that may write. It shows, per target, the
prompt versions with their key metrics and a trend; the open proposals; what earlier merged
proposals did to the failure clusters their bullets targeted (before and since, with Fisher's
exact test); the edits people rejected (the bot's own PRs closed without merging, see
``followup``), each with a checkbox to allow it again; why targets were skipped this run (no
key, too few samples, held-out evidence, guardrails); and the last run's evidence counts.

Checkboxes are commands, read at the start of the next run (``read_commands``):

- ``retrain <target> now``: train that target on this run even below ``training.min_samples``
  (at least one sample of its current prompts);
- ``allow again``: the rejected edit is no longer held back; it stays allowed while checked.

Only the bot writes the issue; a person ticks boxes. The body is rebuilt each run from what the
run measured and from the boxes ticked in the current body, so a ticked "allow again" stays
ticked, and a "retrain" box is cleared once acted upon. A run opens the board first
(``open_board``: its number and commands, or none when it cannot be read) and publishes one
``DashboardView`` last (``publish``), built from what the run returned.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prompt_trainer.errors import PromptTrainerError
from prompt_trainer.github import GitHubClient, OpenPull
from prompt_trainer.loop.bundle import DashboardIntent, Recorder
from prompt_trainer.loop.contract import TargetResult
from prompt_trainer.loop.followup import Known
from prompt_trainer.measure.report import TargetReport
from prompt_trainer.memory import merge_outcomes
from prompt_trainer.models import Rejection, Sample
from prompt_trainer.propose import branch_name
from prompt_trainer.render import MergeRow, merge_rows
from prompt_trainer.render.filters import environment
from prompt_trainer.render.links import repo_links
from prompt_trainer.render.report import estimate
from prompt_trainer.settings import Settings

Log = Callable[[str], None]
MARKER = "<!-- prompt-trainer-dashboard -->"
#: Where a ``prepare`` run's dashboard leaves the open proposals for the ``publish`` job.
PROPOSALS = "<!-- prompt-trainer-dashboard:open-proposals -->"
CHECKBOX = re.compile(
    r"^[ \t]*+[-*][ \t]++\[(?P<mark>[ xX])\][^\n]*?<!--[ \t]*+prompt-trainer:"
    r"(?P<verb>retrain|allow):(?P<arg>[\w.:-]++)[ \t]*+-->",
    re.M,
)
KEY_METRICS = ("tests.pass_rate", "pr.merge_rate", "review.comments_per_pr")
BARS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Commands:
    """What the ticked boxes ask for."""

    retrain: frozenset[str] = frozenset()
    allowed: frozenset[str] = frozenset()


@dataclass
class DashboardView:
    """What one run knows, for the template."""

    repository: str
    when: datetime
    event: str
    targets: list[str]
    reports: dict[str, TargetReport] = field(default_factory=dict)
    #: Each target's open proposal; None when not known yet (a ``prepare`` run: the section is
    #: then the ``PROPOSALS`` placeholder, which the ``publish`` job fills, ``fill_proposals``).
    proposals: dict[str, OpenPull] | None = field(default_factory=dict)
    rejections: dict[str, list[Rejection]] = field(default_factory=dict)
    allowed: frozenset[str] = frozenset()
    skipped: dict[str, str] = field(default_factory=dict)
    #: Why a target's proposal was opened as a draft this run.
    drafts: dict[str, str] = field(default_factory=dict)
    message: str = ""
    collected: list[Sample] = field(default_factory=list)
    ledger_total: int = 0
    #: The server the repository's pages are on: the only links the dashboard writes.
    server_url: str | None = None

    def proposal_url(self, target: str) -> str | None:
        """The open proposal's page, built from its number (``render.links``)."""
        links = repo_links(self.server_url, self.repository)
        pull = (self.proposals or {}).get(target)
        return links.pull(pull.number) if links and pull else None

    #: What earlier merged proposals did to the clusters they targeted, by target.
    merges: dict[str, list[MergeRow]] = field(default_factory=dict)


def read_commands(body: str | None) -> Commands:
    """The ticked boxes of a dashboard body."""
    retrain: set[str] = set()
    allowed: set[str] = set()
    for match in CHECKBOX.finditer(body or ""):
        if match.group("mark").lower() != "x":
            continue
        (retrain if match.group("verb") == "retrain" else allowed).add(match.group("arg"))
    return Commands(frozenset(retrain), frozenset(allowed))


def rejection_key(rejection: Rejection) -> str:
    """A stable id for a rejected edit: its PR and a hash of its text."""
    digest = hashlib.sha256(rejection.text.encode("utf-8")).hexdigest()[:10]
    return f"{rejection.pull}-{digest}"


def without_allowed(
    rejections: dict[str, list[Rejection]], allowed: frozenset[str]
) -> dict[str, list[Rejection]]:
    """The rejections still held back (those not ticked "allow again")."""
    return {
        target: [r for r in items if rejection_key(r) not in allowed]
        for target, items in rejections.items()
    }


def trend(report: TargetReport, metric: str = "tests.pass_rate") -> str:
    """A sparkline of ``metric`` over the measured versions, oldest first."""
    values = [v.metrics[metric].value for v in report.measured if metric in v.metrics]
    known = [v for v in values if v is not None]
    if len(known) < 2:  # a trend needs two points
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    return "".join(
        "·" if v is None else BARS[round((v - low) / span * (len(BARS) - 1))] for v in values
    )


def render(view: DashboardView) -> str:
    rows = {
        target: [
            {
                "label": v.version.label,
                "date": v.version.introduced_at.strftime("%Y-%m-%d")
                if v.version.introduced_at
                else "-",
                "samples": v.samples,
                "metrics": [estimate(m, v.metrics[m]) for m in KEY_METRICS if m in v.metrics],
            }
            for v in report.measured[-6:]
        ]
        for target, report in view.reports.items()
    }
    evidence = {
        "samples": len(view.collected),
        "tests": sum(r.tests for s in view.collected for r in s.test_runs),
        "comments": sum(len(s.feedback) for s in view.collected),
        "traces": sum(len(s.traces) for s in view.collected),
        "failures": sum(len(s.failures) for s in view.collected),
        "skipped": sum(len(s.skipped) for s in view.collected),
    }
    template = environment().get_template("dashboard.md.j2")
    return template.render(
        view=view,
        marker=MARKER,
        placeholder=PROPOSALS,
        rows=rows,
        trends={t: trend(r) for t, r in view.reports.items()},
        key_metrics=KEY_METRICS,
        evidence=evidence,
        rejection_key=rejection_key,
    )


def merges_by_target(known: Known, settings: Settings) -> dict[str, list[MergeRow]]:
    """Each target's earlier merged proposals and what they did (``memory.merge_outcomes``)."""
    found: dict[str, list[MergeRow]] = {}
    min_after = settings.config.report.min_samples
    for target in settings.config.targets:
        mine = [e for e in known.bullets if e.target == target.name]
        rows = merge_rows(merge_outcomes(mine), min_after=min_after)
        if rows:
            found[target.name] = rows
    return found


def read(client: GitHubClient, *, label: str) -> tuple[int | None, Commands]:
    """The dashboard's number and ticked commands (none when there is no dashboard yet)."""
    found = client.find_issue(label=label, marker=MARKER)
    if found is None:
        return None, Commands()
    return found.number, read_commands(found.body)


@dataclass(frozen=True)
class Board:
    """The dashboard as a run found it: the issue (None before the first run), the ticked
    commands, and when the run started."""

    number: int | None
    commands: Commands
    when: datetime


def open_board(
    client: GitHubClient | None, settings: Settings, *, dry_run: bool, log: Log
) -> Board | None:
    """Read the dashboard at the start of a run (None without GitHub, when ``dashboard.enabled``
    is off, or on a dry run); a failure to read is logged and reads as no commands."""
    if client is None or not settings.config.dashboard.enabled or dry_run:
        return None
    try:
        number, commands = read(client, label=settings.config.dashboard.label)
    except PromptTrainerError as exc:
        log(f"dashboard: not read: {exc.diagnostics()}")
        number, commands = None, Commands()
    if commands.retrain or commands.allowed:
        log(
            f"dashboard: retrain {sorted(commands.retrain) or 'none'}; "
            f"{len(commands.allowed)} rejected edit(s) allowed again"
        )
    return Board(number, commands, datetime.now(UTC))


def open_proposals(client: GitHubClient, targets: list[str]) -> dict[str, OpenPull]:
    """Each target's open pull request (number, URL); one that cannot be read is left out."""
    found: dict[str, OpenPull] = {}
    for target in targets:
        try:
            pull = client.find_open_pull(branch_name(target))
        except PromptTrainerError:
            continue
        if pull:
            found[target] = pull
    return found


def fill_proposals(body: str, view: DashboardView) -> str:
    """A ``prepare`` run's dashboard body with its open-proposals section filled in from
    ``view`` (its targets, proposals and links)."""
    template = environment().get_template("dashboard_proposals.md.j2")
    section = template.render(
        targets=view.targets, proposals=view.proposals or {}, url=view.proposal_url
    )
    return body.replace(PROPOSALS, section.rstrip("\n"), 1)


def publish(
    client: GitHubClient,
    body: str,
    *,
    number: int | None,
    title: str,
    label: str,
    log: Log,
) -> int | None:
    """Create or edit the dashboard; a failure is logged, never fatal (the run's work is done)."""
    try:
        if number is None:
            number = client.create_issue(title=title, body=body, label=label, marker=MARKER)
            log(f"dashboard: created issue #{number}")
        else:
            client.edit_issue(number, body)
            log(f"dashboard: updated issue #{number}")
    except PromptTrainerError as exc:
        log(f"dashboard: not updated: {exc.diagnostics()}")
        return None
    return number


def publish_run(
    client: GitHubClient,
    board: Board,
    settings: Settings,
    *,
    known: Known,
    results: list[TargetResult],
    message: str,
    collected: Sequence[Sample],
    ledger_total: int,
    log: Log,
    recorder: Recorder | None = None,
) -> None:
    """Rebuild the dashboard from what the run returned and publish it (``publish``); a
    ``prepare`` run records it (``recorder``), its open proposals left for the publish job."""
    targets = [t.name for t in settings.config.targets]
    view = DashboardView(
        repository=client.info().full_name,
        when=board.when,
        event=settings.env.github_event_name or "cli",
        targets=targets,
        reports=known.reports,
        proposals=None if recorder else open_proposals(client, targets),
        rejections=known.rejections,
        allowed=board.commands.allowed,
        skipped={r.target: r.why_not for r in results if r.why_not},
        drafts={r.target: "; ".join(r.draft) for r in results if r.draft and r.proposal},
        message=message,
        collected=list(collected),
        ledger_total=ledger_total,
        server_url=settings.env.github_server_url,
        merges=merges_by_target(known, settings),
    )
    options = settings.config.dashboard
    body = render(view)
    if recorder is not None:
        recorder.dashboard = DashboardIntent(
            number=board.number, title=options.title, label=options.label, body=body
        )
        return
    publish(client, body, number=board.number, title=options.title, label=options.label, log=log)
