"""What the trainer shows the model about each sample: a compact, typed evidence view.

Only failing and erroring test cases (with trimmed messages), trusted human feedback, and trace
totals with their error steps and final result are kept; every id is preserved so the model can
cite it (a test id, a review comment's URL, ``trace:<source>#<step>``), and ``evidence_ids``
lists them so edits citing anything else are dropped. ``fit_budget`` shrinks a sample to a token
budget. Untrusted comments are left out entirely: they are never feedback for the trainer.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from prompt_trainer.models import Feedback, Sample, Trace, TraceStep

#: Failing tests listed by name (all of them up to this many; the count says if there are more).
MAX_FAILURES = 500
#: Failing tests whose message is shown; the others are listed by name only.
MAX_MESSAGES = 20
MESSAGE_CHARS = 500
CONTEXT_CHARS = 200
#: Fields a review note and a trace summary keep from the feedback and the trace, as they are.
NOTE_FIELDS = frozenset({"kind", "author", "state", "path", "line"})
SUMMARY_FIELDS = frozenset({"source", "format", "turns", "tool_calls", "tool_errors"})


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class FailingTest(View):
    id: str
    status: str
    message: str
    flaky: bool = False


class ReviewNote(View):
    id: str
    kind: str
    author: str
    state: str | None = None
    path: str | None = None
    line: int | None = None
    text: str


class ErrorStep(View):
    id: str
    tool: str | None = None
    text: str
    #: The step just before (what the agent tried), for the neighbourhood of the failure.
    before: str = ""


class TraceSummary(View):
    source: str
    format: str
    turns: int | None = None
    tool_calls: int
    tool_errors: int
    error_steps: list[ErrorStep]
    final_result: str | None = None
    ended_in_error: bool


class TestCounts(View):
    __test__ = False

    total: int
    passed: int
    failed: int
    errors: int
    skipped: int


class ReportedFailure(View):
    """A failure a person reported (no test caught it): weighted like a review comment."""

    id: str
    type: str
    description: str
    context: str = ""


class EvidenceSample(View):
    """One pull request's evidence, as the model sees it."""

    id: str
    title: str
    merged: bool
    tests: TestCounts
    failing_tests: list[FailingTest]
    review_feedback: list[ReviewNote]
    traces: list[TraceSummary]
    reported_failures: list[ReportedFailure] = []


def evidence_view(sample: Sample) -> EvidenceSample:
    """Compress a sample to what the trainer needs."""
    runs = sample.test_runs
    problems = [c for run in runs for c in run.problems]
    return EvidenceSample(
        id=sample.id,
        title=sample.pull.title,
        merged=sample.pull.merged,
        tests=TestCounts(
            total=sum(r.tests for r in runs),
            passed=sum(r.count("passed") for r in runs),
            failed=sum(r.count("failed") for r in runs),
            errors=sum(r.count("error") for r in runs),
            skipped=sum(r.count("skipped") for r in runs),
        ),
        failing_tests=[
            FailingTest(
                id=c.id,
                status=c.status,
                message=(c.message or c.text)[:MESSAGE_CHARS] if n < MAX_MESSAGES else "",
                flaky=c.flaky,
            )
            for n, c in enumerate(problems[:MAX_FAILURES])
        ],
        review_feedback=[
            _review_note(f) for f in sample.feedback if f.trusted and (f.body.strip() or f.state)
        ],
        traces=[_trace_summary(t) for t in sample.traces],
        reported_failures=[
            ReportedFailure(id=f.id, type=f.type, description=f.description, context=f.context)
            for f in sample.failures
        ],
    )


def _review_note(feedback: Feedback) -> ReviewNote:
    """The comment's URL as its id (what the model cites), its body as the text."""
    same = feedback.model_dump(include=set(NOTE_FIELDS))
    return ReviewNote(id=feedback.url or feedback.id, text=feedback.body, **same)


def _trace_summary(trace: Trace) -> TraceSummary:
    steps = trace.steps
    errors = [
        ErrorStep(
            id=f"trace:{trace.source}#{n}",
            tool=step.tool,
            text=step.text[:MESSAGE_CHARS],
            before=_step_line(steps[n - 1]) if n else "",
        )
        for n, step in enumerate(steps)
        if step.is_error
    ]
    return TraceSummary(
        **trace.model_dump(include=set(SUMMARY_FIELDS)),
        error_steps=errors,
        final_result=trace.result[:MESSAGE_CHARS] if trace.result else None,
        ended_in_error=trace.is_error,
    )


def _step_line(step: TraceStep) -> str:
    what = f"{step.role}/{step.tool}" if step.tool else step.role
    detail = step.tool_input or step.text
    return f"{what}: {detail}"[:CONTEXT_CHARS]


def evidence_ids(views: list[EvidenceSample]) -> set[str]:
    """Every id an edit may cite: failing tests, review comments, trace error steps."""
    ids: set[str] = set()
    for view in views:
        ids.update(t.id for t in view.failing_tests)
        ids.update(r.id for r in view.review_feedback)
        ids.update(step.id for trace in view.traces for step in trace.error_steps)
        ids.update(f.id for f in view.reported_failures)
    return ids


def estimate_tokens(view: BaseModel) -> int:
    """About four characters per token, over the JSON the model will read."""
    return len(view.model_dump_json()) // 4


def fit_budget(view: EvidenceSample, max_tokens: int) -> EvidenceSample:
    """Shrink one sample's evidence until it fits ``max_tokens``, dropping the least telling
    text first: the text of trace error steps after the first three, then long test messages,
    then the final result and the remaining error text, then the messages of failing tests
    after the first ten. Every failing test's name, every error step's id and tool, and every
    trusted review comment (whole: the scarcest evidence) survive every step, so nothing that
    signals a failure is lost and everything cited can still be found."""

    def steps(keep: int, chars: int) -> list[TraceSummary]:
        return [
            t.model_copy(
                update={
                    "error_steps": [
                        e.model_copy(
                            update={
                                "text": e.text[:chars] if n < keep else "",
                                "before": e.before[:chars] if n < keep else "",
                            }
                        )
                        for n, e in enumerate(t.error_steps)
                    ],
                    "final_result": (t.final_result or "")[: chars * 2] or None,
                }
            )
            for t in view.traces
        ]

    def messages(keep: int, chars: int) -> list[FailingTest]:
        return [
            t.model_copy(update={"message": t.message[:chars] if n < keep else ""})
            for n, t in enumerate(view.failing_tests)
        ]

    for update in (
        lambda: {"traces": steps(3, MESSAGE_CHARS)},
        lambda: {"failing_tests": messages(MAX_MESSAGES, 200)},
        lambda: {"traces": steps(3, 120)},
        lambda: {"failing_tests": messages(10, 120)},
        lambda: {"traces": steps(0, 0)},
    ):
        if estimate_tokens(view) <= max_tokens:
            break
        view = view.model_copy(update=update())
    return view
