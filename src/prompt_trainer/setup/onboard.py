"""``prompt-trainer init``: detect a repository's agent setup and write what the loop needs.

Detection reads the working tree (``setup.prompt_files``: every prompt file kind agents read,
grouped into targets), the workflows (which agent action runs, which jobs run tests), the
repository's ecosystem (the test command that writes JUnit XML, for replay), and who the agent
is (``setup.authors``: the bot accounts that opened recent PRs, through the GitHub adapter when
the caller passes them, else from the clone's history). It writes a commented
``.github/prompt-trainer.yml`` (validated by loading it, as a run would) and
``.github/workflows/prompt-trainer.yml``, and returns, as a unified diff, the changes to the
agent's and CI's workflows (``setup.workflow_edits``), printed, not applied: they change files
people own. Existing files are kept unless ``--force``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from prompt_trainer.settings import DEFAULT_CONFIG_PATH
from prompt_trainer.setup import authors as agent_authors
from prompt_trainer.setup import javascript
from prompt_trainer.setup.prompt_files import DetectedTarget, detect_targets
from prompt_trainer.setup.workflow_edits import Diff, runs_tests, upload_diff

WORKFLOW_PATH = ".github/workflows/prompt-trainer.yml"
ACTION_REF = "OWNER/prompt-trainer@main"
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"
PYTEST = 'python -m pytest -q --junitxml "$PROMPT_TRAINER_JUNIT"'
#: Files that make a repository a Python, Go or Rust one, and the replay test command there.
GOTESTSUM = 'go run gotest.tools/gotestsum@v1.12.0 --junitfile "$PROMPT_TRAINER_JUNIT"'
NEXTEST = (
    "cargo nextest run --profile ci; s=$?; "
    'cp target/nextest/ci/junit.xml "$PROMPT_TRAINER_JUNIT"; exit $s'
)
ECOSYSTEMS = (
    (("pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini"), "Python", PYTEST),
    (("go.mod",), "Go", GOTESTSUM),
    (("Cargo.toml",), "Rust", NEXTEST),
)
#: How each package manager installs into a fresh worktree, from its cache when it can.
INSTALL = {
    "npm": "npm ci --prefer-offline --no-audit --no-fund",
    "pnpm": "pnpm install --frozen-lockfile --prefer-offline",
    "yarn": "yarn install --frozen-lockfile --prefer-offline",
    "bun": "bun install --frozen-lockfile",
}


@dataclass(frozen=True)
class Ecosystem:
    """What replay needs to run the repository's tests (None: not known)."""

    name: str
    test_command: str | None
    setup_command: str | None = None


@dataclass(frozen=True)
class Detection:
    targets: tuple[DetectedTarget, ...]
    agent_authors: agent_authors.Authors
    agent_workflows: tuple[Path, ...]
    test_workflows: tuple[Path, ...]
    ecosystem: Ecosystem
    notes: tuple[str, ...] = ()
    #: The agent actions the workflows run (``claude-code-action``, ``codex-action``).
    agents: tuple[str, ...] = ()


@dataclass
class InitPlan:
    """The files to write, the diff to print, and what the user should know about it."""

    files: dict[str, str] = field(default_factory=dict)
    diff: str = ""
    notes: list[str] = field(default_factory=list)
    detection: Detection | None = None


def detect(root: Path, *, pull_authors: Iterable[tuple[str, bool]] | None = None) -> Detection:
    """What agent setup the working tree at ``root`` has; ``pull_authors`` are the (login, is
    bot) of its recent pull requests when GitHub was asked."""
    found = detect_targets(root)
    agent, tests, agents = _workflows(root)
    return Detection(
        targets=tuple(found.targets),
        agent_authors=guess_authors(root, pull_authors, agents),
        agent_workflows=agent,
        test_workflows=tests,
        ecosystem=ecosystem(root),
        notes=tuple(found.notes),
        agents=agents,
    )


def guess_authors(
    root: Path, pull_authors: Iterable[tuple[str, bool]] | None, agents: tuple[str, ...]
) -> agent_authors.Authors:
    """The agent's accounts from the PRs, else the history; the workflows' agent or the
    default when neither names one (what was left out stays listed)."""
    if pull_authors is not None:
        guess = agent_authors.from_pulls(pull_authors, source="the last 100 pull requests")
    else:
        guess = agent_authors.from_history(root)
    workflow = ["claude[bot]"] if "claude-code-action" in agents else []
    if guess is not None and guess.logins:
        extra = [w for w in workflow if w not in guess.logins]
        if not extra:
            return guess
        source = f"{guess.source}, and claude-code-action in your workflows"
        return agent_authors.Authors((*guess.logins, *extra), source, guess.left_out, guess.unknown)
    default = agent_authors.fallback(workflow)
    if guess is None:
        return default
    return agent_authors.Authors(
        default.logins, f"{default.source}; {guess.source} name no agent", guess.left_out,
        guess.unknown,
    )  # fmt: skip


def ecosystem(root: Path) -> Ecosystem:
    """The repository's ecosystem and its replay commands: ``package.json``'s test script
    first, then Python, Go, Rust markers."""
    package = javascript.read_package(root, "")
    if package is not None and package.script("test"):
        pm = javascript.manager(root, package)
        setup = f"test -d node_modules || {INSTALL[pm]}"
        return Ecosystem(f"JavaScript ({pm})", javascript.junit_command(root), setup)
    for markers, name, command in ECOSYSTEMS:
        if any((root / m).is_file() for m in markers):
            return Ecosystem(name, command)
    return Ecosystem("unknown", None)


