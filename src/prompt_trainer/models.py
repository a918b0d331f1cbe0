"""Canonical records passed between stages: every kind of evidence ends up as one of these.

Collectors turn JUnit dialects, agent traces and GitHub reviews into ``TestRun``, ``Trace`` and
``Feedback`` inside one ``Sample`` per agent pull request; ``targets`` loads prompt files into a
``PromptSet``; the trainer returns a ``Candidate``. All records are frozen pydantic models, so a
stage can never mutate what an earlier one produced, and they serialize to the JSONL store as-is.
No PyGithub object, DSPy prediction or XML element crosses a stage boundary. ``is_bot_account``
is the one rule for telling a bot's account from a person's.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prompt_trainer import failure_types
from prompt_trainer.identities import Identities

TestStatus = Literal["passed", "failed", "error", "skipped", "cancelled"]
FeedbackKind = Literal["review", "review_comment", "comment"]


class Record(BaseModel):
    """Base of every record: immutable, and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Skipped(Record):
    """A piece of evidence that could not be used, and why (a value, never an exception)."""

    source: str
    reason: str


class TestCase(Record):
    """One test, normalized across JUnit dialects (its final outcome in one report)."""

    __test__ = False  # not a pytest test class

    suite: str = ""
    classname: str = ""
    name: str
    status: TestStatus
    message: str = ""
    type: str = ""
    text: str = ""
    system_out: str = ""
    system_err: str = ""
    duration_s: float | None = None
    file: str | None = None
    line: int | None = None
    properties: dict[str, str] = Field(default_factory=dict)
    flaky: bool = False
    #: Executions of this test in the report (reruns and repeated elements); 1 if it ran once.
    attempt: int = 1
    #: An error of a whole file or suite, not a test (a test file that failed to import, an
    #: ``afterAll`` that threw): status ``error``, counted in ``TestCounts.suite_errors``.
    suite_error: bool = False

    @property
    def id(self) -> str:
        """A stable identity for citing this case as evidence."""
        return f"{self.classname}::{self.name}" if self.classname else self.name


class TestCounts(Record):
    """Exact counts of one report, kept even when only some of its cases are stored."""

    __test__ = False

    tests: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    flaky: int = 0
    #: Tests the runner cancelled (node's runner: cancelled by their parent, timed out).
    cancelled: int = 0
    #: Errors of a whole file or suite, which the tools count apart from tests.
    suite_errors: int = 0
    #: Executions: ``<testcase>`` elements plus reruns written inside one element.
    attempts: int = 0


class TestRun(Record):
    """The tests of one JUnit report (one file inside one artifact).

    ``cases`` holds every test that did not simply pass (failed, error, skipped, and flaky
    passes, which keep their interim failure as evidence); plain passes are only counted in
    ``plain_passes``. A 100k-case report thus stays small in memory and in the store, and the
    trainer, which reads problems only, loses nothing. ``passed_ids`` (the identities of the
    passing tests) lives in memory during collection, to find tests that failed in one run of a
    commit and passed in another; it is not stored.
    """

    __test__ = False

    source: str
    cases: tuple[TestCase, ...] = ()
    plain_passes: int = 0
    suites: tuple[str, ...] = ()
    declared_tests: int | None = None
    notes: tuple[str, ...] = ()
    run_id: int | None = None
    run_attempt: int | None = None
    #: Identities (hashes, valid within one process) of the tests that passed.
    passed_ids: Identities | frozenset[int | str] = Field(
        default=frozenset(), exclude=True, repr=False
    )
    #: Exact counts when ``cases`` holds only some of the problem cases (see docs/junit.md).
    totals: TestCounts | None = None

    def count(self, status: TestStatus) -> int:
        """Number of tests with the given final status."""
        if self.totals is not None:
            field = "errors" if status == "error" else status
            return int(getattr(self.totals, field))
        extra = self.plain_passes if status == "passed" else 0
        return extra + sum(1 for c in self.cases if c.status == status and not c.suite_error)

    @property
    def tests(self) -> int:
        if self.totals is not None:
            return self.totals.tests
        return sum(1 for c in self.cases if not c.suite_error) + self.plain_passes

    @property
    def suite_errors(self) -> int:
        """Errors of whole files or suites (not tests): see ``TestCase.suite_error``."""
        if self.totals is not None:
            return self.totals.suite_errors
        return sum(1 for case in self.cases if case.suite_error)

    @property
    def flaky(self) -> int:
        if self.totals is not None:
            return self.totals.flaky
        return sum(1 for case in self.cases if case.flaky)

    @property
    def attempts(self) -> int:
        """Executions in the report (at least one per test)."""
        if self.totals is not None:
            return self.totals.attempts
        return sum(case.attempt for case in self.cases) + self.plain_passes

    def counts(self) -> dict[str, int]:
        """The counts ``inspect --json`` prints (see docs/junit.md for the rules); it adds
        ``cancelled``, ``suite_errors`` and ``attempts``, kept out of this dict for its readers
        that total these keys."""
        return {
            "tests": self.tests,
            "passed": self.count("passed"),
            "failed": self.count("failed"),
            "errors": self.count("error"),
            "skipped": self.count("skipped"),
            "flaky": self.flaky,
        }

    @property
    def problems(self) -> tuple[TestCase, ...]:
        """Failed and erroring cases: the evidence the trainer reads."""
        return tuple(c for c in self.cases if c.status in ("failed", "error"))


