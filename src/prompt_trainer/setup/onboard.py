"""``prompt-trainer init``: detect a repository's agent setup and write what the loop needs.

Detection reads only the working tree: the prompt files coding agents load (``CLAUDE.md`` with
``.claude/agents/``, ``AGENTS.md``, ``.github/copilot-instructions.md``, ``prompts/*.md``) become
targets, and the workflows say which agent runs (claude-code-action, codex-action) and which jobs
run tests. It writes a commented ``.github/prompt-trainer.yml`` (validated by loading it, as a
run would) and ``.github/workflows/prompt-trainer.yml``, and prints, as a unified diff, the
changes to the agent's and CI's workflows: the test command gains its JUnit flag, the
claude-code-action step its ``id: claude``, and each job an artifact-upload step whose name is
unique per job and matrix entry (``upload-artifact`` v4 rejects duplicates). Those are printed,
not applied: they change workflows people own. Existing files are kept unless ``--force``. Files
that are one file under two names (``CLAUDE.md -> AGENTS.md``) become one target.
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
from prompt_trainer.targets import resolved_path

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
        targets=merge_same_files(root, targets),
        agent_authors=authors,
        agent_workflows=agent_workflows,
        test_workflows=test_workflows,
        notes=tuple(notes),
    )


def merge_same_files(root: Path, targets: list[DetectedTarget]) -> tuple[DetectedTarget, ...]:
    """One target per file, naming the real file: a target whose main file is a link edits
    what it points at, and targets that are one file (a link and its file) become the first of
    them, so two PRs never compete for one file."""
    merged: dict[str, tuple[DetectedTarget, list[str]]] = {}
    for target in targets:
        real = resolved_path(root, target.main)
        first, links = merged.get(real, (target, []))
        links += [target.main] if target.main != real else []
        merged[real] = (first, links)
    out = []
    for real, (first, links) in merged.items():
        if not links and first.main == real:
            out.append(first)
            continue
        why = f"{real} ({', '.join(sorted(set(links)))} links to it)"
        why += f" with {first.subagents}/" if first.subagents else ""
        out.append(DetectedTarget(first.name, real, first.subagents, why))
    return tuple(out)


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
        "  # gate: replay     # also rerun the agent on held-out tasks (replay: below)",
        "",
        "# Replay (docs/replay.md): `prompt-trainer replay --target NAME` reruns your agent on",
        "# held-out tasks with the current and the candidate prompts, and your tests decide.",
        "# The commands get no token or API key unless training.eval_pass_env names it.",
        "# replay:",
        "#   agent_command: >-",
        '#     mkdir -p .replay && claude -p "$PROMPT_TRAINER_TASK" --output-format stream-json',
        "#     --verbose --permission-mode acceptEdits > .replay/trace.jsonl",
        '#   test_command: python -m pytest -q --junitxml "$PROMPT_TRAINER_JUNIT"',
        "#   trace_glob: .replay/*.jsonl",
        "#   tasks: 5          # held-out tasks, at most",
        "#   repeat: 1         # runs per task and prompt set",
        "#   timeout_s: 1800   # per agent run",
        "#   max_usd: 10.0     # stop once the traces report this much",
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


def upload_diff(root: Path, detection: Detection) -> str:
    """A unified diff making the agent's and the tests' jobs upload their evidence: the test
    command writes JUnit XML, the agent step has an id, and each job gains an upload step."""
    chunks: list[str] = []
    cargo = False
    for path in sorted({*detection.agent_workflows, *detection.test_workflows}):
        text = path.read_text(encoding="utf-8", errors="replace")
        new = _with_uploads(
            text, agent=path in detection.agent_workflows, tests=path in detection.test_workflows
        )
        if new != text:
            cargo = cargo or (NEXTEST in new and NEXTEST not in text)
            chunks.append(_unified(text, new, path.relative_to(root).as_posix()))
    if cargo and not (root / NEXTEST_CONFIG).exists():
        chunks.append(_unified("", NEXTEST_TOML, NEXTEST_CONFIG))
    return "".join(chunks)


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


def _with_uploads(text: str, *, agent: bool, tests: bool) -> str:
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
    found = [job for name, value in jobs.items() if (job := _job(lines, str(name), value))]
    testing = [j for j in found if tests and _needs_junit(j) and _runner(lines, j)]
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
        if job in testing:
            addition += _junit_step(lines, job, end, unique=len(testing) > 1)
        if addition:
            block = "".join(f"{indent}{ln}\n" if ln else "\n" for ln in addition.splitlines())
            inserts.append((end, 1, block))
    for at, _, block in sorted(inserts, reverse=True):
        lines[at:at] = [block]
    return "".join(lines)


def _job(lines: list[str], name: str, value: Any) -> _Job | None:
    steps = value.get("steps") if isinstance(value, dict) else None
    start = _job_start(lines, name)
    if not isinstance(steps, list) or start is None:
        return None
    strategy = value.get("strategy")
    matrix = isinstance(strategy, dict) and strategy.get("matrix") is not None
    return _Job(name=name, steps=steps, start=start, matrix=matrix)


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


def _junit_step(lines: list[str], job: _Job, end: int, *, unique: bool) -> str:
    """Rewrite the job's test command to write JUnit XML (in ``lines``) and return the upload
    step, named uniquely when several jobs or matrix entries upload."""
    found = _runner(lines, job)
    if found is None:
        return ""
    runner, at = found
    if runner.replacement is not None:
        lines[at] = runner.pattern.sub(runner.replacement, lines[at], count=1)
    name = "junit-results" + (f"-{job.name}" if unique else "")
    name += "-${{ strategy.job-index }}" if job.matrix else ""
    note = f"# {runner.note}\n" if runner.note else ""
    return note + JUNIT_STEP.format(upload=UPLOAD, name=name, path=runner.path)


def _runner(lines: list[str], job: _Job) -> tuple[Runner, int] | None:
    """The first test tool the job's ``run:`` commands invoke, and the line that does."""
    end, _ = _job_steps_end(lines, job.name)
    commands = [
        n
        for n in _run_lines(lines, job.start, end or len(lines))
        if not re.search(r"\b(install|add)\b", lines[n]) and not lines[n].lstrip().startswith("#")
    ]
    for runner in RUNNERS:
        for n in commands:
            if runner.pattern.search(lines[n]):
                return runner, n
    return None


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
