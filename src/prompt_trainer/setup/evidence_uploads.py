"""``doctor``'s offline look at the evidence the workflows upload: does some workflow upload an
artifact whose name ``artifacts.junit`` matches, and, when an agent action runs, one that
``artifacts.traces`` matches?

Takes the repository root and the configuration; returns ``Check`` values (``uploads: junit``,
``uploads: traces``). An upload counts when it is an ``actions/upload-artifact`` step (any
version) in a workflow ``artifacts.workflows`` admits, whose ``name`` (``artifact`` when unset)
matches a glob; an expression in the name (``junit-${{ matrix.node }}``) matches as any text.
A missing upload is a warning (reviews are still collected) whose fix names what
``prompt-trainer init`` would change: the file, the job, the test command and the step.
``jest-junit: suite errors`` warns when the workflows, ``package.json`` or ``jest.config.*``
use jest-junit and none turns on ``reportTestSuiteErrors``, without which a test file that
fails to import is left out of the report (a text search: cheap, and a false warning costs a
line).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from prompt_trainer.settings import ConfigFile
from prompt_trainer.setup.checks import Check
from prompt_trainer.setup.javascript import JEST_SUITE_ERRORS
from prompt_trainer.setup.onboard import evidence_workflows, workflow_files
from prompt_trainer.setup.workflow_edits import upload_diff

EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


@dataclass(frozen=True)
class Upload:
    """One ``actions/upload-artifact`` step: where it is and the artifact's name."""

    workflow: str
    job: str
    name: str


def uploads(root: Path, *, admitted: tuple[str, ...] = ()) -> list[Upload]:
    """Every upload step of the workflows (of those ``admitted`` names, when given)."""
    found = []
    for path in workflow_files(root):
        relative = path.relative_to(root).as_posix()
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
        except yaml.YAMLError:
            continue
        if not isinstance(data, dict) or not _admitted(data, relative, admitted):
            continue
        jobs = data.get("jobs")
        for job, value in (jobs if isinstance(jobs, dict) else {}).items():
            found += [Upload(relative, str(job), name) for name in _names(value)]
    return found


def _admitted(data: dict[Any, Any], relative: str, admitted: tuple[str, ...]) -> bool:
    """``artifacts.workflows`` names a workflow by its ``name:``, its path or its file name."""
    if not admitted:
        return True
    keys = {str(data.get("name") or ""), relative, relative.rsplit("/", 1)[-1]}
    return bool(keys & set(admitted))


def _names(job: Any) -> list[str]:
    steps = job.get("steps") if isinstance(job, dict) else None
    names = []
    for step in steps if isinstance(steps, list) else []:
        uses = str(step.get("uses", "")) if isinstance(step, dict) else ""
        if uses.startswith("actions/upload-artifact@"):
            given = step.get("with") if isinstance(step.get("with"), dict) else {}
            names.append(str(given.get("name") or "artifact"))
    return names


def matches(name: str, globs: tuple[str, ...]) -> bool:
    """Whether an artifact name (expressions read as any text) matches one of ``globs``."""
    filled = EXPRESSION.sub("x", name)
    return any(fnmatch.fnmatch(filled, g) or fnmatch.fnmatch(name, g) for g in globs)


def upload_checks(root: Path, config: ConfigFile) -> list[Check]:
    """``uploads: junit`` and ``uploads: traces`` (see the module docstring)."""
    globs = config.artifacts
    found = uploads(root, admitted=globs.workflows)
    agent, tests = evidence_workflows(root)
    changes = upload_diff(root, agent=agent, tests=tests).changes
    checks = [_check("junit", globs.junit, found, changes)]
    if agent:
        checks.append(_check("traces", globs.traces, found, changes))
    else:
        checks.append(
            Check(
                "uploads: traces",
                "skipped",
                "no workflow runs an agent action (claude-code-action, codex-action); hosted "
                "agents such as Copilot's upload no trace",
            )
        )
    return checks + _jest_suite_errors(root)


def _jest_suite_errors(root: Path) -> list[Check]:
    """``jest-junit: suite errors``, when some file configures jest-junit (see the module
    docstring); nothing when none does."""
    configs = [*workflow_files(root), root / "package.json", *sorted(root.glob("jest.config.*"))]
    texts = {}
    for path in configs:
        try:
            texts[path.relative_to(root).as_posix()] = path.read_text(errors="replace")
        except OSError:
            continue
    using = [name for name, text in texts.items() if "jest-junit" in text]
    if not using:
        return []
    name = "jest-junit: suite errors"
    if any(
        "reportTestSuiteErrors" in t or JEST_SUITE_ERRORS.split("=")[0] in t for t in texts.values()
    ):
        return [Check(name, "ok", "reportTestSuiteErrors is on")]
    detail = (
        f"{', '.join(using)} use jest-junit without reportTestSuiteErrors (off by default): a "
        "test file that fails to import is left out of the report, and a PR whose only "
        "breakage is an import reads green"
    )
    fix = (
        f"put {JEST_SUITE_ERRORS} before the test command in the workflow, or "
        "reportTestSuiteErrors: 'true' among jest-junit's options (docs/workflows.md)"
    )
    return [Check(name, "warn", detail, fix)]


def _check(
    kind: str, globs: tuple[str, ...], found: list[Upload], changes: list[tuple[str, str]]
) -> Check:
    name = f"uploads: {kind}"
    good = [u for u in found if matches(u.name, globs)]
    if good:
        shown = ", ".join(f"{u.workflow} ({u.job}: {u.name})" for u in good[:3])
        return Check(name, "ok", f"uploaded by {shown}")
    what = "JUnit reports" if kind == "junit" else "the agent's trace"
    detail = (
        f"no workflow uploads {what} under a name artifacts.{kind} matches "
        f"({', '.join(globs)}): {'runs' if kind == 'junit' else 'agent PRs'} are collected "
        "without them"
    )
    if found:
        detail += f" (uploaded: {', '.join(sorted({u.name for u in found}))})"
    steps = [text for k, text in changes if k == kind]
    if steps:
        fix = "apply what `prompt-trainer init --dry-run` prints: " + "; ".join(steps)
    elif kind == "junit":
        fix = (
            "make the tests write JUnit XML and upload it with actions/upload-artifact under a "
            "name artifacts.junit matches (docs/workflows.md); init found no test command"
        )
    else:
        fix = "upload the agent's trace file (docs/workflows.md)"
    return Check(name, "warn", detail, fix)
