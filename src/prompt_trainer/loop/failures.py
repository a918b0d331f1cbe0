"""Failures no test catches, reported by people: parse, attach to a PR's stored sample, keep.

Two ways in, one record (``models.FailureReport``) and one code path:

- ``prompt-trainer report-failure --pr N --type T --description ...`` (the CLI);
- a comment on an agent PR: ``/prompt-trainer report planning_error: created a new client
  instead of extending ApiClient`` (``respond.py``), with any further lines as the context.

A report is stored on the PR's sample in the ledger, so it is attributed to the prompt version
the agent ran on, survives collecting the PR again (``store._keep_failures``) and travels with
the data branch. A report made from a comment carries the comment's id in its own id, so
handling the same event twice records it once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import get_args

from prompt_trainer.errors import ConfigError
from prompt_trainer.models import FailureReport, FailureType, Sample
from prompt_trainer.redact import excerpt
from prompt_trainer.store import SampleStore, find_sample

FAILURE_TYPES: tuple[str, ...] = get_args(FailureType)
USAGE = (
    "Usage: `/prompt-trainer report <type>: <what went wrong>` (more lines: the context). "
    "Types: " + ", ".join(f"`{t}`" for t in FAILURE_TYPES) + "."
)


@dataclass(frozen=True)
class ParsedReport:
    """A ``report`` command's argument, split into its parts."""

    type: str
    description: str
    context: str


def failure_type(text: str) -> str | None:
    """The failure type named by ``text``: exact (``planning_error``), without the ``_error``
    suffix (``planning``), any case, with dashes or spaces for underscores."""
    name = "_".join(text.strip().lower().replace("-", " ").split())
    if name in FAILURE_TYPES:
        return name
    return f"{name}_error" if f"{name}_error" in FAILURE_TYPES else None


def parse_report(argument: str, rest: str = "") -> ParsedReport | str:
    """``<type>: <description>`` (the first line after ``report``) plus the lines after it as
    context; the usage text when it does not parse."""
    kind, colon, description = argument.partition(":")
    if not colon:
        kind, _, description = argument.strip().partition(" ")
    parsed = failure_type(kind)
    if parsed is None:
        shown = re.sub(r"[^\w -]", "", kind).strip()[:40]  # a name needs no other character
        return f"Unknown failure type `{shown}`. {USAGE}"
    if not description.strip():
        return f"The report needs a description. {USAGE}"
    return ParsedReport(type=parsed, description=description.strip(), context=rest.strip())


def record(
    store: SampleStore,
    sample: Sample,
    report: ParsedReport,
    *,
    author: str,
    max_chars: int,
    key: str | None = None,
) -> tuple[FailureReport, bool]:
    """Attach the report to the stored sample. ``key`` (a comment id) makes it idempotent:
    returns the report and whether it is new."""
    report_id = (
        f"failure:{sample.id}#c{key}" if key else f"failure:{sample.id}#{len(sample.failures) + 1}"
    )
    existing = next((f for f in sample.failures if f.id == report_id), None)
    if existing is not None:
        return existing, False
    failure = FailureReport(
        id=report_id,
        type=report.type,  # checked by failure_type()
        description=excerpt(report.description, max_chars),
        context=excerpt(report.context, max_chars),
        author=author,
        created_at=datetime.now(UTC),
    )
    store.upsert([sample.model_copy(update={"failures": (*sample.failures, failure)})])
    return failure, True


def stored_sample(store: SampleStore, number: int) -> Sample:
    """The stored sample of PR ``number``, or an error that says to collect it."""
    sample = find_sample(store.load(), number)
    if sample is None:
        raise ConfigError(
            f"no stored sample for PR #{number}",
            fix=f"collect it first: prompt-trainer collect --pr {number}",
        )
    return sample
