"""Classify evidence files and parse each with the right collector.

Shared by the GitHub collector (files extracted from artifacts) and the local collector (files in
a directory): JUnit reports are ``*.xml``; a reviews file is JSON named ``reviews*.json``; every
other text file is offered to the trace registry. Results are records or ``Skipped`` values.
``clean_pull`` redacts and caps what a pull request's own text brings (body, linked issue, file
patches of the change and of the human rework), whichever collector read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from prompt_trainer.collect.junit import parse_report
from prompt_trainer.collect.junit_runs import cap_sample_cases
from prompt_trainer.collect.per_file import internal_error
from prompt_trainer.collect.reviews import is_own, suggestions
from prompt_trainer.collect.traces import parse_trace
from prompt_trainer.config_errors import explain, key_path
from prompt_trainer.models import (
    CommitInfo,
    Feedback,
    FileChange,
    PullRequestInfo,
    Sample,
    Skipped,
    TestRun,
    Trace,
    is_bot_account,
)
from prompt_trainer.redact import clean_name, excerpt
from prompt_trainer.settings import Limits

TRACE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".traj", ".txt", ".md", ".log")
#: GitHub caps titles at 256 characters; a local ``pr.json`` may say anything.
TITLE_CHARS = 300
#: Characters of one file's patch kept (a 5 MB diff is cut here, before it is stored).
PATCH_CHARS = 4_000
#: Raw characters looked at before redaction, so a secret is never cut in half first.
RAW_MARGIN = 512


@dataclass
class Evidence:
    """Everything parsed from a set of files."""

    test_runs: list[TestRun] = field(default_factory=list)
    traces: list[Trace] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def add(self, item: TestRun | Trace | Skipped) -> None:
        if isinstance(item, TestRun):
            self.test_runs.append(item)
        elif isinstance(item, Trace):
            self.traces.append(item)
        else:
            self.skipped.append(item)

    def to_sample(
        self, sample_id: str, *, pull: PullRequestInfo, versions: dict[str, str]
    ) -> Sample:
        """Freeze what was gathered into one ``Sample`` (test case records capped per sample)."""
        return Sample(
            id=sample_id,
            pull=pull,
            prompt_versions=versions,
            test_runs=cap_sample_cases(self.test_runs),
            traces=tuple(self.traces),
            feedback=tuple(self.feedback),
            skipped=tuple(self.skipped),
            collected_at=datetime.now(UTC),
        )


def parse_junit_file(path: Path, *, source: str, limits: Limits) -> TestRun | Skipped:
    return parse_report(
        path, source=source, max_bytes=limits.max_report_bytes, max_text=limits.max_text_chars
    )


def parse_trace_file(path: Path, *, source: str, limits: Limits) -> Trace | Skipped:
    """A trace of any size: streamed up to ``limits.max_trace_bytes``, read in part beyond."""
    return parse_trace(
        path, source=source, max_bytes=limits.max_trace_bytes, max_text=limits.max_text_chars
    )


def parse_evidence_file(path: Path, *, source: str, limits: Limits) -> TestRun | Trace | Skipped:
    """A file of unknown kind: ``*.xml`` as JUnit, other text suffixes as a trace."""
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return parse_junit_file(path, source=source, limits=limits)
    if suffix in TRACE_SUFFIXES:
        return parse_trace_file(path, source=source, limits=limits)
    return Skipped(source=source, reason="unknown file type")


def is_reviews_file(path: Path) -> bool:
    return path.suffix == ".json" and path.name.startswith("reviews")


def load_reviews(
    path: Path, *, trusted: tuple[str, ...], limits: Limits
) -> list[Feedback] | Skipped:
    """A JSON list of comments: GitHub's REST shape (``user.login``, ``author_association``,
    ``html_url``...) or a simple one (``author``, ``body``, ``path``, ``line``, ``state``).
    A file that is not that, whatever is wrong with it, is ``Skipped`` with the reason."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        return Skipped(source=str(path), reason=f"reviews file is not valid JSON: {exc}")
    if not isinstance(data, list):
        return Skipped(source=str(path), reason="reviews file must hold a JSON list of comments")
    items = [i for i in data if isinstance(i, dict) and isinstance(i.get("body"), str)]
    comments: list[Feedback] = []
    for n, item in enumerate(items):
        try:
            comments.append(_feedback(item, n, trusted=trusted, limits=limits))
        except ValidationError as exc:
            problems = "; ".join(f"{key_path(e['loc'])}: {explain(e)}" for e in exc.errors())
            return Skipped(source=str(path), reason=f"reviews file, comment {n + 1}: {problems}")
        except Exception as exc:  # the per-file boundary (collect/per_file.py)
            return internal_error(str(path), exc, what="reviews file")
    return comments


