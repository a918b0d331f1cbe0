"""``prompt-trainer init``: detect a repository's agent setup and write what the loop needs.

Detection reads only the working tree: the prompt files coding agents load (``CLAUDE.md`` with
``.claude/agents/``, ``AGENTS.md``, ``.github/copilot-instructions.md``, ``prompts/*.md``) become
targets, and the workflows say which agent runs (claude-code-action, codex-action) and which jobs
run tests. It writes a commented ``.github/prompt-trainer.yml`` (validated by loading it, as a
run would) and ``.github/workflows/prompt-trainer.yml``, and prints, as a unified diff, the
artifact-upload steps to add to the agent's and CI's workflows. Those are printed, not applied:
they change workflows people own. Existing files are kept unless ``--force``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from prompt_trainer.settings import DEFAULT_CONFIG_PATH

WORKFLOW_PATH = ".github/workflows/prompt-trainer.yml"
ACTION_REF = "OWNER/prompt-trainer@main"
UPLOAD = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2"
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"
MAX_PROMPT_TARGETS = 5
#: Test commands that can write JUnit XML, and the flag or reporter that makes them do it.
TEST_RUNNERS = (
    (re.compile(r"\bpytest\b"), "pytest --junitxml=test-results/junit.xml"),
    (re.compile(r"\b(jest|vitest)\b"), "jest --reporters=default --reporters=jest-junit"),
    (re.compile(r"\bgo test\b"), "gotestsum --junitfile test-results/junit.xml"),
    (re.compile(r"\b(mvn|gradle|gradlew)\b"), "surefire/gradle write JUnit XML already"),
    (re.compile(r"\bcargo (test|nextest)\b"), "cargo nextest run --profile ci (JUnit output)"),
)


@dataclass(frozen=True)
class DetectedTarget:
    name: str
    main: str
    subagents: str | None
    why: str


@dataclass(frozen=True)
class Detection:
    targets: tuple[DetectedTarget, ...]
    agent_authors: tuple[str, ...]
    agent_workflows: tuple[Path, ...]
    test_workflows: tuple[Path, ...]
    notes: tuple[str, ...] = ()


@dataclass
class InitPlan:
    """The files to write and the diff to print."""

    files: dict[str, str] = field(default_factory=dict)
    diff: str = ""
    detection: Detection | None = None


def detect(root: Path) -> Detection:
    """What agent setup the working tree at ``root`` has."""
    targets: list[DetectedTarget] = []
    notes: list[str] = []
    agents_dir = root / ".claude" / "agents"
    subagents = ".claude/agents" if agents_dir.is_dir() else None
    if (root / "CLAUDE.md").is_file():
        why = "CLAUDE.md" + (" with .claude/agents/" if subagents else "")
        targets.append(DetectedTarget("claude", "CLAUDE.md", subagents, why))
    elif subagents:
        notes.append(".claude/agents/ exists but no CLAUDE.md: add one to train the subagents")
    if (root / "AGENTS.md").is_file():
        targets.append(DetectedTarget("agents", "AGENTS.md", None, "AGENTS.md"))
    if (root / ".github" / "copilot-instructions.md").is_file():
        targets.append(
            DetectedTarget(
                "copilot",
                ".github/copilot-instructions.md",
                None,
                ".github/copilot-instructions.md",
            )
        )
    prompts = sorted((root / "prompts").glob("*.md")) if (root / "prompts").is_dir() else []
    for path in prompts[:MAX_PROMPT_TARGETS]:
        name = re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip("-") or "prompt"
        if all(t.name != name for t in targets):
            targets.append(
                DetectedTarget(name, f"prompts/{path.name}", None, f"prompts/{path.name}")
            )
    if len(prompts) > MAX_PROMPT_TARGETS:
        notes.append(
            f"prompts/ has {len(prompts)} files; the first {MAX_PROMPT_TARGETS} became targets"
        )
    agent_workflows, test_workflows, authors = _workflows(root)
    return Detection(
        targets=tuple(targets),
        agent_authors=authors,
        agent_workflows=agent_workflows,
        test_workflows=test_workflows,
        notes=tuple(notes),
    )


def workflow_files(root: Path) -> list[Path]:
    """The repository's workflow files, by name."""
    directory = root / ".github" / "workflows"
    if not directory.is_dir():
        return []
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])


