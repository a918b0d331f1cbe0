"""``init``'s diff of the agent's and CI's workflows: each job that runs the agent or the tests
uploads that evidence as an artifact.

Takes the workflow files that run an agent action or tests and the repository root; returns a
unified diff (``upload_diff``), printed, never applied: these workflows are the user's. The
test command gains its JUnit flag (``RUNNERS``; for JavaScript, the runner behind ``npm test``
and friends, ``setup.javascript``, which may also edit ``package.json`` or the runner's config,
in the same diff), the claude-code-action step an ``id: claude``, and each job an upload step
whose name is unique per job and matrix entry (``upload-artifact`` v4 rejects duplicates).
Lines are edited in place, so the rest of each file stays as written; jobs that upload the
evidence already are left alone.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from prompt_trainer.setup import javascript

UPLOAD = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2"

GOTESTSUM = "go run gotest.tools/gotestsum@v1.12.0 --junitfile test-results/junit.xml --"
NEXTEST = "cargo install --locked cargo-nextest && cargo nextest run --profile ci"


@dataclass(frozen=True)
class Runner:
    """How one test tool is made to write JUnit XML: a rewrite of its command (a pattern and
    its replacement, None when the tool writes XML by default) and where the XML lands."""

    pattern: re.Pattern[str]
    replacement: str | None
    path: str
    note: str = ""
    #: ``NAME=value`` set for the tool's command only (before it on the line).
    env: str = ""


#: In order of preference; the first whose pattern matches a job's ``run:`` text is used.
RUNNERS = (
    Runner(
        re.compile(r"\bpytest\b(?![-.\w])"),
        "pytest --junitxml=test-results/junit.xml",
        "test-results/",
    ),
    Runner(
        re.compile(r"\bvitest( run)?\b(?![-.\w])"),
        "vitest run --reporter=default --reporter=junit --outputFile.junit=test-results/junit.xml",
        "test-results/",
    ),
    Runner(
        re.compile(r"\bjest\b(?![-.\w])"),
        "jest --reporters=default --reporters=jest-junit",
        "junit.xml",
        "jest-junit writes ./junit.xml; add it: npm install --save-dev jest-junit",
        javascript.JEST_SUITE_ERRORS,
    ),
    Runner(re.compile(r"\bgo test\b"), GOTESTSUM, "test-results/"),
    Runner(
        re.compile(r"\bcargo (test|nextest run)\b(?![-.\w])"),
        NEXTEST,
        "target/nextest/ci/junit.xml",
        'nextest writes JUnit XML with [profile.ci.junit] path = "junit.xml" in '
        ".config/nextest.toml",
    ),
    Runner(re.compile(r"\b(mvn|mvnw)\b"), None, "**/target/surefire-reports/*.xml"),
    Runner(re.compile(r"\b(gradle|gradlew)\b"), None, "**/build/test-results/**/*.xml"),
)


TRACE_STEP = "Upload the agent's trace (prompt-trainer evidence)"
JUNIT_NAME = "Upload JUnit reports (prompt-trainer evidence)"
AGENT_STEP = """\
- name: Upload the agent's trace (prompt-trainer evidence)
  if: always() && steps.{id}.outputs.execution_file != ''
  uses: {upload}
  with:
    name: claude-execution-output
    path: ${{{{ steps.{id}.outputs.execution_file }}}}
    retention-days: 30
"""
CODEX_STEP = """\
- name: Upload the agent's trace (prompt-trainer evidence)
  if: always()
  uses: {upload}
  with:
    name: codex-trace
    path: ~/.codex/sessions/
    if-no-files-found: ignore
    include-hidden-files: true
    retention-days: 30
"""
JUNIT_STEP = """\
- name: Upload JUnit reports (prompt-trainer evidence)
  if: always()   # failing runs are the interesting ones
  uses: {upload}
  with:
    name: {name}   # one per job and matrix entry (upload-artifact v4)
    path: "{path}"
    if-no-files-found: ignore
    retention-days: 30