def _feedback(
    item: dict[str, Any], index: int, *, trusted: tuple[str, ...], limits: Limits
) -> Feedback:
    raw_user = item.get("user")
    user: dict[str, Any] = raw_user if isinstance(raw_user, dict) else {}
    author = str(user.get("login") or item.get("author") or "unknown")
    association = str(item.get("author_association") or "NONE")
    is_bot = is_bot_account(author, user.get("type"))
    kind = "review_comment" if item.get("path") else ("review" if item.get("state") else "comment")
    line = item.get("line") or item.get("original_line")
    body = str(item["body"])
    reply = item.get("in_reply_to_id") or item.get("in_reply_to")
    trusted_here = association in trusted and not is_bot
    found = suggestions(body) if trusted_here else ()  # nobody else's are read
    return Feedback(
        kind=kind,
        id=f"{kind.replace('_', '-')}-{item.get('id', index)}",
        author=author,
        author_association=association,
        is_bot=is_bot,
        trusted=trusted_here,
        state=item.get("state"),
        body=excerpt(body, limits.max_text_chars),
        in_reply_to=f"review-comment-{reply}" if reply else None,
        diff_hunk=excerpt(str(item["diff_hunk"]), limits.max_text_chars)
        if item.get("diff_hunk")
        else None,
        suggestions=tuple(excerpt(s, limits.max_text_chars) for s in found),
        is_own=is_own(body),
        resolved=item["resolved"] if isinstance(item.get("resolved"), bool) else None,
        path=item.get("path"),
        line=line if isinstance(line, int) else None,
        url=item.get("html_url") or item.get("url"),
        created_at=item.get("created_at"),
    )


def clip(text: str, limit: int) -> str:
    """Redact and cap ``text``, looking at no more than ``limit`` plus a margin of it."""
    if len(text) <= limit + RAW_MARGIN:
        return excerpt(text, limit)
    return excerpt(text[: limit + RAW_MARGIN], limit) + f" [{len(text):,} chars in all]"


def clean_pull(pull: PullRequestInfo, *, limit: int) -> PullRequestInfo:
    """The PR with its title, body, linked issue and patches redacted and capped before it is
    stored or sent (all written by the PR's author or whoever opened the issue)."""
    issue = pull.issue
    if issue is not None:
        issue = issue.model_copy(
            update={"title": clean_name(issue.title, TITLE_CHARS), "body": clip(issue.body, limit)}
        )
    return pull.model_copy(
        update={
            "title": clean_name(pull.title, TITLE_CHARS),
            "body": clip(pull.body, limit),
            "issue": issue,
            "files": tuple(_clean_file(f) for f in pull.files),
            "commits": tuple(_clean_commit(c) for c in pull.commits),
        }
    )


def _clean_commit(commit: CommitInfo) -> CommitInfo:
    return commit.model_copy(update={"files": tuple(_clean_file(f) for f in commit.files)})


def _clean_file(change: FileChange) -> FileChange:
    """A binary or over-size file keeps its counts and a note instead of its patch."""
    patch = change.patch
    if patch is None or len(patch) <= PATCH_CHARS:
        return change.model_copy(update={"patch": clip(patch, PATCH_CHARS) if patch else patch})
    note = f"patch of {len(patch):,} characters cut to {PATCH_CHARS:,}"
    return change.model_copy(update={"patch": clip(patch, PATCH_CHARS), "note": note})