def _workflows(root: Path) -> tuple[tuple[Path, ...], tuple[Path, ...], tuple[str, ...]]:
    agent: list[Path] = []
    tests: list[Path] = []
    authors: list[str] = []
    for path in workflow_files(root):
        if path.name in ("prompt-trainer.yml", "prompt-trainer.yaml"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if "anthropics/claude-code-action" in text:
            agent.append(path)
            authors.append("claude[bot]")
        elif "openai/codex-action" in text:
            agent.append(path)
        if any(pattern.search(text) for pattern, _ in TEST_RUNNERS):
            tests.append(path)
    return tuple(agent), tuple(tests), tuple(dict.fromkeys(authors))


def plan(root: Path, detection: Detection, *, action_ref: str = ACTION_REF) -> InitPlan:
    """The config, the workflow and the diff for ``detection``."""
    config = render_config(detection)
    out = InitPlan(detection=detection)
    out.files[DEFAULT_CONFIG_PATH] = config
    out.files[WORKFLOW_PATH] = render_workflow(action_ref)
    out.diff = upload_diff(root, detection)
    return out


def render_config(detection: Detection) -> str:
    authors = list(detection.agent_authors) or ["claude[bot]"]
    lines = [
        "# prompt-trainer configuration (written by `prompt-trainer init`).",
        "# Every key is documented in the README; `prompt-trainer schema` prints the JSON Schema.",
        "# Check the setup with `prompt-trainer doctor`.",
        "",
        "# Any LiteLLM model id; the key comes from the provider's variable (OPENAI_API_KEY, ...).",
        "model: openai/gpt-4.1",
        "",
        "# Which pull requests are the agent's work: either rule matches.",
        "agent:",
        f"  authors: {_flow(authors)}",
        '  labels: ["agent"]',
        "",
        "# Workflow artifacts holding evidence, by name (globs). The upload steps `init` prints",
        "# use names that match these.",
        "artifacts:",
        '  junit: ["*junit*", "test-results*"]',
        '  traces: ["*trace*", "claude-execution*"]',
        "",
        "# The prompt files trained together; each target gets the branch prompt-trainer/<name>.",
        "targets:",
    ]
    for target in detection.targets:
        lines += [
            f"  - name: {target.name}  # found: {target.why}",
            f"    main: {target.main}",
        ]
        if target.subagents:
            lines.append(f"    subagents: {target.subagents}")
    if not detection.targets:
        lines += [
            "  # No prompt file was found: name the one your agent reads.",
            "  - name: coder",
            "    main: CLAUDE.md",
        ]
    lines += [
        "",
        "pull_request:",
        '  labels: ["prompt-trainer"]',
        "",
        "# On GitHub, people with write access are trusted (their comments are evidence and",
        "# they may run /prompt-trainer commands); this list decides only for local evidence.",
        "reviews:",
        '  trusted_associations: ["OWNER", "MEMBER", "COLLABORATOR"]',
        "",
        "training:",
        "  min_samples: 5     # agent PRs on the current prompts needed before training",
        "  max_calls: 25      # LM calls per target per run",
        "  max_usd: 2.0       # stop before a run's estimated cost would exceed this",
        "",
    ]
    return "\n".join(lines)


def _flow(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def render_workflow(action_ref: str) -> str:
    """The workflow (``render/templates/init-workflow.yml``) with the Action's ref."""
    template = resources.files("prompt_trainer.render") / "templates" / "init-workflow.yml"
    text = template.read_text(encoding="utf-8")
    return text.replace("@CHECKOUT@", CHECKOUT).replace("@ACTION_REF@", action_ref)


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
    name: junit-results
    path: test-results/   # make the test command write JUnit XML here: {hint}
    if-no-files-found: ignore
    retention-days: 30
"""


def upload_diff(root: Path, detection: Detection) -> str:
    """A unified diff adding upload steps to the agent's and the tests' jobs."""
    chunks: list[str] = []
    for path in sorted({*detection.agent_workflows, *detection.test_workflows}):
        text = path.read_text(encoding="utf-8", errors="replace")
        new = _with_uploads(
            text, agent=path in detection.agent_workflows, tests=path in detection.test_workflows
        )
        if new != text:
            name = path.relative_to(root).as_posix()
            chunks.append(
                "".join(
                    difflib.unified_diff(
                        text.splitlines(keepends=True),
                        new.splitlines(keepends=True),
                        fromfile=f"a/{name}",
                        tofile=f"b/{name}",
                    )
                )
            )
    return "".join(chunks)


def _with_uploads(text: str, *, agent: bool, tests: bool) -> str:
    """``text`` with upload steps appended to each job that runs the agent or the tests (and
    does not upload that evidence already)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, dict):
        return text
    lines = text.splitlines(keepends=True)
    inserts: list[tuple[int, str]] = []
    for job_name, job in jobs.items():
        steps = job.get("steps") if isinstance(job, dict) else None
        if not isinstance(steps, list):
            continue
        addition = _additions(steps, agent=agent, tests=tests)
        if addition:
            end, indent = _job_steps_end(lines, str(job_name))
            if end is not None:
                block = "".join(f"{indent}{ln}\n" if ln else "\n" for ln in addition.splitlines())
                inserts.append((end, block))
    for at, block in sorted(inserts, reverse=True):
        lines[at:at] = [block]
    return "".join(lines)


def _additions(steps: list[Any], *, agent: bool, tests: bool) -> str:
    """The upload steps a job with these ``steps`` lacks (unindented YAML)."""
    body = yaml.safe_dump(steps)
    addition = ""
    if agent and "upload-artifact" not in body:
        for step in steps:
            uses = str(step.get("uses", "")) if isinstance(step, dict) else ""
            if "anthropics/claude-code-action" in uses:
                if "id" not in step:
                    addition += "# give the claude-code-action step `id: claude`\n"
                addition += AGENT_STEP.format(id=str(step.get("id") or "claude"), upload=UPLOAD)
            elif "openai/codex-action" in uses:
                addition += CODEX_STEP.format(upload=UPLOAD)
    if tests and "junit" not in body.lower():
        hint = next((h for p, h in TEST_RUNNERS if p.search(body)), None)
        if hint:
            addition += JUNIT_STEP.format(upload=UPLOAD, hint=hint)
    return addition


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
