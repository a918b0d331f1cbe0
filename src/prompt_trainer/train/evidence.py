"""What the trainer shows the model about each sample: a view of causes, not counters.

``evidence_view`` turns a ``Sample`` into an ``EvidenceSample`` holding, most telling first: the
run's terminal error, the human's fix (patches of the commits people pushed after the agent's
last commit), trusted reviewers' words with their path, line, hunk, ```suggestion blocks and
thread state, failures people reported, failing tests grouped by their normalised message, the
agent's trace (error steps with the step before, loops, the final result or last message, the
first and last requests a person made in it, the edits it made, its last tool calls), the task
(PR title, body, the issue it closes) and the files changed. Untrusted comments are left out
entirely: they are never feedback for the trainer.

Every item carries a short evidence id (``ref``, e.g. ``E3``, numbered in that order, so the
same sample always gives the same refs) beside its full id (a test id, a review comment's URL,
``trace:<source>#<step>``, ``commit:<sha>:<path>``); ``evidence_ids`` lists the full ids an edit
may cite and ``resolve_refs`` maps refs back to them. ``fit_budget`` (``train.budget``) holds a
view to a hard token cap, cutting the lowest-ranked items first and saying what it cut. Missing
input (no body, no hunk, no patch, no final message) gives a smaller view with a note.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from pydantic import BaseModel

from prompt_trainer.measure.facts import message_key
from prompt_trainer.measure.trace_marks import cap as _cap
from prompt_trainer.models import CommitInfo, Feedback, Sample, TestCase
from prompt_trainer.train.trace_events import MESSAGE_CHARS, events, summary, terminal
from prompt_trainer.train.views import (
    ChangedFile,
    Event,
    EvidenceSample,
    FailureGroup,
    FixPatch,
    ReportedFailure,
    ReviewNote,
    Task,
    TestCounts,
    TraceSummary,
    View,
)

__all__ = [
    "ChangedFile",
    "Event",
    "EvidenceSample",
    "FailureGroup",
    "FixPatch",
    "ReportedFailure",
    "ReviewNote",
    "Task",
    "TestCounts",
    "TraceSummary",
    "View",
    "estimate_tokens",
    "evidence_ids",
    "evidence_paths",
    "evidence_view",
    "group_failures",
    "resolve_refs",
]

REVIEW_CHARS = 1500
HUNK_CHARS = 600
BODY_CHARS = 1500
ISSUE_CHARS = 800
PATCH_CHARS = 1500
#: Files of the human fix shown, and files of the change listed.
MAX_FIX_FILES = 8
MAX_CHANGED_FILES = 50
#: Example test names shown per failure group.
GROUP_EXAMPLES = 3
#: A reply by the PR's author that starts with one of these accepts the comment (else: disputed).
ACCEPTING = re.compile(
    r"^\s*(done|fixed|thanks|thank you|good catch|agreed|will do|updated|addressed|ok\b|yes\b)",
    re.I,
)


def evidence_view(sample: Sample) -> EvidenceSample:
    """Everything telling about ``sample``, each item capped, with refs E1, E2... in order."""
    notes: list[str] = []
    view = EvidenceSample(
        id=sample.id,
        title=sample.pull.title,
        merged=sample.pull.merged,
        terminal_errors=[e for t in sample.traces for e in terminal(t)],
        human_fix=_human_fix(sample.pull.human_fix, notes),
        review_feedback=_reviews(sample, notes),
        reported_failures=[
            ReportedFailure(id=f.id, type=f.type, description=f.description, context=f.context)
            for f in sample.failures
        ],
        failure_groups=group_failures(c for run in sample.test_runs for c in run.problems),
        trace_events=[e for t in sample.traces for e in events(t, notes)],
        task=_task(sample, notes),
        changed_files=_changed(sample, notes),
        tests=_counts(sample),
        traces=[summary(t) for t in sample.traces],
        notes=notes,
    )
    return numbered(view)


def numbered(view: EvidenceSample) -> EvidenceSample:
    """The view with refs E1, E2... given in section order (the same sample, the same refs)."""
    count = 0

    def refs(items: list[BaseModel]) -> list[BaseModel]:
        nonlocal count
        out = []
        for item in items:
            count += 1
            out.append(item.model_copy(update={"ref": f"E{count}"}))
        return out

    update: dict[str, object] = {}
    for name in SECTIONS:
        if name == "task":
            update[name] = refs([view.task])[0] if view.task else None
        else:
            update[name] = refs(getattr(view, name))
    return view.model_copy(update=update)


#: The sections that hold cited items, in the order refs are given.
SECTIONS = (
    "terminal_errors",
    "human_fix",
    "review_feedback",
    "reported_failures",
    "failure_groups",
    "trace_events",
    "task",
    "changed_files",
)


def _counts(sample: Sample) -> TestCounts:
    runs = sample.test_runs
    return TestCounts(
        total=sum(r.tests for r in runs),
        passed=sum(r.count("passed") for r in runs),
        failed=sum(r.count("failed") for r in runs),
        errors=sum(r.count("error") for r in runs),
        skipped=sum(r.count("skipped") for r in runs),
        cancelled=sum(r.count("cancelled") for r in runs) or None,
        suite_errors=sum(r.suite_errors for r in runs) or None,
    )


def _tail(text: str, chars: int) -> str:
    """The end of ``text`` (a hunk ends with the commented line)."""
    return text if len(text) <= chars else "…" + text[-(chars - 1) :]


# -- the human's fix --------------------------------------------------------------------------


def _human_fix(commits: tuple[CommitInfo, ...], notes: list[str]) -> list[FixPatch]:
    patches = [
        FixPatch(
            id=f"commit:{c.sha[:12]}:{f.path}",
            author=c.author,
            path=f.path,
            diff=_cap(f.patch or "", PATCH_CHARS),
            note=f.note or (None if f.patch else "no patch (binary or not read)"),
        )
        for c in reversed(commits)  # the latest fix first
        for f in c.files
    ]
    if len(patches) > MAX_FIX_FILES:
        notes.append(f"human fix: {len(patches) - MAX_FIX_FILES} more file(s) not shown")
    unread = [c.sha[:12] for c in commits if not c.files]
    if unread:
        notes.append(f"human fix: no patch read for commit(s) {', '.join(unread)}")
    return patches[:MAX_FIX_FILES]


# -- reviewers' words ---------------------------------------------------------------------------


def _reviews(sample: Sample, notes: list[str]) -> list[ReviewNote]:
    shown = [f for f in sample.feedback if f.trusted and (f.body.strip() or f.state)]
    replies = [f for f in sample.feedback if f.in_reply_to and f.author == sample.pull.author]
    out = [_review(f, replies) for f in shown]
    missing = [n.id for n in out if n.kind == "review_comment" and not n.hunk]
    if missing:
        notes.append(f"{len(missing)} review comment(s) without a diff hunk")
    return sorted(out, key=lambda n: 0 if _pointed(n) else 1)


def _pointed(note: ReviewNote) -> bool:
    """A suggestion or a request for changes: what reviewers most clearly want."""
    return bool(note.suggestions) or note.state == "CHANGES_REQUESTED"


def _review(item: Feedback, replies: list[Feedback]) -> ReviewNote:
    answers = [r for r in replies if r.in_reply_to == item.id]
    disputed = any(not ACCEPTING.match(r.body) for r in answers) and item.resolved is not True
    return ReviewNote(
        id=item.url or item.id,
        kind=item.kind,
        author=item.author,
        state=item.state,
        path=item.path,
        line=item.line,
        hunk=_tail(item.diff_hunk, HUNK_CHARS) if item.diff_hunk else None,
        suggestions=[_cap(s, HUNK_CHARS) for s in item.suggestions],
        resolved=item.resolved,
        disputed=disputed,
        text=_cap(item.body, REVIEW_CHARS),
    )


# -- failing tests, grouped ---------------------------------------------------------------------


def group_failures(cases: Iterable[TestCase]) -> list[FailureGroup]:
    """Failed and erroring tests grouped by status and normalised message, largest first; an
    error of a whole file or suite has the status ``suite error``."""
    groups: dict[tuple[str, str], list[TestCase]] = {}
    for case in cases:
        key = (_status(case), message_key(case.message or case.text))
        groups.setdefault(key, []).append(case)
    ordered = sorted(groups.values(), key=lambda g: -len(g))
    return [
        FailureGroup(
            id=group[0].id,
            status=_status(group[0]),
            count=len(group),
            tests=[c.id for c in group[:GROUP_EXAMPLES]],
            message=_cap(group[0].message or group[0].text, MESSAGE_CHARS),
            flaky=sum(1 for c in group if c.flaky),
        )
        for group in ordered
    ]


def _status(case: TestCase) -> str:
    return "suite error" if case.suite_error else case.status


# -- the task and the change ----------------------------------------------------------------------


def _task(sample: Sample, notes: list[str]) -> Task:
    pull = sample.pull
    if not pull.body.strip():
        notes.append("the PR has no description")
    issue = pull.issue
    return Task(
        id=f"{sample.id}:task",
        title=pull.title,
        body=_cap(pull.body, BODY_CHARS),
        issue=f"#{issue.number} {issue.title}\n{_cap(issue.body, ISSUE_CHARS)}" if issue else None,
    )


def _changed(sample: Sample, notes: list[str]) -> list[ChangedFile]:
    files = sample.pull.files
    if len(files) > MAX_CHANGED_FILES:
        notes.append(f"{len(files) - MAX_CHANGED_FILES} more changed file(s) not listed")
    return [
        ChangedFile(
            id=f"file:{f.path}", status=f.status, additions=f.additions, deletions=f.deletions
        )
        for f in files[:MAX_CHANGED_FILES]
    ]


# -- ids ------------------------------------------------------------------------------------------


def cited_items(view: EvidenceSample) -> list[BaseModel]:
    """Every item of the view that has an id and a ref."""
    items: list[BaseModel] = []
    for name in SECTIONS:
        value = getattr(view, name)
        items.extend([value] if isinstance(value, BaseModel) else (value or []))
    return items


def evidence_ids(views: list[EvidenceSample]) -> set[str]:
    """Every full id an edit may cite (and each test named in a failure group)."""
    ids: set[str] = set()
    for view in views:
        for item in cited_items(view):
            ids.add(str(getattr(item, "id", "")))
            ids.update(getattr(item, "tests", []) if isinstance(item, FailureGroup) else [])
    return ids - {""}


def evidence_paths(views: list[EvidenceSample]) -> dict[str, tuple[str, ...]]:
    """{full id: the repository paths the item is about}: a review comment's file, a fix's
    file, a changed file, the files of failing tests (a JUnit ``file`` is not kept in the view,
    so a test's file is read from its id: ``src/a.test.ts::name``, ``tests.test_a::name``).
    What an edit to a path-scoped prompt file must be about (``edits.out_of_scope``)."""
    paths: dict[str, set[str]] = {}
    for view in views:
        for item in cited_items(view):
            found = _item_paths(item)
            if found:
                paths.setdefault(str(getattr(item, "id", "")), set()).update(found)
            for test in item.tests if isinstance(item, FailureGroup) else []:
                paths.setdefault(test, set()).update(paths_of_test(test))
    return {k: tuple(sorted(v)) for k, v in paths.items() if k}


def _item_paths(item: BaseModel) -> set[str]:
    if isinstance(item, FixPatch | ReviewNote):
        return {item.path} if item.path else set()
    if isinstance(item, ChangedFile):
        return {item.id.removeprefix("file:")}
    if isinstance(item, FailureGroup):
        return {p for test in (item.id, *item.tests) for p in paths_of_test(test)}
    return set()


#: A test's class name that is a file path (Vitest, Jest, Playwright, bun write the file).
SOURCE_FILE = re.compile(r"\.(?:[cm]?[jt]sx?|py|rb|go|rs|java|kt|cs|php|vue|svelte)$")


def paths_of_test(test_id: str) -> set[str]:
    """The files a test id may name: its class name when that is a path, or a dotted Python
    module as its file (``tests.test_a`` -> ``tests/test_a.py``; with a class,
    ``tests.test_a.TestA`` -> also ``tests/test_a.py``)."""
    classname = test_id.split("::", 1)[0].strip() if "::" in test_id else ""
    if not classname:
        return set()
    if "/" in classname or SOURCE_FILE.search(classname):
        return {classname.split(" ", 1)[0]}
    if re.fullmatch(r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+", classname):
        parts = classname.split(".")
        return {"/".join(parts[:n]) + ".py" for n in range(2, len(parts) + 1)}
    return set()


def resolve_refs(views: list[EvidenceSample], cited: Iterable[str]) -> list[str]:
    """``cited`` with each short ref (``E3``, or ``<sample id>/E3``) replaced by its full id; a
    bare ref is resolved only when a single view is given (refs repeat across samples)."""
    table: dict[str, str] = {}
    for view in views:
        for item in cited_items(view):
            ref, full = str(getattr(item, "ref", "")), str(getattr(item, "id", ""))
            table[f"{view.id}/{ref}"] = full
            if len(views) == 1:
                table[ref] = full
    return [table.get(c.strip(), c) for c in cited]


def estimate_tokens(view: BaseModel) -> int:
    """About four characters per token, over the JSON as DSPy sends it (``json.dumps``)."""
    return len(json.dumps(view.model_dump(mode="json"))) // 4
