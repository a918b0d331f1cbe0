"""Synthetic agent PRs in six kinds of failure, for the trainer's tests and ``bench/train.py``.

``six_clusters(n)`` makes ``n`` samples (PR 1 the oldest), one a day, all on prompt version
``v2`` unless ``earlier`` are asked for (the oldest ones then ran on ``v1``). Every PR but every
fifth shows one kind of failure, in turn: a rounding failure with a reviewer's Decimal comment, a
second HTTP client (test and review), a billing timeout, a missing migration (test and a request
for changes), an agent's mypy error in its trace, and unsorted imports a reviewer asks to fix
with ruff. ``MAIN`` is the prompt file they ran on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from prompt_trainer.models import (
    Feedback,
    PromptFile,
    PromptSet,
    PullRequestInfo,
    Sample,
    TestCase,
    TestRun,
    Trace,
    TraceStep,
)

START = datetime(2026, 9, 1, tzinfo=UTC)
REPO = "https://github.com/example/invoices/pull"
MAIN = (
    "# Working on the invoice service\n\n"
    "- Extend `ApiClient` in `invoices/api_client.py`; never create a second HTTP client.\n"
    '- Money is `Decimal` end to end: round with `quantize(Decimal("0.01"))`.\n'
    "- Write tests with pytest under `tests/`.\n"
)
CURRENT = PromptSet(
    target="coder",
    main=PromptFile(path="CLAUDE.md", content=MAIN),
    files=(PromptFile(path="CLAUDE.md", content=MAIN),),
)
#: The six kinds, in the order PRs show them.
KINDS = ("rounding", "client", "timeout", "migration", "mypy", "imports")


def failing(test: str, message: str, status: str = "failed") -> TestRun:
    classname, name = test.split("::")
    case = TestCase(classname=classname, name=name, status=status, message=message)
    return TestRun(source="junit.xml", cases=(case,), plain_passes=40)


def said(n: int, k: int, body: str, **fields: object) -> Feedback:
    data = {
        "kind": "review_comment",
        "id": f"c{n}-{k}",
        "author": "maria",
        "author_association": "MEMBER",
        "trusted": True,
        "body": body,
        "url": f"{REPO}/{n}#discussion_r{n * 10 + k}",
        **fields,
    }
    return Feedback.model_validate(data)


def _rounding(n: int) -> dict[str, object]:
    return {
        "test_runs": (
            failing(
                "tests.test_fees::test_total_rounding",
                "AssertionError: assert 10.004999 == Decimal('10.00')",
            ),
        ),
        "feedback": (
            said(n, 1, "Float again: use Decimal and quantize(Decimal('0.01'), ROUND_HALF_UP)."),
        ),
    }


def _client(n: int) -> dict[str, object]:
    return {
        "test_runs": (
            failing(
                "tests.test_billing::test_sync_uses_api_client",
                "AttributeError: module 'invoices.billing' has no attribute 'ApiClient'",
            ),
        ),
        "feedback": (said(n, 1, "A second HTTP client again; extend ApiClient instead."),),
    }


def _timeout(n: int) -> dict[str, object]:
    message = (
        "ConnectionError: HTTPSConnectionPool(host='billing.example.com', port=443): "
        "Read timed out. (read timeout=5)"
    )
    return {"test_runs": (failing("tests.test_api_client::test_timeout_is_retried", message),)}


def _migration(n: int) -> dict[str, object]:
    return {
        "test_runs": (
            failing(
                "tests.test_models::test_due_date",
                "django.db.utils.OperationalError: no such column: invoices_invoice.due_date",
                status="error",
            ),
        ),
        "feedback": (
            said(
                n,
                1,
                "You changed the model without a migration: run `python manage.py "
                "makemigrations invoices`.",
                kind="review",
                state="CHANGES_REQUESTED",
            ),
        ),
    }


def _mypy(n: int) -> dict[str, object]:
    steps = (
        TraceStep(role="assistant", tool="Bash", tool_input='{"command": "mypy invoices"}'),
        TraceStep(
            role="tool",
            tool="Bash",
            text='invoices/fees.py:12: error: Incompatible return value type (got "float", '
            'expected "Decimal")',
            is_error=True,
        ),
        TraceStep(role="assistant", text="Type errors remain; opening the PR anyway."),
    )
    trace = Trace(source=f"run-{n}.json", format="claude-code", steps=steps, steps_total=3)
    return {"traces": (trace,)}


def _imports(n: int) -> dict[str, object]:
    return {
        "feedback": (
            said(n, 1, "Imports are unsorted again: run `ruff check --fix` before pushing."),
        )
    }


PROBLEMS: dict[str, Callable[[int], dict[str, object]]] = {
    "rounding": _rounding,
    "client": _client,
    "timeout": _timeout,
    "migration": _migration,
    "mypy": _mypy,
    "imports": _imports,
}


def kind_of(n: int) -> str | None:
    """The kind PR ``n`` shows (None for every fifth PR: it went well)."""
    if n % 5 == 0:
        return None
    return KINDS[(n - n // 5) % len(KINDS)]


def six_clusters(n: int, *, earlier: int = 0) -> list[Sample]:
    """``n`` PRs, the oldest ``earlier`` of them on version ``v1``, the rest on ``v2``."""
    out = []
    for k in range(1, n + 1):
        kind = kind_of(k)
        evidence = PROBLEMS[kind](k) if kind else {}
        pull = PullRequestInfo(
            number=k,
            title=f"Agent PR {k}",
            url=f"{REPO}/{k}",
            merged=kind is None,
            body=f"Implements ticket {k}: add the feature the issue describes.",
            closed_at=START + timedelta(days=k),
        )
        version = "v1" if k <= earlier else CURRENT.version
        out.append(
            Sample.model_validate(
                {
                    "id": f"example/invoices#{k}",
                    "pull": pull,
                    "prompt_versions": {"coder": version},
                    "collected_at": START + timedelta(days=k),
                    **evidence,
                }
            )
        )
    return out