class Feedback(Record):
    """A review, a review comment on a line, or a conversation comment on a pull request."""

    kind: FeedbackKind
    id: str
    author: str
    author_association: str = "NONE"
    is_bot: bool = False
    trusted: bool = False
    state: str | None = None
    body: str
    path: str | None = None
    line: int | None = None
    url: str | None = None
    created_at: datetime | None = None
    #: The review comment this one answers (a reply thread), as a feedback id.
    in_reply_to: str | None = None
    diff_hunk: str | None = None
    #: Replacement text of each ```suggestion block in the body.
    suggestions: tuple[str, ...] = ()
    #: Written by prompt-trainer itself (never used as feedback).
    is_own: bool = False
    #: Whether the review thread was resolved (None: unknown; GitHub's REST API does not say).
    resolved: bool | None = None


class TraceStep(Record):
    """One step of an agent transcript, reduced to what the trainer needs.

    ``role`` is ``user``, ``assistant`` (text or a tool call), ``tool`` (a tool's result: ``text``
    is the output excerpt) or ``transcript`` (free text). ``tokens`` is the output tokens of the
    model response the step belongs to, when the format says.
    """

    role: str
    text: str = ""
    tool: str | None = None
    tool_input: str | None = None
    is_error: bool = False
    tokens: int | None = None


class Trace(Record):
    """An agent's transcript with its totals, whatever tool wrote it.

    ``steps`` is a bounded selection (the opening steps, every error with its neighbours, the
    closing steps); ``steps_total`` says how many there were. Token counts are as the format
    reports them: OpenAI-family formats include cached tokens in ``input_tokens``, Anthropic's
    do not (``cache_read_tokens`` is separate in both). Unset means the format did not say.
    """

    source: str
    format: str
    model: str | None = None
    session_id: str | None = None
    steps: tuple[TraceStep, ...] = ()
    steps_total: int = 0
    turns: int | None = None
    tool_calls: int = 0
    tool_errors: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    cost_usd: float | None = None
    duration_s: float | None = None
    result: str | None = None
    is_error: bool = False
    unknown_records: dict[str, int] = Field(default_factory=dict)
    bad_lines: int = 0
    #: What the reader left out or could not use: the parts of an over-cap file that were not
    #: read, the first unusable line's position and reason.
    notes: tuple[str, ...] = ()


class FileChange(Record):
    """One file a pull request or a commit changed, with its line counts.

    ``patch`` is the unified diff GitHub gives (capped and redacted when collected; None for a
    binary file, a diff GitHub left out for its size, or when only the counts were read);
    ``note`` says why it is missing or shortened.
    """

    path: str
    status: str = "modified"
    additions: int = 0
    deletions: int = 0
    patch: str | None = None
    note: str | None = None


