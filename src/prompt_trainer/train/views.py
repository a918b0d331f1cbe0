"""The records the model reads: an evidence view (``train.evidence`` fills it, ``train.budget``
cuts it), and around the failure clusters (``train.plan``) the cluster, the reflection on it,
the quoted evidence the curation and the check read (``train.support``) and the hook for what
realized outcomes say of each bullet.

Each section's item has a short ``ref`` (``E3``) beside its full ``id``; empty fields are left
out of the JSON the model reads.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer


class View(BaseModel):
    """A part of the view; empty fields (None, "", []) are left out of its JSON: the model
    reads what is there, not a form of blanks."""

    model_config = ConfigDict(frozen=True)

    @model_serializer(mode="wrap")
    def _without_blanks(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        data = handler(self)
        return {k: v for k, v in data.items() if v is not None and v not in ("", [])}


class Cited(View):
    """An item the model can cite: its short ``ref`` (``E3``, given by ``evidence.numbered``) and
    its full ``id``; the fields of each kind follow these two in its JSON."""

    ref: str = ""
    id: str


class Event(Cited):
    """One thing the agent's trace shows: an error step, a loop, an edit, its last words."""

    kind: str  # terminal_error, error, loop, result, last_message, prompt, edit, call
    tool: str | None = None
    text: str
    #: The step just before (what the agent tried), for an error.
    before: str = ""
    times: int | None = None


class FixPatch(Cited):
    """One file of a human's rework commit, as a short unified diff."""

    author: str
    path: str
    diff: str = ""
    note: str | None = None


class ReviewNote(Cited):
    kind: str
    author: str
    state: str | None = None
    path: str | None = None
    line: int | None = None
    #: The diff lines the comment is on (its end is the commented line).
    hunk: str | None = None
    suggestions: list[str] = []
    resolved: bool | None = None
    #: The PR's author answered without accepting: weaker evidence while unresolved.
    disputed: bool = False
    text: str


class ReportedFailure(Cited):
    """A failure a person reported (no test caught it): weighted like a review comment."""

    type: str
    description: str
    context: str = ""


class FailureGroup(Cited):
    """Failing tests with the same normalised message: one line for 300 tests of one cause.
    ``status``: ``failed``, ``error``, or ``suite error`` (a test file that failed to import,
    a suite hook that threw: not a test, ``TestCase.suite_error``)."""

    status: str
    count: int
    tests: list[str]
    message: str
    flaky: int = 0


class Task(Cited):
    title: str
    body: str = ""
    issue: str | None = None


class ChangedFile(Cited):
    status: str
    additions: int
    deletions: int


class TraceSummary(View):
    source: str
    format: str
    turns: int | None = None
    steps: int
    tool_calls: int
    tool_errors: int
    ended_in_error: bool


class TestCounts(View):
    __test__ = False

    total: int
    passed: int
    failed: int
    errors: int
    skipped: int
    #: Tests the runner cancelled (not failures; shown only when there are some).
    cancelled: int | None = None
    #: Errors of whole test files or suites, counted apart from tests (shown when some).
    suite_errors: int | None = None


class EvidenceSample(View):
    """One pull request's evidence, as the model sees it (most telling sections first)."""

    id: str
    title: str
    merged: bool
    #: A sample of an earlier prompt version: the version it ran on (the curation and the
    #: reflection read it as evidence for a failure that still occurs under the current one).
    earlier_version: str | None = None
    #: The refs of the items that show the failure a reflection is about.
    focus: list[str] = []
    terminal_errors: list[Event] = []
    human_fix: list[FixPatch] = []
    review_feedback: list[ReviewNote] = []
    reported_failures: list[ReportedFailure] = []
    failure_groups: list[FailureGroup] = []
    trace_events: list[Event] = []
    task: Task | None = None
    changed_files: list[ChangedFile] = []
    tests: TestCounts
    traces: list[TraceSummary] = []
    #: What the input lacked (no body, no hunk, no final message...).
    notes: list[str] = []
    #: What the token budget cut, by section.
    cut: list[str] = []


# -- around the failure clusters -----------------------------------------------------------------


class ClusterView(View):
    """One failure cluster, as a reflection reads it."""

    id: str
    kind: str
    label: str
    #: ``5 PRs, 2 trusted requests (maria)``.
    support: str
    #: Under which prompt versions it occurred: ``current: 1 PR; earlier: 4 PRs``.
    versions: str
    #: ``the 3 newest of 5 samples``.
    shown: str


#: What an implicated bullet did, as a reflection says it.
VERDICTS = ("helped", "hurt", "ignored", "missing")


class BulletVerdict(View):
    """One implicated bullet: ``CLAUDE.md B2`` (or ``missing``) and what it did."""

    bullet: str
    #: helped, hurt, ignored (it says the right thing and was not followed) or missing.
    verdict: str
    note: str = ""


class Reflection(View):
    """What a reflection on one cluster said, its cited ids resolved to full ids."""

    cluster: str
    root_cause: str
    correct_approach: str
    bullets: list[BulletVerdict] = []
    evidence: list[str] = []


class Excerpt(View):
    """A cited item, quoted (capped) for the curation and the check: data, not instructions."""

    id: str
    sample: str
    #: Said for a sample of an earlier prompt version.
    earlier_version: str | None = None
    #: ``failing test``, ``review by maria on invoices/fees.py:22``, ``agent error (Bash)``...
    what: str
    text: str


class ClusterEvidence(View):
    """One reflected cluster as the curation reads it: its support, what the reflections said
    and the evidence itself."""

    id: str
    label: str
    support: str
    #: An edit for it may be proposed: 2 or more PRs, or a trusted reviewer's explicit request.
    supported: bool
    versions: str
    reflections: list[Reflection]
    evidence: list[Excerpt]


class BulletOutcome(View):
    """What realized outcomes say of one bullet of the current files (``CLAUDE.md B2``): how
    often the clusters it targets fell (helpful) or did not (harmful) after it was merged.
    Filled by the caller (``TrainRequest.bullet_outcomes``); reflections and the curation read
    it beside the bullet history."""

    bullet: str
    helpful: int = 0
    harmful: int = 0
    note: str = ""
    #: Its clusters did not fall (or still occur) and ``note`` lists the evidence since it: an
    #: edit may sharpen (modify) or retire (remove) it, citing that evidence.
    sharpen_or_retire: bool = False