"""
NEXTEST_CONFIG = ".config/nextest.toml"
NEXTEST_TOML = """\
# JUnit XML for prompt-trainer: `cargo nextest run --profile ci` writes target/nextest/ci/junit.xml
[profile.ci.junit]
path = "junit.xml"
"""


@dataclass
class Diff:
    """``upload_diff``'s result: the unified diff, and what the user should know besides."""

    text: str = ""
    notes: list[str] = field(default_factory=list)
    #: (``junit`` or ``traces``, what the diff changes for it: the file, the job, the step).
    changes: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Context:
    """What editing one repository's workflows gathers: other files' edits (old, new), notes."""

    root: Path
    edits: dict[str, tuple[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    changes: list[tuple[str, str]] = field(default_factory=list)
    #: The workflow being edited, repository-relative.
    workflow: str = ""


def runs_tests(text: str) -> bool:
    """Whether a workflow's text runs a test tool prompt-trainer can make write JUnit XML."""
    lines = text.splitlines()
    return any(r.pattern.search(text) for r in RUNNERS) or any(
        javascript.invocation(ln) for ln in lines if not ln.lstrip().startswith("#")
    )


def upload_diff(root: Path, *, agent: tuple[Path, ...], tests: tuple[Path, ...]) -> Diff:
    """A unified diff making the agent's and the tests' jobs upload their evidence: the test
    command writes JUnit XML, the agent step has an id, and each job gains an upload step."""
    ctx = _Context(root)
    chunks: list[str] = []
    cargo = False
    for path in sorted({*agent, *tests}):
        text = path.read_text(encoding="utf-8", errors="replace")
        ctx.workflow = path.relative_to(root).as_posix()
        new = _with_uploads(text, agent=path in agent, tests=path in tests, ctx=ctx)
        if new != text:
            cargo = cargo or (NEXTEST in new and NEXTEST not in text)
            chunks.append(_unified(text, new, path.relative_to(root).as_posix()))
    if cargo and not (root / NEXTEST_CONFIG).exists():
        chunks.append(_unified("", NEXTEST_TOML, NEXTEST_CONFIG))
    for name, (old, new) in sorted(ctx.edits.items()):
        chunks.append(_unified(old, new, name))
    return Diff(text="".join(chunks), notes=list(dict.fromkeys(ctx.notes)), changes=ctx.changes)


def _unified(old: str, new: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{name}" if old else "/dev/null",
            tofile=f"b/{name}",
        )
    )


@dataclass(frozen=True)
class _Job:
    """One job of a workflow as ``_with_uploads`` edits it."""

    name: str
    steps: list[Any]
    start: int
    matrix: bool
    #: The job's default working directory (``defaults.run.working-directory``), "" if none.
    folder: str = ""


@dataclass(frozen=True)
class _TestCommand:
    """The job's test command: its line, the line rewritten, where the report lands, notes,
    and edits of other files."""

    at: int
    line: str
    path: str
    notes: tuple[str, ...] = ()
    edits: tuple[tuple[str, tuple[str, str]], ...] = ()


def _with_uploads(text: str, *, agent: bool, tests: bool, ctx: _Context) -> str:
    """``text`` with each job that runs the agent or the tests (and does not upload that
    evidence already) changed to upload it."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, dict):
        return text
    lines = text.splitlines(keepends=True)
    top = _default_folder(data)
    found = [job for n, v in jobs.items() if (job := _job(lines, str(n), v, top))]
    commands = {
        j.name: _test_command(lines, j, ctx.root) for j in found if tests and _needs_junit(j)
    }
    ctx.notes += [c for c in commands.values() if isinstance(c, str)]
    testing = [j for j in found if isinstance(commands.get(j.name), _TestCommand)]
    inserts: list[tuple[int, int, str]] = []
    for job in found:
        end, indent = _job_steps_end(lines, job.name)
        if end is None:
            continue
        addition = ""
        if agent:
            more, ids = _agent_steps(lines, job, end)
            addition += more
            inserts += ids
            if more:
                ctx.changes.append(
                    ("traces", f"{ctx.workflow}, job {job.name}: add the step {TRACE_STEP!r}")
                )
        command = commands.get(job.name)
        if isinstance(command, _TestCommand):
            addition += _junit_step(lines, job, command, ctx, unique=len(testing) > 1)
        if addition:
            block = "".join(f"{indent}{ln}\n" if ln else "\n" for ln in addition.splitlines())
            inserts.append((end, 1, block))
    for at, _, block in sorted(inserts, reverse=True):
        lines[at:at] = [block]
    return "".join(lines)


def _default_folder(value: Any) -> str:
    """``defaults.run.working-directory`` of a workflow or a job ("" when unset)."""
    defaults = value.get("defaults") if isinstance(value, dict) else None
    run = defaults.get("run") if isinstance(defaults, dict) else None
    folder = run.get("working-directory") if isinstance(run, dict) else None
    return str(folder) if isinstance(folder, str) else ""


def _job(lines: list[str], name: str, value: Any, folder: str) -> _Job | None:
    steps = value.get("steps") if isinstance(value, dict) else None
    start = _job_start(lines, name)
    if not isinstance(steps, list) or start is None:
        return None
    strategy = value.get("strategy")
    matrix = isinstance(strategy, dict) and strategy.get("matrix") is not None
    own = _default_folder(value) or folder
    return _Job(name=name, steps=steps, start=start, matrix=matrix, folder=own)


def _needs_junit(job: _Job) -> bool:
    return "junit" not in yaml.safe_dump(job.steps).lower()


def _agent_steps(lines: list[str], job: _Job, end: int) -> tuple[str, list[tuple[int, int, str]]]:
    """The trace upload steps of the agent steps in ``job`` and, for a claude-code-action step
    without one, the ``id: claude`` line its upload step refers to."""
    if "upload-artifact" in yaml.safe_dump(job.steps):
        return "", []
    addition, ids = "", []
    for step in job.steps:
        uses = str(step.get("uses", "")) if isinstance(step, dict) else ""
        if "anthropics/claude-code-action" in uses:
            step_id = str(step.get("id") or "claude")
            if "id" not in step:
                ids += _id_line(lines, job.start, end, step_id)
            addition += AGENT_STEP.format(id=step_id, upload=UPLOAD)
        elif "openai/codex-action" in uses:
            addition += CODEX_STEP.format(upload=UPLOAD)
    return addition, ids


def _id_line(lines: list[str], start: int, end: int, step_id: str) -> list[tuple[int, int, str]]:
    """Insert ``id:`` under the claude-code-action step's ``uses:`` line, at its indent."""
    for n in range(start, end):
        match = re.match(r"^(\s*(?:- )?)uses:\s*[\"']?anthropics/claude-code-action", lines[n])
        if match:
            return [(n + 1, 0, " " * len(match.group(1)) + f"id: {step_id}\n")]
    return []


def _junit_step(
    lines: list[str], job: _Job, command: _TestCommand, ctx: _Context, *, unique: bool
) -> str:
    """Rewrite the job's test command to write JUnit XML (in ``lines``, other files in
    ``ctx``) and return the upload step, named uniquely when several jobs or matrix entries
    upload."""
    before = lines[command.at].strip().removeprefix("- ").removeprefix("run:").strip()
    after = command.line.strip().removeprefix("- ").removeprefix("run:").strip()
    change = f"`{before}` -> `{after}`, " if before != after else ""
    others = "".join(f"edit {path}, " for path, _ in command.edits)
    ctx.changes.append(
        ("junit", f"{ctx.workflow}, job {job.name}: {change}{others}add the step {JUNIT_NAME!r}")
    )
    lines[command.at] = command.line
    ctx.edits.update(dict(command.edits))
    ctx.notes += command.notes
    name = "junit-results" + (f"-{job.name}" if unique else "")
    name += "-${{ strategy.job-index }}" if job.matrix else ""
    note = "".join(f"# {n}\n" for n in command.notes if len(n) < 100)
    return note + JUNIT_STEP.format(upload=UPLOAD, name=name, path=command.path)


def _test_command(lines: list[str], job: _Job, root: Path) -> _TestCommand | str | None:
    """The first test tool the job's ``run:`` commands invoke, made to write JUnit XML; for
    a package script (``npm test``), what ``javascript.plan_line`` says, or why it cannot."""
    end, indent = _job_steps_end(lines, job.name)
    commands = [
        n
        for n in _run_lines(lines, job.start, end or len(lines))
        if not re.search(r"\b(install|add)\b", lines[n]) and not lines[n].lstrip().startswith("#")
    ]
    for runner in RUNNERS:
        for n in commands:
            if runner.pattern.search(lines[n]):
                line = lines[n]
                if runner.replacement is not None:
                    line = runner.pattern.sub(runner.replacement, line, count=1)
                if runner.env:
                    at = runner.pattern.search(line)
                    line = javascript.with_env(line, at.start() if at else 0, runner.env)
                notes = (runner.note,) if runner.note else ()
                return _TestCommand(n, line, runner.path, notes)
    why: str | None = None
    for n in commands:
        plan = javascript.plan_line(root, lines[n], _step_folder(lines, job, n, indent))
        if isinstance(plan, javascript.JsPlan):
            return _TestCommand(
                n, plan.line, plan.report, tuple(plan.notes), tuple(plan.edits.items())
            )
        if isinstance(plan, str) and javascript.looks_like_tests(lines[n]):
            why = why or plan
    return why


def _step_folder(lines: list[str], job: _Job, at: int, indent: str) -> str:
    """The working directory of the step holding line ``at`` (its own, else the job's)."""
    starts = [n for n in range(job.start, at + 1) if lines[n].startswith(f"{indent}- ")]
    step = job.steps[len(starts) - 1] if 0 < len(starts) <= len(job.steps) else None
    own = step.get("working-directory") if isinstance(step, dict) else None
    folder = str(own) if isinstance(own, str) else job.folder
    return "" if "${{" in folder else folder.strip().removeprefix("./").strip("/")


def _run_lines(lines: list[str], start: int, end: int) -> list[int]:
    """Indices of the lines holding ``run:`` commands (one-line values and block scalars)."""
    out, n = [], start
    while n < end:
        match = re.match(r"^(\s*)(- )?run:\s*(.*)$", lines[n])
        n += 1
        if match is None:
            continue
        if not match.group(3).startswith(("|", ">")):
            out.append(n - 1)
            continue
        key_indent = len(match.group(1)) + (2 if match.group(2) else 0)
        while n < end and (not lines[n].strip() or _indent(lines[n]) > key_indent):
            out.append(n)
            n += 1
    return out


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _job_start(lines: list[str], job: str) -> int | None:
    return next(
        (n for n, ln in enumerate(lines) if re.match(rf"^\s+{re.escape(job)}:\s*(#.*)?$", ln)), None
    )


def _job_steps_end(lines: list[str], job: str) -> tuple[int | None, str]:
    """The line index after the last step of ``job`` and the indentation of its ``- `` items."""
    start = next(
        (n for n, ln in enumerate(lines) if re.match(rf"^\s+{re.escape(job)}:\s*(#.*)?$", ln)), None
    )
    if start is None:
        return None, ""
    job_indent = len(lines[start]) - len(lines[start].lstrip())
    steps_at, steps_indent, end = None, 0, len(lines)
    for n in range(start + 1, len(lines)):
        line = lines[n]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        item_at_steps_level = indent == steps_indent and line.lstrip().startswith("- ")
        past_steps = steps_at is not None and indent <= steps_indent and not item_at_steps_level
        if indent <= job_indent or past_steps:
            end = n
            break
        if steps_at is None and line.strip().startswith("steps:"):
            steps_at, steps_indent = n, indent
    if steps_at is None:
        return None, ""
    item = next(
        (ln for ln in lines[steps_at + 1 : end] if ln.lstrip().startswith("- ")), "      - "
    )
    while end > steps_at + 1 and not lines[end - 1].strip():
        end -= 1
    return end, item[: len(item) - len(item.lstrip())]
