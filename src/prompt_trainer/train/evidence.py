"""What the trainer shows the model about each sample: a compact, typed evidence view.

Only failing and erroring test cases (with trimmed messages), trusted human feedback, and trace
totals with their error steps and final result are kept; every id is preserved so the model can
cite it. Untrusted comments are left out entirely: they are never feedback for the trainer.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from prompt_trainer.models import Sample, Trace

MAX_FAILURES = 20
MAX_TRACE_ERRORS = 10
MESSAGE_CHARS = 500


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


class TraceSummary(View):
    source: str
    format: str
    turns: int | None = None
    tool_calls: int
    tool_errors: int
    error_steps: list[str]
    final_result: str | None = None
    ended_in_error: bool


class TestCounts(View):
    __test__ = False

    total: int
    passed: int
    failed: int
    errors: int
    skipped: int


class EvidenceSample(View):
    """One pull request's evidence, as the model sees it."""

    id: str
    title: str
    merged: bool
    tests: TestCounts
    failing_tests: list[FailingTest]
    review_feedback: list[ReviewNote]
    traces: list[TraceSummary]


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
                message=(c.message or c.text)[:MESSAGE_CHARS],
                flaky=c.flaky,
            )
            for c in problems[:MAX_FAILURES]
        ],
        review_feedback=[
            ReviewNote(
                id=f.id,
                kind=f.kind,
                author=f.author,
                state=f.state,
                path=f.path,
                line=f.line,
                text=f.body,
            )
            for f in sample.feedback
            if f.trusted and (f.body.strip() or f.state)
        ],
        traces=[_trace_summary(t) for t in sample.traces],
    )


def _trace_summary(trace: Trace) -> TraceSummary:
    errors = [s.text[:MESSAGE_CHARS] for s in trace.steps if s.is_error][:MAX_TRACE_ERRORS]
    return TraceSummary(
        source=trace.source,
        format=trace.format,
        turns=trace.turns,
        tool_calls=trace.tool_calls,
        tool_errors=trace.tool_errors,
        error_steps=errors,
        final_result=trace.result[:MESSAGE_CHARS] if trace.result else None,
        ended_in_error=trace.is_error,
    )