class CommitInfo(Record):
    """One commit of a pull request, and whether the agent's side or a human pushed it.

    ``files`` holds the patch of a human's rework commit (read for the trainer to see the fix);
    it is empty for the agent's commits and when the patches were not read.
    """

    sha: str
    author: str = ""
    date: datetime | None = None
    by_agent: bool = True
    files: tuple[FileChange, ...] = ()


class LinkedIssue(Record):
    """The issue a pull request's body closes (``Fixes #12``): the task as it was asked."""

    number: int
    title: str = ""
    body: str = ""


class CommitRef(Record):
    """A commit of the default branch that touched a target's prompt paths."""

    sha: str
    date: datetime | None = None
    subject: str = ""


class PullRequestInfo(Record):
    """What a sample needs to know about the agent's pull request.

    ``commits`` is empty when they were not read (local evidence); ``rework`` is then empty too,
    and the measurement stage treats rework as unknown rather than absent.
    """

    number: int | None = None
    title: str = ""
    author: str = ""
    url: str | None = None
    merged: bool = False
    base_sha: str | None = None
    head_sha: str | None = None
    #: The PR's branch (runs started by a review on the PR run there).
    head_ref: str | None = None
    labels: tuple[str, ...] = ()
    created_at: datetime | None = None
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    commits: tuple[CommitInfo, ...] = ()
    #: Conclusion of CI on the agent's first pushed commit: success, failure, or None (unknown).
    first_push_ci: str | None = None
    #: The PR's description (redacted, capped): the task the agent was given.
    body: str = ""
    #: The files the PR changes, with line counts (empty when not read).
    files: tuple[FileChange, ...] = ()
    #: The issue the body closes, when there is one and it was read.
    issue: LinkedIssue | None = None

    @property
    def rework(self) -> tuple[CommitInfo, ...]:
        """Commits humans pushed after the agent's first commit."""
        first = next((n for n, c in enumerate(self.commits) if c.by_agent), None)
        if first is None:
            return ()
        return tuple(c for c in self.commits[first + 1 :] if not c.by_agent)

    @property
    def human_fix(self) -> tuple[CommitInfo, ...]:
        """Commits people pushed after the agent's last commit: the closest thing to the right
        patch (every human commit when the agent pushed none that was read)."""
        last = max((n for n, c in enumerate(self.commits) if c.by_agent), default=-1)
        return tuple(c for c in self.commits[last + 1 :] if not c.by_agent)


class ArtifactRef(Record):
    """A workflow-run artifact as listed by the API (not yet downloaded)."""

    id: int
    name: str
    run_id: int
    run_attempts: int = 1
    size_bytes: int = 0
    expired: bool = False
    download_url: str


#: The kinds of failure (``failure_types``, where the CLI reads them without pydantic).
FailureType = failure_types.FailureType


class FailureReport(Record):
    """A failure no test catches, reported by a person (``prompt-trainer report-failure``)."""

    id: str
    type: FailureType
    description: str
    context: str = ""
    author: str = ""
    created_at: datetime | None = None