def workflow_files(root: Path) -> list[Path]:
    """The repository's workflow files, by name."""
    directory = root / ".github" / "workflows"
    if not directory.is_dir():
        return []
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])


AGENT_ACTIONS = {
    "anthropics/claude-code-action": "claude-code-action",
    "openai/codex-action": "codex-action",
}


def evidence_workflows(root: Path) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """The workflows that run an agent action, and those that run tests."""
    agent, tests, _ = _workflows(root)
    return agent, tests


def _workflows(root: Path) -> tuple[tuple[Path, ...], tuple[Path, ...], tuple[str, ...]]:
    agent: list[Path] = []
    tests: list[Path] = []
    agents: list[str] = []
    for path in workflow_files(root):
        if path.name in ("prompt-trainer.yml", "prompt-trainer.yaml"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        used = [name for action, name in AGENT_ACTIONS.items() if action in text]
        if used:
            agent.append(path)
            agents += used
        if runs_tests(text):
            tests.append(path)
    return tuple(agent), tuple(tests), tuple(dict.fromkeys(agents))


def plan(root: Path, detection: Detection, *, action_ref: str = ACTION_REF) -> InitPlan:
    """The config, the workflow and the diff for ``detection``."""
    out = InitPlan(detection=detection)
    out.files[DEFAULT_CONFIG_PATH] = render_config(detection)
    out.files[WORKFLOW_PATH] = render_workflow(action_ref)
    diff: Diff = upload_diff(root, agent=detection.agent_workflows, tests=detection.test_workflows)
    out.diff, out.notes = diff.text, diff.notes
    return out


def render_config(detection: Detection) -> str:
    lines = [
        "# prompt-trainer configuration (written by `prompt-trainer init`).",
        "# Every key is documented in the README; `prompt-trainer schema` prints the JSON Schema.",
        "# Check the setup with `prompt-trainer doctor`.",
        "",
        "# Any LiteLLM model id; the key comes from the provider's variable (OPENAI_API_KEY, ...).",
        "model: openai/gpt-4.1",
        "",
        "# Which pull requests are the agent's work: either rule matches.",
        *agent_authors.comment_lines(detection.agent_authors),
        "agent:",
        f"  authors: {_flow(detection.agent_authors.logins)}",
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
        *_target_lines(detection.targets),
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
        *_replay_lines(detection),
        "",
    ]
    return "\n".join(lines)


def _target_lines(targets: tuple[DetectedTarget, ...]) -> list[str]:
    if not targets:
        return [
            "  # No prompt file was found: name the one your agent reads.",
            "  - name: coder",
            "    main: CLAUDE.md",
        ]
    lines = []
    for target in targets:
        lines += [f"  - name: {target.name}  # found: {target.why}", f"    main: {_q(target.main)}"]
        lines += [f"    subagents: {target.subagents}"] if target.subagents else []
        lines += ["    files:"] + [f"      - {_q(f)}" for f in target.files] if target.files else []
    return lines


def _q(path: str) -> str:
    """A path as a YAML scalar (quoted when YAML would read it otherwise)."""
    plain = path[:1] not in "!&*[]{}|>'\"%@`#,?:-" and ": " not in path and " #" not in path
    return path if plain else '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _replay_lines(detection: Detection) -> list[str]:
    eco = detection.ecosystem
    test = eco.test_command or "<your tests, writing JUnit XML to $PROMPT_TRAINER_JUNIT>"
    agent = (
        [
            "#   agent_command: >-",
            '#     mkdir -p .replay && codex exec --json --full-auto "$PROMPT_TRAINER_TASK"',
            "#     > .replay/codex.jsonl",
        ]
        if detection.agents == ("codex-action",)
        else [
            "#   agent_command: >-",
            '#     mkdir -p .replay && claude -p "$PROMPT_TRAINER_TASK"',
            "#     --output-format stream-json --verbose --permission-mode acceptEdits",
            "#     > .replay/trace.jsonl",
        ]
    )
    setup = [f"#   setup_command: {eco.setup_command}"] if eco.setup_command else []
    reuse = (
        ["#   reuse_node_modules: true  # hard-links node_modules when the lockfile is the same"]
        if eco.setup_command
        else []
    )
    return [
        "# Replay (docs/replay.md): `prompt-trainer replay --target NAME` reruns your agent on",
        "# held-out tasks with the current and the candidate prompts, and your tests decide.",
        "# The commands get no token or API key unless training.eval_pass_env names it.",
        f"# Your tests: {eco.name}" + ("" if eco.test_command else " (name the command)"),
        "# replay:",
        *setup,
        *reuse,
        *agent,
        f"#   test_command: {test}",
        "#   trace_glob: .replay/*.jsonl",
        "#   tasks: 5          # held-out tasks, at most",
        "#   repeat: 1         # runs per task and prompt set",
        "#   timeout_s: 1800   # per agent run",
        "#   max_usd: 10.0     # stop once the traces report this much",
    ]


def _flow(values: Iterable[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def render_workflow(action_ref: str) -> str:
    """The workflow (``render/templates/init-workflow.yml``) with the Action's ref."""
    template = resources.files("prompt_trainer.render") / "templates" / "init-workflow.yml"
    text = template.read_text(encoding="utf-8")
    return text.replace("@CHECKOUT@", CHECKOUT).replace("@ACTION_REF@", action_ref)