class Sample(Record):
    """All evidence about one agent pull request, attributed to the prompt versions it ran on."""

    id: str
    pull: PullRequestInfo
    prompt_versions: dict[str, str] = Field(default_factory=dict)
    test_runs: tuple[TestRun, ...] = ()
    traces: tuple[Trace, ...] = ()
    feedback: tuple[Feedback, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    collected_at: datetime
    #: Reported by people; kept when the PR is collected again.
    failures: tuple[FailureReport, ...] = ()


class PromptFile(Record):
    """A prompt file by its repository-relative POSIX path."""

    path: str
    content: str


class Subagent(Record):
    """A Claude Code style subagent: YAML frontmatter ``name``/``description`` and a body."""

    name: str
    description: str
    prompt: str
    path: str
    frontmatter: dict[str, Any] = Field(default_factory=dict)


class PromptSet(Record):
    """The prompt files of one target at one point in time."""

    target: str
    main: PromptFile
    subagents: tuple[Subagent, ...] = ()
    files: tuple[PromptFile, ...] = ()

    @property
    def version(self) -> str:
        """Content hash of every file of the target: equal content, equal version."""
        return content_hash(self.files)


class TokenUsage(Record):
    """Tokens and calls spent talking to the language model."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Change(Record):
    """One applied edit of a candidate, with the evidence that motivated it."""

    path: str
    op: str
    text: str
    evidence: tuple[str, ...]
    reason: str = ""
    #: The bullet a ``modify`` (``refine_rule``) replaced, as it was; "" for other ops.
    replaces: str = ""
    #: The failure cluster the edit addresses (``measure.clusters``), and its support when the
    #: edit was made (``4 PRs, 1 trusted request (maria)``).
    cluster: str = ""
    support: str = ""


class ClusterNote(Record):
    """A failure cluster as the training run saw it: its support, how many reflection calls it
    got, and why it was left out when it got none."""

    id: str
    kind: str
    label: str
    prs: int
    trusted_requests: int = 0
    #: ``4 PRs, 1 trusted request (maria)``.
    support: str = ""
    #: Prompt versions it occurred under, newest first (the current one when it still occurs).
    versions: tuple[str, ...] = ()
    #: Reflection calls spent on it (0 when left out).
    reflected: int = 0
    #: Why no reflection saw it ("" when one did).
    left_out: str = ""


class HeldOutScore(Record):
    """The judge's scores of the current prompts and the candidate on one held-out sample."""

    sample: str
    current: float
    candidate: float
    feedback: str = ""
    #: The blind pairwise verdict over both orders: "candidate", "current" or "tie".
    preference: str = ""


#: What the per-edit judge may answer for one edit and one held-out failure.
Effect = Literal["prevents", "partly", "irrelevant", "conflicts"]
#: What the per-edit evaluation concludes about one edit.
EditOutcome = Literal["effective", "not effective", "too few to judge", "conflicts"]


class HeldOutFailure(Record):
    """A problem of a held-out sample: the unit of the per-edit evaluation. The current prompts
    did not prevent it (it happened under them)."""

    sample: str
    #: Its short id in the judge's request (``F1``, numbered per sample).
    ref: str
    cluster: str
    kind: str
    label: str
    #: Full evidence ids of the sample that show it.
    evidence: tuple[str, ...] = ()


class EditVerdict(Record):
    """The judge's answer for one edit on one held-out failure, or (``failure`` empty) on a
    held-out pull request without a problem, checked for conflicts."""

    edit: int
    sample: str
    failure: str = ""
    verdict: Effect
    why: str = ""


class EditEvaluation(Record):
    """One edit of the candidate measured on held-out failures: those of the clusters it
    targets (its kind) against those of other clusters (the judge's leniency)."""

    #: 1-based, in the order of ``Candidate.changes``.
    edit: int
    path: str
    op: str
    text: str
    #: The failure clusters the edit targets (through the evidence it cites).
    clusters: tuple[str, ...] = ()
    #: Held-out failures of its kind: how many, how many it prevents or partly prevents (the
    #: test counts both), and how many of those only partly.
    own: int = 0
    prevented: int = 0
    partly: int = 0
    #: Held-out failures of other kinds, how many the judge says it prevents or partly
    #: prevents, and how many of those only partly.
    others: int = 0
    other_prevented: int = 0
    other_partly: int = 0
    #: "<sample>: why" for every held-out PR where the judge says it conflicts.
    conflicts: tuple[str, ...] = ()
    #: One-sided Fisher's exact test: prevents its own kind more often than others.
    p_value: float | None = None
    outcome: EditOutcome = "too few to judge"

    @property
    def summary(self) -> str:
        """``prevents 5 of 6 held-out failures of its kind (other kinds: 0 of 6), p = 0.0076``;
        with a "partly" on either side, ``prevents or partly prevents 4 of 4 held-out failures
        of its kind (1 partly; other kinds: 0 of 4), p = 0.014``."""
        noun = "failure" if self.own == 1 else "failures"
        verb = "prevents or partly prevents" if self.partly or self.other_partly else "prevents"
        partly = f"{self.partly} partly; " if self.partly else ""
        other_partly = f", {self.other_partly} partly" if self.other_partly else ""
        text = (
            f"{verb} {self.prevented} of {self.own} held-out {noun} of its kind "
            f"({partly}other kinds: {self.other_prevented} of {self.others}{other_partly})"
        )
        if self.p_value is not None and self.outcome in ("effective", "not effective"):
            text += f", p = {self.p_value:.2g}"
        return text


class ClusterCount(Record):
    """A failure cluster of the samples, its support, and how many of its PRs were held out."""

    id: str
    kind: str
    label: str
    prs: int
    held_out: int = 0
    trusted_requests: int = 0
    reviewers: tuple[str, ...] = ()


class HeldOutResult(Record):
    """Held-out evaluation of a candidate; ``skipped`` says why when it could not run."""

    sample_ids: tuple[str, ...] = ()
    scores: tuple[HeldOutScore, ...] = ()
    current_mean: float | None = None
    candidate_mean: float | None = None
    delta: float | None = None
    low: float | None = None
    high: float | None = None
    wins: int = 0
    losses: int = 0
    ties: int = 0
    skipped: str | None = None
    #: "better", "worse", "no clear difference" or "too few to judge" (exact sign test).
    verdict: str | None = None
    #: Two-sided exact sign test over the decided pairs (wins + losses).
    p_value: float | None = None
    #: Pairs left out: the judge's answer was unreadable, in either order.
    unreadable: tuple[str, ...] = ()
    #: With several candidates: how they were elected and on which samples this is reported.
    election: str | None = None
    #: ``per-edit`` or ``pairwise`` (``training.judge``).
    judge: str = "pairwise"
    #: Per-edit: the held-out failures asked about, the held-out PRs without a problem checked
    #: for conflicts, every verdict read, and each edit's result.
    failures: tuple[HeldOutFailure, ...] = ()
    checked: tuple[str, ...] = ()
    verdicts: tuple[EditVerdict, ...] = ()
    edits: tuple[EditEvaluation, ...] = ()
    #: Per-edit: items of an answer that could not be read, each "<sample>: what".
    unreadable_items: tuple[str, ...] = ()
    #: Per-edit: the failure clusters of the samples, with how many were held out.
    clusters: tuple[ClusterCount, ...] = ()
    #: LM calls the evaluation made, and the most it could make (its share of max_calls).
    calls: int = 0
    max_calls: int = 0


class EvalCommandResult(Record):
    """The repository's own evaluation (``training.eval_command``) run on both prompt sets."""

    command: str
    current_pass_rate: float | None = None
    candidate_pass_rate: float | None = None
    current_tests: int = 0
    candidate_tests: int = 0
    problem: str | None = None
    #: Runs per prompt set (``training.eval_repeat``) and the widest run-to-run range of the
    #: pass rate over them (0 with one run).
    repeat: int = 1
    spread: float = 0.0

    @property
    def delta(self) -> float | None:
        if self.current_pass_rate is None or self.candidate_pass_rate is None:
            return None
        return self.candidate_pass_rate - self.current_pass_rate


class ReplayRun(Record):
    """One run of the agent and the tests for one task and one prompt variant (``replay``).

    ``passed`` is true only when the test command wrote a JUnit report with at least one test
    and no failures or errors; otherwise ``reason`` says why not. Token counts and cost are the
    sums over the traces the agent wrote (None when no trace said)."""

    variant: Literal["current", "candidate"]
    repeat: int
    passed: bool
    reason: str = ""
    seconds: float = 0.0
    tests: int = 0
    failed: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    #: Where the agent's output, the test output, the report and the traces were kept.
    folder: str = ""


class ReplayTask(Record):
    """One task (a stored sample's PR title and body at its base commit) and its runs."""

    sample: str
    base_sha: str
    runs: tuple[ReplayRun, ...] = ()

    def outcomes(self, variant: str) -> list[bool]:
        return [r.passed for r in self.runs if r.variant == variant]

    def rate(self, variant: str) -> float | None:
        found = self.outcomes(variant)
        return sum(found) / len(found) if found else None


class ReplayResult(Record):
    """The replay of a candidate against the current prompts on stored tasks (``replay``)."""

    target: str
    tasks: tuple[ReplayTask, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    #: Tasks whose two variants' pass rates differ, and how many of them favour the candidate.
    decided_tasks: int = 0
    candidate_better: int = 0
    p_value: float | None = None
    verdict: str = "too few to judge"
    #: Why the replay stopped early (``replay.max_usd``), or why it did not run at all.
    stopped: str = ""
    not_run: str = ""
    folder: str = ""


class Rejection(Record):
    """An edit of a proposal that people closed without merging."""

    text: str
    evidence: frozenset[str]
    pull: int
    #: What trusted reviewers wrote on that proposal (redacted, capped): why it was closed.
    reasons: tuple[str, ...] = ()


class Replayed(Record):
    """One replay of a pull request's task with a candidate's prompt files, for GEPA's
    ``replay`` metric: whether the tests passed (None: it could not run) and what to reflect on
    (the failing tests, or why it could not run)."""

    passed: bool | None
    feedback: str = ""
    #: The replay's money (``replay.max_usd``) is spent: the search ends here.
    exhausted: bool = False


class FrontEntry(Record):
    """One failure cluster of GEPA's Pareto front: the candidate that scores best on its
    validation failures (0 is the current prompts), that score and the current prompts'."""

    cluster: str
    label: str
    candidate: int
    score: float
    current: float
    failures: int


class SearchSummary(Record):
    """What GEPA's search did (strategy ``gepa``), for the PR body and the run's notes."""

    metric: str
    #: Candidates GEPA proposed and scored on a minibatch; those it kept (the current
    #: prompts included); iterations.
    tried: int
    kept: int
    iterations: int
    #: GEPA's metric calls (across resumed runs) and its budget; reflection calls.
    metric_calls: int
    max_metric_calls: int
    reflections: int = 0
    #: Pull requests scored on every kept candidate (GEPA's validation set).
    validation: int = 0
    front: tuple[FrontEntry, ...] = ()
    #: The candidates whose edits make the proposal (the front's winners).
    winners: tuple[int, ...] = ()
    #: Where the search resumed from ("" for a new one), and why it stopped before its budget.
    resumed: str = ""
    stopped: str = ""


class Candidate(Record):
    """A proposed prompt set for one target, with the analysis that motivated it."""

    target: str
    base_version: str
    files: tuple[PromptFile, ...]
    removed: tuple[str, ...] = ()
    analysis_summary: str
    usage: TokenUsage
    sample_ids: tuple[str, ...]
    changes: tuple[Change, ...] = ()
    dropped: tuple[str, ...] = ()
    evaluation: HeldOutResult | None = None
    eval_command: EvalCommandResult | None = None
    #: The replay gate's result (``training.gate: replay``), when it was asked for.
    replay: ReplayResult | None = None
    #: The failure clusters of the training evidence, reflected on or left out (and why).
    clusters: tuple[ClusterNote, ...] = ()
    #: Why the candidate changes nothing ("" when it changes something): "3 clusters, none
    #: with enough support".
    no_change: str = ""
    #: LM calls whose contribution was lost, each "<which call> on <sample>: <why>; lost"
    #: (an unreadable answer, a time-out, a request the endpoint refused).
    lost: tuple[str, ...] = ()
    #: The strategy that made it (``evolve``, ``rules``, ``rewrite``, ``gepa``; "" before it
    #: was recorded), and for ``gepa`` what its search did.
    strategy: str = ""
    search: SearchSummary | None = None

    @property
    def fingerprint(self) -> str:
        """Content hash of the candidate files (what a rerun compares against)."""
        return content_hash(self.files)


def content_hash(files: tuple[PromptFile, ...]) -> str:
    """A short, order-independent sha256 over file paths and contents."""
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda f: f.path):
        digest.update(item.path.encode() + b"\0" + item.content.encode() + b"\0")
    return digest.hexdigest()[:12]


def is_bot_account(login: str, account_type: object = None) -> bool:
    """Whether a GitHub account is a bot: its type is ``Bot`` (GitHub Apps, ``github-actions``)
    or its login ends in ``[bot]`` (how an App's login reads when the type is not given)."""
    return account_type == "Bot" or login.endswith("[bot]")
